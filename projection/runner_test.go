package projection_test

import (
	"context"
	"errors"
	"math/big"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCatchUp replays a store into a read model: every event once, each
// stream in version order, typed handlers by type and the fallback for
// the rest, and checkpoints at every shard's end.
func TestCatchUp(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		s := newStore(t, kind, 4)
		appendOrders(t, s, "o", 40, 6)
		_, err := s.Append(context.Background(), "o-0", eventstore.Any, shipped{})
		require.NoError(t, err)

		m := newModel()
		p := projectionInto("orders", m)
		var others atomic.Int64
		p.OnOther(func(_ context.Context, ev *eventstore.Event) error {
			if ev.Type == "order.shipped" {
				others.Add(1)
			}
			return nil
		})
		cps := projection.NewMemoryStore()
		r, err := projection.NewRunner(s, projection.Options{Checkpoints: cps, CatchUpOnly: true, BatchSize: 7}, p)
		require.NoError(t, err)
		require.NoError(t, r.Run(context.Background()))
		m.check(t, "o", 40, 6)
		assert.Equal(t, int64(1), others.Load())
		st := r.Stats()
		require.Len(t, st, 1)
		assert.Equal(t, int64(241), st[0].Events)

		got, err := cps.Checkpoints(context.Background(), "orders")
		require.NoError(t, err)
		assert.Len(t, got, 4, "a checkpoint per shard")

		// A second replay from the checkpoints applies nothing.
		m2 := newModel()
		r, err = projection.NewRunner(s, projection.Options{Checkpoints: cps, CatchUpOnly: true}, projectionInto("orders", m2))
		require.NoError(t, err)
		require.NoError(t, r.Run(context.Background()))
		assert.Zero(t, m2.total())
	})
}

// TestLiveAndResume runs live, stops, appends while stopped, and resumes
// from the checkpoints: nothing applied twice, nothing missed.
func TestLiveAndResume(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		s := newStore(t, kind, 3)
		cps := projection.NewMemoryStore()
		m := newModel()
		r, err := projection.NewRunner(s, projection.Options{Checkpoints: cps}, projectionInto("live", m))
		require.NoError(t, err)
		stop := runInBackground(t, r)
		appendOrders(t, s, "a", 20, 3)
		require.Eventually(t, func() bool { return m.total() == 60 }, 10*time.Second, 5*time.Millisecond)
		require.NoError(t, stop())

		appendOrders(t, s, "b", 20, 2) // while stopped
		r, err = projection.NewRunner(s, projection.Options{Checkpoints: cps}, projectionInto("live", m))
		require.NoError(t, err)
		stop = runInBackground(t, r)
		require.Eventually(t, func() bool { return m.total() == 100 }, 10*time.Second, 5*time.Millisecond)
		require.NoError(t, stop())
		m.check(t, "a", 20, 3)
		m.check(t, "b", 20, 2)
	})
}

