package projection_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/killtest"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// The kill -9 proof of the projection runner's durability contract with a
// FileStore on the file engine: SaveCheckpoint is on disk when it
// returns; after a crash the events since the last checkpoint are applied
// again (at-least-once) and none is skipped; parked events and
// checkpoints survive.
//
// The parent seeds a log (4 shards) with pkStreams streams of pkPerStream
// events, some of them poison (order.shipped, whose handler always fails,
// so the runner parks them). Each cycle re-executes this test binary as a
// child that opens the log, the store and a FileStore in dir/checkpoints,
// and runs a Runner (BatchSize pkBatch) whose handler appends the line
// "cycle shard seq eventID version streamID" to dir/applied.log and
// fsyncs it before returning: that file is the ground truth of what the
// handlers did. In two cycles out of three the child also appends events
// while it projects, and records each acknowledged one in
// dir/appended.log. The parent SIGKILLs the child 20-300 ms after it is
// ready (every fourth cycle: after it started, so the kill may land in
// Open), then checks:
//
//   - the FileStore opens again at once: the kernel released the flock
//     the dead child held (and, while the child ran, it was refused);
//   - every line of applied.log names an event of the log, at its
//     position, and no poison event;
//   - per shard, the child's lines are exactly the shard's events after
//     the checkpoint it started from, in order, without gap (poison
//     events aside): it resumed at the checkpoint, skipped nothing, and
//     re-applied what the last child applied after its last checkpoint;
//   - the checkpoint never went back, never ran ahead of the handlers
//     (every event at or before it was applied, or parked), and the
//     events applied after it, to be applied again by the next child,
//     are at most one batch;
//   - every parked event is a poison event, at or before its shard's
//     checkpoint, recorded in full; every poison event at or before the
//     checkpoint is parked; what was parked stays parked, unchanged;
//   - every acknowledged append of the child is in the log.
//
// Then the parent runs the projection itself, CatchUpOnly, to the end,
// and checks the same, and that every event was applied at least once
// (poison events parked, once), each stream's events first applied in
// version order, and each shard's checkpoint at its last event.
//
// Knobs: SHOAL_KILL_CYCLES sets the number of kills (default 6),
// SHOAL_KILL_SEED_PARENT replays the parent's choices (the kill times
// still vary), SHOAL_KILL_KEEP=1 keeps the data directory.

// Environment of the child.
const (
	pkEnvDir    = "SHOAL_PKILL_DIR"    // data directory; the child runs only if set
	pkEnvCycle  = "SHOAL_PKILL_CYCLE"  // cycle number, first field of its applied lines
	pkEnvSeed   = "SHOAL_PKILL_SEED"   // the child's random seed
	pkEnvAppend = "SHOAL_PKILL_APPEND" // "1": the child appends while it projects
)

const (
	pkLogStream   = "pkill"
	pkShards      = 4
	pkStreams     = 200
	pkPerStream   = 10
	pkBatch       = 16
	pkAttempts    = 2 // handler attempts before an event is parked
	pkProjection  = "kill9"
	pkApplied     = "applied.log"
	pkAppended    = "appended.log"
	pkCheckpoints = "checkpoints"
	pkPoisonType  = "order.shipped"
)

var errPkPoison = errors.New("poison event")

func pkStreamID(i int) string { return fmt.Sprintf("order-%03d", i) }

// pkRegistry registers the helpers' event types under newStore's names.
func pkRegistry() (*eventstore.Registry, error) {
	reg := eventstore.NewRegistry()
	if err := eventstore.Register[placed](reg, "order.placed"); err != nil {
		return nil, err
	}
	if err := eventstore.Register[paid](reg, "order.paid"); err != nil {
		return nil, err
	}
	if err := eventstore.Register[shipped](reg, pkPoisonType); err != nil {
		return nil, err
	}
	return reg, nil
}

// pkOpen opens the file engine in dir/log and the store on it, creating
// its stream if create.
func pkOpen(ctx context.Context, dir string, create bool, fileOpts ...file.Option) (*shardlog.Log, *eventstore.Store, error) {
	e, err := file.Open(filepath.Join(dir, "log"), fileOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("file.Open: %w", err)
	}
	l, err := shardlog.Open(ctx, e, shardlog.WithRetentionInterval(0))
	if err != nil {
		e.Close()
		return nil, nil, fmt.Errorf("shardlog.Open: %w", err)
	}
	reg, err := pkRegistry()
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	opts := []eventstore.Option{eventstore.WithRegistry(reg)}
	if create {
		opts = append(opts, eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: pkShards}))
	}
	s, err := eventstore.Open(ctx, l, pkLogStream, opts...)
	if err != nil {
		l.Close()
		return nil, nil, fmt.Errorf("eventstore.Open: %w", err)
	}
	return l, s, nil
}

