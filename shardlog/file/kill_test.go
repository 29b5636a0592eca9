package file_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/killtest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// The kill -9 proof. A child process (this test binary, re-executed) puts
// records with SyncAlways from four goroutines, PutRecords and conditional
// AppendKey, sometimes resharding meanwhile, and prints every acknowledged
// record; the parent SIGKILLs it at a random moment, reopens the directory
// and checks, after every kill, the whole log:
//
//   - every acknowledged record is there exactly once, in its shard, at its
//     sequence number, with its partition key and bytes;
//   - every record is one the generator made (an unacknowledged one may be
//     there: it was durable before the kill); none appears twice; numbers
//     increase within each shard, and each writer's acknowledgements
//     increase per shard;
//   - a record read back after a kill stays, where it was;
//   - batches are atomic and contiguous, in request order, in each shard;
//   - each AppendKey batch follows, in its key's history across reshards,
//     the record it expected;
//   - the shard tree is whole: open shards tile the hash-key space, closed
//     ones have children, records lie within their shard's bounds;
//   - puts work after the reopen, and read back.
//
// Knobs: SHOAL_KILL9_SEED_PARENT replays the parent's choices (the kill
// times still vary), SHOAL_KILL9_CYCLES sets the number of kills (soak
// runs), SHOAL_KILL9_KEEP=1 keeps the data directory.
//
// Environment of the child.
const (
	k9EnvDir     = "SHOAL_KILL9_DIR"     // data directory; the child runs only if set
	k9EnvCycle   = "SHOAL_KILL9_CYCLE"   // cycle number, encoded in every record
	k9EnvSeed    = "SHOAL_KILL9_SEED"    // the child's random seed
	k9EnvReshard = "SHOAL_KILL9_RESHARD" // "split" or "merge": do one at a random point
	k9EnvMode    = "SHOAL_KILL9_MODE"    // "fill": TestReopenTime's writer
	k9EnvTarget  = "SHOAL_KILL9_TARGET"  // fill: data bytes to write before saying so

	k9Stream     = "k9"
	k9Shards     = 4
	k9Goroutines = 4

	k9Magic     = "K9v1"
	k9HeaderLen = 32
)

// k9Options open the engine in the child and the parent. Small segments
// make kills land in segment rolls and index writes too, and keep recovery
// scans short.
var k9Options = []file.Option{file.WithSync(file.SyncAlways), file.WithSegmentSize(k9SegmentSize)}

const k9SegmentSize = 128 << 10

// Record kinds, encoded in the data.
const (
	k9Put    byte = 1 // child, PutRecords
	k9Cond   byte = 2 // child, AppendKey (conditional)
	k9Parent byte = 3 // parent, PutRecords after reopen
)

// k9ID names one generated record: unique across the whole test.
type k9ID struct {
	kind    byte
	gor     uint8
	cycle   uint16
	counter uint32
}

func (id k9ID) String() string {
	return fmt.Sprintf("kind=%d cycle=%d g=%d n=%d", id.kind, id.cycle, id.gor, id.counter)
}

// k9Hdr is the decoded header of a record's data. A batch's records have
// counters counter-idx .. counter-idx+n-1.
type k9Hdr struct {
	id    k9ID
	batch uint32
	idx   uint16
	n     uint16
	exp   shardlog.SequenceNumber // AppendKey: the expected sequence number of the call
}

type k9BatchKey struct {
	kind  byte
	gor   uint8
	cycle uint16
	batch uint32
}

func (h k9Hdr) batchKey() k9BatchKey {
	return k9BatchKey{h.id.kind, h.id.gor, h.id.cycle, h.batch}
}

// k9Key is the partition key of a generated record.
func k9Key(id k9ID) string {
	switch id.kind {
	case k9Put:
		return fmt.Sprintf("p-%d-%d-%d", id.cycle, id.gor, id.counter%13)
	case k9Cond:
		return fmt.Sprintf("ak-%d", id.gor) // one key per goroutine, across cycles
	}
	return fmt.Sprintf("pp-%d-%d", id.cycle, id.counter)
}