// TestReshardOrder splits and merges shards while a runner is live and
// while events are appended: every stream stays in version order across
// parents and children, and every event is applied once.
func TestReshardOrder(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		ctx := context.Background()
		s := newStore(t, kind, 2)
		log, stream := s.Log()
		m := newModel()
		r, err := projection.NewRunner(s, projection.Options{BatchSize: 5}, projectionInto("resharded", m))
		require.NoError(t, err)
		stop := runInBackground(t, r)

		const n = 30
		appendOrders(t, s, "k", n, 2)
		// Split shard 0 at the middle of its range.
		desc, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: stream})
		require.NoError(t, err)
		sh0 := desc.Shards[0]
		lo, _ := new(big.Int).SetString(sh0.HashKeyRange.StartingHashKey.String(), 10)
		hi, _ := new(big.Int).SetString(sh0.HashKeyRange.EndingHashKey.String(), 10)
		mid := new(big.Int).Add(lo, hi)
		mid.Rsh(mid, 1).Add(mid, big.NewInt(1))
		require.NoError(t, log.SplitShard(ctx, shardlog.SplitShardInput{StreamName: stream, ShardToSplit: sh0.ShardID, NewStartingHashKey: mid.String()}))
		appendMore(t, s, "k", n, 3, 4)
		// Merge the split's two children.
		desc, err = log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: stream})
		require.NoError(t, err)
		var kids []string
		for _, sh := range desc.Shards {
			if sh.ParentShardID == sh0.ShardID {
				kids = append(kids, sh.ShardID)
			}
		}
		require.Len(t, kids, 2)
		require.NoError(t, log.MergeShards(ctx, shardlog.MergeShardsInput{StreamName: stream, ShardToMerge: kids[0], AdjacentShardToMerge: kids[1]}))
		appendMore(t, s, "k", n, 5, 6)
		require.Eventually(t, func() bool { return m.total() == n*6 }, 20*time.Second, 5*time.Millisecond)
		require.NoError(t, stop())
		m.check(t, "k", n, 6)

		// A replay from scratch over the resharded stream gives the same.
		m2 := newModel()
		r, err = projection.NewRunner(s, projection.Options{CatchUpOnly: true, BatchSize: 3}, projectionInto("replay", m2))
		require.NoError(t, err)
		require.NoError(t, r.Run(ctx))
		m2.check(t, "k", n, 6)
	})
}

// appendMore appends versions from..to to each of n streams.
func appendMore(t *testing.T, s *eventstore.Store, prefix string, n int, from, to uint64) {
	t.Helper()
	for v := from; v <= to; v++ {
		for i := range n {
			_, err := s.Append(context.Background(), prefixID(prefix, i), eventstore.Exact(v-1), paid{Cents: int(v)})
			require.NoError(t, err)
		}
	}
}

func prefixID(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) }

// TestPoisonParked: an event whose handler always fails is retried, then
// parked with its error; the others are applied once and the runner goes
// on. With StopOnPark the runner stops before it instead.
func TestPoisonParked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, "memory", 2)
	appendOrders(t, s, "p", 10, 3)
	poison := "p-3"

	newProj := func(m *model, calls *atomic.Int64) *projection.Projection {
		p := projection.New("poisoned")
		projection.On(p, func(_ context.Context, ev projection.Event[placed]) error {
			m.apply(ev.Event)
			return nil
		})
		projection.On(p, func(_ context.Context, ev projection.Event[paid]) error {
			if ev.StreamID == poison && ev.Version == 2 {
				calls.Add(1)
				return errors.New("cannot apply")
			}
			d, err := ev.Data()
			if err != nil {
				return err
			}
			if d.Cents != int(ev.Version) {
				return errors.New("wrong payload")
			}
			m.apply(ev.Event)
			return nil
		})
		return p
	}
	retry := projection.RetryPolicy{Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}

	t.Run("Continue", func(t *testing.T) {
		cps := projection.NewMemoryStore()
		m := newModel()
		var calls atomic.Int64
		var parkedSeen atomic.Int64
		obs := &countingObserver{parked: &parkedSeen}
		r, err := projection.NewRunner(s, projection.Options{Checkpoints: cps, CatchUpOnly: true, Retry: retry, Observer: obs}, newProj(m, &calls))
		require.NoError(t, err)
		require.NoError(t, r.Run(ctx))
		assert.Equal(t, int64(3), calls.Load(), "tried Attempts times")
		assert.Equal(t, int64(1), parkedSeen.Load())
		assert.Equal(t, int64(2), obs.retries.Load())
		parked, err := cps.Parked(ctx, "poisoned")
		require.NoError(t, err)
		require.Len(t, parked, 1)
		assert.Equal(t, poison, parked[0].StreamID)
		assert.Equal(t, uint64(2), parked[0].Version)
		assert.Equal(t, "order.paid", parked[0].Type)
		assert.Equal(t, 3, parked[0].Attempts)
		assert.Contains(t, parked[0].Error, "cannot apply")
		st := r.Stats()[0]
		assert.Equal(t, int64(1), st.Parked)
		assert.Equal(t, int64(2), st.Retries)
		assert.Equal(t, int64(30), st.Events, "the parked event counts as done")
		// Every other event was applied once; the poison stream stops at v1
		// in the model (v3 is recorded as out of order).
		m.mu.Lock()
		defer m.mu.Unlock()
		assert.Equal(t, 29, len(m.applied))
		for id, c := range m.applied {
			assert.Equal(t, 1, c, id)
		}
		assert.Equal(t, []uint64{1, 3}, m.versions[poison])
	})

	t.Run("Stop", func(t *testing.T) {
		cps := projection.NewMemoryStore()
		m := newModel()
		var calls atomic.Int64
		r, err := projection.NewRunner(s, projection.Options{Checkpoints: cps, CatchUpOnly: true, Retry: retry, StopOnPark: true, BatchSize: 4}, newProj(m, &calls))
		require.NoError(t, err)
		err = r.Run(ctx)
		var he *projection.HandlerError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, poison, he.StreamID)
		assert.Equal(t, 3, he.Attempts)
		parked, err := cps.Parked(ctx, "poisoned")
		require.NoError(t, err)
		require.Len(t, parked, 1)
		// The checkpoint stays before the poison event: a restart tries it again.
		cp, err := cps.Checkpoints(ctx, "poisoned")
		require.NoError(t, err)
		shard := parked[0].Shard
		assert.Negative(t, cp[shard].After.Compare(parked[0].SequenceNumber))

		poison = "none" // "fix the bug" and restart: everything is applied
		m2 := newModel()
		r, err = projection.NewRunner(s, projection.Options{Checkpoints: cps, CatchUpOnly: true, Retry: retry, StopOnPark: true}, newProj(m2, &calls))
		require.NoError(t, err)
		require.NoError(t, r.Run(ctx))
		assert.Contains(t, m2.versions["p-3"], uint64(2), "the event is applied after the restart")
		poison = "p-3"
	})
}

