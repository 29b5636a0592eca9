package eventstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/eventstore/filesnapshot"
	"github.com/shoal-dev/shoal/internal/killtest"
	"github.com/shoal-dev/shoal/internal/testlog"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// The kill -9 proof of the event store's contract on the file engine
// (SyncAlways). A child process (this test binary, re-executed) opens the
// store and appends from several goroutines to a few shared streams with
// Exact(v) expected versions, batches of 1-20 events whose IDs come from
// eventstore.NewEvent; it prints each batch before sending it (EKSEND)
// and its outcome after (EKACK, or EKREJ for a version conflict). Other
// goroutines run aggregate.Repository.Update, with retries and
// WithSnapshotEvery on a filesnapshot store next to the log, on a few
// aggregates (EKAGG). The parent SIGKILLs the child at a random moment,
// reopens the directory and checks, after every kill:
//
//   - every stream holds versions exactly 1..n, no gap, no duplicate, in
//     increasing log positions; Read, ReadBackward, Version and the raw
//     shards (every record of the log, read with cursors) agree on it;
//   - what a check read back stays, with the same IDs at the same
//     positions, after every later kill;
//   - every batch present is whole (all its events or none), at
//     consecutive positions of one shard, in request order, acknowledged
//     or not: a batch cut by the kill is there entirely or not at all;
//   - every batch present was sent by a writer (with those IDs, at the
//     versions its expected version gives) and every payload decodes to
//     what the writer made: stream, intended version, batch size and
//     first ID, and bytes derived from the event ID;
//   - every acknowledged batch is there, with its IDs, at the versions and
//     positions the acknowledgement gave; no batch rejected with a
//     version conflict is; no event ID appears twice;
//   - the batches in flight at the kill (sent, not answered) are sent
//     again, with the same IDs and expected version, by the next child:
//     one found after the kill must be recognised as a duplicate
//     (Deduplicated, its original versions), one not found must not;
//   - aggregates: every acknowledged Update is there, once (an Update
//     retried after a conflict never applied twice), whole; repo.Load
//     equals a replay of the stream's events; the snapshot never runs
//     ahead of the log (its version ≤ the stream's, at that event's
//     position, its state that of a replay up to it), never goes back,
//     and is at least at the version of every acknowledged Update whose
//     Save crossed a multiple of WithSnapshotEvery.
//
// Then the next cycle runs on the same directory: the child learns each
// stream's version (store.Version) and appends on top, so the history
// accumulates across kills.
//
// Knobs: SHOAL_KILL_CYCLES sets the number of kills (soak runs; default
// 6), SHOAL_KILL_SEED_PARENT replays the parent's choices (the kill times
// still vary), SHOAL_KILL_KEEP=1 keeps the data directory.
//
// Environment of the child.
const (
	ekEnvDir   = "SHOAL_ESKILL_DIR"   // data directory; the child runs only if set
	ekEnvCycle = "SHOAL_ESKILL_CYCLE" // cycle number, in every batch's key
	ekEnvSeed  = "SHOAL_ESKILL_SEED"  // the child's random seed

	ekLogStream  = "eskill" // the shardlog stream
	ekShards     = 4
	ekStreams    = 8 // plain streams, shared by the writers
	ekWriters    = 4
	ekAggs       = 3 // aggregates, shared by the aggregate writers
	ekAggWriters = 3
	ekMaxBatch   = 20
	ekSnapEvery  = 4
	ekRetries    = 20 // Update's retries
	ekRetryFile  = "retry.txt"
)

// ekFileOptions open the engine in the child and the parent: the default
// sync policy (SyncAlways), and small segments so that kills land in
// segment rolls too.
var ekFileOptions = []file.Option{file.WithSegmentSize(256 << 10)}

func ekStreamID(i int) string { return fmt.Sprintf("ek-s%d", i) }
func ekAggID(i int) string    { return fmt.Sprintf("ek-agg%d", i) }

// ekEvent is the payload of a plain writer's event: everything the parent
// needs to check it is where its writer meant it to be.
type ekEvent struct {
	Stream  string
	Version uint64 // the version the writer intended
	Count   int    // the batch's size
	Index   int    // the event's index in its batch
	First   string // the ID of the batch's first event
	Cycle   int    // the batch's key: cycle, writer, counter
	Writer  int
	Batch   int
	Pad     []byte // ekPad of the event's ID
}

// ekBumped is the event of the aggregate. Token names the command that
// recorded it; a command records Count events.
type ekBumped struct {
	Agg   string
	Token string
	Index int
	Count int
	By    int64
}

// ekCounter is the aggregate: its state folds every event in order.
type ekCounter struct {
	aggregate.Base
	Count     uint64
	Sum       int64
	Hash      uint64
	LastToken string
}

var ekCounters = aggregate.Define[ekCounter]("ek.counter",
	aggregate.Apply(func(c *ekCounter, e ekBumped) {
		const prime = 1099511628211
		h := c.Hash
		for i := range len(e.Token) {
			h = (h ^ uint64(e.Token[i])) * prime
		}
		h = (h ^ uint64(e.Index)) * prime
		h = (h ^ uint64(e.By)) * prime
		c.Count++
		c.Sum += e.By
		c.Hash = h
		c.LastToken = e.Token
	}),
)

// ekState describes an aggregate's folded state, without versions.
func ekState(c *ekCounter) string {
	return fmt.Sprintf("count %d sum %d hash %x last %q", c.Count, c.Sum, c.Hash, c.LastToken)
}

// ekKey names one Append of a plain writer: the cycle of the child that
// made it, the writer goroutine, the writer's counter.
type ekKey struct{ cycle, g, n int }

func (k ekKey) String() string { return fmt.Sprintf("%d.%d.%d", k.cycle, k.g, k.n) }

func ekParseKey(s string) (ekKey, error) {
	f := strings.Split(s, ".")
	if len(f) != 3 {
		return ekKey{}, fmt.Errorf("bad batch key %q", s)
	}
	var n [3]int
	for i := range f {
		v, err := strconv.Atoi(f[i])
		if err != nil {
			return ekKey{}, fmt.Errorf("bad batch key %q", s)
		}
		n[i] = v
	}
	return ekKey{n[0], n[1], n[2]}, nil
}

// ekPad is 0-96 bytes derived from an event ID.
func ekPad(id uuid.UUID) []byte {
	b := make([]byte, int(id[15])%97)
	for i := range b {
		b[i] = id[i%16] ^ byte(i*7)
	}
	return b
}