// k9Filler is the pseudo-random tail of a record's data (0-127 bytes),
// determined by its ID.
func k9Filler(id k9ID) []byte {
	r := rand.New(rand.NewPCG(uint64(id.kind)<<56|uint64(id.gor)<<48|uint64(id.cycle)<<32|uint64(id.counter), 0x6b696c6c39))
	b := make([]byte, r.IntN(128))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func k9Encode(h k9Hdr) []byte {
	b := make([]byte, 0, k9HeaderLen+128)
	b = append(b, k9Magic...)
	b = append(b, h.id.kind, h.id.gor)
	b = binary.BigEndian.AppendUint16(b, h.id.cycle)
	b = binary.BigEndian.AppendUint32(b, h.id.counter)
	b = binary.BigEndian.AppendUint32(b, h.batch)
	b = binary.BigEndian.AppendUint16(b, h.idx)
	b = binary.BigEndian.AppendUint16(b, h.n)
	b = binary.BigEndian.AppendUint64(b, h.exp.Position())
	b = binary.BigEndian.AppendUint32(b, h.exp.ShardIndex())
	return append(b, k9Filler(h.id)...)
}

// k9Decode checks that key and data are exactly what the generator makes
// for the ID the data names. A record equal to its copy in known (read
// back before) is not generated again: the whole log is read after every
// kill.
func k9Decode(key string, data []byte, known map[k9ID]k9Found) (k9Hdr, error) {
	if len(data) < k9HeaderLen || string(data[:4]) != k9Magic {
		return k9Hdr{}, fmt.Errorf("not a generated record (%d bytes)", len(data))
	}
	be := binary.BigEndian
	h := k9Hdr{
		id:    k9ID{kind: data[4], gor: data[5], cycle: be.Uint16(data[6:]), counter: be.Uint32(data[8:])},
		batch: be.Uint32(data[12:]),
		idx:   be.Uint16(data[16:]),
		n:     be.Uint16(data[18:]),
		exp:   shardlog.MakeSequenceNumber(be.Uint64(data[20:]), be.Uint32(data[28:])),
	}
	if h.id.kind < k9Put || h.id.kind > k9Parent || h.idx >= h.n || uint32(h.idx) > h.id.counter {
		return k9Hdr{}, fmt.Errorf("bad header %+v", h)
	}
	if f, ok := known[h.id]; ok {
		if f.key != key || !bytes.Equal(f.data, data) {
			return k9Hdr{}, fmt.Errorf("%v: changed since it was read back", h.id)
		}
		return f.hdr, nil
	}
	if !bytes.Equal(data[k9HeaderLen:], k9Filler(h.id)) {
		return k9Hdr{}, fmt.Errorf("%v: data bytes differ from the generator's", h.id)
	}
	if want := k9Key(h.id); key != want {
		return k9Hdr{}, fmt.Errorf("%v: partition key %q, want %q", h.id, key, want)
	}
	return h, nil
}

// ---------------------------------------------------------------- child

func k9AckLine(b []byte, shardID string, seq shardlog.SequenceNumber, key string, data []byte) []byte {
	b = append(b, "K9ACK "...)
	b = append(b, shardID...)
	b = append(b, ' ')
	b = append(b, seq.String()...)
	b = append(b, ' ')
	b = append(b, key...)
	b = append(b, ' ')
	b = base64.StdEncoding.AppendEncode(b, data)
	return append(b, '\n')
}

// TestKill9Child is the child of TestKill9 (and TestReopenTime); it runs
// only when the parent sets SHOAL_KILL9_DIR, and never returns: the parent
// kills it.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(k9EnvDir)
	if dir == "" {
		t.Skip("child of TestKill9: runs only when " + k9EnvDir + " is set")
	}
	out := killtest.NewOut("K9FAIL")
	seed := out.Uint64(k9EnvSeed)
	if os.Getenv(k9EnvMode) == "fill" {
		k9FillChild(out, dir, seed)
		return
	}
	cycle := out.Int(k9EnvCycle)
	ctx := context.Background()
	e, err := file.Open(dir, k9Options...)
	if err != nil {
		out.Fail("file.Open: %v", err)
	}
	l, err := shardlog.Open(ctx, e, shardlog.WithRetentionInterval(0))
	if err != nil {
		out.Fail("shardlog.Open: %v", err)
	}
	if _, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: k9Stream}); errors.Is(err, shardlog.ErrResourceNotFound) {
		if cycle != 0 {
			out.Fail("cycle %d: stream %s is missing", cycle, k9Stream)
		}
		if err := l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: k9Stream, ShardCount: k9Shards}); err != nil {
			out.Fail("CreateStream: %v", err)
		}
	} else if err != nil {
		out.Fail("DescribeStream: %v", err)
	}
	out.Write([]byte("K9READY\n"))
	for g := range k9Goroutines {
		go k9Writer(ctx, out, l, uint16(cycle), uint8(g), seed)
	}
	if op := os.Getenv(k9EnvReshard); op != "" {
		go k9Reshard(ctx, out, l, op, rand.New(rand.NewPCG(seed, 99)))
	}
	select {} // until killed
}

