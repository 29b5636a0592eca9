package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
	"github.com/stretchr/testify/require"
)

const (
	subShard0 = "shardId-000000000000"
	subShard1 = "shardId-000000000001"
	subShard2 = "shardId-000000000002"
)

// subJSON round-trips a checkpoint through JSON, as a subscriber storing
// it would.
func subJSON(t *testing.T, cp eventstore.Checkpoint) eventstore.Checkpoint {
	t.Helper()
	b, err := json.Marshal(cp)
	require.NoError(t, err)
	var out eventstore.Checkpoint
	require.NoError(t, json.Unmarshal(b, &out))
	require.Equal(t, cp, out, "JSON %s", b)
	return out
}

// subWaitStarted waits (bounded) until a StartAtLatest subscription has
// fixed where each of the shards starts: from then on, every event
// appended to them is delivered.
func subWaitStarted(t *testing.T, sub *eventstore.Subscription, shards []string) {
	t.Helper()
	require.Eventually(t, func() bool {
		cp := sub.Checkpoint()
		for _, id := range shards {
			if _, ok := cp.Shards[id]; !ok {
				return false
			}
		}
		return true
	}, subWait, time.Millisecond, "the subscription did not record its starting positions in %v", shards)
}

// A catch-up over several shards and many streams, across a split,
// delivers every event once: each shard in order, each stream in version
// order, parents before children. Its checkpoint holds each shard's last
// event and marks the closed parent done.
func TestSubscribeCatchUp(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		e := subNewEnv(t, eng, 4)
		streams := e.streamsEach("cu", 5)
		want := e.appendRounds(streams, 4)
		lo, hi := e.split(subShard1)
		streams = append(streams, e.streamsIn(lo, "cu-lo", 2)...)
		streams = append(streams, e.streamsIn(hi, "cu-hi", 2)...)
		want = append(want, e.appendRounds(streams, 3)...)
		byShard := subByShard(want)
		require.Len(t, byShard, 6, "events in the 4 shards and both children: %v", subShardsOf(want))

		sub := e.subscribe(eventstore.SubscribeOptions{CatchUpOnly: true, BatchSize: 7})
		got := subCatchUp(t, sub)
		subRequireExactlyOnce(t, got, want)
		subRequireStreamOrder(t, got, true)
		subRequireShardOrder(t, got)
		require.Equal(t, 2, subRequireLineage(t, got, e.describe()))

		cp := sub.Checkpoint()
		require.Len(t, cp.Shards, 6)
		for id, ws := range byShard {
			require.Equal(t, ws[len(ws)-1].Position.SequenceNumber, cp.Shards[id].After, id)
			require.Equal(t, id == subShard1, cp.Shards[id].Done, id)
		}

		// The default batch size yields the same sequence per shard.
		got2 := subCatchUp(t, e.subscribe(eventstore.SubscribeOptions{CatchUpOnly: true}))
		subRequireExactlyOnce(t, got2, want)
		perShard := func(evs []eventstore.Event) map[string][]string {
			out := map[string][]string{}
			for _, ev := range evs {
				out[ev.Position.ShardID] = append(out[ev.Position.ShardID], ev.ID.String())
			}
			return out
		}
		require.Equal(t, perShard(got), perShard(got2))

		// Resuming from the end yields nothing and ends.
		require.Empty(t, subCatchUp(t, e.subscribe(eventstore.SubscribeOptions{From: subJSON(t, cp), CatchUpOnly: true})))
	})
}

