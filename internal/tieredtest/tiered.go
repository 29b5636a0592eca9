// Package tieredtest is the acceptance test of replay past retention
// (tiered reads), run against any archive: events written over three
// simulated days with a split on day 2, an archive attached and holding the
// log's retention; once the log has expired the older days, Load of every
// aggregate and a projection Rebuild from scratch must see every event
// exactly once, in order per aggregate, a split's parent before its
// children, also once retention dropped the parent shard entirely.
package tieredtest

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
	"github.com/stretchr/testify/require"
)

// Archive is an archive under test: it serves tiered reads and holds the
// log's retention until it has archived records.
type Archive interface {
	eventstore.ShardArchive
	shardlog.RetentionHolder
}

// NewArchive returns the archive of one run over the shardlog stream of
// log, and catchUp, which archives every record the log holds when it is
// called (a delivery stream: run it until its source is read and its
// buffer delivered). The archive must not have registered itself with
// log.HoldRetention: the test does.
type NewArchive func(t *testing.T, log *shardlog.Log, stream string) (a Archive, catchUp func(ctx context.Context) error)

// Tick is the event the test writes.
type Tick struct {
	N int `json:"n"`
}

const (
	streamName = "tiered"
	aggregates = 24
	round      = 4 * time.Hour
)

// RunTieredReplay runs the acceptance test on the memory engine and on the
// file engine (in a temporary directory).
func RunTieredReplay(t *testing.T, newArchive NewArchive) {
	engines := []struct {
		name string
		open func(t *testing.T) shardlog.Engine
	}{
		{"memory", func(*testing.T) shardlog.Engine { return memory.New() }},
		{"file", func(t *testing.T) shardlog.Engine {
			e, err := file.Open(t.TempDir())
			require.NoError(t, err)
			return e
		}},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { run(t, e.open(t), newArchive) })
	}
}

// world is one run's log, stores and expectations.
type world struct {
	t        *testing.T
	ctx      context.Context
	clock    *shardlogtest.Clock
	log      *shardlog.Log
	store    *eventstore.Store // with the archive
	plain    *eventstore.Store // without: proves the log expired events
	catchUp  func(ctx context.Context) error
	written  map[string][]int // aggregate -> payloads, in version order
	next     int
	parent   string   // the shard split on day 2
	children []string // its children
}

func run(t *testing.T, engine shardlog.Engine, newArchive NewArchive) {
	ctx := t.Context()
	clock := shardlogtest.NewClock()
	log, err := shardlog.Open(ctx, engine, shardlog.WithClock(clock.Now), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = log.Close() })
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: streamName, ShardCount: 2}))
	arch, catchUp := newArchive(t, log, streamName)
	defer log.HoldRetention(streamName, arch)()

	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[Tick](reg, "tick"))
	store, err := eventstore.Open(ctx, log, streamName, eventstore.WithRegistry(reg), eventstore.WithArchive(arch), eventstore.WithHeadCache(0))
	require.NoError(t, err)
	plain, err := eventstore.Open(ctx, log, streamName, eventstore.WithRegistry(reg), eventstore.WithHeadCache(0))
	require.NoError(t, err)
	w := &world{t: t, ctx: ctx, clock: clock, log: log, store: store, plain: plain, catchUp: catchUp, written: map[string][]int{}}

	// Days 1 and 2 and the start of day 3, a round every 4 h; shard 0
	// splits at 40 h. The archive catches up every other round on day 1,
	// then falls behind: it last catches up at 24 h.
	for h := 0; h <= 52; h += 4 {
		w.at(time.Duration(h) * time.Hour)
		if h == 40 {
			w.split()
		}
		w.writeRound()
		if h%8 == 0 && h <= 24 {
			require.NoError(t, catchUp(ctx))
		}
	}
	// Day 1 expires: the horizon is at 30 h, inside the parent's records.
	// The round of 28 h is past retention but not archived: the log keeps
	// it, and says so.
	w.at(54 * time.Hour)
	require.NoError(t, log.EnforceRetention(ctx))
	st, err := log.RetentionHold(streamName)
	require.NoError(t, err)
	require.True(t, st.Held, "records the archive lacks are kept past retention")
	require.True(t, st.Oldest.Equal(shardlogtest.Epoch.Add(28*time.Hour)), "kept from the first round not archived, not %v", st.Oldest)
	w.requireExpired()
	require.Contains(t, w.shardIDs(), w.parent, "the parent still holds records within retention")
	w.verify("day3")

	// The rest of day 3, then a round on day 4; at 100 h the parent and
	// everything before day 4 expired, and retention dropped the parent.
	for h := 56; h <= 68; h += 4 {
		w.at(time.Duration(h) * time.Hour)
		w.writeRound()
	}
	require.NoError(t, catchUp(ctx))
	st, err = log.RetentionHold(streamName)
	require.NoError(t, err)
	require.True(t, st.Held, "the hold is computed by the janitor, not by a catch-up")
	w.at(90 * time.Hour)
	w.writeRound()
	w.at(100 * time.Hour)
	require.NoError(t, log.EnforceRetention(ctx))
	w.requireExpired()
	require.NotContains(t, w.shardIDs(), w.parent, "retention dropped the parent shard, archived through its last record")
	st, err = log.RetentionHold(streamName)
	require.NoError(t, err)
	require.False(t, st.Held, "the archive caught up: nothing is kept past retention")
	w.verify("day4")
}

