package projection_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/archivetest"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// asOfRig is a log on a fake clock, a store on it, and a live projection
// whose state is captured at chosen instants, to compare with RebuildAsOf.
type asOfRig struct {
	t        *testing.T
	ctx      context.Context
	clk      *shardlogtest.Clock
	log      *shardlog.Log
	s        *eventstore.Store
	live     *model
	cps      *projection.MemoryStore
	captures []asOfCapture
	rebuilt  int
}

// asOfCapture is the live projection's state at an instant: every event
// appended until then (arrival time <= at) applied, none after.
type asOfCapture struct {
	name  string
	at    time.Time
	state map[string][]uint64
}

func newAsOfRig(t *testing.T, kind string, shards int, opts ...eventstore.Option) *asOfRig {
	t.Helper()
	ctx := t.Context()
	var eng shardlog.Engine = memory.New()
	if kind == "file" {
		fe, err := file.Open(t.TempDir())
		require.NoError(t, err)
		eng = fe
	}
	clk := shardlogtest.NewClock()
	l, err := shardlog.Open(ctx, eng, shardlog.WithClock(clk.Now), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: testStream, ShardCount: shards}))
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[placed](reg, "order.placed"))
	require.NoError(t, eventstore.Register[paid](reg, "order.paid"))
	s, err := eventstore.Open(ctx, l, testStream, append([]eventstore.Option{eventstore.WithRegistry(reg)}, opts...)...)
	require.NoError(t, err)
	return &asOfRig{t: t, ctx: ctx, clk: clk, log: l, s: s, live: newModel(), cps: projection.NewMemoryStore()}
}

// tick moves the clock on a second: what is appended next arrives later
// than anything before.
func (x *asOfRig) tick() { x.clk.Advance(time.Second) }

// add appends version v of streams prefix-0..n-1, all at the clock's
// present.
func (x *asOfRig) add(prefix string, n int, v uint64) {
	x.t.Helper()
	for i := range n {
		var ev any = paid{Cents: int(v)}
		if v == 1 {
			ev = placed{Item: "x"}
		}
		res, err := x.s.Append(x.ctx, streamName(prefix, i), eventstore.Exact(v-1), ev)
		require.NoError(x.t, err)
		require.True(x.t, res.RecordedAt.Equal(x.clk.Now()), "the log's clock is the test's")
	}
}

func streamName(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i) }

// capture brings the live projection up to the present (a CatchUpOnly run
// continuing from its checkpoints) and records its state as of now.
func (x *asOfRig) capture(name string) {
	x.t.Helper()
	r, err := projection.NewRunner(x.s, projection.Options{Checkpoints: x.cps, CatchUpOnly: true, BatchSize: 4}, projectionInto("live", x.live))
	require.NoError(x.t, err)
	require.NoError(x.t, r.Run(x.ctx))
	x.live.mu.Lock()
	defer x.live.mu.Unlock()
	st := map[string][]uint64{}
	for k, v := range x.live.versions {
		st[k] = slices.Clone(v)
	}
	x.captures = append(x.captures, asOfCapture{name: name, at: x.clk.Now(), state: st})
}

// rebuildAsOf rebuilds a projection of its own name as of at into a new
// model, and returns the model and the progress reports.
func (x *asOfRig) rebuildAsOf(s *eventstore.Store, at time.Time, obs projection.Observer) (*model, []projection.RebuildProgress) {
	x.t.Helper()
	x.rebuilt++
	m := newModel()
	name := fmt.Sprintf("asof-%d", x.rebuilt)
	var reports []projection.RebuildProgress // progress is called from the runner's goroutines under the tracker's lock
	err := projection.RebuildAsOf(x.ctx, s, projectionInto(name, m), projection.Options{Checkpoints: x.cps, BatchSize: 3, Observer: obs, Logger: discardLogger()},
		at, 0, func(p projection.RebuildProgress) { reports = append(reports, p) })
	require.NoError(x.t, err)
	got, ok, err := projection.AsOf(x.ctx, x.cps, name)
	require.NoError(x.t, err)
	require.True(x.t, ok, "the checkpoints say the read model is as of a point in time")
	require.True(x.t, got.Equal(at), "as of %s, not %s", at, got)
	x.checkpointsStopAt(s, name, at)
	return m, reports
}