// Events appended after Events started arrive, to existing streams and to
// new ones, one at a time (each wakes an idle reader) and in bulk.
func TestSubscribeLive(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		e := subNewEnv(t, eng, 2)
		streams := e.streamsEach("live", 3)
		before := e.appendRounds(streams, 2)
		sub := e.subscribe(eventstore.SubscribeOptions{})
		run := subStart(t, t.Context(), sub)
		got := run.take(len(before))
		subRequireExactlyOnce(t, got, before)

		// One at a time: the subscription is idle in every shard.
		fresh := e.streamsEach("fresh", 2)
		var after []subWant
		for i, s := range append(fresh, streams[0], streams[len(streams)-1]) {
			w := e.append(s, 1+i%2)
			ev := run.take(len(w))
			subRequireExactlyOnce(t, ev, w)
			after = append(after, w...)
			got = append(got, ev...)
		}
		// In bulk, concurrently with the reading.
		bulk := e.appendRounds(append(streams, fresh...), 3)
		ev := run.take(len(bulk))
		subRequireExactlyOnce(t, ev, bulk)
		after = append(after, bulk...)
		got = append(got, ev...)

		subRequireExactlyOnce(t, got, append(before, after...))
		subRequireStreamOrder(t, got, true)
		subRequireShardOrder(t, got)
		run.stop()
		require.Empty(t, run.pending())
		cp := sub.Checkpoint()
		for id, ws := range subByShard(append(before, after...)) {
			require.Equal(t, eventstore.ShardProgress{After: ws[len(ws)-1].Position.SequenceNumber}, cp.Shards[id])
		}
	})
}

// Breaking out of the loop and resuming from the checkpoint (through JSON)
// delivers the remaining events exactly once, including ones appended and
// shards split in between. A checkpoint taken while handling an event
// includes that event.
func TestSubscribeResume(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		ctx := t.Context()
		e := subNewEnv(t, eng, 3)
		streams := e.streamsEach("rs", 3)
		want := e.appendRounds(streams, 4)

		t.Run("break", func(t *testing.T) {
			sub := e.subscribe(eventstore.SubscribeOptions{CatchUpOnly: true, BatchSize: 5})
			var first []eventstore.Event
			for ev, err := range sub.Events(ctx) {
				require.NoError(t, err)
				first = append(first, ev)
				if len(first) == 17 {
					break
				}
			}
			require.Len(t, first, 17)
			cp := sub.Checkpoint()
			lastOf := map[string]shardlog.SequenceNumber{}
			for _, ev := range first {
				lastOf[ev.Position.ShardID] = ev.Position.SequenceNumber
			}
			require.Len(t, cp.Shards, len(lastOf))
			for id, seq := range lastOf {
				require.Equal(t, eventstore.ShardProgress{After: seq}, cp.Shards[id])
			}
			// The JSON form carries sequence numbers as decimal strings.
			b, err := json.Marshal(cp)
			require.NoError(t, err)
			var raw struct {
				Shards map[string]map[string]any `json:"shards"`
			}
			require.NoError(t, json.Unmarshal(b, &raw))
			for id, seq := range lastOf {
				require.Equal(t, map[string]any{"after": seq.String()}, raw.Shards[id], "%s", b)
			}
			cp = subJSON(t, cp)

			// Meanwhile: more events, and a shard splits.
			more := e.appendRounds(streams, 1)
			lo, _ := e.split(subShard2)
			more = append(more, e.append(e.streamsIn(lo, "rs-lo", 1)[0], 2)...)
			more = append(more, e.appendRounds(streams, 1)...)
			all := append(slices.Clone(want), more...)

			rest := subCatchUp(t, e.subscribe(eventstore.SubscribeOptions{From: cp, CatchUpOnly: true, BatchSize: 5}))
			both := append(slices.Clone(first), rest...)
			subRequireExactlyOnce(t, both, all)
			subRequireStreamOrder(t, both, true)
			subRequireShardOrder(t, both)
			subRequireLineage(t, both, e.describe())
			want = all
		})

		t.Run("inside", func(t *testing.T) {
			sub := e.subscribe(eventstore.SubscribeOptions{CatchUpOnly: true, BatchSize: 4})
			const k = 10
			var seen []eventstore.Event
			var inside eventstore.Checkpoint
			for ev, err := range sub.Events(ctx) {
				require.NoError(t, err)
				seen = append(seen, ev)
				if len(seen) == k {
					// The checkpoint includes the event being handled.
					inside = sub.Checkpoint()
					require.Equal(t, ev.Position.SequenceNumber, inside.Shards[ev.Position.ShardID].After)
					require.False(t, inside.Shards[ev.Position.ShardID].Done)
				}
				if len(seen) == k+6 {
					break
				}
			}
			require.Len(t, seen, k+6)
			rest := subCatchUp(t, e.subscribe(eventstore.SubscribeOptions{From: subJSON(t, inside), CatchUpOnly: true}))
			// Resuming continues after event k: events k+1.. come again.
			both := append(slices.Clone(seen[:k]), rest...)
			subRequireExactlyOnce(t, both, want)
			subRequireStreamOrder(t, both, true)
		})

		t.Run("chain", func(t *testing.T) {
			// Stop every 7 events and resume from the saved checkpoint,
			// appending between runs, until a run delivers nothing.
			var got []eventstore.Event
			all := slices.Clone(want)
			var cp eventstore.Checkpoint
			for run := 0; ; run++ {
				require.Less(t, run, 1000)
				sub := e.subscribe(eventstore.SubscribeOptions{From: cp, CatchUpOnly: true, BatchSize: 3})
				n := 0
				for ev, err := range sub.Events(ctx) {
					require.NoError(t, err)
					got = append(got, ev)
					if n++; n == 7 {
						break
					}
				}
				cp = subJSON(t, sub.Checkpoint())
				if n == 0 {
					break
				}
				if run%3 == 0 {
					all = append(all, e.append(streams[run%len(streams)], 2)...)
				}
			}
			subRequireExactlyOnce(t, got, all)
			subRequireStreamOrder(t, got, true)
			subRequireShardOrder(t, got)
		})
	})
}