// ekPayload is the payload of event i of the batch key, appended to stream
// expecting version expected.
func ekPayload(key ekKey, stream string, expected uint64, ids []uuid.UUID, i int) ekEvent {
	return ekEvent{
		Stream: stream, Version: expected + uint64(i) + 1, Count: len(ids), Index: i, First: ids[0].String(),
		Cycle: key.cycle, Writer: key.g, Batch: key.n, Pad: ekPad(ids[i]),
	}
}

func ekSameEvent(a, b ekEvent) bool {
	return a.Stream == b.Stream && a.Version == b.Version && a.Count == b.Count && a.Index == b.Index && a.First == b.First &&
		a.Cycle == b.Cycle && a.Writer == b.Writer && a.Batch == b.Batch && bytes.Equal(a.Pad, b.Pad)
}

// ekProposed builds the events of a batch from their IDs: the writer and,
// for a batch in flight at a kill, the next child's retry.
func ekProposed(key ekKey, stream string, expected uint64, ids []uuid.UUID) []any {
	evs := make([]any, len(ids))
	for i, id := range ids {
		evs[i] = eventstore.Proposed{
			ID:       id,
			Data:     ekPayload(key, stream, expected, ids, i),
			Metadata: eventstore.Metadata{CorrelationID: key.String()},
		}
	}
	return evs
}

func ekFormatIDs(ids []uuid.UUID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return strings.Join(s, ",")
}

func ekParseIDs(s string) ([]uuid.UUID, error) {
	f := strings.Split(s, ",")
	ids := make([]uuid.UUID, len(f))
	for i := range f {
		id, err := uuid.Parse(f[i])
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

func ekRegistry() *eventstore.Registry {
	reg := eventstore.NewRegistry()
	if err := eventstore.Register[ekEvent](reg, "ek.event"); err != nil {
		panic(err)
	}
	if err := eventstore.Register[ekBumped](reg, "ek.bumped"); err != nil {
		panic(err)
	}
	return reg
}

// ekDB is the store as the child and the parent open it.
type ekDB struct {
	log   *shardlog.Log
	store *eventstore.Store
	snaps *filesnapshot.Store
	repo  *aggregate.Repository[ekCounter]
}

// ekOpen opens the file engine in dir/log, the snapshots in dir/snapshots,
// the store (creating its shardlog stream if create) and the repository.
func ekOpen(ctx context.Context, dir string, create bool, logger *slog.Logger, fileOpts ...file.Option) (*ekDB, error) {
	e, err := file.Open(filepath.Join(dir, "log"), append(slices.Clone(ekFileOptions), fileOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("file.Open: %w", err)
	}
	l, err := shardlog.Open(ctx, e, shardlog.WithRetentionInterval(0))
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("shardlog.Open: %w", err)
	}
	db := &ekDB{log: l}
	fail := func(err error) (*ekDB, error) {
		l.Close()
		return nil, err
	}
	if db.snaps, err = filesnapshot.Open(filepath.Join(dir, "snapshots")); err != nil {
		return fail(err)
	}
	opts := []eventstore.Option{eventstore.WithRegistry(ekRegistry()), eventstore.WithSnapshots(db.snaps), eventstore.WithLogger(logger)}
	if create {
		opts = append(opts, eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: ekShards}))
	}
	if db.store, err = eventstore.Open(ctx, l, ekLogStream, opts...); err != nil {
		return fail(err)
	}
	db.repo, err = aggregate.NewRepository(db.store, ekCounters,
		aggregate.WithSnapshotEvery(ekSnapEvery), aggregate.WithRetries(ekRetries), aggregate.WithLogger(logger))
	if err != nil {
		return fail(err)
	}
	return db, nil
}

// ---------------------------------------------------------------- child

// ekFailWriter makes any warning the store or the repository logs in the
// child (a snapshot that failed or does not decode) a failure.
type ekFailWriter struct{ out *killtest.Out }

func (w ekFailWriter) Write(p []byte) (int, error) {
	w.out.Fail("logged: %s", bytes.TrimSpace(p))
	return len(p), nil
}

// TestEventstoreKillChild is the child of TestEventstoreKill; it runs only
// when the parent sets SHOAL_ESKILL_DIR, and never returns: the parent
// kills it.
func TestEventstoreKillChild(t *testing.T) {
	dir := os.Getenv(ekEnvDir)
	if dir == "" {
		t.Skip("child of TestEventstoreKill: runs only when " + ekEnvDir + " is set")
	}
	out := killtest.NewOut("EKFAIL")
	cycle, seed := out.Int(ekEnvCycle), out.Uint64(ekEnvSeed)
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(ekFailWriter{out}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := ekOpen(ctx, dir, true, logger)
	if err != nil {
		out.Fail("open: %v", err)
	}
	// Aggregates missing so far are created first (a Create cut by an
	// earlier kill may have left one).
	rng := rand.New(rand.NewPCG(seed, 0))
	for i := range ekAggs {
		id := ekAggID(i)
		v, err := db.store.Version(ctx, id)
		if err != nil {
			out.Fail("Version %s: %v", id, err)
		}
		if v > 0 {
			continue
		}
		token := fmt.Sprintf("%d.c.%d", cycle, i)
		by := int64(rng.IntN(1000))
		agg, err := db.repo.Create(ctx, id, func(c *ekCounter) error {
			c.Record(ekBumped{Agg: id, Token: token, Count: 1, By: by})
			return nil
		})
		if err != nil {
			out.Fail("Create %s: %v", id, err)
		}
		out.WriteString(fmt.Sprintf("EKAGG %s %s 1 %d\n", id, token, agg.StoredVersion()))
	}
	ekRetryInFlight(ctx, out, db.store, dir)
	out.WriteString("EKREADY\n")
	for g := range ekWriters {
		go ekWriter(ctx, out, db.store, cycle, g, seed)
	}
	for g := range ekAggWriters {
		go ekAggWriter(ctx, out, db.repo, cycle, g, seed)
	}
	select {} // until killed
}

// ekRetryInFlight sends again, with the same IDs and expected version, the
// batches the parent lists as in flight at the last kill, and prints each
// outcome (EKRACK, EKRREJ).
func ekRetryInFlight(ctx context.Context, out *killtest.Out, store *eventstore.Store, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, ekRetryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		out.Fail("read the retry file: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) != 4 {
			out.Fail("bad retry line %q", line)
		}
		key, err := ekParseKey(f[0])
		if err != nil {
			out.Fail("bad retry line %q: %v", line, err)
		}
		expected, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			out.Fail("bad retry line %q: %v", line, err)
		}
		ids, err := ekParseIDs(f[3])
		if err != nil {
			out.Fail("bad retry line %q: %v", line, err)
		}
		res, err := store.Append(ctx, f[1], eventstore.Exact(expected), ekProposed(key, f[1], expected, ids)...)
		var we *eventstore.WrongExpectedVersionError
		switch {
		case err == nil:
			out.WriteString(ekAckLine("EKRACK", key, res))
		case errors.As(err, &we):
			out.WriteString(fmt.Sprintf("EKRREJ %s %d\n", key, we.Actual))
		default:
			out.Fail("retry %s: Append %s: %v", key, f[1], err)
		}
	}
}