// checkpointsStopAt requires each started shard's checkpoint to be its
// last event recorded at or before at (the next event is recorded after
// at, or there is none), and no child of a parent not done to be started.
func (x *asOfRig) checkpointsStopAt(s *eventstore.Store, name string, at time.Time) {
	x.t.Helper()
	cps, err := x.cps.Checkpoints(x.ctx, name)
	require.NoError(x.t, err)
	shards, err := s.Shards(x.ctx)
	require.NoError(x.t, err)
	for _, sh := range shards {
		cp, started := cps[sh.ShardID]
		ready := sh.ParentShardID == "" || cps[sh.ParentShardID].Done && (sh.AdjacentParentShardID == "" || cps[sh.AdjacentParentShardID].Done)
		if !ready {
			// Not started: a parent stopped at an event after at.
			require.False(x.t, started, "shard %s was started before its parents were done", sh.ShardID)
			continue
		}
		rd, err := s.ReadShard(x.ctx, sh.ShardID, cp.After)
		require.NoError(x.t, err)
		b, err := rd.Next(x.ctx, 1)
		require.NoError(x.t, err)
		if len(b.Events) > 0 {
			require.True(x.t, b.Events[0].RecordedAt.After(at), "shard %s: the event after the checkpoint was recorded at %s, not after %s", sh.ShardID, b.Events[0].RecordedAt, at)
			require.False(x.t, cp.Done, sh.ShardID)
		}
	}
}

// verify rebuilds as of every capture's instant and requires the live
// state captured then.
func (x *asOfRig) verify() {
	x.t.Helper()
	for _, c := range x.captures {
		m, reports := x.rebuildAsOf(x.s, c.at, nil)
		require.Empty(x.t, m.bad, "%s: per-stream order (parents before children)", c.name)
		require.Equal(x.t, c.state, m.versions, "%s: as of %s", c.name, c.at)
		for id, n := range m.applied {
			require.Equal(x.t, 1, n, "%s: event %s applied %d times", c.name, id, n)
		}
		require.NotEmpty(x.t, reports)
		last := reports[len(reports)-1]
		require.True(x.t, last.Done, c.name)
		require.Equal(x.t, int64(m.total()), last.Events, c.name)
		require.Equal(x.t, last.Events, last.EstimatedTotal, c.name)
	}
}

// TestRebuildAsOf: a projection rebuilt as of T equals the live one
// captured at T: before any event (empty), exactly at an event's time (it
// is included), between events, and after all of them (the whole log).
func TestRebuildAsOf(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newAsOfRig(t, kind, 3)
		x.capture("before any event")
		x.tick()
		x.add("o", 6, 1)
		x.capture("exactly at the first events")
		x.tick()
		x.add("o", 6, 2)
		x.add("p", 4, 1)
		x.tick()
		x.capture("between events")
		x.tick()
		x.add("o", 6, 3)
		x.capture("exactly at the third versions")
		x.tick()
		x.add("o", 6, 4)
		x.add("p", 4, 2)
		x.tick()
		x.capture("after all events")
		require.Empty(t, x.captures[0].state)
		require.Len(t, x.captures[4].state, 10)
		x.live.check(t, "o", 6, 4)
		x.verify()
	})
}

// TestRebuildAsOfReshard: as of instants before, during and after a split
// and a merge, every shard stops at the same instant, parents before
// children.
func TestRebuildAsOfReshard(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newAsOfRig(t, kind, 1)
		const n = 12
		x.tick()
		x.add("k", n, 1)
		x.tick()
		x.add("k", n, 2)
		x.tick()
		x.capture("before the split")
		parent := splitOnly(t, x)
		x.capture("at the split")
		x.tick()
		x.add("k", n, 3)
		x.tick()
		x.capture("between the split and the merge")
		x.tick()
		x.add("k", n, 4)
		kids := childrenOfShard(t, x, parent)
		require.NoError(t, x.log.MergeShards(x.ctx, shardlog.MergeShardsInput{StreamName: testStream, ShardToMerge: kids[0], AdjacentShardToMerge: kids[1]}))
		x.capture("at the merge")
		x.tick()
		x.add("k", n, 5)
		x.tick()
		x.capture("after the merge")
		x.tick()
		x.add("k", n, 6)
		x.tick()
		x.capture("after all events")
		x.live.check(t, "k", n, 6)
		x.verify()
	})
}