// StartAtLatest delivers only the events appended after the start, and a
// shard a later split creates from its beginning.
func TestSubscribeStartAtLatest(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		e := subNewEnv(t, eng, 2)
		streams := e.streamsEach("old", 2)
		e.appendRounds(streams, 3)
		// A closed shard with events: skipped.
		lo, hi := e.split(subShard1)
		e.appendRounds(streams, 1)

		sub := e.subscribe(eventstore.SubscribeOptions{StartAtLatest: true})
		run := subStart(t, t.Context(), sub)
		subWaitStarted(t, sub, e.openShards())

		fresh := e.streamsEach("fresh", 1)
		newer := e.appendRounds(append(streams, fresh...), 2)
		require.Equal(t, []string{subShard0, lo, hi}, subShardsOf(newer))
		got := run.take(len(newer))
		subRequireExactlyOnce(t, got, newer)
		subRequireStreamOrder(t, got, false)

		// A split after the start: its children are read from their
		// beginning, after their parent.
		a, b := e.split(subShard0)
		kids := e.append(e.streamsIn(a, "kid-a", 1)[0], 2)
		kids = append(kids, e.append(e.streamsIn(b, "kid-b", 1)[0], 1)...)
		kids = append(kids, e.appendRounds(append(streams, fresh...), 1)...)
		require.Equal(t, []string{lo, hi, a, b}, subShardsOf(kids))
		got2 := run.take(len(kids))
		subRequireExactlyOnce(t, got2, kids)
		both := append(got, got2...)
		subRequireStreamOrder(t, both, false)
		subRequireLineage(t, both, e.describe())
		run.stop()
		require.Empty(t, run.pending())
	})
}