// k9Writer puts batches forever: PutRecords of 1-50 records with keys of
// its own, and AppendKey on its key ak-<g>, tracking the key's expected
// sequence number. It prints every acknowledged record.
func k9Writer(ctx context.Context, out *killtest.Out, l *shardlog.Log, cycle uint16, g uint8, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(g)+1))
	akey := k9Key(k9ID{kind: k9Cond, gor: g})
	lk, err := l.LastKey(ctx, shardlog.LastKeyInput{StreamName: k9Stream, PartitionKey: akey})
	if err != nil {
		out.Fail("g%d LastKey: %v", g, err)
	}
	exp := lk.Record.SequenceNumber
	var counter, batch uint32
	var line []byte
	for {
		// A pause between calls keeps the log small enough to read back in
		// full after every kill; with four writers, calls are still in
		// flight at most kill times.
		time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond)
		batch++
		if rng.IntN(10) < 6 {
			n := 1 + rng.IntN(50)
			entries := make([]shardlog.PutRecordsEntry, n)
			for i := range entries {
				h := k9Hdr{id: k9ID{kind: k9Put, gor: g, cycle: cycle, counter: counter + uint32(i)}, batch: batch, idx: uint16(i), n: uint16(n)}
				entries[i] = shardlog.PutRecordsEntry{PartitionKey: k9Key(h.id), Data: k9Encode(h)}
			}
			counter += uint32(n)
			res, err := l.PutRecords(ctx, shardlog.PutRecordsInput{StreamName: k9Stream, Records: entries})
			if err != nil {
				out.Fail("g%d PutRecords: %v", g, err)
			}
			if res.FailedRecordCount != 0 {
				for _, r := range res.Records {
					if r.ErrorCode != "" {
						out.Fail("g%d PutRecords: entry failed: %s %s", g, r.ErrorCode, r.ErrorMessage)
					}
				}
			}
			line = line[:0]
			for i, r := range res.Records {
				line = k9AckLine(line, r.ShardID, r.SequenceNumber, entries[i].PartitionKey, entries[i].Data)
			}
			out.Write(line)
			continue
		}
		n := 1 + rng.IntN(20)
		stale := rng.IntN(10) == 0
		want := exp
		if stale {
			// A number the key cannot have: the append must conflict.
			want = shardlog.MakeSequenceNumber(exp.Position()+1, exp.ShardIndex())
		}
		data := make([][]byte, n)
		for i := range data {
			h := k9Hdr{id: k9ID{kind: k9Cond, gor: g, cycle: cycle, counter: counter + uint32(i)}, batch: batch, idx: uint16(i), n: uint16(n), exp: want}
			data[i] = k9Encode(h)
		}
		counter += uint32(n)
		res, err := l.AppendKey(ctx, shardlog.AppendKeyInput{StreamName: k9Stream, PartitionKey: akey, Data: data, ExpectedSequenceNumber: want})
		var ce *shardlog.ConflictError
		switch {
		case stale && errors.As(err, &ce):
			if ce.Actual != exp {
				out.Fail("g%d AppendKey: conflict names %v as the latest of %s, want %v", g, ce.Actual, akey, exp)
			}
			continue
		case stale && err == nil:
			out.Fail("g%d AppendKey: expected %v was accepted, but the latest of %s is %v", g, want, akey, exp)
		case errors.As(err, &ce):
			// Only this goroutine writes the key: a conflict means the
			// tracking, or the engine, lost an append.
			last, lerr := l.LastKey(ctx, shardlog.LastKeyInput{StreamName: k9Stream, PartitionKey: akey})
			out.Fail("g%d AppendKey: unexpected conflict: %v (LastKey %v, %v)", g, err, last, lerr)
		case err != nil:
			out.Fail("g%d AppendKey: %v", g, err)
		}
		exp = res.Last
		line = line[:0]
		for i := range data {
			line = k9AckLine(line, res.ShardID, res.SequenceNumber(i), akey, data[i])
		}
		out.Write(line)
	}
}

// k9Reshard splits a random open shard in two, or merges a random pair of
// adjacent open shards, at a random point of the child's run.
func k9Reshard(ctx context.Context, out *killtest.Out, l *shardlog.Log, op string, rng *rand.Rand) {
	time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
	d, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: k9Stream})
	if err != nil {
		out.Fail("reshard: DescribeStream: %v", err)
	}
	var open []shardlog.Shard
	for _, s := range d.Shards {
		if !s.Closed {
			open = append(open, s)
		}
	}
	slices.SortFunc(open, func(a, b shardlog.Shard) int {
		return a.HashKeyRange.StartingHashKey.Compare(b.HashKeyRange.StartingHashKey)
	})
	if op == "merge" && len(open) < 2 {
		op = "split"
	}
	if op == "split" && len(open) >= 32 {
		op = "merge"
	}
	var detail string
	if op == "split" {
		s := open[rng.IntN(len(open))]
		lo, hi := k9Big(s.HashKeyRange.StartingHashKey), k9Big(s.HashKeyRange.EndingHashKey)
		mid := new(big.Int).Add(lo, hi)
		mid.Add(mid, big.NewInt(1)).Rsh(mid, 1)
		detail = fmt.Sprintf("%s at %s", s.ShardID, mid)
		err = l.SplitShard(ctx, shardlog.SplitShardInput{StreamName: k9Stream, ShardToSplit: s.ShardID, NewStartingHashKey: mid.String()})
	} else {
		i := rng.IntN(len(open) - 1)
		detail = fmt.Sprintf("%s+%s", open[i].ShardID, open[i+1].ShardID)
		err = l.MergeShards(ctx, shardlog.MergeShardsInput{StreamName: k9Stream, ShardToMerge: open[i].ShardID, AdjacentShardToMerge: open[i+1].ShardID})
	}
	if err != nil {
		out.Fail("reshard %s %s: %v", op, detail, err)
	}
	out.Write([]byte("K9RESHARDED " + op + " " + strings.ReplaceAll(detail, " ", "_") + "\n"))
}

func k9Big(h shardlog.HashKey) *big.Int {
	v, ok := new(big.Int).SetString(h.String(), 10)
	if !ok {
		panic("bad hash key " + h.String())
	}
	return v
}

// ---------------------------------------------------------------- parent

// k9Start starts a child of TestKill9Child with env.
func k9Start(t *testing.T, env ...string) *killtest.Child {
	t.Helper()
	return killtest.Start(t, killtest.Config{
		Test: "TestKill9Child", Env: env, Fail: "K9FAIL",
		Marks: []string{"K9READY", "K9RESHARDED", "K9ACK ", "K9FILLED"},
	})
}

// k9Found is a record as read back, or as acknowledged.
type k9Found struct {
	shard string
	seq   shardlog.SequenceNumber
	key   string
	data  []byte
	hdr   k9Hdr
}