// at moves the clock to Epoch+d.
func (w *world) at(d time.Duration) {
	now := w.clock.Now()
	target := shardlogtest.Epoch.Add(d)
	require.False(w.t, target.Before(now))
	w.clock.Advance(target.Sub(now))
}

// writeRound appends one event to every aggregate.
func (w *world) writeRound() {
	for i := range aggregates {
		id := fmt.Sprintf("agg-%02d", i)
		w.next++
		_, err := w.store.Append(w.ctx, id, eventstore.Any, Tick{N: w.next})
		require.NoError(w.t, err)
		w.written[id] = append(w.written[id], w.next)
	}
}

// split splits shard 0 in the middle of its hash key range.
func (w *world) split() {
	d, err := w.log.DescribeStream(w.ctx, shardlog.DescribeStreamInput{StreamName: streamName})
	require.NoError(w.t, err)
	sh := d.Shards[0]
	lo, _ := new(big.Int).SetString(sh.HashKeyRange.StartingHashKey.String(), 10)
	hi, _ := new(big.Int).SetString(sh.HashKeyRange.EndingHashKey.String(), 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
	require.NoError(w.t, w.log.SplitShard(w.ctx, shardlog.SplitShardInput{StreamName: streamName, ShardToSplit: sh.ShardID, NewStartingHashKey: mid.String()}))
	w.parent = sh.ShardID
	d, err = w.log.DescribeStream(w.ctx, shardlog.DescribeStreamInput{StreamName: streamName})
	require.NoError(w.t, err)
	for _, c := range d.Shards {
		if c.ParentShardID == w.parent {
			w.children = append(w.children, c.ShardID)
		}
	}
	require.Len(w.t, w.children, 2)
}

// shardIDs lists the shards the log holds.
func (w *world) shardIDs() []string {
	d, err := w.log.DescribeStream(w.ctx, shardlog.DescribeStreamInput{StreamName: streamName})
	require.NoError(w.t, err)
	var ids []string
	for _, sh := range d.Shards {
		ids = append(ids, sh.ShardID)
	}
	return ids
}

// requireExpired checks that the log alone no longer has every aggregate's
// first events: the archive is really needed.
func (w *world) requireExpired() {
	for id := range w.written {
		var err error
		for _, err = range w.plain.Read(w.ctx, id, 0) {
			if err != nil {
				break
			}
		}
		var ee *eventstore.ExpiredError
		require.ErrorAs(w.t, err, &ee, "%s: the log alone has expired its first events", id)
	}
}

// handled is one event a projection handled, in handling order.
type handled struct {
	stream  string
	version uint64
	n       int
	shard   string
}

// gapObserver counts expired gaps.
type gapObserver struct {
	projection.NopObserver
	gaps atomic.Int64
}

func (g *gapObserver) Gap(projection.GapInfo) { g.gaps.Add(1) }

// verify loads every aggregate and rebuilds a projection from scratch.
func (w *world) verify(name string) {
	t := w.t
	t.Run("Load/"+name, func(t *testing.T) {
		for id, want := range w.written {
			var got []int
			v := uint64(0)
			loaded, err := w.store.Load(w.ctx, id, nil)
			require.NoError(t, err)
			for ev, err := range loaded.Events {
				require.NoError(t, err, id)
				v++
				require.Equal(t, v, ev.Version, "%s: versions in order, each once", id)
				tk, err := eventstore.DataAs[Tick](&ev)
				require.NoError(t, err)
				got = append(got, tk.N)
			}
			require.Equal(t, want, got, id)
		}
	})
	t.Run("Subscribe/"+name, func(t *testing.T) {
		sub, err := w.store.Subscribe(eventstore.SubscribeOptions{CatchUpOnly: true, BatchSize: 5})
		require.NoError(t, err)
		got := map[string][]int{}
		for ev, err := range sub.Events(w.ctx) {
			require.NoError(t, err)
			require.Equal(t, uint64(len(got[ev.StreamID])+1), ev.Version, "%s: versions in order, each once", ev.StreamID)
			tk, err := eventstore.DataAs[Tick](&ev)
			require.NoError(t, err)
			got[ev.StreamID] = append(got[ev.StreamID], tk.N)
		}
		require.Equal(t, w.written, got)
	})
	t.Run("Rebuild/"+name, func(t *testing.T) {
		var mu sync.Mutex
		var seen []handled
		p := projection.New("tiered-" + name)
		p.OnOther(func(_ context.Context, ev *eventstore.Event) error {
			tk, err := eventstore.DataAs[Tick](ev)
			if err != nil {
				return err
			}
			mu.Lock()
			seen = append(seen, handled{ev.StreamID, ev.Version, tk.N, ev.Position.ShardID})
			mu.Unlock()
			return nil
		})
		cps := projection.NewMemoryStore()
		obs := &gapObserver{}
		err := projection.Rebuild(w.ctx, w.store, p, projection.Options{Checkpoints: cps, Observer: obs, BatchSize: 7, Retry: projection.RetryPolicy{Attempts: 1}, StopOnPark: true}, time.Hour, nil)
		require.NoError(t, err)
		require.Zero(t, obs.gaps.Load(), "no event was lost, so no gap is reported")

		got := map[string][]int{}
		for _, h := range seen {
			require.Equal(t, uint64(len(got[h.stream])+1), h.version, "%s: versions in order, each once", h.stream)
			got[h.stream] = append(got[h.stream], h.n)
		}
		require.Equal(t, w.written, got)

		// The parent shard is finished before either child starts.
		lastParent, firstChild := -1, len(seen)
		for i, h := range seen {
			switch {
			case h.shard == w.parent:
				lastParent = i
			case h.shard == w.children[0] || h.shard == w.children[1]:
				firstChild = min(firstChild, i)
			}
		}
		require.GreaterOrEqual(t, lastParent, 0, "the parent's events were replayed")
		require.Less(t, lastParent, firstChild, "the parent's events all come before its children's")

		progress, err := cps.Checkpoints(w.ctx, p.Name())
		require.NoError(t, err)
		require.True(t, progress[w.parent].Done, "the parent shard is checkpointed done, even when only the archive holds it")
	})
}