func ekAckLine(kind string, key ekKey, res eventstore.AppendResult) string {
	dedup := 0
	if res.Deduplicated {
		dedup = 1
	}
	return fmt.Sprintf("%s %s %d %d %s %s %s %d\n", kind, key, res.FirstVersion, res.LastVersion,
		res.First.ShardID, res.First.SequenceNumber, res.Last.SequenceNumber, dedup)
}

// ekWriter appends batches forever to random streams of ekStreams. It
// expects the version it last knew of a stream (one time in four) or a
// fresh one from store.Version, so that other writers make some appends
// conflict.
func ekWriter(ctx context.Context, out *killtest.Out, store *eventstore.Store, cycle, g int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(g)+1))
	known := map[string]uint64{}
	for n := 0; ; n++ {
		// A pause between appends keeps the log small enough to be read
		// back in full after every kill; with the other writers, appends
		// are still in flight at most kill times.
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		s := ekStreamID(rng.IntN(ekStreams))
		v, ok := known[s]
		if !ok || rng.IntN(4) != 0 {
			var err error
			if v, err = store.Version(ctx, s); err != nil {
				out.Fail("w%d Version %s: %v", g, s, err)
			}
		}
		key := ekKey{cycle, g, n}
		ids := make([]uuid.UUID, 1+rng.IntN(ekMaxBatch))
		for i := range ids {
			// NewEvent draws the event's ID; the events are built from
			// the IDs, as a retry in the next cycle rebuilds them.
			ids[i] = eventstore.NewEvent(ekEvent{}, eventstore.Metadata{}).ID
		}
		out.WriteString(fmt.Sprintf("EKSEND %s %s %d %s\n", key, s, v, ekFormatIDs(ids)))
		res, err := store.Append(ctx, s, eventstore.Exact(v), ekProposed(key, s, v, ids)...)
		var we *eventstore.WrongExpectedVersionError
		switch {
		case err == nil:
			k := uint64(len(ids))
			if res.StreamID != s || res.FirstVersion != v+1 || res.LastVersion != v+k || res.Deduplicated {
				out.Fail("w%d Append %s %s expecting %d: result %+v", g, key, s, v, res)
			}
			out.WriteString(ekAckLine("EKACK", key, res))
			known[s] = res.LastVersion
		case errors.As(err, &we):
			out.WriteString(fmt.Sprintf("EKREJ %s %d\n", key, we.Actual))
			known[s] = we.Actual
		default:
			out.Fail("w%d Append %s %s expecting %d: %v", g, key, s, v, err)
		}
	}
}

// ekAggWriter runs Update commands of 1-3 events on random aggregates.
func ekAggWriter(ctx context.Context, out *killtest.Out, repo *aggregate.Repository[ekCounter], cycle, g int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(100+g)))
	for n := 0; ; n++ {
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		id := ekAggID(rng.IntN(ekAggs))
		token := fmt.Sprintf("%d.a%d.%d", cycle, g, n)
		by := make([]int64, 1+rng.IntN(3))
		for i := range by {
			by[i] = int64(rng.IntN(1000)) - 300
		}
		agg, err := repo.Update(ctx, id, func(c *ekCounter) error {
			for i := range by {
				c.Record(ekBumped{Agg: id, Token: token, Index: i, Count: len(by), By: by[i]})
			}
			return nil
		})
		switch {
		case err == nil:
			out.WriteString(fmt.Sprintf("EKAGG %s %s %d %d\n", id, token, len(by), agg.StoredVersion()))
		case errors.Is(err, eventstore.ErrWrongExpectedVersion):
			out.WriteString(fmt.Sprintf("EKAGGGIVEUP %s %s\n", id, token)) // lost every retry
		default:
			out.Fail("a%d Update %s %s: %v", g, id, token, err)
		}
	}
}

// ---------------------------------------------------------------- parent

// ekStart starts a child of TestEventstoreKillChild with env.
func ekStart(t *testing.T, env ...string) *killtest.Child {
	t.Helper()
	return killtest.Start(t, killtest.Config{
		Test: "TestEventstoreKillChild", Env: env, Fail: "EKFAIL",
		Marks: []string{"EKREADY", "EKACK "},
	})
}

// ekSend is a batch a plain writer sent, and what became of it.
type ekSend struct {
	key      ekKey
	stream   string
	expected uint64
	ids      []uuid.UUID
	ack      *ekAck // acknowledged (by the writer, or by the retry)
	rejected bool   // a version conflict (of the writer, or of the retry)
	found    uint64 // the first version a check found it at; 0: not found
}

type ekAck struct {
	first, last       uint64
	shard             string
	firstSeq, lastSeq shardlog.SequenceNumber
	dedup, retry      bool
}

type ekAggAck struct {
	id, token string
	count     int
	version   uint64
}

type ekHist struct {
	id  uuid.UUID
	pos eventstore.Position
}

// ekRun is what the parent knows across cycles.
type ekRun struct {
	// sends holds the batches sent by the last child, and those it
	// retried; a check prunes them once they are found or settled.
	sends   map[ekKey]*ekSend
	retried []*ekSend // in flight at the last kill: the next child retries them
	// hist holds each stream's events at the last check: a later check
	// must find them again, where they were.
	hist    map[string][]ekHist
	aggAcks []ekAggAck        // acknowledged since the last check
	snap    map[string]uint64 // snapshot version at the last check
	snapMin map[string]uint64 // a snapshot of at least this version was acknowledged
}

// ekStats counts one cycle.
type ekStats struct {
	acked, ackedEvents, rejected             int
	retryDedup, retryAppended, retryRejected int
	aggAcked, aggGiveUps                     int
	extra, absent                            int // unacknowledged batches of this cycle, present or not
	events, aggEvents, records, recoveryLogs int
	snaps                                    []uint64
	verify                                   time.Duration
	note                                     string
}