// k9State is what the parent knows across cycles.
type k9State struct {
	acked map[k9ID]k9Found // acknowledged to a writer
	fresh []k9ID           // acknowledged since the last check
	// seen holds every record read back after a kill: each must stay, at
	// its sequence number, with its bytes. Every acknowledged record is in
	// it once checked.
	seen map[k9ID]k9Found
	// hist holds, per AppendKey key, the sequence numbers of its records
	// in seen, in order.
	hist map[string][]shardlog.SequenceNumber
}

func TestKill9(t *testing.T) {
	killtest.SkipUnlessSIGKILL(t)
	cycles := killtest.Cycles("SHOAL_KILL9_CYCLES", 24)
	rng := killtest.Rand(t, "SHOAL_KILL9_SEED_PARENT")
	dir := killtest.Dir(t, "SHOAL_KILL9_KEEP", "kill9-")
	st := &k9State{acked: map[k9ID]k9Found{}, seen: map[k9ID]k9Found{}, hist: map[string][]shardlog.SequenceNumber{}}
	var reshards, totalAcked, totalExtra int
	for cycle := range cycles {
		// Every fifth cycle the delay counts from the start, so the kill may
		// land in Open and recovery; the others count from READY, and wait
		// for a first acknowledgement so that every cycle writes.
		early := cycle%5 == 4
		reshard := ""
		if cycle%4 == 1 {
			reshard = []string{"split", "merge"}[cycle/4%2]
		}
		waitReshard := reshard != "" && cycle%8 == 1
		delay := time.Duration(50+rng.IntN(251)) * time.Millisecond
		childSeed := rng.Uint64()
		env := []string{
			k9EnvDir + "=" + dir,
			k9EnvCycle + "=" + strconv.Itoa(cycle),
			k9EnvSeed + "=" + strconv.FormatUint(childSeed, 10),
		}
		if reshard != "" {
			env = append(env, k9EnvReshard+"="+reshard)
		}
		c := k9Start(t, env...)
		if early {
			time.Sleep(delay)
		} else {
			c.Await(t, "K9READY", "READY")
			if waitReshard {
				c.Await(t, "K9RESHARDED", "RESHARDED")
			}
			time.Sleep(delay)
			c.Await(t, "K9ACK ", "a first acknowledgement")
		}
		lines := c.Kill(t)
		acks, info := k9Parse(t, cycle, lines, st)
		if info != "" {
			reshards++
		}
		tv := time.Now()
		found, extra := k9Verify(t, cycle, dir, st)
		verifyTime := time.Since(tv)
		totalAcked += acks
		totalExtra += extra
		t.Logf("cycle %2d: killed after %v%s: %4d acked, %5d records in the log, %2d present unacknowledged (verified in %v) %s",
			cycle, delay, map[bool]string{true: " from start", false: ""}[early], acks, found, extra, verifyTime.Round(time.Millisecond), info)
	}
	if totalAcked == 0 {
		t.Fatal("no record was ever acknowledged")
	}
	t.Logf("%d cycles: %d records acknowledged, %d more were durable unacknowledged, %d reshards done", cycles, totalAcked, totalExtra, reshards)
}

// k9Parse reads the child's lines into st.acked, checking that each
// goroutine's acknowledgements increase per shard.
func k9Parse(t *testing.T, cycle int, lines []string, st *k9State) (acks int, info string) {
	t.Helper()
	type gs struct {
		g     uint8
		shard string
	}
	last := map[gs]k9Found{}
	reported := map[gs]bool{}
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			continue
		case f[0] == "K9RESHARDED":
			info = strings.Join(f, " ")
			continue
		case f[0] != "K9ACK":
			continue // the testing package's own output
		}
		if len(f) != 5 {
			t.Fatalf("cycle %d: bad line %q", cycle, line)
		}
		seq, err := shardlog.ParseSequenceNumber("seq", f[2])
		if err != nil {
			t.Fatalf("cycle %d: line %q: %v", cycle, line, err)
		}
		data, err := base64.StdEncoding.DecodeString(f[4])
		if err != nil {
			t.Fatalf("cycle %d: line %q: %v", cycle, line, err)
		}
		h, err := k9Decode(f[3], data, nil)
		if err != nil {
			t.Fatalf("cycle %d: acknowledged record the generator did not make: %v", cycle, err)
		}
		if int(h.id.cycle) != cycle {
			t.Fatalf("cycle %d: acknowledged %v", cycle, h.id)
		}
		if _, dup := st.acked[h.id]; dup {
			t.Fatalf("cycle %d: %v acknowledged twice", cycle, h.id)
		}
		k := gs{h.id.gor, f[1]}
		if p, ok := last[k]; ok && seq.Compare(p.seq) <= 0 && !reported[k] {
			reported[k] = true
			t.Errorf("cycle %d: OUT OF ORDER: g%d was acknowledged %v (%v) in %s after %v (%v)", cycle, h.id.gor, seq, h.id, f[1], p.seq, p.hdr.id)
		}
		last[k] = k9Found{seq: seq, hdr: h}
		st.acked[h.id] = k9Found{shard: f[1], seq: seq, key: f[3], data: data, hdr: h}
		st.fresh = append(st.fresh, h.id)
		acks++
	}
	return acks, info
}