// splitOnly splits the stream's only shard at the middle of its range and
// returns the parent's ID.
func splitOnly(t *testing.T, x *asOfRig) string {
	t.Helper()
	desc, err := x.log.DescribeStream(x.ctx, shardlog.DescribeStreamInput{StreamName: testStream})
	require.NoError(t, err)
	sh0 := desc.Shards[0]
	lo, _ := new(big.Int).SetString(sh0.HashKeyRange.StartingHashKey.String(), 10)
	hi, _ := new(big.Int).SetString(sh0.HashKeyRange.EndingHashKey.String(), 10)
	mid := new(big.Int).Add(lo, hi)
	mid.Rsh(mid, 1).Add(mid, big.NewInt(1))
	require.NoError(t, x.log.SplitShard(x.ctx, shardlog.SplitShardInput{StreamName: testStream, ShardToSplit: sh0.ShardID, NewStartingHashKey: mid.String()}))
	return sh0.ShardID
}

func childrenOfShard(t *testing.T, x *asOfRig, parent string) []string {
	t.Helper()
	desc, err := x.log.DescribeStream(x.ctx, shardlog.DescribeStreamInput{StreamName: testStream})
	require.NoError(t, err)
	var kids []string
	for _, sh := range desc.Shards {
		if sh.ParentShardID == parent {
			kids = append(kids, sh.ShardID)
		}
	}
	require.Len(t, kids, 2)
	return kids
}

// TestRebuildAsOfClockBack: when the log's clock goes back across a
// split, a child can hold events recorded before T although its parent
// holds one after T. They are left out: they follow that event in their
// streams, and every stream is applied up to a prefix of its versions.
func TestRebuildAsOfClockBack(t *testing.T) {
	t.Parallel()
	x := newAsOfRig(t, "memory", 1)
	x.tick()
	x.add("k", 4, 1) // at +1s
	x.clk.Advance(2 * time.Second)
	x.add("k", 4, 2) // at +3s
	splitOnly(t, x)
	x.clk.Advance(-2 * time.Second)
	x.add("k", 4, 3) // at +1s, in the children
	x.add("j", 2, 1)
	at := x.clk.Now().Add(time.Second) // +2s: after the children's events, before the parent's second ones
	m, _ := x.rebuildAsOf(x.s, at, nil)
	require.Empty(t, m.bad)
	want := map[string][]uint64{}
	for i := range 4 {
		want[streamName("k", i)] = []uint64{1}
	}
	assert.Equal(t, want, m.versions)
}

// TestRebuildAsOfRetention: as of an instant whose events have passed the
// log's retention, the store's archive supplies them (the same state as
// captured live); without an archive the rebuild starts, as Rebuild does,
// at each shard's oldest retained event: the expired events are missing
// from the read model, and no gap is reported (a read from the trim
// horizon has no position to have a gap after).
func TestRebuildAsOfRetention(t *testing.T) {
	t.Parallel()
	arch := archivetest.New()
	x := newAsOfRig(t, "memory", 2, eventstore.WithArchive(arch))
	plain, err := eventstore.Open(x.ctx, x.log, testStream, eventstore.WithRegistry(x.s.Registry()))
	require.NoError(t, err)
	x.tick()
	x.add("old", 5, 1)
	x.tick()
	x.add("old", 5, 2)
	x.tick()
	x.capture("old")
	x.tick()
	x.add("old", 5, 3)
	require.NoError(t, arch.CatchUp(x.ctx, x.log, testStream))
	x.clk.Advance(shardlog.DefaultRetentionHours*time.Hour + time.Hour)
	require.NoError(t, x.log.EnforceRetention(x.ctx))
	x.add("new", 5, 1)
	x.tick()
	x.capture("new")
	x.verify()

	// Without the archive: the expired events are missing.
	obs := &gapObserver{}
	m, _ := x.rebuildAsOf(plain, x.captures[0].at, obs)
	assert.Empty(t, m.versions, "every event as of the first capture expired")
	m, _ = x.rebuildAsOf(plain, x.captures[1].at, obs)
	assert.Len(t, m.versions, 5, "only the new streams")
	for id := range m.versions {
		assert.Contains(t, id, "new-")
	}
	assert.Empty(t, obs.gaps, "a rebuild reads from the trim horizon: no gap to report")
}