// A StartAtLatest subscription resumed from its checkpoint, with or
// without StartAtLatest, misses nothing appended while it was stopped:
// not in a shard where it had handled no event yet, not in the children
// (and grandchildren) of a shard it was reading, and it does not go back
// to events from before its start.
func TestSubscribeStartAtLatestResume(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		e := subNewEnv(t, eng, 2)
		s0 := e.streamsIn(subShard0, "a", 3)
		s1 := e.streamsIn(subShard1, "b", 3)
		e.appendRounds(append(slices.Clone(s0), s1...), 2) // before the start

		sub := e.subscribe(eventstore.SubscribeOptions{StartAtLatest: true})
		run := subStart(t, t.Context(), sub)
		subWaitStarted(t, sub, e.openShards())
		w := e.append(s0[0], 1)
		first := run.take(1)
		subRequireExactlyOnce(t, first, w)
		run.stop()
		require.Empty(t, run.pending())
		cp := subJSON(t, sub.Checkpoint())

		// While stopped: events in shard 1, where it handled none; shard 0
		// splits, and its low child splits again.
		missed := e.appendRounds(s1, 1)
		lo, hi := e.split(subShard0)
		missed = append(missed, e.append(e.streamsIn(lo, "lo", 1)[0], 2)...)
		missed = append(missed, e.append(e.streamsIn(hi, "hi", 1)[0], 1)...)
		lolo, lohi := e.split(lo)
		missed = append(missed, e.appendRounds(s0, 1)...)
		missed = append(missed, e.append(e.streamsIn(lolo, "lolo", 1)[0], 1)...)
		missed = append(missed, e.append(e.streamsIn(lohi, "lohi", 1)[0], 1)...)
		require.Equal(t, []string{subShard1, "shardId-000000000002", "shardId-000000000003", "shardId-000000000004", "shardId-000000000005"}, subShardsOf(missed))

		for _, latest := range []bool{true, false} {
			sub := e.subscribe(eventstore.SubscribeOptions{From: cp, StartAtLatest: latest, CatchUpOnly: true})
			got := subCatchUp(t, sub)
			subRequireExactlyOnce(t, got, missed)
			subRequireStreamOrder(t, append(slices.Clone(first), got...), false)
			subRequireLineage(t, got, e.describe())
		}

		// Live after the resume as well.
		sub2 := e.subscribe(eventstore.SubscribeOptions{From: cp, StartAtLatest: true})
		run2 := subStart(t, t.Context(), sub2)
		subRequireExactlyOnce(t, run2.take(len(missed)), missed)
		live := e.appendRounds(append(slices.Clone(s0), s1...), 1)
		subRequireExactlyOnce(t, run2.take(len(live)), live)
		run2.stop()
		require.Empty(t, run2.pending())
	})
}

// Appends run concurrently with a split, a merge and a uniform rescale
// while a subscription reads live: every event arrives once, each stream
// in version order, and no event of a shard comes before every event of
// its ancestors.
func TestSubscribeReshardWhileLive(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		ctx := t.Context()
		e := subNewEnv(t, eng, 2)
		sub := e.subscribe(eventstore.SubscribeOptions{BatchSize: 10})
		run := subStart(t, ctx, sub)
		streams := e.streamsEach("rl", 6)

		var (
			mu     sync.Mutex
			want   []subWant
			wg     sync.WaitGroup
			counts = make([]atomic.Int64, len(streams)) // appends per stream
		)
		stop := make(chan struct{})
		errs := make(chan error, 4)
		for w := range 4 {
			wg.Go(func() {
				for i := w; ; i += 4 {
					select {
					case <-stop:
						return
					default:
					}
					ws, err := e.tryAppend(streams[i%len(streams)], 1+i%2)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					want = append(want, ws...)
					mu.Unlock()
					counts[i%len(streams)].Add(1)
				}
			})
		}
		// waitMore waits until every stream got n more appends: each
		// generation of shards gets events in every shard its streams map to.
		waitMore := func(n int64) {
			t.Helper()
			target := make([]int64, len(counts))
			for i := range counts {
				target[i] = counts[i].Load() + n
			}
			require.Eventually(t, func() bool {
				for i := range counts {
					if counts[i].Load() < target[i] && len(errs) == 0 {
						return false
					}
				}
				return true
			}, subWait, time.Millisecond)
			require.Empty(t, errs)
		}
		waitMore(3)
		lo, hi := e.split(subShard0)
		waitMore(3)
		require.NoError(t, e.log.MergeShards(ctx, shardlog.MergeShardsInput{StreamName: e.stream, ShardToMerge: hi, AdjacentShardToMerge: subShard1}))
		waitMore(3)
		out, err := e.log.UpdateShardCount(ctx, shardlog.UpdateShardCountInput{StreamName: e.stream, TargetShardCount: 3})
		require.NoError(t, err)
		require.Equal(t, 2, out.CurrentShardCount)
		waitMore(3)
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}

		got := run.take(len(want))
		subRequireExactlyOnce(t, got, want)
		subRequireStreamOrder(t, got, true)
		subRequireShardOrder(t, got)
		shards := e.describe()
		pairs := subRequireLineage(t, got, shards)
		// The appends spanned every generation of shards.
		withEvents := subShardsOf(want)
		require.Subset(t, withEvents, []string{subShard0, subShard1, lo, hi, "shardId-000000000004"})
		var final []string
		for _, sh := range shards {
			if !sh.Closed {
				final = append(final, sh.ShardID)
			}
		}
		require.Len(t, final, 3)
		require.Subset(t, withEvents, final)
		t.Logf("%d events in shards %v; %d ancestor/descendant pairs checked", len(want), withEvents, pairs)
		run.stop()
		require.Empty(t, run.pending())
	})
}