// pkRecorder is the handlers' side effect: one line per applied event in
// applied.log, written with O_APPEND and fsynced before the handler
// returns.
type pkRecorder struct {
	f     *os.File
	cycle int
	fail  func(error) // a write that fails is fatal, not a handler error
}

func (r *pkRecorder) record(ev *eventstore.Event) error {
	line := fmt.Sprintf("%d %s %s %s %d %s\n", r.cycle, ev.Position.ShardID, ev.Position.SequenceNumber, ev.ID, ev.Version, ev.StreamID)
	if _, err := r.f.WriteString(line); err != nil {
		r.fail(err)
		return err
	}
	if err := r.f.Sync(); err != nil {
		r.fail(err)
		return err
	}
	return nil
}

// pkProjectionOf applies placed and paid events to rec and fails on
// shipped ones, which the runner parks after pkAttempts.
func pkProjectionOf(rec *pkRecorder) *projection.Projection {
	p := projection.New(pkProjection)
	projection.On(p, func(_ context.Context, ev projection.Event[placed]) error { return rec.record(ev.Event) })
	projection.On(p, func(_ context.Context, ev projection.Event[paid]) error { return rec.record(ev.Event) })
	projection.On(p, func(_ context.Context, ev projection.Event[shipped]) error { return errPkPoison })
	return p
}

func pkOptions(cps projection.CheckpointStore, catchUp bool) projection.Options {
	return projection.Options{
		Checkpoints: cps,
		BatchSize:   pkBatch,
		Retry:       projection.RetryPolicy{Attempts: pkAttempts, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond},
		CatchUpOnly: catchUp,
		Logger:      discardLogger(),
	}
}

// ---------------------------------------------------------------- child

// pkChildMain is the child: it projects (and appends) until killed.
func pkChildMain(dir string) {
	out := killtest.NewOut("PKFAIL")
	cycle, seed := out.Int(pkEnvCycle), out.Uint64(pkEnvSeed)
	ctx := context.Background()
	_, store, err := pkOpen(ctx, dir, false)
	if err != nil {
		out.Fail("open: %v", err)
	}
	cps, err := projection.OpenFileStore(filepath.Join(dir, pkCheckpoints))
	if err != nil {
		out.Fail("OpenFileStore: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, pkApplied), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		out.Fail("open %s: %v", pkApplied, err)
	}
	rec := &pkRecorder{f: f, cycle: cycle, fail: func(err error) { out.Fail("write %s: %v", pkApplied, err) }}
	r, err := projection.NewRunner(store, pkOptions(cps, false), pkProjectionOf(rec))
	if err != nil {
		out.Fail("NewRunner: %v", err)
	}
	out.WriteString("PKREADY\n")
	if os.Getenv(pkEnvAppend) == "1" {
		af, err := os.OpenFile(filepath.Join(dir, pkAppended), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			out.Fail("open %s: %v", pkAppended, err)
		}
		for g := range 2 {
			go pkAppender(ctx, out, store, af, cycle, g, seed)
		}
	}
	err = r.Run(ctx)
	out.Fail("Run returned: %v", err)
}

// pkAppender appends batches of 1-3 events to random streams, mostly old
// ones, now and then a new one or a poison event, and records every
// acknowledged event in appended.log: "cycle eventID stream version shard
// seq", fsynced.
func pkAppender(ctx context.Context, out *killtest.Out, store *eventstore.Store, af *os.File, cycle, g int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(g)+1))
	for n := 0; ; n++ {
		time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond)
		s := pkStreamID(rng.IntN(pkStreams))
		if rng.IntN(5) == 0 {
			s = fmt.Sprintf("new-c%d-g%d-%d", cycle, g, n)
		}
		evs := make([]any, 1+rng.IntN(3))
		ids := make([]uuid.UUID, len(evs))
		for i := range evs {
			var data any = paid{Cents: n}
			if rng.IntN(15) == 0 {
				data = shipped{}
			}
			p := eventstore.NewEvent(data, eventstore.Metadata{})
			evs[i], ids[i] = p, p.ID
		}
		res, err := store.Append(ctx, s, eventstore.Any, evs...)
		if err != nil {
			out.Fail("append %s: %v", s, err)
		}
		var b strings.Builder
		for i, id := range ids {
			seq := shardlog.MakeSequenceNumber(res.First.SequenceNumber.Position()+uint64(i), res.First.SequenceNumber.ShardIndex())
			fmt.Fprintf(&b, "%d %s %s %d %s %s\n", cycle, id, s, res.FirstVersion+uint64(i), res.First.ShardID, seq)
		}
		if _, err := af.WriteString(b.String()); err != nil {
			out.Fail("write %s: %v", pkAppended, err)
		}
		if err := af.Sync(); err != nil {
			out.Fail("fsync %s: %v", pkAppended, err)
		}
	}
}