// k9Verify reopens dir and checks it against st; then it puts and reads
// back a few records, and closes. It returns the number of records in the
// log and how many of this cycle's were durable though unacknowledged.
func k9Verify(t *testing.T, cycle int, dir string, st *k9State) (total, extra int) {
	t.Helper()
	ctx := context.Background()
	e, err := file.Open(dir, k9Options...)
	if err != nil {
		t.Fatalf("cycle %d: reopen: %v", cycle, err)
	}
	l, err := shardlog.Open(ctx, e, shardlog.WithRetentionInterval(0))
	if err != nil {
		t.Fatalf("cycle %d: reopen log: %v", cycle, err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Errorf("cycle %d: close: %v", cycle, err)
		}
	}()
	d, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: k9Stream})
	switch {
	case errors.Is(err, shardlog.ErrResourceNotFound) && len(st.seen) == 0 && len(st.fresh) == 0:
		return 0, 0 // killed before the stream was created
	case err != nil:
		t.Fatalf("cycle %d: DescribeStream: %v", cycle, err)
	}
	if err := k9CheckShards(&d.StreamDescription); err != nil {
		t.Fatalf("cycle %d: %v", cycle, err)
	}
	fresh, again, err := k9ReadAll(ctx, l, &d.StreamDescription, st.seen)
	if err != nil {
		t.Fatalf("cycle %d: %v", cycle, err)
	}
	if len(again) != len(st.seen) {
		have := make(map[k9ID]bool, len(again))
		for _, id := range again {
			have[id] = true
		}
		for id, s := range st.seen {
			if !have[id] {
				t.Errorf("cycle %d: LOST record %v, read back after an earlier kill at %s %v", cycle, id, s.shard, s.seq)
			}
		}
		t.FailNow()
	}
	found := make(map[k9ID]k9Found, len(fresh))
	for _, f := range fresh {
		if g, dup := found[f.hdr.id]; dup {
			t.Fatalf("cycle %d: DUPLICATE record %v: at %s %v and %s %v", cycle, f.hdr.id, g.shard, g.seq, f.shard, f.seq)
		}
		found[f.hdr.id] = f
	}
	// Acknowledged since the last check: found now (records checked before
	// are in seen, found again above).
	for _, id := range st.fresh {
		a := st.acked[id]
		f, ok := found[id]
		switch {
		case !ok:
			t.Errorf("cycle %d: LOST acknowledged record %v (shard %s seq %v)", cycle, id, a.shard, a.seq)
		case f.shard != a.shard || f.seq != a.seq:
			t.Errorf("cycle %d: acknowledged record %v at %s %v, found at %s %v", cycle, id, a.shard, a.seq, f.shard, f.seq)
		case f.key != a.key || !bytes.Equal(f.data, a.data):
			t.Errorf("cycle %d: acknowledged record %v has different bytes", cycle, id)
		}
	}
	st.fresh = st.fresh[:0]
	k9CheckBatches(t, cycle, dir, &d.StreamDescription, fresh, found)
	k9CheckHistory(t, cycle, fresh, st)
	if t.Failed() {
		t.FailNow()
	}
	for _, f := range fresh {
		st.seen[f.hdr.id] = f
		if _, ok := st.acked[f.hdr.id]; !ok && int(f.hdr.id.cycle) == cycle {
			extra++
		}
	}

	// Puts work after the reopen, and read back.
	entries := make([]shardlog.PutRecordsEntry, 3)
	for i := range entries {
		h := k9Hdr{id: k9ID{kind: k9Parent, cycle: uint16(cycle), counter: uint32(i)}, idx: uint16(i), n: 3}
		entries[i] = shardlog.PutRecordsEntry{PartitionKey: k9Key(h.id), Data: k9Encode(h)}
	}
	res, err := l.PutRecords(ctx, shardlog.PutRecordsInput{StreamName: k9Stream, Records: entries})
	if err != nil || res.FailedRecordCount != 0 {
		t.Fatalf("cycle %d: put after reopen: %v %+v", cycle, err, res)
	}
	for i, r := range res.Records {
		c, err := l.NewCursor(ctx, shardlog.NewCursorInput{StreamName: k9Stream, ShardID: r.ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.AtSequenceNumber, SequenceNumber: r.SequenceNumber}})
		if err != nil {
			t.Fatalf("cycle %d: read back: %v", cycle, err)
		}
		b, err := c.Next(ctx, 1)
		if err != nil || len(b.Records) != 1 || b.Records[0].SequenceNumber != r.SequenceNumber ||
			b.Records[0].PartitionKey != entries[i].PartitionKey || !bytes.Equal(b.Records[0].Data, entries[i].Data) {
			t.Fatalf("cycle %d: read back of %v: %v %+v", cycle, r.SequenceNumber, err, b.Records)
		}
		h, _ := k9Decode(entries[i].PartitionKey, entries[i].Data, nil)
		st.acked[h.id] = k9Found{shard: r.ShardID, seq: r.SequenceNumber, key: entries[i].PartitionKey, data: entries[i].Data, hdr: h}
		st.fresh = append(st.fresh, h.id)
	}
	return len(st.seen), extra
}