// A checkpoint saying a parent is done lets its children start (without
// re-reading it); one part-way through the parent finishes it first.
func TestSubscribeCheckpointParentDone(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		e := subNewEnv(t, eng, 1)
		streams := e.streamsEach("pd", 4)
		old := e.appendRounds(streams, 2)
		lo, hi := e.split(subShard0)
		newer := e.appendRounds(streams, 2)
		newer = append(newer, e.append(e.streamsIn(lo, "pd-lo", 1)[0], 2)...)
		newer = append(newer, e.append(e.streamsIn(hi, "pd-hi", 1)[0], 2)...)
		byShard := subByShard(newer)

		for name, c := range map[string]struct {
			from eventstore.ShardProgress
			want []subWant
		}{
			"done":    {eventstore.ShardProgress{Done: true}, newer},
			"at end":  {eventstore.ShardProgress{After: old[len(old)-1].Position.SequenceNumber}, newer},
			"partway": {eventstore.ShardProgress{After: old[4].Position.SequenceNumber}, append(slices.Clone(old[5:]), newer...)},
		} {
			t.Run(name, func(t *testing.T) {
				from := eventstore.Checkpoint{Shards: map[string]eventstore.ShardProgress{subShard0: c.from}}
				sub := e.subscribe(eventstore.SubscribeOptions{From: subJSON(t, from), CatchUpOnly: true})
				got := subCatchUp(t, sub)
				subRequireExactlyOnce(t, got, c.want)
				subRequireStreamOrder(t, got, false)
				subRequireLineage(t, got, e.describe())
				cp := sub.Checkpoint()
				require.True(t, cp.Shards[subShard0].Done)
				for _, id := range []string{lo, hi} {
					require.Equal(t, eventstore.ShardProgress{After: byShard[id][len(byShard[id])-1].Position.SequenceNumber}, cp.Shards[id])
				}
			})
		}
	})
}

// A checkpoint naming a shard that has since expired is ignored: the
// children of the expired shard start at their beginning.
func TestSubscribeCheckpointExpiredShard(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		ctx := t.Context()
		clk := shardlogtest.NewClockAt(time.Now())
		e := subNewEnv(t, eng, 1, shardlog.WithClock(clk.Now))
		old := e.appendRounds(e.streamsEach("ex", 3), 2)
		lo, hi := e.split(subShard0)
		clk.Advance(25 * time.Hour)
		require.NoError(t, e.log.EnforceRetention(ctx))
		for _, sh := range e.describe() {
			require.NotEqual(t, subShard0, sh.ShardID, "the parent expired")
		}
		var newer []subWant
		newer = append(newer, e.appendRounds(e.streamsIn(lo, "ex-lo", 2), 2)...)
		newer = append(newer, e.appendRounds(e.streamsIn(hi, "ex-hi", 2), 2)...)

		for name, p := range map[string]eventstore.ShardProgress{
			"partway": {After: old[2].Position.SequenceNumber},
			"done":    {Done: true},
			"none":    {},
		} {
			t.Run(name, func(t *testing.T) {
				from := eventstore.Checkpoint{Shards: map[string]eventstore.ShardProgress{subShard0: p}}
				for _, latest := range []bool{false, true} {
					sub := e.subscribe(eventstore.SubscribeOptions{From: subJSON(t, from), CatchUpOnly: true, StartAtLatest: latest})
					got := subCatchUp(t, sub)
					subRequireExactlyOnce(t, got, newer)
					subRequireStreamOrder(t, got, true)
				}
			})
		}
		// And with no checkpoint at all.
		got := subCatchUp(t, e.subscribe(eventstore.SubscribeOptions{CatchUpOnly: true}))
		subRequireExactlyOnce(t, got, newer)
	})
}

