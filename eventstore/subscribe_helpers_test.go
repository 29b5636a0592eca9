package eventstore_test

import (
	"context"
	"fmt"
	"math/big"
	"runtime"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/stretchr/testify/require"
)

// subWait bounds every wait of the subscription tests for an event that
// must come: it is a failure deadline, not a synchronisation delay.
const subWait = 20 * time.Second

// subTick is the event type of the subscription tests.
type subTick struct{ N int }

// subEngine makes a fresh shardlog engine for one test.
type subEngine struct {
	name string
	open func(t *testing.T) shardlog.Engine
}

var subEngines = []subEngine{
	{"memory", func(*testing.T) shardlog.Engine { return memory.New() }},
	{"file", func(t *testing.T) shardlog.Engine {
		e, err := file.Open(t.TempDir())
		require.NoError(t, err)
		return e
	}},
}

// subEachEngine runs f as a subtest on every engine.
func subEachEngine(t *testing.T, f func(t *testing.T, eng subEngine)) {
	for _, eng := range subEngines {
		t.Run(eng.name, func(t *testing.T) { f(t, eng) })
	}
}

// subEnv is a store on a fresh log.
type subEnv struct {
	t      *testing.T
	ctx    context.Context
	log    *shardlog.Log
	store  *eventstore.Store
	stream string
	n      atomic.Int64 // payload counter
}

// subNewEnv opens a log on eng (the retention janitor off) and a store on a
// new stream of `shards` shards.
func subNewEnv(t *testing.T, eng subEngine, shards int, opts ...shardlog.Option) *subEnv {
	t.Helper()
	ctx := t.Context()
	opts = append([]shardlog.Option{shardlog.WithRetentionInterval(0)}, opts...)
	l, err := shardlog.Open(ctx, eng.open(t), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[subTick](reg, "tick"))
	s, err := eventstore.Open(ctx, l, "events", eventstore.WithRegistry(reg), eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: shards}))
	require.NoError(t, err)
	return &subEnv{t: t, ctx: ctx, log: l, store: s, stream: "events"}
}

// subWant is an appended event, as the tests expect to receive it.
type subWant struct {
	ID       uuid.UUID
	Stream   string
	Version  uint64
	Position eventstore.Position
}

// append appends k events to stream in one Append and returns them.
func (e *subEnv) append(stream string, k int) []subWant {
	e.t.Helper()
	out, err := e.tryAppend(stream, k)
	require.NoError(e.t, err)
	return out
}

// tryAppend is append for goroutines other than the test's.
func (e *subEnv) tryAppend(stream string, k int) ([]subWant, error) {
	evs := make([]any, k)
	ids := make([]uuid.UUID, k)
	for i := range evs {
		p := eventstore.NewEvent(subTick{int(e.n.Add(1))}, eventstore.Metadata{})
		evs[i], ids[i] = p, p.ID
	}
	res, err := e.store.Append(e.ctx, stream, eventstore.Any, evs...)
	if err != nil {
		return nil, err
	}
	if res.Deduplicated || res.LastVersion-res.FirstVersion != uint64(k-1) {
		return nil, fmt.Errorf("append to %s: unexpected result %+v", stream, res)
	}
	out := make([]subWant, k)
	for i := range out {
		// The events of one append are contiguous in one shard.
		seq := shardlog.MakeSequenceNumber(res.First.SequenceNumber.Position()+uint64(i), res.First.SequenceNumber.ShardIndex())
		out[i] = subWant{ID: ids[i], Stream: stream, Version: res.FirstVersion + uint64(i), Position: eventstore.Position{ShardID: res.First.ShardID, SequenceNumber: seq}}
	}
	if res.Last != out[k-1].Position {
		return nil, fmt.Errorf("append to %s: last position %s, want %s", stream, res.Last, out[k-1].Position)
	}
	return out, nil
}

// appendRounds appends `rounds` times to every stream, 1-3 events each
// time, interleaving the streams.
func (e *subEnv) appendRounds(streams []string, rounds int) []subWant {
	e.t.Helper()
	var out []subWant
	for r := range rounds {
		for i, s := range streams {
			out = append(out, e.append(s, 1+(r+i)%3)...)
		}
	}
	return out
}

// describe returns the stream's shards (expired ones omitted).
func (e *subEnv) describe() []shardlog.Shard {
	e.t.Helper()
	d, err := e.log.DescribeStream(e.ctx, shardlog.DescribeStreamInput{StreamName: e.stream})
	require.NoError(e.t, err)
	return d.Shards
}

// openShards returns the IDs of the open shards.
func (e *subEnv) openShards() []string {
	e.t.Helper()
	var out []string
	for _, sh := range e.describe() {
		if !sh.Closed {
			out = append(out, sh.ShardID)
		}
	}
	return out
}

// shard returns the description of shard id.
func (e *subEnv) shard(id string) shardlog.Shard {
	e.t.Helper()
	for _, sh := range e.describe() {
		if sh.ShardID == id {
			return sh
		}
	}
	e.t.Fatalf("shard %s is not listed", id)
	return shardlog.Shard{}
}