// k9ReadAll reads every shard of the stream, open and closed, from
// TRIM_HORIZON, one goroutine per shard. It checks that every record is
// generated, in increasing order, and within its shard's bounds; that each
// record of seen is where it was; and returns the records not in seen and
// the IDs of those in seen.
func k9ReadAll(ctx context.Context, l *shardlog.Log, d *shardlog.StreamDescription, seen map[k9ID]k9Found) (fresh []k9Found, again []k9ID, err error) {
	type result struct {
		fresh []k9Found
		again []k9ID
		err   error
	}
	results := make([]result, len(d.Shards))
	var wg sync.WaitGroup
	for i, sh := range d.Shards {
		wg.Go(func() {
			r := &results[i]
			r.fresh, r.again, r.err = k9ReadShard(ctx, l, sh, seen)
		})
	}
	wg.Wait()
	for _, r := range results {
		if r.err != nil {
			return nil, nil, r.err
		}
		fresh = append(fresh, r.fresh...)
		again = append(again, r.again...)
	}
	return fresh, again, nil
}

func k9ReadShard(ctx context.Context, l *shardlog.Log, sh shardlog.Shard, seen map[k9ID]k9Found) (fresh []k9Found, again []k9ID, err error) {
	c, err := l.NewCursor(ctx, shardlog.NewCursorInput{StreamName: k9Stream, ShardID: sh.ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
	if err != nil {
		return nil, nil, fmt.Errorf("cursor on %s: %w", sh.ShardID, err)
	}
	var prev shardlog.SequenceNumber
	for {
		b, err := c.Next(ctx, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", sh.ShardID, err)
		}
		for _, r := range b.Records {
			switch {
			case r.SequenceNumber.Compare(prev) <= 0 || r.SequenceNumber.ShardIndex() != k9ShardIndex(sh.ShardID):
				return nil, nil, fmt.Errorf("%s: sequence number %v after %v", sh.ShardID, r.SequenceNumber, prev)
			case r.SequenceNumber.Compare(sh.StartingSequenceNumber) < 0:
				return nil, nil, fmt.Errorf("%s: record %v before its starting %v", sh.ShardID, r.SequenceNumber, sh.StartingSequenceNumber)
			case sh.Closed && r.SequenceNumber.Compare(sh.EndingSequenceNumber) > 0:
				return nil, nil, fmt.Errorf("closed %s: record %v past its ending %v", sh.ShardID, r.SequenceNumber, sh.EndingSequenceNumber)
			}
			prev = r.SequenceNumber
			h, err := k9Decode(r.PartitionKey, r.Data, seen)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %v: a record the generator did not make: %w", sh.ShardID, r.SequenceNumber, err)
			}
			if s, ok := seen[h.id]; ok {
				if s.shard != sh.ShardID || s.seq != r.SequenceNumber {
					return nil, nil, fmt.Errorf("record %v, read back after an earlier kill at %s %v, is now (also) at %s %v", h.id, s.shard, s.seq, sh.ShardID, r.SequenceNumber)
				}
				again = append(again, h.id)
				continue
			}
			fresh = append(fresh, k9Found{shard: sh.ShardID, seq: r.SequenceNumber, key: r.PartitionKey, data: r.Data, hdr: h})
		}
		if b.End || len(b.Records) == 0 {
			return fresh, again, nil
		}
	}
}

func k9ShardIndex(id string) uint32 {
	n, _ := strconv.ParseUint(strings.TrimPrefix(id, "shardId-"), 10, 32)
	return uint32(n)
}

// k9CheckShards checks the stream's shard tree: the open shards tile the
// hash-key space, every closed shard has children, every child's parents
// are closed, and every shard's floor is above its parents' ending numbers.
func k9CheckShards(d *shardlog.StreamDescription) error {
	byID := map[string]shardlog.Shard{}
	var open []shardlog.Shard
	hasChild := map[string]bool{}
	for _, s := range d.Shards {
		byID[s.ShardID] = s
		if !s.Closed {
			open = append(open, s)
		}
	}
	for _, s := range d.Shards {
		for _, p := range []string{s.ParentShardID, s.AdjacentParentShardID} {
			if p == "" {
				continue
			}
			ps, ok := byID[p]
			if !ok || !ps.Closed {
				return fmt.Errorf("%s: parent %s missing or open", s.ShardID, p)
			}
			if s.StartingSequenceNumber.Compare(ps.EndingSequenceNumber) <= 0 {
				return fmt.Errorf("%s starts at %v, not after parent %s's ending %v", s.ShardID, s.StartingSequenceNumber, p, ps.EndingSequenceNumber)
			}
			hasChild[p] = true
		}
	}
	for _, s := range d.Shards {
		if s.Closed && !hasChild[s.ShardID] {
			return fmt.Errorf("closed shard %s has no children", s.ShardID)
		}
	}
	slices.SortFunc(open, func(a, b shardlog.Shard) int {
		return a.HashKeyRange.StartingHashKey.Compare(b.HashKeyRange.StartingHashKey)
	})
	next := big.NewInt(0)
	for _, s := range open {
		if k9Big(s.HashKeyRange.StartingHashKey).Cmp(next) != 0 {
			return fmt.Errorf("open shards do not tile the hash-key space at %s (%s)", s.ShardID, next)
		}
		next = k9Big(s.HashKeyRange.EndingHashKey)
		next.Add(next, big.NewInt(1))
	}
	if want := new(big.Int).Lsh(big.NewInt(1), 128); next.Cmp(want) != 0 {
		return fmt.Errorf("open shards end at %s, not 2^128", next)
	}
	if d.OpenShardCount != len(open) {
		return fmt.Errorf("OpenShardCount %d, %d open shards", d.OpenShardCount, len(open))
	}
	return nil
}

// k9CheckBatches checks atomicity on the records new since the last check
// (a batch's records are all written in one cycle, so all its records
// found are new together): a batch's records that reached a shard are all
// the batch's records routed there, at consecutive positions, in request
// order.
func k9CheckBatches(t *testing.T, cycle int, dir string, d *shardlog.StreamDescription, fresh []k9Found, found map[k9ID]k9Found) {
	t.Helper()
	ranges := map[string]shardlog.HashKeyRange{}
	for _, s := range d.Shards {
		ranges[s.ShardID] = s.HashKeyRange
	}
	type bs struct {
		b     k9BatchKey
		shard string
	}
	groups := map[bs][]k9Found{}
	for _, f := range fresh {
		k := bs{f.hdr.batchKey(), f.shard}
		groups[k] = append(groups[k], f)
	}
	for k, g := range groups {
		slices.SortFunc(g, func(a, b k9Found) int { return int(a.hdr.idx) - int(b.hdr.idx) })
		h := g[0].hdr
		// The batch's entries routed to this shard: for PutRecords, those
		// whose hash key it owns, unless they are stored in another shard
		// (a merge child takes the group re-routed from one parent, while
		// the other parent's group may have been stored before the seal).
		var missing []uint16
		for j := range h.n {
			id := h.id
			id.counter = h.id.counter - uint32(h.idx) + uint32(j)
			_, stored := found[id]
			if !stored && (k.b.kind == k9Cond || ranges[k.shard].Contains(shardlog.HashPartitionKey(k9Key(id)))) {
				missing = append(missing, j)
			}
		}
		if len(missing) > 0 {
			var got []uint16
			for _, f := range g {
				got = append(got, f.hdr.idx)
			}
			last := slices.MaxFunc(g, func(a, b k9Found) int { return a.seq.Compare(b.seq) })
			t.Errorf("cycle %d: TORN batch %+v in %s: holds entries %v of %d; entries %v, routed to it, are nowhere (first at %v; %s)",
				cycle, k.b, k.shard, got, h.n, missing, g[0].seq, k9FrameEnd(dir, k.shard, last.seq.Position()))
			continue
		}
		bySeq := slices.SortedFunc(slices.Values(g), func(a, b k9Found) int { return a.seq.Compare(b.seq) })
		for i := 1; i < len(bySeq); i++ {
			if bySeq[i].seq.Position() != bySeq[i-1].seq.Position()+1 {
				t.Errorf("cycle %d: batch %+v in %s: not contiguous: %v then %v", cycle, k.b, k.shard, bySeq[i-1].seq, bySeq[i].seq)
				break
			}
		}
		for i := range g {
			if g[i].seq != bySeq[i].seq {
				order := make([]uint16, len(bySeq))
				for i, f := range bySeq {
					order[i] = f.hdr.idx
				}
				t.Errorf("cycle %d: batch %+v in %s: OUT OF REQUEST ORDER: entries stored in the order %v", cycle, k.b, k.shard, order)
				break
			}
		}
	}
}

// k9CheckHistory checks conditional appends: in its key's history across
// shards (a child shard's numbers are above its parents'), each new
// AppendKey batch follows the record it expected.
func k9CheckHistory(t *testing.T, cycle int, fresh []k9Found, st *k9State) {
	t.Helper()
	heads := map[shardlog.SequenceNumber]k9Found{}
	for _, f := range fresh {
		if f.hdr.id.kind != k9Cond {
			continue
		}
		st.hist[f.key] = append(st.hist[f.key], f.seq)
		if f.hdr.idx == 0 {
			heads[f.seq] = f
		}
	}
	for key, seqs := range st.hist {
		slices.SortFunc(seqs, shardlog.SequenceNumber.Compare)
		for i, seq := range seqs {
			f, ok := heads[seq]
			if !ok {
				continue
			}
			var before shardlog.SequenceNumber
			if i > 0 {
				before = seqs[i-1]
			}
			if f.hdr.exp != before {
				t.Errorf("cycle %d: key %s: conditional batch %v expected %v, but follows %v", cycle, key, f.hdr.id, f.hdr.exp, before)
			}
		}
	}
}

// ---------------------------------------------------------------- reopen time

// k9FillChild writes 256-byte records with SyncNever, 4 goroutines of
// 500-record batches, and prints K9FILLED once SHOAL_KILL9_TARGET bytes of
// data are acknowledged; it goes on until killed.
func k9FillChild(out *killtest.Out, dir string, seed uint64) {
	target, _ := strconv.ParseInt(os.Getenv(k9EnvTarget), 10, 64)
	ctx := context.Background()
	e, err := file.Open(dir, file.WithSync(file.SyncNever))
	if err != nil {
		out.Fail("file.Open: %v", err)
	}
	l, err := shardlog.Open(ctx, e, shardlog.WithRetentionInterval(0))
	if err != nil {
		out.Fail("shardlog.Open: %v", err)
	}
	if _, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: k9Stream}); errors.Is(err, shardlog.ErrResourceNotFound) {
		if err := l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: k9Stream, ShardCount: k9Shards}); err != nil {
			out.Fail("CreateStream: %v", err)
		}
	}
	out.Write([]byte("K9READY\n"))
	var written atomic.Int64
	var once sync.Once
	for g := range k9Goroutines {
		go func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			data := make([]byte, 256)
			for {
				entries := make([]shardlog.PutRecordsEntry, shardlog.MaxPutRecordsEntries)
				for i := range entries {
					d := slices.Clone(data)
					binary.LittleEndian.PutUint64(d, rng.Uint64())
					entries[i] = shardlog.PutRecordsEntry{PartitionKey: strconv.FormatUint(rng.Uint64()%100000, 36), Data: d}
				}
				res, err := l.PutRecords(ctx, shardlog.PutRecordsInput{StreamName: k9Stream, Records: entries})
				if err != nil || res.FailedRecordCount != 0 {
					out.Fail("fill: PutRecords: %v", err)
				}
				if written.Add(int64(len(entries))*256) >= target {
					once.Do(func() { out.Write([]byte("K9FILLED\n")) })
				}
			}
		}()
	}
	select {}
}