func TestEventstoreKill(t *testing.T) {
	killtest.SkipUnlessSIGKILL(t)
	cycles := killtest.Cycles("SHOAL_KILL_CYCLES", 6)
	rng := killtest.Rand(t, "SHOAL_KILL_SEED_PARENT")
	dir := killtest.Dir(t, "SHOAL_KILL_KEEP", "eskill-")
	run := &ekRun{sends: map[ekKey]*ekSend{}, hist: map[string][]ekHist{}, snap: map[string]uint64{}, snapMin: map[string]uint64{}}
	var total ekStats
	start := time.Now()
	for cycle := range cycles {
		// Every fifth cycle the delay counts from the start, so the kill may
		// land in Open, recovery, the Creates or the retries; the others
		// count from READY, and wait for a first acknowledgement so that
		// every cycle writes.
		early := cycle%5 == 4
		delay := time.Duration(50+rng.IntN(351)) * time.Millisecond
		ekWriteRetries(t, dir, run)
		c := ekStart(t, ekEnvDir+"="+dir, ekEnvCycle+"="+strconv.Itoa(cycle), ekEnvSeed+"="+strconv.FormatUint(rng.Uint64(), 10))
		if early {
			time.Sleep(delay)
		} else {
			c.Await(t, "EKREADY", "READY")
			time.Sleep(delay)
			c.Await(t, "EKACK ", "a first acknowledgement")
		}
		lines := c.Kill(t)
		var cs ekStats
		ekParse(t, cycle, lines, run, &cs)
		tv := time.Now()
		ekVerify(t, cycle, dir, run, &cs)
		cs.verify = time.Since(tv)
		if t.Failed() {
			t.FailNow()
		}
		t.Logf("cycle %2d: killed after %v%s: %3d batches (%4d events) acked, %3d rejected, %2d present unacked, %d absent unacked; "+
			"retries %d dedup %d appended %d rejected; %3d updates acked, %d gave up; log: %d events (%d in aggregates), %d records, "+
			"snapshots at %v, %d recovery log lines; verified in %v%s",
			cycle, delay, map[bool]string{true: " from start", false: ""}[early], cs.acked, cs.ackedEvents, cs.rejected, cs.extra, cs.absent,
			cs.retryDedup, cs.retryAppended, cs.retryRejected, cs.aggAcked, cs.aggGiveUps, cs.events, cs.aggEvents, cs.records,
			cs.snaps, cs.recoveryLogs, cs.verify.Round(time.Millisecond), cs.note)
		total.acked += cs.acked
		total.ackedEvents += cs.ackedEvents
		total.rejected += cs.rejected
		total.extra += cs.extra
		total.absent += cs.absent
		total.retryDedup += cs.retryDedup
		total.retryAppended += cs.retryAppended
		total.retryRejected += cs.retryRejected
		total.aggAcked += cs.aggAcked
		total.aggGiveUps += cs.aggGiveUps
		total.events, total.records = cs.events, cs.records
	}
	if total.acked == 0 || total.aggAcked == 0 {
		t.Fatalf("nothing was acknowledged: %d batches, %d updates", total.acked, total.aggAcked)
	}
	t.Logf("%d cycles in %v: %d batches (%d events) acknowledged, %d rejected; %d unacknowledged batches were present after the kill, %d absent; "+
		"retries: %d recognised as duplicates, %d appended, %d rejected; %d aggregate updates acknowledged (%d gave up); the log holds %d events",
		cycles, time.Since(start).Round(time.Millisecond), total.acked, total.ackedEvents, total.rejected, total.extra, total.absent,
		total.retryDedup, total.retryAppended, total.retryRejected, total.aggAcked, total.aggGiveUps, total.events)
}

