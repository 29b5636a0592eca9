package shardlogtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// Helpers of this file are prefixed with rs so they cannot collide with
// those of the other groups.

// rsMaxHash is 2^128-1, the top of the hash-key space.
var rsMaxHash = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// rsBig returns a hash key as a big integer.
func rsBig(h shardlog.HashKey) *big.Int {
	b, ok := new(big.Int).SetString(h.String(), 10)
	if !ok {
		panic("shardlogtest: hash key " + h.String() + " is not decimal")
	}
	return b
}

// rsAdd returns b+d as a decimal string.
func rsAdd(b *big.Int, d int64) string { return new(big.Int).Add(b, big.NewInt(d)).String() }

// rsMid returns the midpoint a split of r at which leaves two non-empty halves.
func rsMid(r shardlog.HashKeyRange) string {
	s, e := rsBig(r.StartingHashKey), rsBig(r.EndingHashKey)
	m := new(big.Int).Add(s, e)
	m.Add(m, big.NewInt(1))
	return m.Rsh(m, 1).String()
}

// rsRequireArg asserts err wraps sentinel and is an *ArgumentError on field.
func rsRequireArg(t *testing.T, err error, sentinel error, field string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, sentinel)
	var ae *shardlog.ArgumentError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, field, ae.Field, "field of %v", err)
}

// rsOpenSorted returns the stream's open shards by starting hash key.
func rsOpenSorted(h *Harness, stream string) []shardlog.Shard {
	h.T.Helper()
	open := h.OpenShards(stream)
	slices.SortFunc(open, func(a, b shardlog.Shard) int {
		return a.HashKeyRange.StartingHashKey.Compare(b.HashKeyRange.StartingHashKey)
	})
	return open
}

// rsRequireTiling asserts the stream's open shards tile [0, 2^128-1]
// exactly (sorted, contiguous, no overlap), and that closed shards carry an
// ending sequence number while open ones do not.
func rsRequireTiling(h *Harness, stream string) {
	t := h.T
	t.Helper()
	for _, s := range h.AllShards(stream) {
		if s.Closed {
			require.False(t, s.EndingSequenceNumber.IsZero(), "closed shard %s has no ending sequence number", s.ShardID)
		} else {
			require.True(t, s.EndingSequenceNumber.IsZero(), "open shard %s has an ending sequence number", s.ShardID)
		}
	}
	open := rsOpenSorted(h, stream)
	require.NotEmpty(t, open)
	require.Equal(t, 0, open[0].HashKeyRange.StartingHashKey.Compare(shardlog.MinHashKey), "first open shard %s does not start at 0", open[0].ShardID)
	last := open[len(open)-1]
	require.Equal(t, 0, last.HashKeyRange.EndingHashKey.Compare(shardlog.MaxHashKey), "last open shard %s does not end at 2^128-1", last.ShardID)
	for i, s := range open {
		require.LessOrEqual(t, s.HashKeyRange.StartingHashKey.Compare(s.HashKeyRange.EndingHashKey), 0, "shard %s has an empty range", s.ShardID)
		if i > 0 {
			prevEnd := rsBig(open[i-1].HashKeyRange.EndingHashKey)
			require.Equal(t, rsAdd(prevEnd, 1), s.HashKeyRange.StartingHashKey.String(),
				"open shards %s and %s are not contiguous", open[i-1].ShardID, s.ShardID)
		}
	}
}

// rsShard returns the described shard with the given ID.
func rsShard(h *Harness, stream, id string) shardlog.Shard {
	h.T.Helper()
	for _, s := range h.AllShards(stream) {
		if s.ShardID == id {
			return s
		}
	}
	h.T.Fatalf("shard %s not described", id)
	return shardlog.Shard{}
}

// rsPutAt puts one record with an explicit hash key.
func rsPutAt(h *Harness, stream, hashKey, data string) shardlog.PutRecordOutput {
	h.T.Helper()
	out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: "k", ExplicitHashKey: hashKey, Data: []byte(data)})
	require.NoError(h.T, err)
	return out
}

// rsWalk reads the whole stream the way a consumer does: from the shards
// without parents, to each closed shard's end, then on to the ChildShards
// it names. It asserts every described shard is reached.
func rsWalk(h *Harness, stream string) map[string][]shardlog.Record {
	t := h.T
	t.Helper()
	all := h.AllShards(stream)
	var queue []string
	for _, s := range all {
		if s.ParentShardID == "" {
			queue = append(queue, s.ShardID)
		}
	}
	out := map[string][]shardlog.Record{}
	seen := map[string]bool{}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		it, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: stream, ShardID: id, ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)
		for {
			res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
			require.NoError(t, err)
			out[id] = append(out[id], res.Records...)
			if res.NextShardIterator == "" {
				for _, c := range res.ChildShards {
					require.Contains(t, c.ParentShards, id)
					queue = append(queue, c.ShardID)
				}
				break
			}
			require.Empty(t, res.ChildShards, "ChildShards before the end of %s", id)
			if len(res.Records) == 0 {
				break
			}
			it = res.NextShardIterator
		}
	}
	require.Len(t, seen, len(all), "walking from the root shards did not reach every shard")
	return out
}

// rsConsumer registers a consumer and returns its ARN.
func rsConsumer(h *Harness, stream, name string) string {
	h.T.Helper()
	c, err := h.Log.RegisterStreamConsumer(h.Ctx, stream, name)
	require.NoError(h.T, err)
	return c.ConsumerARN
}

// rsSubscribe subscribes from a starting position.
func rsSubscribe(h *Harness, arn, shard string, pos shardlog.StartingPosition) *shardlog.Subscription {
	h.T.Helper()
	sub, err := h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arn, ShardID: shard, StartingPosition: pos})
	require.NoError(h.T, err)
	return sub
}

// rsWait bounds every wait for an event, far below SubscriptionHeartbeat so
// a missed wake-up fails instead of turning into an empty heartbeat event.
const rsWait = 2 * time.Second

type rsResult struct {
	ev  *shardlog.SubscribeToShardEvent
	err error
}

// rsNextAsync calls Next in a goroutine, bounded by rsWait.
func rsNextAsync(ctx context.Context, sub *shardlog.Subscription) <-chan rsResult {
	ch := make(chan rsResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, rsWait)
		defer cancel()
		ev, err := sub.Next(ctx)
		ch <- rsResult{ev, err}
	}()
	return ch
}

// rsNext calls Next, bounded by rsWait.
func rsNext(t *testing.T, sub *shardlog.Subscription) (*shardlog.SubscribeToShardEvent, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), rsWait)
	defer cancel()
	return sub.Next(ctx)
}

// rsRequireBlocked asserts Next has not returned yet.
func rsRequireBlocked(t *testing.T, ch <-chan rsResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Next returned early: %+v, %v", r.ev, r.err)
	case <-time.After(20 * time.Millisecond):
	}
}

// rsAwait returns the result of an rsNextAsync.
func rsAwait(t *testing.T, ch <-chan rsResult) rsResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(rsWait + time.Second):
		t.Fatal("Next did not return")
		return rsResult{}
	}
}

// rsCollect calls Next until n records arrived, checking each event's
// continuation number.
func rsCollect(t *testing.T, sub *shardlog.Subscription, n int) []shardlog.Record {
	t.Helper()
	var out []shardlog.Record
	for len(out) < n {
		ev, err := rsNext(t, sub)
		require.NoError(t, err)
		require.NotEmpty(t, ev.Records, "empty event while waiting for records")
		require.Equal(t, ev.Records[len(ev.Records)-1].SequenceNumber, ev.ContinuationSequenceNumber)
		require.Nil(t, ev.ChildShards, "ChildShards on an open shard")
		out = append(out, ev.Records...)
	}
	require.Len(t, out, n)
	return out
}

func rsData(recs []shardlog.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Data)
	}
	return out
}

func rsIDs(shards []shardlog.Shard) []string {
	out := make([]string, len(shards))
	for i, s := range shards {
		out[i] = s.ShardID
	}
	return out
}

func rsChildIDs(cs []shardlog.ChildShard) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ShardID
	}
	slices.Sort(out)
	return out
}

func rsShardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

