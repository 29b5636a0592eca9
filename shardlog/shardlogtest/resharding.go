package shardlogtest

import (
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// rsMaxHash is 2^128-1, the top of the hash-key space.
var rsMaxHash = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// rsAdd returns b+d as a decimal string.
func rsAdd(b *big.Int, d int64) string { return new(big.Int).Add(b, big.NewInt(d)).String() }

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

// rsPutAt puts one record with an explicit hash key.
func rsPutAt(h *Harness, stream, hashKey, data string) shardlog.PutRecordOutput {
	h.T.Helper()
	out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: "k", ExplicitHashKey: hashKey, Data: []byte(data)})
	require.NoError(h.T, err)
	return *out
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
		itOut, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: stream, ShardID: id, ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)
		it := itOut.ShardIterator
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
				require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: parent.ShardID, NewStartingHashKey: N}))

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
			err := h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: mid.ShardID, NewStartingHashKey: tc.n})
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "NewStartingHashKey")
		}
		// Nothing changed.
		require.Len(t, h.AllShards("s"), 3)
		rsRequireTiling(h, "s")
		// The edges are accepted.
		require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: mid.ShardID, NewStartingHashKey: rsAdd(S, 1)}))
		require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(4), NewStartingHashKey: E.String()}))
		rsRequireTiling(h, "s")
		require.Equal(t, S.String(), rsShard(h, "s", rsShardID(3)).HashKeyRange.EndingHashKey.String(), "one-key child")
		require.Equal(t, E.String(), rsShard(h, "s", rsShardID(6)).HashKeyRange.StartingHashKey.String(), "one-key child")
	})

	t.Run("NewShardIDsTakeNextIndex", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 2)
		require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(0), NewStartingHashKey: rsMid(rsShard(h, "s", rsShardID(0)).HashKeyRange)}))
		rsRequireTiling(h, "s")
		require.NoError(t, h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "s", ShardToMerge: rsShardID(3), AdjacentShardToMerge: rsShardID(1)}))
		rsRequireTiling(h, "s")
		require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(4), NewStartingHashKey: rsMid(rsShard(h, "s", rsShardID(4)).HashKeyRange)}))
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
		require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(0), NewStartingHashKey: rsMid(r0)}))
		before := h.AllShards("s")

		err := h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(0), NewStartingHashKey: rsAdd(rsBig(r0.StartingHashKey), 1)})
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ShardToSplit")
		err = h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "s", ShardToMerge: rsShardID(0), AdjacentShardToMerge: rsShardID(1)})
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ShardToMerge")
		err = h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "s", ShardToMerge: rsShardID(1), AdjacentShardToMerge: rsShardID(0)})
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "AdjacentShardToMerge")
		require.Equal(t, before, h.AllShards("s"), "a refused reshard changed the stream")
		rsRequireTiling(h, "s")
	})

	t.Run("UnknownShardOrStream", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 2)
		require.ErrorIs(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(9), NewStartingHashKey: "1"}), shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "s", ShardToMerge: rsShardID(9), AdjacentShardToMerge: rsShardID(1)}), shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "s", ShardToMerge: rsShardID(0), AdjacentShardToMerge: rsShardID(9)}), shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "nope", ShardToSplit: rsShardID(0), NewStartingHashKey: "1"}), shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "nope", ShardToMerge: rsShardID(0), AdjacentShardToMerge: rsShardID(1)}), shardlog.ErrResourceNotFound)
		_, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "nope", TargetShardCount: 2})
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
				require.NoError(t, h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "s", ShardToMerge: tc.a, AdjacentShardToMerge: tc.b}))
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
			err := h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "s", ShardToMerge: pair[0], AdjacentShardToMerge: pair[1]})
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "AdjacentShardToMerge")
		}
		require.Len(t, h.AllShards("s"), 3)
		require.Len(t, h.OpenShards("s"), 3)
		// The first and last shards of the space are not adjacent either
		// (the space does not wrap around).
		h.CreateStream("two", 2)
		require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "two", ShardToSplit: rsShardID(0), NewStartingHashKey: rsMid(rsShard(h, "two", rsShardID(0)).HashKeyRange)}))
		err := h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "two", ShardToMerge: rsShardID(2), AdjacentShardToMerge: rsShardID(1)})
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "AdjacentShardToMerge")
	})

	t.Run("OnDemandRefused", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "od", StreamMode: shardlog.OnDemand}))
		open := rsOpenSorted(h, "od")
		require.Len(t, open, shardlog.DefaultOnDemandShards)
		require.ErrorIs(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "od", ShardToSplit: open[0].ShardID, NewStartingHashKey: rsMid(open[0].HashKeyRange)}), shardlog.ErrValidation)
		require.ErrorIs(t, h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "od", ShardToMerge: open[0].ShardID, AdjacentShardToMerge: open[1].ShardID}), shardlog.ErrValidation)
		_, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "od", TargetShardCount: 5})
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
		require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(0), NewStartingHashKey: N}))
		rsRequireTiling(h, "s")

		// The parent keeps its records, and its end names both children.
		require.Equal(t, before, rsData(h.ReadShard("s", rsShardID(0))))
		itOut, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: rsShardID(0), ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)
		it := itOut.ShardIterator
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
			require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(0), NewStartingHashKey: N}))
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
				require.NoError(t, h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "s", ShardToMerge: tc.toMerge, AdjacentShardToMerge: tc.adjacent}))
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
				out, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: tc.to})
				require.NoError(t, err)
				require.Equal(t, &shardlog.UpdateShardCountOutput{StreamName: "s", CurrentShardCount: tc.from, TargetShardCount: tc.to}, out)
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
				d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "s"})
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
				_, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: tc.to})
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
				_, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: 4 * cur})
				rsRequireArg(t, err, shardlog.ErrInvalidArgument, "TargetShardCount")
			}
			target := 3 - cur // 1 ↔ 2
			out, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: target})
			require.NoError(t, err, "scaling %d", i+1)
			require.Equal(t, &shardlog.UpdateShardCountOutput{StreamName: "s", CurrentShardCount: cur, TargetShardCount: target}, out)
			cur = target
			h.Clock.Advance(time.Minute)
		}
		rsRequireTiling(h, "s")
		_, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: 3 - cur})
		rsRequireArg(t, err, shardlog.ErrLimitExceeded, "TargetShardCount")
		require.Len(t, h.OpenShards("s"), cur)
		// Just over 24 hours after the first scaling, one slot is free again.
		h.Clock.Advance(24*time.Hour - time.Duration(shardlog.MaxScalingOpsPer24h)*time.Minute + time.Second)
		_, err = h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: 3 - cur})
		require.NoError(t, err)
		cur = 3 - cur
		_, err = h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: 3 - cur})
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded, "only the oldest scaling left the window")
		h.Clock.Advance(24 * time.Hour)
		_, err = h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: 3 - cur})
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
			_, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: target})
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
				require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: open[0].ShardID, NewStartingHashKey: rsMid(open[0].HashKeyRange)}))
			} else {
				require.NoError(t, h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "s", ShardToMerge: open[len(open)-1].ShardID, AdjacentShardToMerge: open[len(open)-2].ShardID}))
			}
			rsRequireTiling(h, "s")
		}
		progress()
		_, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: 2 * len(h.OpenShards("s"))})
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