// ---------------------------------------------------------------- parent

// pkStart starts a child of TestKill9FileStore with env.
func pkStart(t *testing.T, env ...string) *killtest.Child {
	t.Helper()
	return killtest.Start(t, killtest.Config{Test: "TestKill9FileStore", Env: env, Fail: "PKFAIL", Marks: []string{"PKREADY"}})
}

// pkLine is a line of applied.log.
type pkLine struct {
	cycle   int
	shard   string
	seq     shardlog.SequenceNumber
	id      uuid.UUID
	version uint64
	stream  string
}

// pkState is what the parent knows across cycles.
type pkState struct {
	cp      map[string]projection.Progress            // at the last check
	parked  map[eventstore.Position]projection.Parked // at the last check
	applied map[uuid.UUID]int                         // applications in the lines checked
	lines   int                                       // lines of applied.log checked
	acked   int                                       // lines of appended.log checked
	all     []pkLine                                  // every line checked, in file order
}

// pkStats counts one cycle.
type pkStats struct {
	lines, dups, pending, maxPending int
	parked, newParked, acked, events int
	covered                          int // events at or before the checkpoints
	partial                          int // trailing partial lines cut
	tmps                             int // temporary files of a cut checkpoint write
}

func TestKill9FileStore(t *testing.T) {
	if dir := os.Getenv(pkEnvDir); dir != "" {
		pkChildMain(dir) // never returns
		return
	}
	killtest.SkipUnlessSIGKILL(t)
	if !flockOS() {
		t.Skip("needs SIGKILL and flock")
	}
	cycles := killtest.Cycles("SHOAL_KILL_CYCLES", 6)
	rng := killtest.Rand(t, "SHOAL_KILL_SEED_PARENT")
	dir := killtest.Dir(t, "SHOAL_KILL_KEEP", "pkill-")
	start := time.Now()
	pkSeed(t, dir)
	t.Logf("seeded %d streams of %d events in %v", pkStreams, pkPerStream, time.Since(start).Round(time.Millisecond))

	st := &pkState{cp: map[string]projection.Progress{}, parked: map[eventstore.Position]projection.Parked{}, applied: map[uuid.UUID]int{}}
	var total pkStats
	for cycle := range cycles {
		early := cycle%4 == 3
		appending := cycle%3 != 0
		delay := time.Duration(20+rng.IntN(281)) * time.Millisecond
		c := pkStart(t, pkEnvDir+"="+dir, pkEnvCycle+"="+strconv.Itoa(cycle),
			pkEnvSeed+"="+strconv.FormatUint(rng.Uint64(), 10), pkEnvAppend+"="+map[bool]string{true: "1", false: "0"}[appending])
		lock := "not checked"
		if early {
			time.Sleep(delay)
		} else {
			c.Await(t, "PKREADY", "READY")
			time.Sleep(delay)
		}
		select {
		case <-c.Mark("PKREADY"):
			// The child holds the FileStore: another must be refused.
			s, err := projection.OpenFileStore(filepath.Join(dir, pkCheckpoints))
			if err == nil {
				s.Close()
				t.Fatalf("cycle %d: a second FileStore opened the directory the running child holds", cycle)
			}
			if !strings.Contains(err.Error(), "in use") {
				t.Fatalf("cycle %d: a second FileStore: %v, want the directory in use", cycle, err)
			}
			lock = "held"
		default:
		}
		c.Kill(t)
		tv := time.Now()
		cs := pkVerify(t, cycle, dir, st, false)
		if t.Failed() {
			t.FailNow()
		}
		t.Logf("cycle %2d: killed %v after %s (appending %v; lock %s, reopened after the kill): %4d events applied, %3d of them again; "+
			"%2d applied after the last checkpoint (max %d in a shard); checkpoints cover %4d of %4d events; %d parked (%d new); "+
			"%3d events appended and acknowledged; %d temporary checkpoint files; %d partial lines; verified in %v",
			cycle, delay, map[bool]string{true: "start", false: "READY"}[early], appending, lock, cs.lines, cs.dups,
			cs.pending, cs.maxPending, cs.covered, cs.events, cs.parked, cs.newParked, cs.acked, cs.tmps, cs.partial, time.Since(tv).Round(time.Millisecond))
		total.lines += cs.lines
		total.dups += cs.dups
		total.maxPending = max(total.maxPending, cs.maxPending)
		total.acked += cs.acked
		total.partial += cs.partial
		total.tmps += cs.tmps
	}

	// The last run, in this process, to the end.
	tf := time.Now()
	pkFinalRun(t, dir, cycles)
	cs := pkVerify(t, cycles, dir, st, true)
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("final catch-up: %d events applied (%d again) in %v; %d parked; the checkpoints are at every shard's last event",
		cs.lines, cs.dups, time.Since(tf).Round(time.Millisecond), cs.parked)
	total.lines += cs.lines
	total.dups += cs.dups
	if total.dups == 0 && cycles >= 6 {
		t.Logf("note: no event was applied twice: every kill fell between a checkpoint and the next handler call")
	}
	t.Logf("%d cycles in %v: the log holds %d events (%d appended by the children); %d applications, %d of them repeats after a kill "+
		"(at most %d events of a shard applied past its checkpoint at a kill); %d events parked; %d kills cut a checkpoint write (temporary file left); %d partial lines",
		cycles, time.Since(start).Round(time.Millisecond), cs.events, total.acked, total.lines, total.dups, total.maxPending, cs.parked, total.tmps, total.partial)
}