// TestRebuildAsOfLive: the as-of read model's checkpoints stop at its last
// applied events, and a live run of it is refused until it is Reset.
func TestRebuildAsOfLive(t *testing.T) {
	t.Parallel()
	x := newAsOfRig(t, "memory", 1)
	x.tick()
	x.add("a", 3, 1)
	at := x.clk.Now()
	x.tick()
	x.add("a", 3, 2)
	m := newModel()
	p := projectionInto("audit", m)
	require.NoError(t, projection.RebuildAsOf(x.ctx, x.s, p, projection.Options{Checkpoints: x.cps}, at, time.Hour, nil))
	assert.Equal(t, 3, m.total())
	cps, err := x.cps.Checkpoints(x.ctx, "audit")
	require.NoError(t, err)
	shards, err := x.s.Shards(x.ctx)
	require.NoError(t, err)
	sh := cps[shards[0].ShardID]
	assert.False(t, sh.Done)
	assert.Equal(t, 3, countUpTo(t, x, shards[0].ShardID, sh.After), "the checkpoint is the third event, the last as of at")
	for k := range maps.Keys(cps) {
		assert.True(t, k == shards[0].ShardID || k[:5] == "as-of", k)
	}

	for _, opts := range []projection.Options{{Checkpoints: x.cps, CatchUpOnly: true}, {Checkpoints: x.cps, Owner: "me", LeaseTTL: time.Second}} {
		r, err := projection.NewRunner(x.s, opts, p)
		require.NoError(t, err)
		err = r.Run(x.ctx)
		require.ErrorIs(t, err, projection.ErrAsOfReadModel)
	}
	assert.Equal(t, 3, m.total(), "nothing past at")
	require.NoError(t, projection.Reset(x.ctx, x.cps, p))
	_, ok, err := projection.AsOf(x.ctx, x.cps, "audit")
	require.NoError(t, err)
	assert.False(t, ok)
	r, err := projection.NewRunner(x.s, projection.Options{Checkpoints: x.cps, CatchUpOnly: true}, p)
	require.NoError(t, err)
	require.NoError(t, r.Run(x.ctx))
	assert.Equal(t, 9, m.total(), "3 before the Reset, 6 after")
}

// countUpTo counts the shard's events up to sequence number last.
func countUpTo(t *testing.T, x *asOfRig, shard string, last shardlog.SequenceNumber) int {
	rd, err := x.s.ReadShard(x.ctx, shard, shardlog.SequenceNumber{})
	require.NoError(t, err)
	b, err := rd.Next(x.ctx, 100)
	require.NoError(t, err)
	n := 0
	for _, ev := range b.Events {
		if ev.Position.SequenceNumber.Compare(last) <= 0 {
			n++
		}
	}
	return n
}