// streamsIn returns n stream IDs (named after prefix) whose events go to
// the open shard id.
func (e *subEnv) streamsIn(id, prefix string, n int) []string {
	e.t.Helper()
	r := e.shard(id).HashKeyRange
	var out []string
	for i := 0; len(out) < n; i++ {
		require.Less(e.t, i, 100000, "no stream ID found for %s", id)
		s := fmt.Sprintf("%s-%d", prefix, i)
		if r.Contains(shardlog.HashPartitionKey(s)) {
			out = append(out, s)
		}
	}
	return out
}

// streamsEach returns n stream IDs for every open shard.
func (e *subEnv) streamsEach(prefix string, n int) []string {
	e.t.Helper()
	var out []string
	for _, id := range e.openShards() {
		out = append(out, e.streamsIn(id, prefix+"-"+id, n)...)
	}
	return out
}

// split splits open shard id in the middle of its range and returns the
// children (low half first).
func (e *subEnv) split(id string) (lo, hi string) {
	e.t.Helper()
	before := map[string]bool{}
	for _, sh := range e.describe() {
		before[sh.ShardID] = true
	}
	r := e.shard(id).HashKeyRange
	a, _ := new(big.Int).SetString(r.StartingHashKey.String(), 10)
	b, _ := new(big.Int).SetString(r.EndingHashKey.String(), 10)
	mid := new(big.Int).Add(a, b)
	mid.Add(mid, big.NewInt(1)).Rsh(mid, 1)
	require.NoError(e.t, e.log.SplitShard(e.ctx, shardlog.SplitShardInput{StreamName: e.stream, ShardToSplit: id, NewStartingHashKey: mid.String()}))
	var kids []shardlog.Shard
	for _, sh := range e.describe() {
		if !before[sh.ShardID] {
			kids = append(kids, sh)
		}
	}
	require.Len(e.t, kids, 2)
	for _, k := range kids {
		require.Equal(e.t, id, k.ParentShardID)
	}
	if kids[0].HashKeyRange.StartingHashKey.Compare(kids[1].HashKeyRange.StartingHashKey) > 0 {
		kids[0], kids[1] = kids[1], kids[0]
	}
	return kids[0].ShardID, kids[1].ShardID
}

// subscribe returns a subscription with opts.
func (e *subEnv) subscribe(opts eventstore.SubscribeOptions) *eventstore.Subscription {
	e.t.Helper()
	sub, err := e.store.Subscribe(opts)
	require.NoError(e.t, err)
	return sub
}

// subCatchUp runs a CatchUpOnly subscription to its end and returns what
// it yielded, failing on an error or if it does not end in time.
func subCatchUp(t *testing.T, sub *eventstore.Subscription) []eventstore.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), subWait)
	defer cancel()
	var got []eventstore.Event
	for ev, err := range sub.Events(ctx) {
		require.NoError(t, err)
		got = append(got, ev)
	}
	require.NoError(t, ctx.Err(), "the catch-up did not end by itself")
	return got
}

// subRun is a subscription running in its own goroutine, handing its
// events over a channel in the order it yields them.
type subRun struct {
	t      *testing.T
	cancel context.CancelFunc
	evs    chan eventstore.Event
	done   chan struct{}
	err    error // the error Events yielded; read after done
}