func testResharding(t *testing.T, newEngine NewEngine) {
	t.Run("SplitChildren", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name   string
			empty  bool
			pickNK func(s, e *big.Int) string
		}{
			{"Middle", false, func(s, e *big.Int) string {
				m := new(big.Int).Add(s, e)
				return m.Rsh(m, 1).String()
			}},
			{"StartPlusOne", false, func(s, e *big.Int) string { return rsAdd(s, 1) }},
			{"End", false, func(s, e *big.Int) string { return e.String() }},
			{"EmptyParent", true, func(s, e *big.Int) string { return rsAdd(s, 1000) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", 2)
				parent := rsShard(h, "s", rsShardID(1))
				S, E := rsBig(parent.HashKeyRange.StartingHashKey), rsBig(parent.HashKeyRange.EndingHashKey)
				var last shardlog.SequenceNumber
				if !tc.empty {
					for i := range 3 {
						out := rsPutAt(h, "s", E.String(), fmt.Sprint(i))
						require.Equal(t, parent.ShardID, out.ShardID)
						last = out.SequenceNumber
					}
				}
				N := tc.pickNK(S, E)
				require.NoError(t, h.Log.SplitShard(h.Ctx, "s", parent.ShardID, N))

				all := h.AllShards("s")
				require.Equal(t, []string{rsShardID(0), rsShardID(1), rsShardID(2), rsShardID(3)}, rsIDs(all))
				p := rsShard(h, "s", parent.ShardID)
				require.True(t, p.Closed)
				require.False(t, p.EndingSequenceNumber.IsZero())
				if !tc.empty {
					require.Equal(t, last, p.EndingSequenceNumber)
				}
				lo, hi := rsShard(h, "s", rsShardID(2)), rsShard(h, "s", rsShardID(3))
				if lo.HashKeyRange.StartingHashKey.Compare(hi.HashKeyRange.StartingHashKey) > 0 {
					lo, hi = hi, lo
				}
				nb, _ := new(big.Int).SetString(N, 10)
				require.Equal(t, S.String(), lo.HashKeyRange.StartingHashKey.String())
				require.Equal(t, rsAdd(nb, -1), lo.HashKeyRange.EndingHashKey.String())
				require.Equal(t, N, hi.HashKeyRange.StartingHashKey.String())
				require.Equal(t, E.String(), hi.HashKeyRange.EndingHashKey.String())
				for _, c := range []shardlog.Shard{lo, hi} {
					require.Equal(t, parent.ShardID, c.ParentShardID)
					require.Empty(t, c.AdjacentParentShardID)
					require.False(t, c.Closed)
					require.Positive(t, c.StartingSequenceNumber.Compare(p.EndingSequenceNumber), "child starts at or below the parent's end")
				}
				require.False(t, rsShard(h, "s", rsShardID(0)).Closed)
				rsRequireTiling(h, "s")
			})
		}
	})

	t.Run("SplitHashKeyBounds", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 3)
		mid := rsShard(h, "s", rsShardID(1))
		S, E := rsBig(mid.HashKeyRange.StartingHashKey), rsBig(mid.HashKeyRange.EndingHashKey)
		for _, tc := range []struct{ name, n string }{
			{"EqualsStart", S.String()},
			{"BelowStart", rsAdd(S, -1)},
			{"Zero", "0"},
			{"AboveEnd", rsAdd(E, 1)},
			{"Max", rsMaxHash.String()},
			{"NotDecimal", "abc"},
			{"Empty", ""},
			{"Negative", "-" + rsAdd(S, 1)},
			{"Fraction", rsAdd(S, 1) + ".5"},
			{"LeadingZero", "0" + rsAdd(S, 1)},
			{"Hex", "0x10"},
			{"Overflow", rsAdd(rsMaxHash, 1)},
		} {
			err := h.Log.SplitShard(h.Ctx, "s", mid.ShardID, tc.n)
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "NewStartingHashKey")
		}
		// Nothing changed.
		require.Len(t, h.AllShards("s"), 3)
		rsRequireTiling(h, "s")
		// The edges are accepted.
		require.NoError(t, h.Log.SplitShard(h.Ctx, "s", mid.ShardID, rsAdd(S, 1)))
		require.NoError(t, h.Log.SplitShard(h.Ctx, "s", rsShardID(4), E.String()))
		rsRequireTiling(h, "s")
		require.Equal(t, S.String(), rsShard(h, "s", rsShardID(3)).HashKeyRange.EndingHashKey.String(), "one-key child")
		require.Equal(t, E.String(), rsShard(h, "s", rsShardID(6)).HashKeyRange.StartingHashKey.String(), "one-key child")
	})

	t.Run("NewShardIDsTakeNextIndex", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 2)
		require.NoError(t, h.Log.SplitShard(h.Ctx, "s", rsShardID(0), rsMid(rsShard(h, "s", rsShardID(0)).HashKeyRange)))
		rsRequireTiling(h, "s")
		require.NoError(t, h.Log.MergeShards(h.Ctx, "s", rsShardID(3), rsShardID(1)))
		rsRequireTiling(h, "s")
		require.NoError(t, h.Log.SplitShard(h.Ctx, "s", rsShardID(4), rsMid(rsShard(h, "s", rsShardID(4)).HashKeyRange)))
		rsRequireTiling(h, "s")
		require.Equal(t, []string{rsShardID(0), rsShardID(1), rsShardID(2), rsShardID(3), rsShardID(4), rsShardID(5), rsShardID(6)}, rsIDs(h.AllShards("s")))
		require.Equal(t, rsShardID(3), rsShard(h, "s", rsShardID(4)).ParentShardID)
		require.Equal(t, rsShardID(1), rsShard(h, "s", rsShardID(4)).AdjacentParentShardID)
		require.Equal(t, []string{rsShardID(2), rsShardID(5), rsShardID(6)}, rsIDs(rsOpenSorted(h, "s")))
	})

	t.Run("ClosedShardNotEligible", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 2)
		r0 := rsShard(h, "s", rsShardID(0)).HashKeyRange
		require.NoError(t, h.Log.SplitShard(h.Ctx, "s", rsShardID(0), rsMid(r0)))
		before := h.AllShards("s")

		err := h.Log.SplitShard(h.Ctx, "s", rsShardID(0), rsAdd(rsBig(r0.StartingHashKey), 1))
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ShardToSplit")
		err = h.Log.MergeShards(h.Ctx, "s", rsShardID(0), rsShardID(1))
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ShardToMerge")
		err = h.Log.MergeShards(h.Ctx, "s", rsShardID(1), rsShardID(0))
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "AdjacentShardToMerge")
		require.Equal(t, before, h.AllShards("s"), "a refused reshard changed the stream")
		rsRequireTiling(h, "s")
	})

	t.Run("UnknownShardOrStream", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 2)
		require.ErrorIs(t, h.Log.SplitShard(h.Ctx, "s", rsShardID(9), "1"), shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.MergeShards(h.Ctx, "s", rsShardID(9), rsShardID(1)), shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.MergeShards(h.Ctx, "s", rsShardID(0), rsShardID(9)), shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.SplitShard(h.Ctx, "nope", rsShardID(0), "1"), shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.MergeShards(h.Ctx, "nope", rsShardID(0), rsShardID(1)), shardlog.ErrResourceNotFound)
		_, err := h.Log.UpdateShardCount(h.Ctx, "nope", 2)
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		require.Len(t, h.AllShards("s"), 2)
	})

	t.Run("MergeAdjacent", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ name, a, b string }{
			{"LowerFirst", rsShardID(1), rsShardID(2)},
			{"UpperFirst", rsShardID(2), rsShardID(1)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", 4)
				r1, r2 := rsShard(h, "s", rsShardID(1)).HashKeyRange, rsShard(h, "s", rsShardID(2)).HashKeyRange
				require.NoError(t, h.Log.MergeShards(h.Ctx, "s", tc.a, tc.b))
				c := rsShard(h, "s", rsShardID(4))
				require.False(t, c.Closed)
				require.Equal(t, tc.a, c.ParentShardID)
				require.Equal(t, tc.b, c.AdjacentParentShardID)
				require.Equal(t, shardlog.HashKeyRange{StartingHashKey: r1.StartingHashKey, EndingHashKey: r2.EndingHashKey}, c.HashKeyRange)
				for _, p := range []string{tc.a, tc.b} {
					ps := rsShard(h, "s", p)
					require.True(t, ps.Closed)
					require.False(t, ps.EndingSequenceNumber.IsZero())
					require.Positive(t, c.StartingSequenceNumber.Compare(ps.EndingSequenceNumber))
				}
				require.Equal(t, []string{rsShardID(0), rsShardID(4), rsShardID(3)}, rsIDs(rsOpenSorted(h, "s")))
				rsRequireTiling(h, "s")
			})
		}
	})

	t.Run("MergeNotAdjacent", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 3)
		for _, pair := range [][2]string{
			{rsShardID(0), rsShardID(2)},
			{rsShardID(2), rsShardID(0)},
			{rsShardID(1), rsShardID(1)},
		} {
			err := h.Log.MergeShards(h.Ctx, "s", pair[0], pair[1])
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "AdjacentShardToMerge")
		}
		require.Len(t, h.AllShards("s"), 3)
		require.Len(t, h.OpenShards("s"), 3)
		// The first and last shards of the space are not adjacent either
		// (the space does not wrap around).
		h.CreateStream("two", 2)
		require.NoError(t, h.Log.SplitShard(h.Ctx, "two", rsShardID(0), rsMid(rsShard(h, "two", rsShardID(0)).HashKeyRange)))
		err := h.Log.MergeShards(h.Ctx, "two", rsShardID(2), rsShardID(1))
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "AdjacentShardToMerge")
	})

	t.Run("OnDemandRefused", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "od", StreamMode: shardlog.OnDemand}))
		open := rsOpenSorted(h, "od")
		require.Len(t, open, shardlog.DefaultOnDemandShards)
		require.ErrorIs(t, h.Log.SplitShard(h.Ctx, "od", open[0].ShardID, rsMid(open[0].HashKeyRange)), shardlog.ErrValidation)
		require.ErrorIs(t, h.Log.MergeShards(h.Ctx, "od", open[0].ShardID, open[1].ShardID), shardlog.ErrValidation)
		_, err := h.Log.UpdateShardCount(h.Ctx, "od", 5)
		require.ErrorIs(t, err, shardlog.ErrValidation)
		require.Len(t, h.AllShards("od"), shardlog.DefaultOnDemandShards)
	})

	t.Run("ParentsReadableAndWritesGoToChildren", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		var before []string
		for i := range 10 {
			out := h.Put("s", fmt.Sprintf("key-%d", i), []byte(fmt.Sprintf("before-%d", i)))
			require.Equal(t, rsShardID(0), out.ShardID)
			before = append(before, fmt.Sprintf("before-%d", i))
		}
		N := rsMid(rsShard(h, "s", rsShardID(0)).HashKeyRange)
		require.NoError(t, h.Log.SplitShard(h.Ctx, "s", rsShardID(0), N))
		rsRequireTiling(h, "s")

		// The parent keeps its records, and its end names both children.
		require.Equal(t, before, rsData(h.ReadShard("s", rsShardID(0))))
		it, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: rsShardID(0), ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)
		res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
		require.NoError(t, err)
		require.Len(t, res.Records, 10)
		require.Empty(t, res.NextShardIterator)
		require.Equal(t, []string{rsShardID(1), rsShardID(2)}, rsChildIDs(res.ChildShards))
		for _, c := range res.ChildShards {
			require.Equal(t, []string{rsShardID(0)}, c.ParentShards)
		}

		// New writes go to the child owning the key's hash.
		children := []shardlog.Shard{rsShard(h, "s", rsShardID(1)), rsShard(h, "s", rsShardID(2))}
		hit := map[string]int{}
		for i := range 40 {
			key := fmt.Sprintf("key-%d", i)
			out := h.Put("s", key, []byte("after"))
			var want string
			for _, c := range children {
				if c.HashKeyRange.Contains(shardlog.HashPartitionKey(key)) {
					want = c.ShardID
				}
			}
			require.Equal(t, want, out.ShardID, "key %s", key)
			hit[out.ShardID]++
		}
		require.Len(t, hit, 2, "40 keys all hashed to one child")
		nb, _ := new(big.Int).SetString(N, 10)
		require.Equal(t, rsShardID(1), rsPutAt(h, "s", rsAdd(nb, -1), "edge").ShardID)
		require.Equal(t, rsShardID(2), rsPutAt(h, "s", N, "edge").ShardID)
		require.Equal(t, rsShardID(1), rsPutAt(h, "s", "0", "edge").ShardID)
		require.Equal(t, rsShardID(2), rsPutAt(h, "s", rsMaxHash.String(), "edge").ShardID)
		require.Equal(t, before, rsData(h.ReadShard("s", rsShardID(0))), "the parent took writes after it closed")
	})

	t.Run("ChildSequenceAboveParents", func(t *testing.T) {
		t.Parallel()
		t.Run("Split", func(t *testing.T) {
			t.Parallel()
			h := NewHarness(t, newEngine)
			h.CreateStream("s", 1)
			var last shardlog.SequenceNumber
			for range 5 { // same clock instant: positions run ahead of the clock
				last = rsPutAt(h, "s", "5", "p").SequenceNumber
			}
			N := rsMid(rsShard(h, "s", rsShardID(0)).HashKeyRange)
			require.NoError(t, h.Log.SplitShard(h.Ctx, "s", rsShardID(0), N))
			lo := rsPutAt(h, "s", "5", "c")
			hi := rsPutAt(h, "s", N, "c")
			require.Equal(t, rsShardID(1), lo.ShardID)
			require.Equal(t, rsShardID(2), hi.ShardID)
			require.Positive(t, lo.SequenceNumber.Compare(last))
			require.Positive(t, hi.SequenceNumber.Compare(last))
		})
		for _, tc := range []struct {
			name      string
			busier    int // which parent gets the later, larger numbers
			toMerge   string
			adjacent  string
			busyCount int
		}{
			{"MergeParentLarger", 0, rsShardID(0), rsShardID(1), 6},
			{"MergeAdjacentLarger", 1, rsShardID(0), rsShardID(1), 6},
			{"MergeReversedAdjacentLarger", 0, rsShardID(1), rsShardID(0), 6},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", 2)
				ranges := []shardlog.HashKeyRange{rsShard(h, "s", rsShardID(0)).HashKeyRange, rsShard(h, "s", rsShardID(1)).HashKeyRange}
				quiet := 1 - tc.busier
				q := rsPutAt(h, "s", ranges[quiet].StartingHashKey.String(), "quiet")
				h.Clock.Advance(time.Second)
				var busy shardlog.SequenceNumber
				for range tc.busyCount {
					busy = rsPutAt(h, "s", ranges[tc.busier].StartingHashKey.String(), "busy").SequenceNumber
				}
				require.Positive(t, busy.Compare(q.SequenceNumber))
				require.NoError(t, h.Log.MergeShards(h.Ctx, "s", tc.toMerge, tc.adjacent))
				c := rsShard(h, "s", rsShardID(2))
				require.Equal(t, busy, rsShard(h, "s", rsShardID(tc.busier)).EndingSequenceNumber)
				require.Equal(t, q.SequenceNumber, rsShard(h, "s", rsShardID(quiet)).EndingSequenceNumber)
				for _, hk := range []string{ranges[0].StartingHashKey.String(), ranges[1].EndingHashKey.String()} {
					out := rsPutAt(h, "s", hk, "child")
					require.Equal(t, c.ShardID, out.ShardID)
					require.Positive(t, out.SequenceNumber.Compare(busy), "child number not above the larger parent's")
					require.Positive(t, out.SequenceNumber.Compare(q.SequenceNumber))
				}
			})
		}
	})

	t.Run("UpdateShardCountUniform", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ from, to int }{
			{1, 2}, {2, 4}, {4, 2}, {3, 5}, {5, 3}, {4, 8}, {8, 4}, {3, 4}, {4, 3}, {2, 1}, {3, 6}, {6, 3},
		} {
			t.Run(fmt.Sprintf("%dto%d", tc.from, tc.to), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", tc.from)
				out, err := h.Log.UpdateShardCount(h.Ctx, "s", tc.to)
				require.NoError(t, err)
				require.Equal(t, shardlog.UpdateShardCountOutput{CurrentShardCount: tc.from, TargetShardCount: tc.to}, out)
				rsRequireTiling(h, "s")
				h.CreateStream("fresh", tc.to)
				var got, want []shardlog.HashKeyRange
				for _, s := range rsOpenSorted(h, "s") {
					got = append(got, s.HashKeyRange)
				}
				for _, s := range rsOpenSorted(h, "fresh") {
					want = append(want, s.HashKeyRange)
				}
				require.Len(t, got, tc.to)
				require.Equal(t, want, got)
				d, err := h.Log.DescribeStream(h.Ctx, "s")
				require.NoError(t, err)
				require.Equal(t, tc.to, d.OpenShardCount)
			})
		}
	})

	t.Run("UpdateShardCountBounds", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			from, to int
			ok       bool
		}{
			{2, 4, true}, {2, 5, false}, {1, 2, true}, {1, 3, false},
			{4, 2, true}, {4, 1, false}, {5, 3, true}, {5, 2, false},
			{1, 0, false}, {2, -1, false},
		} {
			t.Run(fmt.Sprintf("%dto%d", tc.from, tc.to), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", tc.from)
				_, err := h.Log.UpdateShardCount(h.Ctx, "s", tc.to)
				if tc.ok {
					require.NoError(t, err)
					require.Len(t, h.OpenShards("s"), tc.to)
				} else {
					rsRequireArg(t, err, shardlog.ErrInvalidArgument, "TargetShardCount")
					require.Len(t, h.AllShards("s"), tc.from, "a refused scaling changed the stream")
				}
				rsRequireTiling(h, "s")
			})
		}
	})

	t.Run("UpdateShardCountRateLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		cur := 1
		for i := range shardlog.MaxScalingOpsPer24h {
			if i == 3 { // a refused request does not count
				_, err := h.Log.UpdateShardCount(h.Ctx, "s", 4*cur)
				rsRequireArg(t, err, shardlog.ErrInvalidArgument, "TargetShardCount")
			}
			target := 3 - cur // 1 ↔ 2
			out, err := h.Log.UpdateShardCount(h.Ctx, "s", target)
			require.NoError(t, err, "scaling %d", i+1)
			require.Equal(t, shardlog.UpdateShardCountOutput{CurrentShardCount: cur, TargetShardCount: target}, out)
			cur = target
			h.Clock.Advance(time.Minute)
		}
		rsRequireTiling(h, "s")
		_, err := h.Log.UpdateShardCount(h.Ctx, "s", 3-cur)
		rsRequireArg(t, err, shardlog.ErrLimitExceeded, "TargetShardCount")
		require.Len(t, h.OpenShards("s"), cur)
		// Just over 24 hours after the first scaling, one slot is free again.
		h.Clock.Advance(24*time.Hour - time.Duration(shardlog.MaxScalingOpsPer24h)*time.Minute + time.Second)
		_, err = h.Log.UpdateShardCount(h.Ctx, "s", 3-cur)
		require.NoError(t, err)
		cur = 3 - cur
		_, err = h.Log.UpdateShardCount(h.Ctx, "s", 3-cur)
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded, "only the oldest scaling left the window")
		h.Clock.Advance(24 * time.Hour)
		_, err = h.Log.UpdateShardCount(h.Ctx, "s", 3-cur)
		require.NoError(t, err)
		rsRequireTiling(h, "s")
	})

	t.Run("DataSurvivesScaling", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 3)
		want := map[shardlog.SequenceNumber]string{}
		put := func(tag string) {
			for i := range 30 {
				d := fmt.Sprintf("%s-%d", tag, i)
				out := h.Put("s", fmt.Sprintf("key-%d", i), []byte(d))
				want[out.SequenceNumber] = d
			}
		}
		put("a")
		for _, target := range []int{5, 3, 6, 4} {
			_, err := h.Log.UpdateShardCount(h.Ctx, "s", target)
			require.NoError(t, err)
			rsRequireTiling(h, "s")
			put(fmt.Sprintf("after%d", target))
		}
		got := map[shardlog.SequenceNumber]string{}
		for id, recs := range rsWalk(h, "s") {
			sh := rsShard(h, "s", id)
			for i, r := range recs {
				if i > 0 {
					require.Positive(t, r.SequenceNumber.Compare(recs[i-1].SequenceNumber))
				}
				require.True(t, sh.HashKeyRange.Contains(shardlog.HashPartitionKey(r.PartitionKey)), "record in the wrong shard")
				_, dup := got[r.SequenceNumber]
				require.False(t, dup)
				got[r.SequenceNumber] = string(r.Data)
			}
			if sh.Closed && len(recs) > 0 {
				require.Equal(t, recs[len(recs)-1].SequenceNumber, sh.EndingSequenceNumber)
			}
		}
		require.Equal(t, want, got)
	})

	t.Run("ConcurrentPutsWhileResharding", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 2)
		type ack struct {
			shard, key, data string
			seq              shardlog.SequenceNumber
		}
		const writers, minEach, maxEach = 4, 50, 5000
		var (
			wg      sync.WaitGroup
			opsDone atomic.Bool
			acked   atomic.Int64
			running atomic.Int64
			start   = make(chan struct{})
			acks    = make([][]ack, writers)
			errs    = make([]error, writers)
		)
		for w := range writers {
			wg.Add(1)
			running.Add(1)
			go func() {
				defer wg.Done()
				defer running.Add(-1)
				<-start
				for i := 0; i < maxEach && (i < minEach || !opsDone.Load()); i++ {
					key, data := fmt.Sprintf("w%d-%d", w, i%17), fmt.Sprintf("w%d-%d", w, i)
					out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: key, Data: []byte(data)})
					if err != nil {
						errs[w] = err
						return
					}
					acks[w] = append(acks[w], ack{out.ShardID, key, data, out.SequenceNumber})
					acked.Add(1)
				}
			}()
		}
		close(start)
		// Each reshard waits until the writers have made progress since the
		// previous one, so puts land before, during and after every reshard.
		progress := func() {
			target := acked.Load() + 20
			for acked.Load() < target && running.Load() > 0 {
				runtime.Gosched()
			}
		}
		for i := range 8 {
			progress()
			open := rsOpenSorted(h, "s")
			if i%2 == 0 {
				require.NoError(t, h.Log.SplitShard(h.Ctx, "s", open[0].ShardID, rsMid(open[0].HashKeyRange)))
			} else {
				require.NoError(t, h.Log.MergeShards(h.Ctx, "s", open[len(open)-1].ShardID, open[len(open)-2].ShardID))
			}
			rsRequireTiling(h, "s")
		}
		progress()
		_, err := h.Log.UpdateShardCount(h.Ctx, "s", 2*len(h.OpenShards("s")))
		require.NoError(t, err)
		progress()
		opsDone.Store(true)
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		rsRequireTiling(h, "s")

		stored := map[shardlog.SequenceNumber]shardlog.Record{}
		storedIn := map[shardlog.SequenceNumber]string{}
		for _, sh := range h.AllShards("s") {
			recs := h.ReadShard("s", sh.ShardID)
			for _, r := range recs {
				_, dup := stored[r.SequenceNumber]
				require.False(t, dup, "sequence number %s read twice", r.SequenceNumber)
				stored[r.SequenceNumber] = r
				storedIn[r.SequenceNumber] = sh.ShardID
				require.True(t, sh.HashKeyRange.Contains(shardlog.HashPartitionKey(r.PartitionKey)), "record routed outside its shard's range")
			}
			if sh.Closed && len(recs) > 0 {
				require.Equal(t, recs[len(recs)-1].SequenceNumber, sh.EndingSequenceNumber, "a record of %s lies past its ending sequence number", sh.ShardID)
			}
		}
		total := 0
		for _, as := range acks {
			total += len(as)
			for _, a := range as {
				r, ok := stored[a.seq]
				require.True(t, ok, "acknowledged record %s (%s) lost", a.seq, a.data)
				require.Equal(t, a.shard, storedIn[a.seq])
				require.Equal(t, a.data, string(r.Data))
				require.Equal(t, a.key, r.PartitionKey)
			}
		}
		require.Len(t, stored, total, "records stored that were never acknowledged")
	})
}