type countingObserver struct {
	projection.NopObserver
	parked  *atomic.Int64
	retries atomic.Int64
}

func (o *countingObserver) Retry(projection.RetryInfo)     { o.retries.Add(1) }
func (o *countingObserver) Park(string, projection.Parked) { o.parked.Add(1) }

// TestRetryThenSucceed: a handler that fails twice, then succeeds, applies
// its event once and parks nothing.
func TestRetryThenSucceed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, "memory", 1)
	appendOrders(t, s, "r", 5, 2)
	var fails atomic.Int64
	m := newModel()
	p := projection.New("flaky")
	projection.On(p, func(_ context.Context, ev projection.Event[placed]) error {
		if ev.StreamID == "r-2" && fails.Add(1) <= 2 {
			return errors.New("transient")
		}
		m.apply(ev.Event)
		return nil
	})
	projection.On(p, func(_ context.Context, ev projection.Event[paid]) error { m.apply(ev.Event); return nil })
	cps := projection.NewMemoryStore()
	r, err := projection.NewRunner(s, projection.Options{Checkpoints: cps, CatchUpOnly: true, Retry: projection.RetryPolicy{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}}, p)
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))
	m.check(t, "r", 5, 2)
	parked, err := cps.Parked(ctx, "flaky")
	require.NoError(t, err)
	assert.Empty(t, parked)
	assert.Equal(t, int64(2), r.Stats()[0].Retries)
}