// subStart runs sub.Events until ctx is done or the test stops it.
func subStart(t *testing.T, ctx context.Context, sub *eventstore.Subscription) *subRun {
	ctx, cancel := context.WithCancel(ctx)
	r := &subRun{t: t, cancel: cancel, evs: make(chan eventstore.Event, 1<<16), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ev, err := range sub.Events(ctx) {
			if err != nil {
				r.err = err
				return
			}
			select {
			case r.evs <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// take waits (bounded) for the next n events.
func (r *subRun) take(n int) []eventstore.Event {
	r.t.Helper()
	deadline := time.NewTimer(subWait)
	defer deadline.Stop()
	out := make([]eventstore.Event, 0, n)
	for len(out) < n {
		select {
		case ev := <-r.evs:
			out = append(out, ev)
		case <-r.done:
			// Take what it delivered before it ended.
			select {
			case ev := <-r.evs:
				out = append(out, ev)
				continue
			default:
			}
			r.t.Fatalf("the subscription ended after %d of %d events: %v", len(out), n, r.err)
		case <-deadline.C:
			r.t.Fatalf("got %d of %d events in %s", len(out), n, subWait)
		}
	}
	return out
}

// stop cancels the subscription, waits (bounded) for Events to end, and
// requires that it ended without an error.
func (r *subRun) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(subWait):
		r.t.Fatal("Events did not end after its context was canceled")
	}
	require.NoError(r.t, r.err)
}

// pending returns the events delivered but not taken.
func (r *subRun) pending() []eventstore.Event {
	var out []eventstore.Event
	for {
		select {
		case ev := <-r.evs:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// subRequireExactlyOnce requires that got holds every event of want once
// and nothing else, each with the stream, version and position it was
// appended with.
func subRequireExactlyOnce(t *testing.T, got []eventstore.Event, want []subWant) {
	t.Helper()
	byID := make(map[uuid.UUID]subWant, len(want))
	for _, w := range want {
		byID[w.ID] = w
	}
	seen := make(map[uuid.UUID]int, len(got))
	for i, ev := range got {
		if j, dup := seen[ev.ID]; dup {
			t.Fatalf("event %s (%s v%d) yielded twice: #%d and #%d", ev.ID, ev.StreamID, ev.Version, j, i)
		}
		seen[ev.ID] = i
		w, ok := byID[ev.ID]
		if !ok {
			t.Fatalf("event #%d %s (%s v%d at %s) was not expected", i, ev.ID, ev.StreamID, ev.Version, ev.Position)
		}
		require.Equal(t, w.Stream, ev.StreamID)
		require.Equal(t, w.Version, ev.Version)
		require.Equal(t, w.Position, ev.Position)
		require.Equal(t, "tick", ev.Type)
	}
	var missing []string
	for _, w := range want {
		if _, ok := seen[w.ID]; !ok {
			missing = append(missing, fmt.Sprintf("%s v%d at %s", w.Stream, w.Version, w.Position))
		}
	}
	require.Empty(t, missing, "events not yielded")
	require.Len(t, got, len(want))
}

// subRequireStreamOrder requires that each stream's events in got have
// consecutive, increasing versions, starting at 1 when fromStart.
func subRequireStreamOrder(t *testing.T, got []eventstore.Event, fromStart bool) {
	t.Helper()
	last := map[string]uint64{}
	for i, ev := range got {
		prev, ok := last[ev.StreamID]
		switch {
		case ok && ev.Version != prev+1:
			t.Fatalf("event #%d: %s v%d after v%d", i, ev.StreamID, ev.Version, prev)
		case !ok && fromStart && ev.Version != 1:
			t.Fatalf("event #%d: %s starts at v%d", i, ev.StreamID, ev.Version)
		}
		last[ev.StreamID] = ev.Version
	}
}

// subRequireShardOrder requires that each shard's events in got come in
// increasing sequence-number order.
func subRequireShardOrder(t *testing.T, got []eventstore.Event) {
	t.Helper()
	last := map[string]shardlog.SequenceNumber{}
	for i, ev := range got {
		require.Equal(t, ev.Position.SequenceNumber.ShardID(), ev.Position.ShardID)
		if prev, ok := last[ev.Position.ShardID]; ok && ev.Position.SequenceNumber.Compare(prev) <= 0 {
			t.Fatalf("event #%d at %s after %s", i, ev.Position, prev)
		}
		last[ev.Position.ShardID] = ev.Position.SequenceNumber
	}
}

// subRequireLineage requires that no event of a shard was yielded before
// every event of each of its ancestors (parents, their parents, ...), as
// shards lists them. It returns how many (ancestor, shard) pairs that both
// have events it checked.
func subRequireLineage(t *testing.T, got []eventstore.Event, shards []shardlog.Shard) int {
	t.Helper()
	parents := map[string][]string{}
	for _, sh := range shards {
		for _, p := range []string{sh.ParentShardID, sh.AdjacentParentShardID} {
			if p != "" {
				parents[sh.ShardID] = append(parents[sh.ShardID], p)
			}
		}
	}
	first, last := map[string]int{}, map[string]int{}
	for i, ev := range got {
		id := ev.Position.ShardID
		if _, ok := first[id]; !ok {
			first[id] = i
		}
		last[id] = i
	}
	var ancestors func(id string, into map[string]bool)
	ancestors = func(id string, into map[string]bool) {
		for _, p := range parents[id] {
			if !into[p] {
				into[p] = true
				ancestors(p, into)
			}
		}
	}
	checked := 0
	for c, fc := range first {
		as := map[string]bool{}
		ancestors(c, as)
		for a := range as {
			if la, ok := last[a]; ok {
				checked++
				if la > fc {
					t.Fatalf("event #%d of %s (at %s) was yielded before event #%d of its ancestor %s (at %s)",
						fc, c, got[fc].Position, la, a, got[la].Position)
				}
			}
		}
	}
	return checked
}

// subByShard groups wants by shard, in append order.
func subByShard(wants []subWant) map[string][]subWant {
	out := map[string][]subWant{}
	for _, w := range wants {
		out[w.Position.ShardID] = append(out[w.Position.ShardID], w)
	}
	return out
}

// subShardsOf returns the sorted IDs of the shards wants landed in.
func subShardsOf(wants []subWant) []string {
	var out []string
	for id := range subByShard(wants) {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// subGoroutinesSettle waits (bounded) for the goroutine count to fall to
// at most base, and dumps the goroutines if it does not.
func subGoroutinesSettle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// subGoroutineBase returns the goroutine count once it is steady.
func subGoroutineBase() int {
	n := runtime.NumGoroutine()
	for range 50 {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}