// TestReopenTime measures recovery after a kill -9 of a writer that had
// filled ~1 GiB: file.Open + shardlog.Open, then the first operation on
// every shard (shards open lazily, loading full segments' indexes and
// scanning the active segment's tail). Run with SHOAL_REOPEN_BENCH=1.
func TestReopenTime(t *testing.T) {
	if os.Getenv("SHOAL_REOPEN_BENCH") != "1" {
		t.Skip("set SHOAL_REOPEN_BENCH=1 to fill ~1 GiB and time the reopen")
	}
	dir := t.TempDir()
	start := time.Now()
	c := k9Start(t, k9EnvDir+"="+dir, k9EnvMode+"=fill", k9EnvTarget+"="+strconv.Itoa(1<<30), k9EnvSeed+"=1")
	select {
	case <-c.Mark("K9FILLED"):
	case <-c.Exited():
		c.FatalExit(t, "exited while filling")
	case <-time.After(10 * time.Minute):
		c.Abort()
		t.Fatal("fill took over 10 minutes")
	}
	time.Sleep(200 * time.Millisecond) // killed mid-write
	c.Kill(t)
	size, files := k9DirSize(t, dir)
	t.Logf("filled and killed in %v: directory %.1f MiB in %d files", time.Since(start).Round(time.Millisecond), float64(size)/(1<<20), files)

	runtime.GC()
	rss0, heap0 := k9RSS(), k9Heap()
	ctx := context.Background()
	t0 := time.Now()
	e, err := file.Open(dir, file.WithSync(file.SyncAlways))
	if err != nil {
		t.Fatal(err)
	}
	l, err := shardlog.Open(ctx, e, shardlog.WithRetentionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	opened := time.Since(t0)
	rss1, heap1 := k9RSS(), k9Heap()
	d, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: k9Stream})
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	var records int64
	for _, sh := range d.Shards {
		cur, err := l.NewCursor(ctx, shardlog.NewCursorInput{StreamName: k9Stream, ShardID: sh.ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cur.Next(ctx, 1); err != nil {
			t.Fatal(err)
		}
		b, err := e.Bounds(ctx, shardlog.ShardRef{Stream: k9Stream, ID: sh.ShardID, Index: k9ShardIndex(sh.ShardID)})
		if err != nil {
			t.Fatal(err)
		}
		records += b.Count
	}
	touched := time.Since(t1)
	rss2, heap2 := k9RSS(), k9Heap()
	t.Logf("reopen: file.Open+shardlog.Open %v; first operation on all %d shards %v; total %v (%d records, %.1f MiB; page cache warm)",
		opened.Round(time.Microsecond), len(d.Shards), touched.Round(time.Microsecond), (opened + touched).Round(time.Microsecond), records, float64(size)/(1<<20))
	t.Logf("memory: before open RSS %.1f MiB heap %.1f MiB; after open RSS %.1f MiB heap %.1f MiB; after touching all shards RSS %.1f MiB heap %.1f MiB",
		k9MiB(rss0), k9MiB(heap0), k9MiB(rss1), k9MiB(heap1), k9MiB(rss2), k9MiB(heap2))
}

func k9MiB(n int64) float64 { return float64(n) / (1 << 20) }

// k9Heap returns the live heap after a collection.
func k9Heap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// k9RSS returns the resident set size of this process (VmRSS), or 0.
func k9RSS() int64 {
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(s)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) == 2 && f[1] == "kB" {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func k9DirSize(t *testing.T, dir string) (size int64, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return size, files
}

// k9FrameEnd finds the frame of position pos in a shard's segment files
// and says where it ends and what follows it: a diagnostic for torn
// batches. It parses the documented frame layout (length u32, crc u32,
// position u64, ...) after the 32-byte segment header.
func k9FrameEnd(dir, shardID string, pos uint64) string {
	segs, _ := filepath.Glob(filepath.Join(dir, "streams", "s-"+k9Stream, "shards", shardID, "*.seg"))
	for _, path := range segs {
		b, err := os.ReadFile(path)
		if err != nil {
			return err.Error()
		}
		for off := 32; off+16 <= len(b); {
			n := 8 + int(binary.LittleEndian.Uint32(b[off:]))
			if n < 26 || off+n > len(b) {
				break
			}
			if binary.LittleEndian.Uint64(b[off+8:]) == pos {
				end := off + n
				return fmt.Sprintf("its last frame ends at offset %d (%d mod 4096) of %s, file size %d", end, end%4096, filepath.Base(path), len(b))
			}
			off += n
		}
	}
	return "frame not found in the segment files"
}