// TestRebuildAsOfArguments: bad input is a typed error naming the field.
func TestRebuildAsOfArguments(t *testing.T) {
	t.Parallel()
	x := newAsOfRig(t, "memory", 1)
	p := projectionInto("bad", newModel())
	x.tick()
	x.add("a", 1, 1)
	live := projectionInto("live", newModel())
	r, err := projection.NewRunner(x.s, projection.Options{Checkpoints: x.cps, CatchUpOnly: true}, live)
	require.NoError(t, err)
	require.NoError(t, r.Run(x.ctx))
	for field, call := range map[string]func() error{
		"p": func() error { // a live projection's name
			return projection.RebuildAsOf(x.ctx, x.s, live, projection.Options{Checkpoints: x.cps}, x.clk.Now(), 0, nil)
		},
		"p ": func() error {
			return projection.RebuildAsOf(x.ctx, x.s, nil, projection.Options{Checkpoints: x.cps}, x.clk.Now(), 0, nil)
		},
		"at": func() error {
			return projection.RebuildAsOf(x.ctx, x.s, p, projection.Options{Checkpoints: x.cps}, time.Time{}, 0, nil)
		},
		"Owner": func() error {
			return projection.RebuildAsOf(x.ctx, x.s, p, projection.Options{Checkpoints: x.cps, Owner: "me"}, x.clk.Now(), 0, nil)
		},
		"Checkpoints": func() error {
			return projection.RebuildAsOf(x.ctx, x.s, p, projection.Options{}, x.clk.Now(), 0, nil)
		},
		"BatchSize": func() error {
			return projection.RebuildAsOf(x.ctx, x.s, p, projection.Options{Checkpoints: x.cps, BatchSize: -1}, x.clk.Now(), 0, nil)
		},
	} {
		var ae *shardlog.ArgumentError
		err := call()
		require.True(t, errors.As(err, &ae), "%s: %v", field, err)
		assert.Equal(t, strings.TrimSpace(field), ae.Field)
	}
	// The live projection's checkpoints are untouched; one rebuilt as of
	// an instant is rebuilt as of another.
	cps, err := x.cps.Checkpoints(x.ctx, "live")
	require.NoError(t, err)
	assert.Len(t, cps, 1)
	for _, at := range []time.Time{x.clk.Now(), x.clk.Now().Add(-time.Second)} {
		require.NoError(t, projection.RebuildAsOf(x.ctx, x.s, p, projection.Options{Checkpoints: x.cps}, at, 0, nil))
	}
}

// TestRebuildAsOfUnrepresentableTime: an instant the as-of marker cannot
// record (RFC 3339 has four-digit years) is refused up front as a typed
// error naming "at", and leaves the projection's name usable: it must not
// write a marker that no later read can parse.
func TestRebuildAsOfUnrepresentableTime(t *testing.T) {
	t.Parallel()
	x := newAsOfRig(t, "memory", 1)
	x.tick()
	x.add("a", 2, 1)
	p := projectionInto("far", newModel())
	for _, at := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		err := projection.RebuildAsOf(x.ctx, x.s, p, projection.Options{Checkpoints: x.cps}, at, 0, nil)
		var ae *shardlog.ArgumentError
		require.True(t, errors.As(err, &ae), "%s: %v", at, err)
		assert.Equal(t, "at", ae.Field)
	}
	_, ok, err := projection.AsOf(x.ctx, x.cps, "far")
	require.NoError(t, err)
	assert.False(t, ok, "no marker was written")
	require.NoError(t, projection.RebuildAsOf(x.ctx, x.s, p, projection.Options{Checkpoints: x.cps}, x.clk.Now(), 0, nil))
}

// TestAsOfNilStore: AsOf without a checkpoint store is a typed error, not
// a panic.
func TestAsOfNilStore(t *testing.T) {
	t.Parallel()
	var ae *shardlog.ArgumentError
	_, _, err := projection.AsOf(t.Context(), nil, "x")
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Equal(t, "cps", ae.Field)
}

// TestRebuildAsOfNilStore: a nil store is a typed error naming it, found
// before the read model is reset, not a panic after.
func TestRebuildAsOfNilStore(t *testing.T) {
	t.Parallel()
	m := newModel()
	resets := 0
	p := projectionInto("nil-store", m)
	p.OnReset(func(context.Context) error { resets++; return nil })
	for _, call := range []func() error{
		func() error {
			return projection.RebuildAsOf(t.Context(), nil, p, projection.Options{Checkpoints: projection.NewMemoryStore()}, time.Now(), 0, nil)
		},
		func() error {
			return projection.Rebuild(t.Context(), nil, p, projection.Options{Checkpoints: projection.NewMemoryStore()}, 0, nil)
		},
	} {
		var ae *shardlog.ArgumentError
		err := call()
		require.True(t, errors.As(err, &ae), "%v", err)
		assert.Equal(t, "store", ae.Field)
	}
	assert.Zero(t, resets, "the read model was not reset")
}