// TestBadOptions: invalid options and projections are refused with the
// field named.
func TestBadOptions(t *testing.T) {
	t.Parallel()
	s := newStore(t, "memory", 1)
	p := projection.New("x")
	cases := map[string]struct {
		opts  projection.Options
		projs []*projection.Projection
	}{
		"BatchSize":        {projection.Options{BatchSize: 10001}, []*projection.Projection{p}},
		"Retry.Attempts":   {projection.Options{Retry: projection.RetryPolicy{Attempts: -1}}, []*projection.Projection{p}},
		"Retry.MaxBackoff": {projection.Options{Retry: projection.RetryPolicy{MinBackoff: time.Second, MaxBackoff: time.Millisecond}}, []*projection.Projection{p}},
		"LeaseTTL":         {projection.Options{Owner: "a", Checkpoints: projection.NewMemoryStore(), LeaseTTL: time.Millisecond}, []*projection.Projection{p}},
		"CatchUpOnly":      {projection.Options{Owner: "a", Checkpoints: projection.NewMemoryStore(), CatchUpOnly: true}, []*projection.Projection{p}},
		"projections":      {projection.Options{}, nil},
		"projections[1]":   {projection.Options{}, []*projection.Projection{p, p}},
	}
	for field, c := range cases {
		_, err := projection.NewRunner(s, c.opts, c.projs...)
		var ae *shardlog.ArgumentError
		require.ErrorAs(t, err, &ae, field)
		assert.Equal(t, field, ae.Field)
	}
	// A handler for a type the registry does not know.
	type unknown struct{}
	q := projection.New("q")
	projection.On(q, func(context.Context, projection.Event[unknown]) error { return nil })
	_, err := projection.NewRunner(s, projection.Options{}, q)
	require.ErrorContains(t, err, "eventstore.Register")
}

// flakyStore fails its first fails checkpoint writes.
type flakyStore struct {
	*projection.MemoryStore
	fails atomic.Int64
}

func (f *flakyStore) SaveCheckpoint(ctx context.Context, p, shard string, pr projection.Progress, token uint64) error {
	if f.fails.Add(-1) >= 0 {
		return errors.New("connection reset")
	}
	return f.MemoryStore.SaveCheckpoint(ctx, p, shard, pr, token)
}

// TestStoreRetried: a checkpoint store that fails for a while is retried
// with backoff; nothing is parked, and once it fails more often than the
// retry policy allows, Run fails with its error.
func TestStoreRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, "memory", 1)
	appendOrders(t, s, "f", 10, 1)
	retry := projection.RetryPolicy{Attempts: 4, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}

	st := &flakyStore{MemoryStore: projection.NewMemoryStore()}
	st.fails.Store(3)
	m := newModel()
	r, err := projection.NewRunner(s, projection.Options{Checkpoints: st, CatchUpOnly: true, Retry: retry}, projectionInto("flaky-store", m))
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))
	assert.Equal(t, int64(3), r.Stats()[0].Retries)
	parked, err := st.Parked(ctx, "flaky-store")
	require.NoError(t, err)
	assert.Empty(t, parked)
	cps, err := st.Checkpoints(ctx, "flaky-store")
	require.NoError(t, err)
	assert.False(t, cps["shardId-000000000000"].After.IsZero())

	st = &flakyStore{MemoryStore: projection.NewMemoryStore()}
	st.fails.Store(100)
	r, err = projection.NewRunner(s, projection.Options{Checkpoints: st, CatchUpOnly: true, Retry: retry}, projectionInto("broken-store", newModel()))
	require.NoError(t, err)
	require.ErrorContains(t, r.Run(ctx), "connection reset")
}

// TestPoisonInTransaction: with a Transactor, a failing event rolls its
// batch back; the events before it commit, it is tried Attempts times in
// all and parked, and the rest commit: every other event once.
func TestPoisonInTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, "memory", 1)
	appendOrders(t, s, "t", 10, 3)
	in := &instance{shared: &shared{store: projection.NewMemoryStore(), m: newModel(), inHand: map[string]string{}, holders: map[string][]string{}}, owner: "solo"}
	var calls atomic.Int64
	p := projection.New("tx-poison")
	projection.On(p, func(ctx context.Context, ev projection.Event[placed]) error { return in.handle(ctx, ev.Event) })
	projection.On(p, func(ctx context.Context, ev projection.Event[paid]) error {
		if ev.StreamID == "t-4" && ev.Version == 2 {
			calls.Add(1)
			return errors.New("poison")
		}
		return in.handle(ctx, ev.Event)
	})
	retry := projection.RetryPolicy{Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	r, err := projection.NewRunner(s, projection.Options{Checkpoints: in, CatchUpOnly: true, BatchSize: 8, Retry: retry, Logger: discardLogger()}, p)
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))
	assert.Equal(t, int64(3), calls.Load(), "Attempts tries in all")
	parked, err := in.Parked(ctx, "tx-poison")
	require.NoError(t, err)
	require.Len(t, parked, 1)
	m := in.m
	m.mu.Lock()
	defer m.mu.Unlock()
	assert.Len(t, m.applied, 29)
	for id, c := range m.applied {
		assert.Equal(t, 1, c, id)
	}
}