func testListShards(t *testing.T, newEngine NewEngine) {
	list := func(h *Harness, in shardlog.ListShardsInput) *shardlog.ListShardsOutput {
		h.T.Helper()
		out, err := h.Log.ListShards(h.Ctx, in)
		require.NoError(h.T, err)
		require.NotNil(h.T, out.Shards)
		return out
	}
	// splitStream makes shards 0-4 of a 5-shard stream, then splits 1 (→5,6)
	// and 3 (→7,8).
	splitStream := func(h *Harness) {
		h.CreateStream("s", 5)
		for _, id := range []string{rsShardID(1), rsShardID(3)} {
			require.NoError(h.T, h.Log.SplitShard(h.Ctx, "s", id, rsMid(rsShard(h, "s", id).HashKeyRange)))
		}
	}
	all9 := []string{rsShardID(0), rsShardID(1), rsShardID(2), rsShardID(3), rsShardID(4), rsShardID(5), rsShardID(6), rsShardID(7), rsShardID(8)}

	t.Run("DefaultListsAllInIndexOrder", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		splitStream(h)
		out := list(h, shardlog.ListShardsInput{StreamName: "s"})
		require.Empty(t, out.NextToken)
		require.Equal(t, all9, rsIDs(out.Shards))
		require.Equal(t, h.AllShards("s"), out.Shards)
		require.True(t, out.Shards[1].Closed)
		require.Equal(t, rsShardID(1), out.Shards[5].ParentShardID)
	})

	t.Run("ExpiredShardsOmitted", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		require.NoError(t, h.Log.SplitShard(h.Ctx, "s", rsShardID(0), rsMid(rsShard(h, "s", rsShardID(0)).HashKeyRange)))
		h.Clock.Advance(shardlog.DefaultRetentionHours*time.Hour + time.Second)
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		out := list(h, shardlog.ListShardsInput{StreamName: "s"})
		require.Equal(t, []string{rsShardID(1), rsShardID(2)}, rsIDs(out.Shards))
	})

	t.Run("Paging", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		splitStream(h)
		var got []string
		var sizes []int
		out := list(h, shardlog.ListShardsInput{StreamName: "s", MaxResults: 2})
		for {
			got = append(got, rsIDs(out.Shards)...)
			sizes = append(sizes, len(out.Shards))
			if out.NextToken == "" {
				break
			}
			require.Less(t, len(sizes), 10, "paging does not end")
			out = list(h, shardlog.ListShardsInput{NextToken: out.NextToken, MaxResults: 2})
		}
		require.Equal(t, all9, got)
		require.Equal(t, []int{2, 2, 2, 2, 1}, sizes)

		// MaxResults belongs to each call: a token alone pages at the default.
		out = list(h, shardlog.ListShardsInput{StreamName: "s", MaxResults: 2})
		out = list(h, shardlog.ListShardsInput{NextToken: out.NextToken})
		require.Equal(t, all9[2:], rsIDs(out.Shards))
		require.Empty(t, out.NextToken)
	})

	t.Run("PagingExactMultiple", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 4)
		out := list(h, shardlog.ListShardsInput{StreamName: "s", MaxResults: 2})
		require.Len(t, out.Shards, 2)
		require.NotEmpty(t, out.NextToken)
		out = list(h, shardlog.ListShardsInput{NextToken: out.NextToken, MaxResults: 2})
		require.Equal(t, []string{rsShardID(2), rsShardID(3)}, rsIDs(out.Shards))
		if out.NextToken != "" {
			out = list(h, shardlog.ListShardsInput{NextToken: out.NextToken, MaxResults: 2})
			require.Empty(t, out.Shards)
			require.Empty(t, out.NextToken)
		}
	})

	t.Run("NextTokenExclusive", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		splitStream(h)
		tok := list(h, shardlog.ListShardsInput{StreamName: "s", MaxResults: 1}).NextToken
		require.NotEmpty(t, tok)
		for _, in := range []shardlog.ListShardsInput{
			{NextToken: tok, StreamName: "s"},
			{NextToken: tok, ExclusiveStartShardID: rsShardID(0)},
			{NextToken: tok, ShardFilter: &shardlog.ShardFilter{Type: shardlog.FilterAtLatest}},
		} {
			_, err := h.Log.ListShards(h.Ctx, in)
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "NextToken")
		}
		_, err := h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{})
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "StreamName")
		_, err = h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{ExclusiveStartShardID: rsShardID(0)})
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "StreamName")
		// A tampered token and a token of another kind are refused.
		bad := []byte(tok)
		bad[len(bad)/2] ^= 'A' ^ 'B'
		_, err = h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{NextToken: string(bad)})
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "NextToken")
		h.CreateStream("c", 1)
		for _, n := range []string{"a", "b"} {
			rsConsumer(h, "c", n)
		}
		_, ctok, err := h.Log.ListStreamConsumers(h.Ctx, "c", "", 1)
		require.NoError(t, err)
		require.NotEmpty(t, ctok)
		_, err = h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{NextToken: ctok})
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "NextToken")
		// Unknown streams are not found.
		_, err = h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{StreamName: "nope"})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})

	t.Run("MaxResults", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 2)
		for _, n := range []int{-1, shardlog.MaxListShardsResults + 1} {
			_, err := h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{StreamName: "s", MaxResults: n})
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "MaxResults")
		}
		for _, n := range []int{1, shardlog.MaxListShardsResults} {
			out := list(h, shardlog.ListShardsInput{StreamName: "s", MaxResults: n})
			require.Len(t, out.Shards, min(n, 2))
		}
	})

	t.Run("PageCappedAtDefault", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", shardlog.DefaultListShardsResults+1)
		out := list(h, shardlog.ListShardsInput{StreamName: "s", MaxResults: shardlog.MaxListShardsResults})
		require.Len(t, out.Shards, shardlog.DefaultListShardsResults)
		require.NotEmpty(t, out.NextToken)
		out = list(h, shardlog.ListShardsInput{NextToken: out.NextToken})
		require.Equal(t, []string{rsShardID(shardlog.DefaultListShardsResults)}, rsIDs(out.Shards))
		require.Empty(t, out.NextToken)
		out = list(h, shardlog.ListShardsInput{StreamName: "s"})
		require.Len(t, out.Shards, shardlog.DefaultListShardsResults)
		require.NotEmpty(t, out.NextToken)
	})

	t.Run("NextTokenExpires", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 3)
		tok := list(h, shardlog.ListShardsInput{StreamName: "s", MaxResults: 1}).NextToken
		require.NotEmpty(t, tok)
		h.Clock.Advance(shardlog.NextTokenLifetime)
		require.Equal(t, []string{rsShardID(1)}, rsIDs(list(h, shardlog.ListShardsInput{NextToken: tok, MaxResults: 1}).Shards))
		h.Clock.Advance(time.Nanosecond)
		_, err := h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{NextToken: tok, MaxResults: 1})
		require.ErrorIs(t, err, shardlog.ErrExpiredNextToken)
	})

	t.Run("ExclusiveStartShardID", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		splitStream(h)
		out := list(h, shardlog.ListShardsInput{StreamName: "s", ExclusiveStartShardID: rsShardID(3)})
		require.Equal(t, all9[4:], rsIDs(out.Shards))
		out = list(h, shardlog.ListShardsInput{StreamName: "s", ExclusiveStartShardID: rsShardID(8)})
		require.Empty(t, out.Shards)
		require.Empty(t, out.NextToken)
		// A shard ID that does not exist still marks a position.
		out = list(h, shardlog.ListShardsInput{StreamName: "s", ExclusiveStartShardID: rsShardID(6), MaxResults: 1})
		require.Equal(t, []string{rsShardID(7)}, rsIDs(out.Shards))
		out = list(h, shardlog.ListShardsInput{NextToken: out.NextToken, MaxResults: 1})
		require.Equal(t, []string{rsShardID(8)}, rsIDs(out.Shards))
		_, err := h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{StreamName: "s", ExclusiveStartShardID: "shard-7"})
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ExclusiveStartShardId")
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		// Shards 0 and 1 are created at Epoch; shard 0 splits into 2 and 3 at
		// Epoch+1h; the listing happens at Epoch+2h.
		newSplit := func(t *testing.T) *Harness {
			h := NewHarness(t, newEngine)
			h.CreateStream("s", 2)
			h.Clock.Advance(time.Hour)
			require.NoError(t, h.Log.SplitShard(h.Ctx, "s", rsShardID(0), rsMid(rsShard(h, "s", rsShardID(0)).HashKeyRange)))
			h.Clock.Advance(time.Hour)
			return h
		}
		for _, tc := range []struct {
			name    string
			filter  shardlog.ShardFilter
			advance time.Duration // before listing
			want    []int
		}{
			{"AfterShardID", shardlog.ShardFilter{Type: shardlog.FilterAfterShardID, ShardID: rsShardID(1)}, 0, []int{2, 3}},
			{"AfterShardIDLast", shardlog.ShardFilter{Type: shardlog.FilterAfterShardID, ShardID: rsShardID(3)}, 0, []int{}},
			{"AtLatest", shardlog.ShardFilter{Type: shardlog.FilterAtLatest}, 0, []int{1, 2, 3}},
			// The trim horizon of a stream younger than its retention is its birth.
			{"AtTrimHorizonYoungStream", shardlog.ShardFilter{Type: shardlog.FilterAtTrimHorizon}, 0, []int{0, 1}},
			{"AtTrimHorizonAfterRetention", shardlog.ShardFilter{Type: shardlog.FilterAtTrimHorizon}, 24 * time.Hour, []int{1, 2, 3}},
			{"FromTrimHorizon", shardlog.ShardFilter{Type: shardlog.FilterFromTrimHorizon}, 0, []int{0, 1, 2, 3}},
			{"AtTimestampBeforeSplit", shardlog.ShardFilter{Type: shardlog.FilterAtTimestamp, Timestamp: Epoch.Add(30 * time.Minute)}, 0, []int{0, 1}},
			{"AtTimestampAfterSplit", shardlog.ShardFilter{Type: shardlog.FilterAtTimestamp, Timestamp: Epoch.Add(90 * time.Minute)}, 0, []int{1, 2, 3}},
			{"FromTimestampBeforeSplit", shardlog.ShardFilter{Type: shardlog.FilterFromTimestamp, Timestamp: Epoch.Add(30 * time.Minute)}, 0, []int{0, 1, 2, 3}},
			{"FromTimestampAfterSplit", shardlog.ShardFilter{Type: shardlog.FilterFromTimestamp, Timestamp: Epoch.Add(90 * time.Minute)}, 0, []int{1, 2, 3}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := newSplit(t)
				h.Clock.Advance(tc.advance)
				want := []string{}
				for _, i := range tc.want {
					want = append(want, rsShardID(i))
				}
				f := tc.filter
				out := list(h, shardlog.ListShardsInput{StreamName: "s", ShardFilter: &f})
				require.Equal(t, want, rsIDs(out.Shards))
				require.Empty(t, out.NextToken)
				// The filter holds across pages.
				paged := []string{}
				out = list(h, shardlog.ListShardsInput{StreamName: "s", ShardFilter: &f, MaxResults: 1})
				for {
					paged = append(paged, rsIDs(out.Shards)...)
					if out.NextToken == "" {
						break
					}
					require.Less(t, len(paged), 10)
					out = list(h, shardlog.ListShardsInput{NextToken: out.NextToken, MaxResults: 1})
				}
				require.Equal(t, want, paged)
			})
		}
	})

	t.Run("FilterValidation", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 2)
		ts := Epoch
		for _, tc := range []struct {
			name   string
			filter shardlog.ShardFilter
			field  string
		}{
			{"AfterShardIDWithoutShardID", shardlog.ShardFilter{Type: shardlog.FilterAfterShardID}, "ShardFilter.ShardId"},
			{"AfterShardIDBadShardID", shardlog.ShardFilter{Type: shardlog.FilterAfterShardID, ShardID: "shard-1"}, "ShardFilter.ShardId"},
			{"ShardIDWithAtLatest", shardlog.ShardFilter{Type: shardlog.FilterAtLatest, ShardID: rsShardID(0)}, "ShardFilter.ShardId"},
			{"ShardIDWithAtTimestamp", shardlog.ShardFilter{Type: shardlog.FilterAtTimestamp, ShardID: rsShardID(0), Timestamp: ts}, "ShardFilter.ShardId"},
			{"AtTimestampWithoutTimestamp", shardlog.ShardFilter{Type: shardlog.FilterAtTimestamp}, "ShardFilter.Timestamp"},
			{"FromTimestampWithoutTimestamp", shardlog.ShardFilter{Type: shardlog.FilterFromTimestamp}, "ShardFilter.Timestamp"},
			{"TimestampWithTrimHorizon", shardlog.ShardFilter{Type: shardlog.FilterAtTrimHorizon, Timestamp: ts}, "ShardFilter.Timestamp"},
			{"UnknownType", shardlog.ShardFilter{Type: "AT_NOWHERE"}, "ShardFilter.Type"},
			{"MissingType", shardlog.ShardFilter{}, "ShardFilter.Type"},
		} {
			f := tc.filter
			_, err := h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{StreamName: "s", ShardFilter: &f})
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, tc.field)
		}
	})
}