// pkSeed creates the log and appends pkStreams streams of pkPerStream
// events, interleaved; one stream in 25 has a poison event at version 6.
func pkSeed(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	// The seed is written without fsyncs; Close syncs it.
	l, store, err := pkOpen(ctx, dir, true, file.WithSync(file.SyncNever))
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= pkPerStream; v++ {
		for i := range pkStreams {
			var ev any = paid{Cents: v}
			switch {
			case v == 1:
				ev = placed{Item: "x"}
			case v == 6 && i%25 == 7:
				ev = shipped{}
			}
			if _, err := store.Append(ctx, pkStreamID(i), eventstore.Exact(uint64(v-1)), ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// pkFinalRun runs the projection in this process, CatchUpOnly, with the
// same handlers, their lines labelled cycle.
func pkFinalRun(t *testing.T, dir string, cycle int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, store, err := pkOpen(ctx, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cps, err := projection.OpenFileStore(filepath.Join(dir, pkCheckpoints))
	if err != nil {
		t.Fatalf("final run: OpenFileStore: %v", err)
	}
	defer cps.Close()
	f, err := os.OpenFile(filepath.Join(dir, pkApplied), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := &pkRecorder{f: f, cycle: cycle, fail: func(err error) { t.Errorf("final run: write %s: %v", pkApplied, err) }}
	r, err := projection.NewRunner(store, pkOptions(cps, true), pkProjectionOf(rec))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatalf("final run: %v", err)
	}
}

// pkReadLines reads a file's complete lines, cutting a trailing partial
// line (a write cut by the kill) off the file.
func pkReadLines(t *testing.T, path string) ([]string, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	partial := 0
	if n := bytes.LastIndexByte(b, '\n') + 1; n < len(b) {
		partial = 1
		t.Logf("%s: cutting a partial last line %q", filepath.Base(path), b[n:])
		if err := os.Truncate(path, int64(n)); err != nil {
			t.Fatal(err)
		}
		b = b[:n]
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")[:bytes.Count(b, []byte("\n"))], partial
}

// pkVerify reopens dir after the child of cycle died (or after the final
// run) and checks it against st; it then moves st on.
func pkVerify(t *testing.T, cycle int, dir string, st *pkState, final bool) pkStats {
	t.Helper()
	ctx := context.Background()
	var cs pkStats

	// A temporary file in the FileStore's directory is a checkpoint write
	// the kill cut: OpenFileStore removes it, and the old file stands.
	tmps, err := filepath.Glob(filepath.Join(dir, pkCheckpoints, "*.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	cs.tmps = len(tmps)

	// The checkpoints and parked events, through a new FileStore: the dead
	// child's lock must be gone.
	fs, err := projection.OpenFileStore(filepath.Join(dir, pkCheckpoints))
	if err != nil {
		t.Fatalf("cycle %d: OpenFileStore after the kill: %v", cycle, err)
	}
	cp, err := fs.Checkpoints(ctx, pkProjection)
	if err != nil {
		t.Fatalf("cycle %d: Checkpoints: %v", cycle, err)
	}
	parkedList, err := fs.Parked(ctx, pkProjection)
	if err != nil {
		t.Fatalf("cycle %d: Parked: %v", cycle, err)
	}
	if err := fs.Close(); err != nil {
		t.Fatalf("cycle %d: close the FileStore: %v", cycle, err)
	}

	// Every event of the log, per shard.
	l, store, err := pkOpen(ctx, dir, false)
	if err != nil {
		t.Fatalf("cycle %d: reopen the log: %v", cycle, err)
	}
	defer l.Close()
	shards, err := store.Shards(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byShard := map[string][]eventstore.Event{}
	byID := map[uuid.UUID]*eventstore.Event{}
	byPos := map[eventstore.Position]*eventstore.Event{}
	for _, sh := range shards {
		rd, err := store.ReadShard(ctx, sh.ShardID, shardlog.SequenceNumber{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			b, err := rd.Next(ctx, 1000)
			if err != nil {
				t.Fatalf("cycle %d: read %s: %v", cycle, sh.ShardID, err)
			}
			byShard[sh.ShardID] = append(byShard[sh.ShardID], b.Events...)
			if len(b.Events) == 0 || b.End {
				break
			}
		}
	}
	for id, evs := range byShard {
		for i := range evs {
			ev := &evs[i]
			if ev.Position.ShardID != id {
				t.Fatalf("cycle %d: shard %s holds an event at %v", cycle, id, ev.Position)
			}
			if byID[ev.ID] != nil {
				t.Fatalf("cycle %d: event ID %s twice in the log", cycle, ev.ID)
			}
			byID[ev.ID], byPos[ev.Position] = ev, ev
		}
		cs.events += len(evs)
	}
	poison := func(ev *eventstore.Event) bool { return ev.Type == pkPoisonType }

	// The child's acknowledged appends are in the log.
	acked, partial := pkReadLines(t, filepath.Join(dir, pkAppended))
	cs.partial += partial
	for _, line := range acked[st.acked:] {
		f := strings.Fields(line)
		if len(f) != 6 {
			t.Fatalf("cycle %d: bad %s line %q", cycle, pkAppended, line)
		}
		id, err := uuid.Parse(f[1])
		if err != nil {
			t.Fatalf("cycle %d: bad %s line %q: %v", cycle, pkAppended, line, err)
		}
		ev := byID[id]
		switch {
		case ev == nil:
			t.Errorf("cycle %d: LOST acknowledged append: %s", cycle, line)
		case f[0] != strconv.Itoa(cycle) || ev.StreamID != f[2] || strconv.FormatUint(ev.Version, 10) != f[3] ||
			ev.Position.ShardID != f[4] || ev.Position.SequenceNumber.String() != f[5]:
			t.Errorf("cycle %d: acknowledged %q; the log holds %s v%d at %v", cycle, line, ev.StreamID, ev.Version, ev.Position)
		}
		cs.acked++
	}
	st.acked = len(acked)

	// The lines of this run.
	lines, partial := pkReadLines(t, filepath.Join(dir, pkApplied))
	cs.partial += partial
	if len(lines) < st.lines {
		t.Fatalf("cycle %d: applied.log has %d lines, %d were checked before", cycle, len(lines), st.lines)
	}
	run := map[string][]pkLine{}
	seen := map[uuid.UUID]bool{}
	for _, s := range lines[st.lines:] {
		f := strings.Fields(s)
		if len(f) != 6 {
			t.Fatalf("cycle %d: bad applied line %q", cycle, s)
		}
		var ln pkLine
		var err1, err2, err3, err4 error
		ln.cycle, err1 = strconv.Atoi(f[0])
		ln.shard = f[1]
		ln.seq, err2 = shardlog.ParseSequenceNumber("seq", f[2])
		ln.id, err3 = uuid.Parse(f[3])
		ln.version, err4 = strconv.ParseUint(f[4], 10, 64)
		ln.stream = f[5]
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Fatalf("cycle %d: bad applied line %q: %v", cycle, s, err)
		}
		if ln.cycle != cycle {
			t.Fatalf("cycle %d: applied line %q of cycle %d", cycle, s, ln.cycle)
		}
		ev := byID[ln.id]
		switch {
		case ev == nil:
			t.Fatalf("cycle %d: PHANTOM: applied line %q names no event of the log", cycle, s)
		case ev.StreamID != ln.stream || ev.Version != ln.version || ev.Position != (eventstore.Position{ShardID: ln.shard, SequenceNumber: ln.seq}):
			t.Fatalf("cycle %d: applied line %q; the log holds %s v%d at %v", cycle, s, ev.StreamID, ev.Version, ev.Position)
		case poison(ev):
			t.Fatalf("cycle %d: applied line %q is a poison event's", cycle, s)
		}
		if st.applied[ln.id] > 0 || seen[ln.id] {
			cs.dups++
		}
		seen[ln.id] = true
		run[ln.shard] = append(run[ln.shard], ln)
		st.all = append(st.all, ln)
		cs.lines++
	}
	for id := range seen {
		st.applied[id]++
	}
	st.lines = len(lines)

	for id := range cp {
		if byShard[id] == nil && !cp[id].After.IsZero() {
			t.Errorf("cycle %d: a checkpoint in shard %s, which holds no event", cycle, id)
		}
	}
	for _, sh := range shards {
		id := sh.ShardID
		evs := byShard[id]
		from, now := st.cp[id], cp[id]
		if now.Done {
			t.Errorf("cycle %d: shard %s: checkpoint %+v is Done, but the shard is open", cycle, id, now)
		}
		if now.After.Compare(from.After) < 0 {
			t.Errorf("cycle %d: shard %s: the checkpoint went BACK from %v to %v", cycle, id, from.After, now.After)
		}
		if !now.After.IsZero() && byPos[eventstore.Position{ShardID: id, SequenceNumber: now.After}] == nil {
			t.Errorf("cycle %d: shard %s: the checkpoint %v is no event of the shard", cycle, id, now.After)
		}
		// The run's lines are the shard's events after the checkpoint it
		// started from, in order, poison events aside.
		var want []*eventstore.Event
		for i := range evs {
			if evs[i].Position.SequenceNumber.Compare(from.After) > 0 && !poison(&evs[i]) {
				want = append(want, &evs[i])
			}
		}
		got := run[id]
		for i, ln := range got {
			if i >= len(want) || want[i].ID != ln.id {
				exp := "nothing"
				if i < len(want) {
					exp = fmt.Sprintf("%s v%d at %v", want[i].StreamID, want[i].Version, want[i].Position.SequenceNumber)
				}
				prev := "none"
				if i > 0 {
					prev = fmt.Sprintf("%s v%d at %v", got[i-1].stream, got[i-1].version, got[i-1].seq)
				}
				t.Errorf("cycle %d: shard %s: starting after checkpoint %v, application %d is %s v%d at %v; expected %s (previous application: %s): "+
					"an event SKIPPED, applied out of order, or not resumed at the checkpoint",
					cycle, id, from.After, i, ln.stream, ln.version, ln.seq, exp, prev)
				break
			}
		}
		// The checkpoint never runs ahead of the handlers: everything at or
		// before it was applied, or parked.
		for i := range evs {
			ev := &evs[i]
			if ev.Position.SequenceNumber.Compare(now.After) > 0 {
				break
			}
			cs.covered++
			if poison(ev) {
				if _, ok := pkParkedAt(parkedList, ev.Position); !ok {
					t.Errorf("cycle %d: shard %s: checkpoint %v is past poison event %s v%d at %v, which is NOT PARKED", cycle, id, now.After, ev.StreamID, ev.Version, ev.Position.SequenceNumber)
				}
			} else if st.applied[ev.ID] == 0 {
				t.Errorf("cycle %d: shard %s: checkpoint %v is AHEAD of the handlers: %s v%d at %v was never applied", cycle, id, now.After, ev.StreamID, ev.Version, ev.Position.SequenceNumber)
			}
		}
		// What this run applied past its last checkpoint is at most one
		// batch: the next run applies it again.
		pending := 0
		for _, ln := range got {
			if ln.seq.Compare(now.After) > 0 {
				pending++
			}
		}
		if pending > pkBatch {
			t.Errorf("cycle %d: shard %s: %d events applied after the checkpoint %v, more than a batch (%d)", cycle, id, pending, now.After, pkBatch)
		}
		cs.pending += pending
		cs.maxPending = max(cs.maxPending, pending)
		if final {
			if n := len(evs); n > 0 && now.After != evs[n-1].Position.SequenceNumber {
				t.Errorf("cycle %d: shard %s: after the catch-up the checkpoint is %v, the shard's last event at %v", cycle, id, now.After, evs[n-1].Position.SequenceNumber)
			}
		}
	}

	// Parked events: poison ones, at or before their checkpoint, whole;
	// those parked before are still there, unchanged.
	parked := map[eventstore.Position]projection.Parked{}
	for _, p := range parkedList {
		pos := eventstore.Position{ShardID: p.Shard, SequenceNumber: p.SequenceNumber}
		if _, dup := parked[pos]; dup {
			t.Errorf("cycle %d: %v parked twice", cycle, pos)
		}
		parked[pos] = p
		ev := byPos[pos]
		switch {
		case ev == nil:
			t.Errorf("cycle %d: parked %+v names no event", cycle, p)
			continue
		case !poison(ev):
			t.Errorf("cycle %d: parked %+v is not a poison event (%s)", cycle, p, ev.Type)
		case p.StreamID != ev.StreamID || p.Version != ev.Version || p.EventID != ev.ID.String() || p.Type != ev.Type ||
			p.Attempts != pkAttempts || !strings.Contains(p.Error, errPkPoison.Error()) || p.ParkedAt.IsZero():
			t.Errorf("cycle %d: parked %+v; the event is %s v%d %s %s", cycle, p, ev.StreamID, ev.Version, ev.ID, ev.Type)
		case p.SequenceNumber.Compare(cp[p.Shard].After) > 0:
			t.Errorf("cycle %d: parked %v is past its shard's checkpoint %v: Park did not write both", cycle, pos, cp[p.Shard].After)
		}
		if _, old := st.parked[pos]; !old {
			cs.newParked++
		}
	}
	for pos, old := range st.parked {
		p, ok := parked[pos]
		switch {
		case !ok:
			t.Errorf("cycle %d: LOST parked event %+v", cycle, old)
		case p.StreamID != old.StreamID || p.Version != old.Version || p.EventID != old.EventID || p.Type != old.Type ||
			p.Error != old.Error || p.Attempts != old.Attempts || !p.ParkedAt.Equal(old.ParkedAt):
			t.Errorf("cycle %d: parked event %v changed: %+v, was %+v", cycle, pos, p, old)
		}
	}
	cs.parked = len(parked)

	if final {
		// Everything applied at least once, or parked; each stream's events
		// first applied in version order.
		firsts := map[string][]uint64{}
		first := map[uuid.UUID]bool{}
		for _, ln := range st.all {
			if !first[ln.id] {
				first[ln.id] = true
				firsts[ln.stream] = append(firsts[ln.stream], ln.version)
			}
		}
		wantFirsts := map[string][]uint64{}
		for _, evs := range byShard {
			for i := range evs {
				ev := &evs[i]
				if poison(ev) {
					if _, ok := parked[ev.Position]; !ok {
						t.Errorf("final: poison event %s v%d at %v was never parked", ev.StreamID, ev.Version, ev.Position)
					}
					continue
				}
				if st.applied[ev.ID] == 0 {
					t.Errorf("final: SKIPPED: %s v%d (%s) at %v was never applied", ev.StreamID, ev.Version, ev.ID, ev.Position)
				}
				wantFirsts[ev.StreamID] = append(wantFirsts[ev.StreamID], ev.Version)
			}
		}
		for s, want := range wantFirsts {
			slices.Sort(want)
			if got := firsts[s]; !slices.Equal(got, want) {
				t.Errorf("final: stream %s: versions first applied in the order %v, want %v", s, got, want)
			}
		}
	}

	st.cp, st.parked = cp, parked
	return cs
}

// pkParkedAt finds the parked event at pos.
func pkParkedAt(list []projection.Parked, pos eventstore.Position) (projection.Parked, bool) {
	for _, p := range list {
		if p.Shard == pos.ShardID && p.SequenceNumber == pos.SequenceNumber {
			return p, true
		}
	}
	return projection.Parked{}, false
}