// TestLostCommitAck: a transaction that committed but whose
// acknowledgement was lost is recognised by reading the checkpoint back,
// and its batch is not applied a second time.
func TestLostCommitAck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, "memory", 2)
	appendOrders(t, s, "l", 20, 3)
	in := &instance{shared: &shared{store: projection.NewMemoryStore(), m: newModel(), inHand: map[string]string{}, holders: map[string][]string{}}, owner: "solo"}
	in.lostAcks.Store(4)
	retry := projection.RetryPolicy{Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	r, err := projection.NewRunner(s, projection.Options{Checkpoints: in, CatchUpOnly: true, BatchSize: 7, Retry: retry, Logger: discardLogger()}, in.projection())
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))
	assert.Negative(t, in.lostAcks.Load(), "every injected failure was hit")
	in.m.check(t, "l", 20, 3)
}

// flakyParkStore fails its first fails Park calls.
type flakyParkStore struct {
	*projection.MemoryStore
	fails atomic.Int64
}

func (f *flakyParkStore) Park(ctx context.Context, p string, ev projection.Parked, pr projection.Progress, token uint64) error {
	if f.fails.Add(-1) >= 0 {
		return errors.New("connection reset")
	}
	return f.MemoryStore.Park(ctx, p, ev, pr, token)
}

// TestParkRetried: a failing Park is retried like any store write.
func TestParkRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, "memory", 1)
	appendOrders(t, s, "k", 3, 1)
	st := &flakyParkStore{MemoryStore: projection.NewMemoryStore()}
	st.fails.Store(2)
	p := projection.New("park-retry")
	projection.On(p, func(context.Context, projection.Event[placed]) error { return errors.New("poison") })
	r, err := projection.NewRunner(s, projection.Options{Checkpoints: st, CatchUpOnly: true, Logger: discardLogger(),
		Retry: projection.RetryPolicy{Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}}, p)
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))
	parked, err := st.Parked(ctx, "park-retry")
	require.NoError(t, err)
	assert.Len(t, parked, 3)
}

// TestSeveralProjections: one runner feeds two projections, each with its
// own checkpoints; a handler that panics is treated as a failing one.
func TestSeveralProjections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, "memory", 2)
	appendOrders(t, s, "m", 10, 2)
	cps := projection.NewMemoryStore()
	a, b := newModel(), newModel()
	pa := projectionInto("a", a)
	pb := projectionInto("b", b)
	projection.On(pb, func(_ context.Context, ev projection.Event[paid]) error {
		if ev.StreamID == "m-3" {
			panic("boom")
		}
		b.apply(ev.Event)
		return nil
	})
	r, err := projection.NewRunner(s, projection.Options{Checkpoints: cps, CatchUpOnly: true, Logger: discardLogger(),
		Retry: projection.RetryPolicy{Attempts: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}}, pa, pb)
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))
	a.check(t, "m", 10, 2)
	assert.Equal(t, 19, b.total())
	parked, err := cps.Parked(ctx, "b")
	require.NoError(t, err)
	require.Len(t, parked, 1)
	assert.Contains(t, parked[0].Error, "handler panicked: boom")
	st := r.Stats()
	require.Len(t, st, 2)
	assert.Equal(t, "a", st[0].Projection)
	assert.Equal(t, int64(20), st[0].Events)
	assert.Equal(t, int64(1), st[1].Parked)
	for _, name := range []string{"a", "b"} {
		got, err := cps.Checkpoints(ctx, name)
		require.NoError(t, err)
		assert.Len(t, got, 2, name)
	}
}