func testConsumers(t *testing.T, newEngine NewEngine) {
	arnOf := func(stream, consumer string, created time.Time) string {
		return fmt.Sprintf("arn:aws:kinesis:us-east-1:000000000000:stream/%s/consumer/%s:%d", stream, consumer, created.Unix())
	}

	t.Run("RegisterAndDescribe", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		c, err := h.Log.RegisterStreamConsumer(h.Ctx, "s", "app")
		require.NoError(t, err)
		want := shardlog.Consumer{
			ConsumerName:              "app",
			ConsumerARN:               arnOf("s", "app", Epoch),
			ConsumerStatus:            shardlog.ConsumerActive,
			ConsumerCreationTimestamp: Epoch,
			StreamARN:                 "arn:aws:kinesis:us-east-1:000000000000:stream/s",
		}
		require.Equal(t, want, c)
		d, err := h.Log.DescribeStreamConsumer(h.Ctx, "s", "app")
		require.NoError(t, err)
		require.Equal(t, want, d)
		sd, err := h.Log.DescribeStream(h.Ctx, "s")
		require.NoError(t, err)
		require.Equal(t, 1, sd.ConsumerCount)

		_, err = h.Log.DescribeStreamConsumer(h.Ctx, "s", "other")
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		_, err = h.Log.RegisterStreamConsumer(h.Ctx, "nope", "app")
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		_, err = h.Log.DescribeStreamConsumer(h.Ctx, "nope", "app")
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})

	t.Run("DuplicateName", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.CreateStream("t", 1)
		rsConsumer(h, "s", "app")
		_, err := h.Log.RegisterStreamConsumer(h.Ctx, "s", "app")
		require.ErrorIs(t, err, shardlog.ErrResourceInUse)
		// Names are unique per stream only.
		rsConsumer(h, "t", "app")
	})

	t.Run("PerStreamLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		for i := range shardlog.MaxConsumersPerStream {
			rsConsumer(h, "s", fmt.Sprintf("c%02d", i))
		}
		_, err := h.Log.RegisterStreamConsumer(h.Ctx, "s", "one-too-many")
		rsRequireArg(t, err, shardlog.ErrLimitExceeded, "ConsumerName")
		cs, tok, err := h.Log.ListStreamConsumers(h.Ctx, "s", "", 0)
		require.NoError(t, err)
		require.Empty(t, tok)
		require.Len(t, cs, shardlog.MaxConsumersPerStream)
		// Deregistering frees a slot.
		require.NoError(t, h.Log.DeregisterStreamConsumer(h.Ctx, "s", "c00"))
		rsConsumer(h, "s", "one-too-many")
	})

	t.Run("NameValidation", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		long := strings.Repeat("c", shardlog.MaxConsumerNameLength)
		rsConsumer(h, "s", long)
		rsConsumer(h, "s", "a-Z_0.9")
		for _, name := range []string{long + "c", "", "a b", "a/b", "a:b", "ünï", "a*"} {
			_, err := h.Log.RegisterStreamConsumer(h.Ctx, "s", name)
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ConsumerName")
		}
	})

	t.Run("ListPaging", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.CreateStream("t", 1)
		names := []string{"g", "c", "a", "f", "b", "e", "d"}
		for _, n := range names {
			rsConsumer(h, "s", n)
		}
		var got []string
		var sizes []int
		cs, tok, err := h.Log.ListStreamConsumers(h.Ctx, "s", "", 3)
		for {
			require.NoError(t, err)
			sizes = append(sizes, len(cs))
			for _, c := range cs {
				require.Equal(t, arnOf("s", c.ConsumerName, Epoch), c.ConsumerARN)
				require.Equal(t, shardlog.ConsumerActive, c.ConsumerStatus)
				got = append(got, c.ConsumerName)
			}
			if tok == "" {
				break
			}
			require.Less(t, len(sizes), 10)
			cs, tok, err = h.Log.ListStreamConsumers(h.Ctx, "s", tok, 3)
		}
		require.Equal(t, []string{"a", "b", "c", "d", "e", "f", "g"}, got)
		require.Equal(t, []int{3, 3, 1}, sizes)

		// MaxResults at and past its edges; tokens are bound to their stream
		// and expire.
		_, _, err = h.Log.ListStreamConsumers(h.Ctx, "s", "", 10000)
		require.NoError(t, err)
		for _, n := range []int{-1, 10001} {
			_, _, err = h.Log.ListStreamConsumers(h.Ctx, "s", "", n)
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "MaxResults")
		}
		_, tok, err = h.Log.ListStreamConsumers(h.Ctx, "s", "", 3)
		require.NoError(t, err)
		_, _, err = h.Log.ListStreamConsumers(h.Ctx, "t", tok, 3)
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "NextToken")
		h.Clock.Advance(shardlog.NextTokenLifetime)
		_, _, err = h.Log.ListStreamConsumers(h.Ctx, "s", tok, 3)
		require.NoError(t, err)
		h.Clock.Advance(time.Nanosecond)
		_, _, err = h.Log.ListStreamConsumers(h.Ctx, "s", tok, 3)
		require.ErrorIs(t, err, shardlog.ErrExpiredNextToken)
	})

	t.Run("Deregister", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		oldARN := rsConsumer(h, "s", "app")
		require.NoError(t, h.Log.DeregisterStreamConsumer(h.Ctx, "s", "app"))
		_, err := h.Log.DescribeStreamConsumer(h.Ctx, "s", "app")
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.DeregisterStreamConsumer(h.Ctx, "s", "app"), shardlog.ErrResourceNotFound)
		cs, _, err := h.Log.ListStreamConsumers(h.Ctx, "s", "", 0)
		require.NoError(t, err)
		require.Empty(t, cs)

		// Registered again later, the consumer has a new ARN; the old one
		// names nothing.
		h.Clock.Advance(2 * time.Second)
		newARN := rsConsumer(h, "s", "app")
		require.NotEqual(t, oldARN, newARN)
		require.Equal(t, arnOf("s", "app", Epoch.Add(2*time.Second)), newARN)
		_, err = h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: oldARN, ShardID: rsShardID(0), StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		sub := rsSubscribe(h, newARN, rsShardID(0), shardlog.StartingPosition{Type: shardlog.TrimHorizon})
		require.NoError(t, sub.Close())
	})

	t.Run("ParseConsumerARN", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("my.stream-1", 1)
		c, err := h.Log.RegisterStreamConsumer(h.Ctx, "my.stream-1", "my_consumer.2")
		require.NoError(t, err)
		stream, name, created, err := shardlog.ParseConsumerARN(c.ConsumerARN)
		require.NoError(t, err)
		require.Equal(t, "my.stream-1", stream)
		require.Equal(t, "my_consumer.2", name)
		require.True(t, created.Equal(Epoch), "created %v", created)
		require.Equal(t, c.ConsumerARN, h.Log.ConsumerARN(stream, name, created))

		for _, bad := range []string{
			"",
			"not-an-arn",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c",
			"arn:aws:sqs:us-east-1:000000000000:stream/s/consumer/c:1",
			"xrn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1",
			"arn:aws:kinesis:us-east-1:000000000000:table/s/consumer/c:1",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s/other/c:1",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c/x:1",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:abc",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:",
		} {
			_, _, _, err := shardlog.ParseConsumerARN(bad)
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ConsumerARN")
			_, err = h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: bad, ShardID: rsShardID(0), StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ConsumerARN")
		}
	})

	t.Run("SubscribeUnknownConsumer", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		pos := shardlog.StartingPosition{Type: shardlog.TrimHorizon}
		for _, arn := range []string{
			arnOf("s", "ghost", Epoch),
			arnOf("nope", "ghost", Epoch),
		} {
			_, err := h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arn, ShardID: rsShardID(0), StartingPosition: pos})
			require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		}
		arn := rsConsumer(h, "s", "app")
		// Same name, another registration time.
		_, err := h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arnOf("s", "app", Epoch.Add(time.Second)), ShardID: rsShardID(0), StartingPosition: pos})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		// Unknown shard.
		_, err = h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arn, ShardID: rsShardID(7), StartingPosition: pos})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		require.NoError(t, h.Log.DeregisterStreamConsumer(h.Ctx, "s", "app"))
		_, err = h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arn, ShardID: rsShardID(0), StartingPosition: pos})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})
}