// ekWriteRetries writes the batches in flight at the last kill for the
// next child to send again.
func ekWriteRetries(t *testing.T, dir string, run *ekRun) {
	t.Helper()
	path := filepath.Join(dir, ekRetryFile)
	if len(run.retried) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return
	}
	var b strings.Builder
	for _, s := range run.retried {
		fmt.Fprintf(&b, "%s %s %d %s\n", s.key, s.stream, s.expected, ekFormatIDs(s.ids))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ekParse reads the child's lines into run, checking each answer against
// what was sent.
func ekParse(t *testing.T, cycle int, lines []string, run *ekRun, cs *ekStats) {
	t.Helper()
	retried := map[ekKey]bool{}
	for _, s := range run.retried {
		retried[s.key] = true
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "EK") || f[0] == "EKREADY" {
			continue // the testing package's own output
		}
		bad := func(err error) {
			t.Helper()
			t.Fatalf("cycle %d: bad line %q: %v", cycle, line, err)
		}
		num := func(s string) uint64 {
			t.Helper()
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				bad(err)
			}
			return n
		}
		var key ekKey
		var send *ekSend
		switch f[0] {
		case "EKSEND", "EKACK", "EKRACK", "EKREJ", "EKRREJ":
			if len(f) < 2 {
				bad(errors.New("too short"))
			}
			var err error
			if key, err = ekParseKey(f[1]); err != nil {
				bad(err)
			}
			send = run.sends[key]
			if f[0] != "EKSEND" && send == nil {
				t.Fatalf("cycle %d: %q answers batch %v, which was never sent", cycle, line, key)
			}
			if f[0] == "EKSEND" || f[0] == "EKACK" || f[0] == "EKREJ" {
				if key.cycle != cycle {
					t.Fatalf("cycle %d: %q names another cycle", cycle, line)
				}
			} else if !retried[key] {
				t.Fatalf("cycle %d: %q answers a retry of %v, which was not in flight at the last kill", cycle, line, key)
			}
			if send != nil && (send.ack != nil || send.rejected) {
				t.Fatalf("cycle %d: %q: batch %v was answered already", cycle, line, key)
			}
		}
		switch f[0] {
		case "EKSEND": // key stream expected ids
			if len(f) != 5 {
				bad(errors.New("want 5 fields"))
			}
			if send != nil {
				t.Fatalf("cycle %d: batch %v sent twice", cycle, key)
			}
			ids, err := ekParseIDs(f[4])
			if err != nil {
				bad(err)
			}
			run.sends[key] = &ekSend{key: key, stream: f[2], expected: num(f[3]), ids: ids}

		case "EKACK", "EKRACK": // key first last shard firstSeq lastSeq dedup
			if len(f) != 8 {
				bad(errors.New("want 8 fields"))
			}
			a := &ekAck{first: num(f[2]), last: num(f[3]), shard: f[4], dedup: f[7] == "1", retry: f[0] == "EKRACK"}
			var err error
			if a.firstSeq, err = shardlog.ParseSequenceNumber("first", f[5]); err != nil {
				bad(err)
			}
			if a.lastSeq, err = shardlog.ParseSequenceNumber("last", f[6]); err != nil {
				bad(err)
			}
			k := uint64(len(send.ids))
			if a.firstSeq.ShardID() != a.shard || a.lastSeq.ShardIndex() != a.firstSeq.ShardIndex() || a.lastSeq.Position()-a.firstSeq.Position() != k-1 {
				t.Errorf("cycle %d: batch %v of %d events acknowledged at %s %v..%v: not contiguous in one shard", cycle, key, k, a.shard, a.firstSeq, a.lastSeq)
			}
			from := fmt.Sprintf("%d-%d", a.first, a.last)
			if !a.retry {
				if a.dedup || a.first != send.expected+1 || a.last != send.expected+k {
					t.Errorf("cycle %d: batch %v of %d fresh events expecting version %d acknowledged at versions %s, deduplicated %v", cycle, key, k, send.expected, from, a.dedup)
				}
				cs.acked++
				cs.ackedEvents += int(k)
			} else {
				switch {
				case send.found != 0 && !a.dedup:
					t.Errorf("cycle %d: IDEMPOTENCY: the retry of batch %v (%s), found at versions %d-%d after the last kill, was appended again at %s",
						cycle, key, send.stream, send.found, send.found+k-1, from)
				case send.found != 0 && (a.first != send.found || a.last != send.found+k-1):
					t.Errorf("cycle %d: the retry of batch %v (%s), found at versions %d-%d after the last kill, was recognised at %s",
						cycle, key, send.stream, send.found, send.found+k-1, from)
				case send.found == 0 && a.dedup:
					t.Errorf("cycle %d: the retry of batch %v (%s), absent after the last kill, was answered as a duplicate at %s", cycle, key, send.stream, from)
				case send.found == 0 && (a.first != send.expected+1 || a.last != send.expected+k):
					t.Errorf("cycle %d: the retry of batch %v (%s) expecting version %d was appended at %s", cycle, key, send.stream, send.expected, from)
				}
				if a.dedup {
					cs.retryDedup++
				} else {
					cs.retryAppended++
				}
			}
			send.ack = a

		case "EKREJ", "EKRREJ": // key actual
			if len(f) != 3 {
				bad(errors.New("want 3 fields"))
			}
			actual := num(f[2])
			if f[0] == "EKREJ" {
				// Append decides a conflict on a fresh read: the stream it
				// saw was not at the expected version.
				if actual == send.expected {
					t.Errorf("cycle %d: batch %v rejected with a version conflict, but the stream was at the expected version %d", cycle, key, actual)
				}
				cs.rejected++
			} else {
				if send.found != 0 {
					t.Errorf("cycle %d: IDEMPOTENCY: the retry of batch %v (%s) expecting version %d, found at versions %d-%d after the last kill, was rejected (actual %d)",
						cycle, key, send.stream, send.expected, send.found, send.found+uint64(len(send.ids))-1, actual)
				}
				cs.retryRejected++
			}
			send.rejected = true

		case "EKAGG": // id token count version
			if len(f) != 5 {
				bad(errors.New("want 5 fields"))
			}
			a := ekAggAck{id: f[1], token: f[2], count: int(num(f[3])), version: num(f[4])}
			if a.count < 1 || uint64(a.count) > a.version {
				bad(errors.New("bad count"))
			}
			run.aggAcks = append(run.aggAcks, a)
			if before := a.version - uint64(a.count); a.version/ekSnapEvery > before/ekSnapEvery {
				// Save took a snapshot at a.version before it returned.
				run.snapMin[a.id] = max(run.snapMin[a.id], a.version)
			}
			cs.aggAcked++

		case "EKAGGGIVEUP":
			cs.aggGiveUps++

		default:
			t.Fatalf("cycle %d: unknown line %q", cycle, line)
		}
	}
}

// ekWarnings fails the test on any warning the store or the repository
// logs in the parent.
type ekWarnings struct {
	t     *testing.T
	cycle int
}

func (w ekWarnings) Write(p []byte) (int, error) {
	w.t.Errorf("cycle %d: logged: %s", w.cycle, bytes.TrimSpace(p))
	return len(p), nil
}