// MillisBehindLatest reports every shard being read, how far behind its
// last read was, and drops a shard read to its end.
func TestSubscribeMillisBehindLatest(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		clk := shardlogtest.NewClockAt(time.Now())
		e := subNewEnv(t, eng, 3, shardlog.WithClock(clk.Now))
		e.appendRounds(e.streamsIn(subShard0, "m0", 2), 2)
		lo, hi := e.split(subShard0) // closed, with events; children empty
		s1 := e.streamsIn(subShard1, "m1", 1)
		e.append(s1[0], 3) // shard 2 stays empty
		clk.Advance(5 * time.Second)
		open := []string{subShard1, subShard2, lo, hi}

		// Behind: the read of shard 1's first event was 5s behind its newest.
		sub := e.subscribe(eventstore.SubscribeOptions{CatchUpOnly: true, BatchSize: 1})
		n := 0
		for ev, err := range sub.Events(t.Context()) {
			require.NoError(t, err)
			if ev.Position.ShardID == subShard1 {
				if n++; n == 2 {
					lag := sub.MillisBehindLatest()
					require.GreaterOrEqual(t, lag[subShard1], int64(5000), "%v", lag)
				}
			}
		}
		require.Equal(t, 3, n)
		// Caught up: every open shard reported, at zero; the closed one,
		// read to its end, is gone.
		lag := sub.MillisBehindLatest()
		require.ElementsMatch(t, open, slices.Collect(maps.Keys(lag)))
		for id, ms := range lag {
			require.Zero(t, ms, id)
		}

		// Live: every shard being read is reported, idle and empty ones
		// included.
		live := e.subscribe(eventstore.SubscribeOptions{})
		run := subStart(t, t.Context(), live)
		require.Eventually(t, func() bool {
			return slices.Equal(open, slices.Sorted(maps.Keys(live.MillisBehindLatest())))
		}, subWait, time.Millisecond, "reported: %v", live.MillisBehindLatest())
		run.stop()
	})
}

// Canceling ctx ends Events without an error and leaves no goroutine
// behind, whether the readers are idle, the loop body is running, or ctx
// was done before the start; nothing is yielded once ctx is done.
func TestSubscribeCancel(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		e := subNewEnv(t, eng, 2)
		want := e.appendRounds(e.streamsEach("c", 3), 4)

		t.Run("idle", func(t *testing.T) {
			base := subGoroutineBase()
			sub := e.subscribe(eventstore.SubscribeOptions{})
			run := subStart(t, t.Context(), sub)
			subRequireExactlyOnce(t, run.take(len(want)), want)
			run.stop()
			subGoroutinesSettle(t, base)
		})

		t.Run("in the loop body", func(t *testing.T) {
			base := subGoroutineBase()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			sub := e.subscribe(eventstore.SubscribeOptions{BatchSize: 100})
			n, after := 0, 0
			for _, err := range sub.Events(ctx) {
				require.NoError(t, err)
				if n++; n == 1 {
					cancel()
				} else {
					after++
				}
			}
			require.Zero(t, after, "events yielded after ctx was canceled")
			subGoroutinesSettle(t, base)
		})

		t.Run("before the start", func(t *testing.T) {
			base := subGoroutineBase()
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			for _, opts := range []eventstore.SubscribeOptions{{}, {CatchUpOnly: true}, {StartAtLatest: true}} {
				n := 0
				for _, err := range e.subscribe(opts).Events(ctx) {
					require.NoError(t, err)
					n++
				}
				require.Zero(t, n)
			}
			subGoroutinesSettle(t, base)
		})
	})
}