func testSubscriptions(t *testing.T, newEngine NewEngine) {
	th := shardlog.StartingPosition{Type: shardlog.TrimHorizon}
	setup := func(t *testing.T) (*Harness, string) {
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		return h, rsConsumer(h, "s", "app")
	}

	t.Run("TrimHorizonThenLive", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		var want []shardlog.SequenceNumber
		for i := range 3 {
			want = append(want, h.Put("s", "k", []byte(fmt.Sprintf("old-%d", i))).SequenceNumber)
		}
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		got := rsCollect(t, sub, 3)
		require.Equal(t, []string{"old-0", "old-1", "old-2"}, rsData(got))

		// Next blocks until another goroutine appends, then returns promptly.
		ch := rsNextAsync(h.Ctx, sub)
		rsRequireBlocked(t, ch)
		const live = 5
		putErr := make(chan error, 1)
		go func() {
			for i := range live {
				if _, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte(fmt.Sprintf("new-%d", i))}); err != nil {
					putErr <- err
					return
				}
			}
			putErr <- nil
		}()
		r := rsAwait(t, ch)
		require.NoError(t, r.err)
		require.NotEmpty(t, r.ev.Records)
		require.Equal(t, r.ev.Records[len(r.ev.Records)-1].SequenceNumber, r.ev.ContinuationSequenceNumber)
		got = append(got, r.ev.Records...)
		if n := len(got) - 3; n < live {
			got = append(got, rsCollect(t, sub, live-n)...)
		}
		require.NoError(t, <-putErr)
		require.Equal(t, []string{"old-0", "old-1", "old-2", "new-0", "new-1", "new-2", "new-3", "new-4"}, rsData(got))
		for i := 1; i < len(got); i++ {
			require.Positive(t, got[i].SequenceNumber.Compare(got[i-1].SequenceNumber))
		}
		require.Equal(t, want, []shardlog.SequenceNumber{got[0].SequenceNumber, got[1].SequenceNumber, got[2].SequenceNumber})
	})

	t.Run("StartingPositions", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		var seqs []shardlog.SequenceNumber
		for i := range 4 {
			seqs = append(seqs, h.Put("s", "k", []byte(fmt.Sprint(i))).SequenceNumber)
		}
		h.Clock.Advance(time.Second)
		cases := []struct {
			pos  shardlog.StartingPosition
			want []string
		}{
			{shardlog.StartingPosition{Type: shardlog.AtSequenceNumber, SequenceNumber: seqs[1]}, []string{"1", "2", "3", "x"}},
			{shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: seqs[1]}, []string{"2", "3", "x"}},
			{shardlog.StartingPosition{Type: shardlog.AtTimestamp, Timestamp: Epoch}, []string{"0", "1", "2", "3", "x"}},
			{shardlog.StartingPosition{Type: shardlog.Latest}, []string{"x"}},
		}
		subs := make([]*shardlog.Subscription, len(cases))
		for i, tc := range cases {
			// One consumer per position: the same consumer may hold one
			// subscription per shard at a time.
			a := arn
			if i > 0 {
				a = rsConsumer(h, "s", fmt.Sprintf("app%d", i))
			}
			subs[i] = rsSubscribe(h, a, rsShardID(0), tc.pos)
			defer subs[i].Close()
		}
		h.Put("s", "k", []byte("x"))
		for i, tc := range cases {
			require.Equal(t, tc.want, rsData(rsCollect(t, subs[i], len(tc.want))), "position %+v", tc.pos)
		}
		// Bad positions are refused.
		a := rsConsumer(h, "s", "bad")
		for _, pos := range []shardlog.StartingPosition{
			{Type: shardlog.AfterSequenceNumber},
			{Type: shardlog.AtTimestamp},
			{Type: "SOMEWHERE"},
			{Type: shardlog.AtSequenceNumber, SequenceNumber: shardlog.MakeSequenceNumber(seqs[0].Position(), 5)},
		} {
			_, err := h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: a, ShardID: rsShardID(0), StartingPosition: pos})
			require.ErrorIs(t, err, shardlog.ErrInvalidArgument, "position %+v", pos)
		}
	})

	t.Run("ResumeFromContinuation", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		for i := range 3 {
			h.Put("s", "k", []byte(fmt.Sprint(i)))
		}
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		got := rsCollect(t, sub, 3)
		ev := got[len(got)-1].SequenceNumber
		require.NoError(t, sub.Close())
		for i := 3; i < 6; i++ {
			h.Put("s", "k", []byte(fmt.Sprint(i)))
		}
		h.Clock.Advance(shardlog.ResubscribeGuard)
		sub = rsSubscribe(h, arn, rsShardID(0), shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: ev})
		defer sub.Close()
		require.Equal(t, []string{"3", "4", "5"}, rsData(rsCollect(t, sub, 3)))
	})

	t.Run("ResubscribeGuardAndTakeover", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		h.CreateStream("t", 2)
		arnT := rsConsumer(h, "t", "app")
		other := rsConsumer(h, "s", "other")
		old := rsSubscribe(h, arn, rsShardID(0), th)
		defer old.Close()

		h.Clock.Advance(shardlog.ResubscribeGuard - time.Nanosecond)
		_, err := h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arn, ShardID: rsShardID(0), StartingPosition: th})
		require.ErrorIs(t, err, shardlog.ErrResourceInUse)
		// Another consumer of the shard, or the same consumer on other
		// shards, is not affected.
		rsSubscribe(h, other, rsShardID(0), th).Close()
		rsSubscribe(h, arnT, rsShardID(0), th).Close()
		rsSubscribe(h, arnT, rsShardID(1), th).Close()

		// The old subscription is waiting when the new one takes over.
		ch := rsNextAsync(h.Ctx, old)
		rsRequireBlocked(t, ch)
		h.Clock.Advance(time.Nanosecond)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		r := rsAwait(t, ch)
		require.ErrorIs(t, r.err, shardlog.ErrResourceInUse)
		_, err = rsNext(t, old)
		require.ErrorIs(t, err, shardlog.ErrResourceInUse)

		h.Put("s", "k", []byte("x"))
		require.Equal(t, []string{"x"}, rsData(rsCollect(t, sub, 1)))
	})

	t.Run("Lifetime", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		h.Clock.Advance(shardlog.SubscriptionLifetime - time.Nanosecond)
		h.Put("s", "k", []byte("last"))
		require.Equal(t, []string{"last"}, rsData(rsCollect(t, sub, 1)))
		h.Clock.Advance(time.Nanosecond)
		h.Put("s", "k", []byte("too late"))
		_, err := rsNext(t, sub)
		require.ErrorIs(t, err, io.EOF)
	})

	t.Run("ClosedShardEnd", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		var last shardlog.SequenceNumber
		for i := range 2 {
			last = h.Put("s", "k", []byte(fmt.Sprint(i))).SequenceNumber
		}
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		require.Equal(t, []string{"0", "1"}, rsData(rsCollect(t, sub, 2)))

		// Split while the subscriber waits: the last event names the children.
		ch := rsNextAsync(h.Ctx, sub)
		rsRequireBlocked(t, ch)
		require.NoError(t, h.Log.SplitShard(h.Ctx, "s", rsShardID(0), rsMid(rsShard(h, "s", rsShardID(0)).HashKeyRange)))
		r := rsAwait(t, ch)
		require.NoError(t, r.err)
		require.Empty(t, r.ev.Records)
		require.Equal(t, last, r.ev.ContinuationSequenceNumber)
		require.Equal(t, []string{rsShardID(1), rsShardID(2)}, rsChildIDs(r.ev.ChildShards))
		for _, c := range r.ev.ChildShards {
			require.Equal(t, []string{rsShardID(0)}, c.ParentShards)
			require.Equal(t, rsShard(h, "s", c.ShardID).HashKeyRange, c.HashKeyRange)
		}
		_, err := rsNext(t, sub)
		require.ErrorIs(t, err, io.EOF)

		// Subscribing to a closed shard delivers its records and the
		// children in one go, then ends.
		h.Clock.Advance(shardlog.ResubscribeGuard)
		sub2 := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub2.Close()
		ev, err := rsNext(t, sub2)
		require.NoError(t, err)
		require.Equal(t, []string{"0", "1"}, rsData(ev.Records))
		require.Equal(t, last, ev.ContinuationSequenceNumber)
		require.Equal(t, []string{rsShardID(1), rsShardID(2)}, rsChildIDs(ev.ChildShards))
		_, err = rsNext(t, sub2)
		require.ErrorIs(t, err, io.EOF)
	})

	t.Run("MergedShardEnd", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 2)
		arn := rsConsumer(h, "s", "app")
		sub := rsSubscribe(h, arn, rsShardID(1), th)
		defer sub.Close()
		require.NoError(t, h.Log.MergeShards(h.Ctx, "s", rsShardID(0), rsShardID(1)))
		ev, err := rsNext(t, sub)
		require.NoError(t, err)
		require.Empty(t, ev.Records)
		require.Len(t, ev.ChildShards, 1)
		require.Equal(t, rsShardID(2), ev.ChildShards[0].ShardID)
		require.Equal(t, []string{rsShardID(0), rsShardID(1)}, ev.ChildShards[0].ParentShards)
		_, err = rsNext(t, sub)
		require.ErrorIs(t, err, io.EOF)
	})

	t.Run("DeregisterEndsSubscription", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		ch := rsNextAsync(h.Ctx, sub)
		rsRequireBlocked(t, ch)
		require.NoError(t, h.Log.DeregisterStreamConsumer(h.Ctx, "s", "app"))
		r := rsAwait(t, ch)
		require.ErrorIs(t, r.err, shardlog.ErrResourceNotFound)
		h.Put("s", "k", []byte("x"))
		_, err := rsNext(t, sub)
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})

	t.Run("DeleteStreamEndsSubscription", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		ch := rsNextAsync(h.Ctx, sub)
		rsRequireBlocked(t, ch)
		require.NoError(t, h.Log.DeleteStream(h.Ctx, "s", true))
		r := rsAwait(t, ch)
		require.ErrorIs(t, r.err, shardlog.ErrResourceNotFound)
	})

	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		ch := rsNextAsync(h.Ctx, sub)
		rsRequireBlocked(t, ch)
		require.NoError(t, sub.Close())
		r := rsAwait(t, ch)
		require.ErrorIs(t, r.err, io.EOF)
		h.Put("s", "k", []byte("x"))
		_, err := rsNext(t, sub)
		require.ErrorIs(t, err, io.EOF)
		require.NoError(t, sub.Close(), "closing twice")
	})

	t.Run("ContextCancelUnblocksNext", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		ctx, cancel := context.WithCancel(h.Ctx)
		go func() {
			time.Sleep(20 * time.Millisecond)
			cancel()
		}()
		began := time.Now()
		_, err := sub.Next(ctx)
		require.ErrorIs(t, err, context.Canceled)
		require.Less(t, time.Since(began), rsWait, "Next ignored the cancelled context")
		// An already cancelled context returns at once as well.
		_, err = sub.Next(ctx)
		require.True(t, errors.Is(err, context.Canceled), "got %v", err)
		// The subscription is still usable with a live context.
		h.Put("s", "k", []byte("x"))
		require.Equal(t, []string{"x"}, rsData(rsCollect(t, sub, 1)))
	})
}