// ekVerify reopens dir and checks it against run.
func ekVerify(t *testing.T, cycle int, dir string, run *ekRun, cs *ekStats) {
	t.Helper()
	ctx := context.Background()
	var engineLog testlog.Buffer
	db, err := ekOpen(ctx, dir, false,
		slog.New(slog.NewTextHandler(ekWarnings{t, cycle}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		file.WithLogger(engineLog.Logger(slog.LevelInfo)))
	if errors.Is(err, shardlog.ErrResourceNotFound) && len(run.sends) == 0 && len(run.aggAcks) == 0 && len(run.hist) == 0 {
		cs.note = " (killed before the stream was created)"
		return
	}
	if err != nil {
		t.Fatalf("cycle %d: reopen: %v", cycle, err)
	}
	defer func() {
		if err := db.log.Close(); err != nil {
			t.Errorf("cycle %d: close: %v", cycle, err)
		}
		cs.recoveryLogs = engineLog.Lines()
	}()

	all := map[string][]eventstore.Event{} // every stream read in full
	where := map[uuid.UUID]string{}        // event ID → where it is
	for i := range ekStreams {
		s := ekStreamID(i)
		evs, ok := ekReadStream(t, ctx, cycle, db.store, s, run.hist[s], where)
		if !ok {
			continue
		}
		all[s] = evs
		cs.events += len(evs)
		ekCheckBatches(t, cycle, s, evs, len(run.hist[s]), run, cs)
	}

	// Acknowledged batches are there, at their versions and positions;
	// rejected ones are nowhere.
	for _, send := range run.sends {
		if send.rejected {
			for _, id := range send.ids {
				if w, ok := where[id]; ok {
					t.Errorf("cycle %d: REJECTED batch %v (%s expecting %d) is in the log: event %s at %s", cycle, send.key, send.stream, send.expected, id, w)
				}
			}
			continue
		}
		a := send.ack
		if a == nil || a.first == 0 {
			continue // not acknowledged, or a bad acknowledgement (reported)
		}
		evs, ok := all[send.stream]
		if !ok {
			continue // reported
		}
		var lost []string
		for j, id := range send.ids {
			v := a.first + uint64(j)
			switch {
			case v > uint64(len(evs)):
				lost = append(lost, fmt.Sprintf("v%d missing", v))
			case evs[v-1].ID != id:
				lost = append(lost, fmt.Sprintf("v%d is %s, not %s", v, evs[v-1].ID, id))
			}
		}
		switch {
		case len(lost) > 0:
			t.Errorf("cycle %d: LOST acknowledged batch %v (%s, versions %d-%d, %s %v, retry %v, deduplicated %v): %s; the stream has %d events",
				cycle, send.key, send.stream, a.first, a.last, a.shard, a.firstSeq, a.retry, a.dedup, strings.Join(lost, "; "), len(evs))
		case evs[a.first-1].Position != eventstore.Position{ShardID: a.shard, SequenceNumber: a.firstSeq} ||
			evs[a.last-1].Position != eventstore.Position{ShardID: a.shard, SequenceNumber: a.lastSeq}:
			t.Errorf("cycle %d: acknowledged batch %v (%s) at %s %v..%v, found at %v..%v",
				cycle, send.key, send.stream, a.shard, a.firstSeq, a.lastSeq, evs[a.first-1].Position, evs[a.last-1].Position)
		}
	}

	for i := range ekAggs {
		id := ekAggID(i)
		evs, ok := ekReadStream(t, ctx, cycle, db.store, id, run.hist[id], where)
		if !ok {
			continue
		}
		all[id] = evs
		cs.aggEvents += len(evs)
		cs.events += len(evs)
		ekCheckAggregate(t, ctx, cycle, db, id, evs, run, cs)
	}
	ekCheckShards(t, ctx, cycle, db.log, all, cs)
	if t.Failed() {
		return
	}

	for s, evs := range all {
		h := make([]ekHist, len(evs))
		for i, ev := range evs {
			h[i] = ekHist{ev.ID, ev.Position}
		}
		run.hist[s] = h
	}
	run.aggAcks = run.aggAcks[:0]
	// The batches in flight at this kill, found or not, are retried by the
	// next child; everything else is settled.
	run.retried = run.retried[:0]
	for key, send := range run.sends {
		if key.cycle == cycle && send.ack == nil && !send.rejected {
			run.retried = append(run.retried, send)
			if send.found != 0 {
				cs.extra++
			} else {
				cs.absent++
			}
			continue
		}
		delete(run.sends, key)
	}
	slices.SortFunc(run.retried, func(a, b *ekSend) int {
		return strings.Compare(a.key.String(), b.key.String())
	})
}

// ekReadStream reads a stream backward (the events as the log holds them)
// and forward, and checks: versions 1..n in increasing positions, both
// reads and Version agree, the events of the last check are still there
// where they were, and no event ID is anywhere else. It returns the
// events in version order.
func ekReadStream(t *testing.T, ctx context.Context, cycle int, store *eventstore.Store, s string, prev []ekHist, where map[uuid.UUID]string) ([]eventstore.Event, bool) {
	t.Helper()
	var evs []eventstore.Event
	for ev, err := range store.ReadBackward(ctx, s, 0) {
		if err != nil {
			t.Errorf("cycle %d: stream %s: ReadBackward, after %d events: %v", cycle, s, len(evs), err)
			return nil, false
		}
		evs = append(evs, ev)
	}
	slices.Reverse(evs)
	for i, ev := range evs {
		if ev.Version != uint64(i+1) {
			vs := make([]uint64, len(evs))
			for j := range evs {
				vs[j] = evs[j].Version
			}
			lo, hi := max(i-5, 0), min(i+6, len(vs))
			t.Errorf("cycle %d: stream %s: versions are not 1..n: the event at index %d is version %d (versions %d..%d: %v, %d events)",
				cycle, s, i, ev.Version, lo, hi-1, vs[lo:hi], len(evs))
			return nil, false
		}
		if i > 0 && ev.Position.SequenceNumber.Compare(evs[i-1].Position.SequenceNumber) <= 0 {
			t.Errorf("cycle %d: stream %s: version %d at %v, after version %d at %v", cycle, s, ev.Version, ev.Position, i, evs[i-1].Position)
			return nil, false
		}
		if ev.StreamID != s {
			t.Errorf("cycle %d: stream %s: version %d names stream %q", cycle, s, ev.Version, ev.StreamID)
			return nil, false
		}
	}
	i := 0
	for ev, err := range store.Read(ctx, s, 0) {
		if err != nil {
			t.Errorf("cycle %d: stream %s: Read, after %d events: %v", cycle, s, i, err)
			return nil, false
		}
		if i >= len(evs) || ev.ID != evs[i].ID || ev.Version != evs[i].Version || ev.Position != evs[i].Position {
			t.Errorf("cycle %d: stream %s: Read and ReadBackward differ at index %d (%d events read backward)", cycle, s, i, len(evs))
			return nil, false
		}
		i++
	}
	if i != len(evs) {
		t.Errorf("cycle %d: stream %s: Read returned %d events, ReadBackward %d", cycle, s, i, len(evs))
		return nil, false
	}
	if v, err := store.Version(ctx, s); err != nil || v != uint64(len(evs)) {
		t.Errorf("cycle %d: stream %s: Version %d (%v), %d events read", cycle, s, v, err, len(evs))
		return nil, false
	}
	if len(evs) < len(prev) {
		t.Errorf("cycle %d: stream %s: LOST events: %d events, the last check read %d (its last at %v)", cycle, s, len(evs), len(prev), prev[len(prev)-1].pos)
		return nil, false
	}
	for i, h := range prev {
		if evs[i].ID != h.id || evs[i].Position != h.pos {
			t.Errorf("cycle %d: stream %s: version %d is %s at %v; the last check read %s at %v", cycle, s, i+1, evs[i].ID, evs[i].Position, h.id, h.pos)
			return nil, false
		}
	}
	for _, ev := range evs {
		here := fmt.Sprintf("%s v%d (%v)", s, ev.Version, ev.Position)
		if w, dup := where[ev.ID]; dup {
			t.Errorf("cycle %d: DUPLICATE event ID %s: %s and %s", cycle, ev.ID, w, here)
		}
		where[ev.ID] = here
	}
	return evs, true
}

// ekCheckBatches checks a plain stream's events batch by batch: each batch
// is whole, contiguous in one shard, in order, and decodes to what its
// writer made; a batch new since the last check (from version prevN+1)
// was sent, with these IDs and an expected version that puts it here.
func ekCheckBatches(t *testing.T, cycle int, s string, evs []eventstore.Event, prevN int, run *ekRun, cs *ekStats) {
	t.Helper()
	for i := 0; i < len(evs); {
		first := &evs[i]
		p, err := eventstore.DataAs[ekEvent](first)
		if err != nil {
			t.Errorf("cycle %d: stream %s v%d: %v", cycle, s, first.Version, err)
			return
		}
		key := ekKey{p.Cycle, p.Writer, p.Batch}
		k := p.Count
		switch {
		case p.Index != 0:
			t.Errorf("cycle %d: stream %s v%d: batch %v starts with its event %d of %d: the batch is not whole", cycle, s, first.Version, key, p.Index, k)
			return
		case k < 1 || k > ekMaxBatch:
			t.Errorf("cycle %d: stream %s v%d: batch %v of %d events", cycle, s, first.Version, key, k)
			return
		case i+k > len(evs):
			send := run.sends[key]
			t.Errorf("cycle %d: stream %s: TORN batch %v: versions %d-%d hold %d of its %d events (the stream ends there); it was %s",
				cycle, s, key, first.Version, len(evs), len(evs)-i, k, ekSendState(send))
			return
		case i < prevN && i+k > prevN:
			t.Errorf("cycle %d: stream %s: batch %v at versions %d-%d straddles the end of the last check's history (version %d): it was torn then",
				cycle, s, key, first.Version, i+k, prevN)
			return
		}
		ids := make([]uuid.UUID, k)
		for j := range ids {
			ids[j] = evs[i+j].ID
		}
		for j := range k {
			ev := &evs[i+j]
			q, err := eventstore.DataAs[ekEvent](ev)
			if err != nil {
				t.Errorf("cycle %d: stream %s v%d: %v", cycle, s, ev.Version, err)
				return
			}
			want := ekPayload(key, s, uint64(i), ids, j)
			switch {
			case !ekSameEvent(q, want):
				t.Errorf("cycle %d: stream %s v%d (%s, event %d of batch %v at versions %d-%d): payload %+v, want %+v: the batch is not whole or not in order",
					cycle, s, ev.Version, ev.ID, j, key, i+1, i+k, q, want)
				return
			case ev.Type != "ek.event" || ev.Metadata.CorrelationID != key.String():
				t.Errorf("cycle %d: stream %s v%d: type %q, correlation ID %q, want ek.event and %s", cycle, s, ev.Version, ev.Type, ev.Metadata.CorrelationID, key)
				return
			case ev.Position.ShardID != first.Position.ShardID || ev.Position.SequenceNumber.ShardIndex() != first.Position.SequenceNumber.ShardIndex() ||
				ev.Position.SequenceNumber.Position() != first.Position.SequenceNumber.Position()+uint64(j):
				t.Errorf("cycle %d: stream %s: batch %v is not contiguous in one shard: event 0 at %v, event %d at %v", cycle, s, key, first.Position, j, ev.Position)
				return
			}
		}
		if i >= prevN {
			send := run.sends[key]
			switch {
			case send == nil:
				t.Errorf("cycle %d: stream %s: PHANTOM batch %v at versions %d-%d: no writer sent it (or it was settled before)", cycle, s, key, i+1, i+k)
			case send.stream != s || send.expected != uint64(i) || !slices.Equal(send.ids, ids):
				t.Errorf("cycle %d: stream %s: batch %v at versions %d-%d, IDs %s; it was sent to %s expecting %d with IDs %s",
					cycle, s, key, i+1, i+k, ekFormatIDs(ids), send.stream, send.expected, ekFormatIDs(send.ids))
			case send.found != 0:
				t.Errorf("cycle %d: stream %s: batch %v found at versions %d-%d, and at %d before", cycle, s, key, i+1, i+k, send.found)
			default:
				send.found = uint64(i + 1)
			}
		}
		i += k
	}
}

func ekSendState(send *ekSend) string {
	switch {
	case send == nil:
		return "not sent in the last cycle"
	case send.ack != nil:
		return fmt.Sprintf("ACKNOWLEDGED at versions %d-%d (%s %v..%v, retry %v)", send.ack.first, send.ack.last, send.ack.shard, send.ack.firstSeq, send.ack.lastSeq, send.ack.retry)
	case send.rejected:
		return "rejected"
	}
	return fmt.Sprintf("not acknowledged (expecting %d, IDs %s)", send.expected, ekFormatIDs(send.ids))
}

// ekCheckAggregate checks an aggregate's stream: each command's events are
// whole, once, contiguous; acknowledged updates are there; repo.Load
// equals a replay of the events; the snapshot is at most the stream's
// version, consistent with the events, and no older than it must be.
func ekCheckAggregate(t *testing.T, ctx context.Context, cycle int, db *ekDB, id string, evs []eventstore.Event, run *ekRun, cs *ekStats) {
	t.Helper()
	data := make([]any, len(evs))
	last := map[string]uint64{} // token → version of its last event
	for i := 0; i < len(evs); {
		first := &evs[i]
		p, err := eventstore.DataAs[ekBumped](first)
		if err != nil {
			t.Errorf("cycle %d: aggregate %s v%d: %v", cycle, id, first.Version, err)
			return
		}
		k := p.Count
		switch {
		case p.Index != 0 || k < 1 || k > 3:
			t.Errorf("cycle %d: aggregate %s v%d: command %s starts with its event %d of %d: it is not whole", cycle, id, first.Version, p.Token, p.Index, k)
			return
		case i+k > len(evs):
			t.Errorf("cycle %d: aggregate %s: TORN command %s: versions %d-%d hold %d of its %d events", cycle, id, p.Token, first.Version, len(evs), len(evs)-i, k)
			return
		}
		if v, dup := last[p.Token]; dup {
			t.Errorf("cycle %d: aggregate %s: command %s applied TWICE: at versions ..%d and %d..", cycle, id, p.Token, v, first.Version)
		}
		if before, _, _ := strings.Cut(p.Token, "."); before == "" || strings.Trim(before, "0123456789") != "" || len(before) > 9 {
			t.Errorf("cycle %d: aggregate %s v%d: command token %q was not made by a writer", cycle, id, first.Version, p.Token)
		} else if c, _ := strconv.Atoi(before); c > cycle {
			t.Errorf("cycle %d: aggregate %s v%d: command %s of a later cycle", cycle, id, first.Version, p.Token)
		}
		for j := range k {
			ev := &evs[i+j]
			q, err := eventstore.DataAs[ekBumped](ev)
			switch {
			case err != nil:
				t.Errorf("cycle %d: aggregate %s v%d: %v", cycle, id, ev.Version, err)
				return
			case q.Agg != id || q.Token != p.Token || q.Index != j || q.Count != k:
				t.Errorf("cycle %d: aggregate %s v%d: event %+v, want event %d of %d of command %s", cycle, id, ev.Version, q, j, k, p.Token)
				return
			case ev.Position.ShardID != first.Position.ShardID ||
				ev.Position.SequenceNumber.Position() != first.Position.SequenceNumber.Position()+uint64(j):
				t.Errorf("cycle %d: aggregate %s: command %s is not contiguous in one shard: event 0 at %v, event %d at %v", cycle, id, p.Token, first.Position, j, ev.Position)
				return
			}
			data[i+j] = q
		}
		last[p.Token] = uint64(i + k)
		i += k
	}
	for _, a := range run.aggAcks {
		if a.id != id {
			continue
		}
		if v, ok := last[a.token]; !ok || v != a.version {
			t.Errorf("cycle %d: aggregate %s: LOST acknowledged update %s (%d events, version %d): its last event is at version %d (0: absent); the stream has %d events",
				cycle, id, a.token, a.count, a.version, v, len(evs))
		}
	}
	n := uint64(len(evs))
	replay, err := ekCounters.Replay(id, data...)
	if err != nil {
		t.Errorf("cycle %d: aggregate %s: replay: %v", cycle, id, err)
		return
	}
	loaded, err := db.repo.Load(ctx, id)
	switch {
	case n == 0 && errors.Is(err, eventstore.ErrStreamNotFound):
	case err != nil:
		t.Errorf("cycle %d: aggregate %s: Load: %v", cycle, id, err)
	case loaded.Version() != n || loaded.StoredVersion() != n || ekState(loaded) != ekState(replay):
		t.Errorf("cycle %d: aggregate %s: Load gives version %d (stored %d) %s; the %d events replay to %s",
			cycle, id, loaded.Version(), loaded.StoredVersion(), ekState(loaded), n, ekState(replay))
	}
	sn, ok, err := db.snaps.LoadSnapshot(ctx, id)
	if err != nil {
		t.Errorf("cycle %d: aggregate %s: LoadSnapshot: %v", cycle, id, err)
		return
	}
	if !ok {
		if run.snapMin[id] > 0 || run.snap[id] > 0 {
			t.Errorf("cycle %d: aggregate %s: LOST snapshot: none, but one at version %d was acknowledged (%d at the last check)", cycle, id, run.snapMin[id], run.snap[id])
		}
		cs.snaps = append(cs.snaps, 0)
		return
	}
	cs.snaps = append(cs.snaps, sn.Version)
	switch {
	case sn.Version > n:
		t.Errorf("cycle %d: aggregate %s: the snapshot is AHEAD of the log: version %d, the stream has %d events", cycle, id, sn.Version, n)
		return
	case sn.Version == 0 || sn.StreamID != id || sn.Type != ekCounters.Name() || sn.SchemaVersion != 1:
		t.Errorf("cycle %d: aggregate %s: snapshot %s v%d of %s schema %d", cycle, id, sn.StreamID, sn.Version, sn.Type, sn.SchemaVersion)
		return
	case sn.Position != evs[sn.Version-1].Position:
		t.Errorf("cycle %d: aggregate %s: the snapshot at version %d names position %v; the event is at %v", cycle, id, sn.Version, sn.Position, evs[sn.Version-1].Position)
	case sn.Version < run.snap[id]:
		t.Errorf("cycle %d: aggregate %s: the snapshot went BACK from version %d to %d", cycle, id, run.snap[id], sn.Version)
	case sn.Version < run.snapMin[id]:
		t.Errorf("cycle %d: aggregate %s: LOST snapshot: version %d, but one at version %d was taken before an acknowledged Update returned", cycle, id, sn.Version, run.snapMin[id])
	}
	var state ekCounter
	if err := db.store.Codec().Unmarshal(sn.Data, &state); err != nil {
		t.Errorf("cycle %d: aggregate %s: the snapshot at version %d does not decode: %v", cycle, id, sn.Version, err)
		return
	}
	upTo, err := ekCounters.Replay(id, data[:sn.Version]...)
	if err != nil {
		t.Errorf("cycle %d: aggregate %s: replay: %v", cycle, id, err)
		return
	}
	if ekState(&state) != ekState(upTo) {
		t.Errorf("cycle %d: aggregate %s: the snapshot at version %d holds %s; events 1-%d replay to %s", cycle, id, sn.Version, ekState(&state), sn.Version, ekState(upTo))
	}
	run.snap[id] = sn.Version
}

// ekCheckShards reads every record of every shard with cursors and checks
// that the key reads saw exactly them: each record belongs to a stream of
// the test, and each stream's records are the events read, at their
// positions.
func ekCheckShards(t *testing.T, ctx context.Context, cycle int, l *shardlog.Log, all map[string][]eventstore.Event, cs *ekStats) {
	t.Helper()
	d, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: ekLogStream})
	if err != nil {
		t.Errorf("cycle %d: DescribeStream: %v", cycle, err)
		return
	}
	perKey := map[string][]eventstore.Position{}
	for _, sh := range d.Shards {
		c, err := l.NewCursor(ctx, shardlog.NewCursorInput{StreamName: ekLogStream, ShardID: sh.ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		if err != nil {
			t.Errorf("cycle %d: cursor on %s: %v", cycle, sh.ShardID, err)
			return
		}
		for {
			b, err := c.Next(ctx, 0)
			if err != nil {
				t.Errorf("cycle %d: read %s: %v", cycle, sh.ShardID, err)
				return
			}
			for _, r := range b.Records {
				perKey[r.PartitionKey] = append(perKey[r.PartitionKey], eventstore.Position{ShardID: sh.ShardID, SequenceNumber: r.SequenceNumber})
				cs.records++
			}
			if b.End || len(b.Records) == 0 {
				break
			}
		}
	}
	for key, ps := range perKey {
		evs, ok := all[key]
		if !ok {
			if !ekKnownStream(key) {
				t.Errorf("cycle %d: %d records of an unknown key %q, the first at %v", cycle, len(ps), key, ps[0])
			}
			continue // its stream's read failed: reported
		}
		if len(ps) != len(evs) {
			t.Errorf("cycle %d: stream %s: the shards hold %d records of it, the stream reads %d events", cycle, key, len(ps), len(evs))
			continue
		}
		for i := range ps {
			if ps[i] != evs[i].Position {
				t.Errorf("cycle %d: stream %s: record %d of the key is at %v in the shards; version %d reads at %v", cycle, key, i, ps[i], i+1, evs[i].Position)
				break
			}
		}
	}
	for s, evs := range all {
		if _, ok := perKey[s]; !ok && len(evs) > 0 {
			t.Errorf("cycle %d: stream %s reads %d events, the shards hold none", cycle, s, len(evs))
		}
	}
}

func ekKnownStream(id string) bool {
	for i := range ekStreams {
		if id == ekStreamID(i) {
			return true
		}
	}
	for i := range ekAggs {
		if id == ekAggID(i) {
			return true
		}
	}
	return false
}