// BatchSize zero means the default; outside 1-10000 it is an
// *shardlog.ArgumentError naming BatchSize.
func TestSubscribeBatchSize(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		e := subNewEnv(t, eng, 1)
		want := e.append("bs", 30)
		for _, n := range []int{0, 1, shardlog.MaxGetRecordsLimit} {
			got := subCatchUp(t, e.subscribe(eventstore.SubscribeOptions{CatchUpOnly: true, BatchSize: n}))
			subRequireExactlyOnce(t, got, want)
		}
		for _, n := range []int{-1, shardlog.MaxGetRecordsLimit + 1} {
			sub, err := e.store.Subscribe(eventstore.SubscribeOptions{BatchSize: n})
			require.Nil(t, sub)
			var ae *shardlog.ArgumentError
			require.True(t, errors.As(err, &ae), "%v", err)
			require.Equal(t, "BatchSize", ae.Field)
			require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
		}
	})
}

// Breaking out of the range loop stops every shard reader before the loop
// statement returns.
func TestSubscribeBreakStopsReaders(t *testing.T) {
	subEachEngine(t, func(t *testing.T, eng subEngine) {
		e := subNewEnv(t, eng, 4)
		e.appendRounds(e.streamsEach("br", 2), 3)
		e.split(subShard0)
		base := subGoroutineBase()
		for _, opts := range []eventstore.SubscribeOptions{{}, {CatchUpOnly: true}, {BatchSize: 1}, {StartAtLatest: true}} {
			sub := e.subscribe(opts)
			if opts.StartAtLatest {
				// Nothing to deliver until an append: break on that one.
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() {
					for _, err := range sub.Events(ctx) {
						done <- err
						return
					}
					done <- errors.New("Events ended without an event")
				}()
				subWaitStarted(t, sub, e.openShards())
				e.append("br-late", 1)
				select {
				case err := <-done:
					require.NoError(t, err)
				case <-time.After(subWait):
					t.Fatal("the event appended after the start did not arrive")
				}
				cancel()
			} else {
				n := 0
				for _, err := range sub.Events(t.Context()) {
					require.NoError(t, err)
					if n++; n == 3 {
						break
					}
				}
				require.Equal(t, 3, n)
			}
			subGoroutinesSettle(t, base)
		}
	})
}

func TestSubscribeEventsRunsOnce(t *testing.T) {
	ctx := context.Background()
	l, err := shardlog.Open(ctx, memory.New())
	require.NoError(t, err)
	s, err := eventstore.Open(ctx, l, "once", eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 1}))
	require.NoError(t, err)
	sub, err := s.Subscribe(eventstore.SubscribeOptions{CatchUpOnly: true})
	require.NoError(t, err)
	for _, err := range sub.Events(ctx) {
		require.NoError(t, err)
	}
	var second error
	for _, err := range sub.Events(ctx) {
		second = err
	}
	require.ErrorContains(t, second, "runs once")
}

// A record that is not an event (written to the stream through shardlog)
// ends the subscription with ErrCorruptEvent, after the events before it
// in the same shard were delivered.
func TestSubscribeDeliversEventsBeforeABadRecord(t *testing.T) {
	ctx := context.Background()
	l, err := shardlog.Open(ctx, memory.New())
	require.NoError(t, err)
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[subBadProbe](reg, "probe"))
	s, err := eventstore.Open(ctx, l, "bad", eventstore.WithRegistry(reg), eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 1}))
	require.NoError(t, err)
	_, err = s.Append(ctx, "k", eventstore.NoStream, subBadProbe{1}, subBadProbe{2})
	require.NoError(t, err)
	_, err = l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "bad", PartitionKey: "raw", Data: []byte("not an event")})
	require.NoError(t, err)
	sub, err := s.Subscribe(eventstore.SubscribeOptions{CatchUpOnly: true})
	require.NoError(t, err)
	var got []uint64
	var last error
	for ev, err := range sub.Events(ctx) {
		if err != nil {
			last = err
			continue
		}
		got = append(got, ev.Version)
	}
	require.Equal(t, []uint64{1, 2}, got)
	require.ErrorIs(t, last, eventstore.ErrCorruptEvent)
}

type subBadProbe struct{ N int }
