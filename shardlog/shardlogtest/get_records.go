package shardlogtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func testGetRecords(t *testing.T, newEngine NewEngine) {
	t.Run("Limit", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			limit int
			ok    bool
			want  int // records returned of 3
		}{
			{0, true, 3}, // default: MaxGetRecordsLimit
			{1, true, 1},
			{2, true, 2},
			{shardlog.MaxGetRecordsLimit, true, 3},
			{shardlog.MaxGetRecordsLimit + 1, false, 0},
			{-1, false, 0},
			{-shardlog.MaxGetRecordsLimit, false, 0},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream(rdStream, 1)
				rdPutN(h, rdStream, 0, 3)
				it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
				out, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: tc.limit})
				if !tc.ok {
					rdRequireArg(t, err, shardlog.ErrInvalidArgument, "Limit")
					require.Nil(t, out)
					return
				}
				require.NoError(t, err)
				require.Len(t, out.Records, tc.want)
			})
		}
	})

	t.Run("ReturnsAtMostLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		puts := rdPutN(h, rdStream, 0, 10)
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		var got []shardlog.Record
		for _, want := range []int{4, 4, 2, 0} {
			out := rdGet(h, it, 4)
			require.Len(t, out.Records, want)
			got = append(got, out.Records...)
			it = out.NextShardIterator
		}
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(got))
	})

	t.Run("PagesInOrderWithoutGapsOrRepeats", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		const total = 2500
		var want []string
		for b := range total / shardlog.MaxPutRecordsEntries {
			entries := make([]shardlog.PutRecordsEntry, shardlog.MaxPutRecordsEntries)
			for i := range entries {
				entries[i] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprint(i % 17), Data: fmt.Appendf(nil, "%d", b*shardlog.MaxPutRecordsEntries+i)}
			}
			out, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: rdStream, Records: entries})
			require.NoError(t, err)
			require.Zero(t, out.FailedRecordCount)
			for _, r := range out.Records {
				want = append(want, r.SequenceNumber.String())
			}
			h.Clock.Advance(time.Millisecond)
		}
		recs, _ := rdDrain(h, rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), 7)
		require.Len(t, recs, total)
		require.Equal(t, want, rdRecSeqs(recs))
		for i, r := range recs {
			require.Equal(t, fmt.Sprint(i), string(r.Data))
			if i > 0 {
				require.Positive(t, r.SequenceNumber.Compare(recs[i-1].SequenceNumber), "strictly increasing")
			}
		}
	})

	t.Run("TenMiBPerCall", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		const key = "k"
		data := make([]byte, shardlog.DefaultMaxRecordSizeKiB<<10-len(key)) // a record of exactly 1 MiB
		var puts []shardlog.PutRecordOutput
		for range 12 {
			puts = append(puts, h.Put(rdStream, key, data))
		}
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		first := rdGet(h, it, 0)
		size := 0
		for i := range first.Records {
			size += first.Records[i].Size()
		}
		require.LessOrEqual(t, size, shardlog.MaxGetRecordsBytes)
		require.Len(t, first.Records, 10, "ten 1 MiB records fill exactly 10 MiB")
		second := rdGet(h, first.NextShardIterator, 0)
		require.Len(t, second.Records, 2)
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(append(first.Records, second.Records...)))
	})

	t.Run("TenMiBRecordAloneThenNext", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: rdStream, ShardCount: 1, MaxRecordSizeInKiB: shardlog.MaxMaxRecordSizeKiB}))
		big := h.Put(rdStream, "k", make([]byte, shardlog.MaxGetRecordsBytes-1)) // 10 MiB with its key
		small := h.Put(rdStream, "k", []byte("x"))
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		first := rdGet(h, it, 0)
		require.Equal(t, []string{big.SequenceNumber.String()}, rdRecSeqs(first.Records), "10 MiB plus one more byte is over the cap")
		require.Len(t, first.Records[0].Data, shardlog.MaxGetRecordsBytes-1)
		second := rdGet(h, first.NextShardIterator, 0)
		require.Equal(t, []string{small.SequenceNumber.String()}, rdRecSeqs(second.Records))
	})

	t.Run("MillisBehindLatest", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 3)
		h.Clock.Advance(2 * time.Second)
		rdPutN(h, rdStream, 3, 3)
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		behind := rdGet(h, it, 1)
		require.Len(t, behind.Records, 1)
		require.GreaterOrEqual(t, behind.MillisBehindLatest, int64(2000), "the record read is 2 s older than the tip")
		rest := rdGet(h, behind.NextShardIterator, 0)
		require.Len(t, rest.Records, 5)
		require.Zero(t, rest.MillisBehindLatest, "caught up")
		tip := rdGet(h, rest.NextShardIterator, 0)
		require.Empty(t, tip.Records)
		require.Zero(t, tip.MillisBehindLatest, "empty read at the tip")
		h.Clock.Advance(time.Minute)
		require.Zero(t, rdGet(h, tip.NextShardIterator, 0).MillisBehindLatest, "at the tip however old it is")
	})

	t.Run("EndOfClosedShardAfterSplit", func(t *testing.T) {
		t.Parallel()
		for _, limit := range []int{0, 1, 2, 3} {
			t.Run(fmt.Sprintf("Limit%d", limit), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream(rdStream, 1)
				puts := rdPutN(h, rdStream, 0, 3)
				children := rdSplit(h, rdStream)
				for _, c := range children {
					require.Equal(t, []string{rdShard0}, c.ParentShards)
				}
				require.Equal(t, shardlog.MinHashKey, children[0].HashKeyRange.StartingHashKey)
				require.Equal(t, rdMidKey, children[1].HashKeyRange.StartingHashKey.String())
				require.Equal(t, shardlog.MaxHashKey, children[1].HashKeyRange.EndingHashKey)

				recs, last := rdDrain(h, rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), limit)
				require.Equal(t, rdPutSeqs(puts), rdRecSeqs(recs))
				require.Empty(t, last.NextShardIterator)
				require.ElementsMatch(t, children, last.ChildShards)
			})
		}
	})

	t.Run("EmptyClosedShardEndsAtOnce", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		children := rdSplit(h, rdStream)
		out := rdGet(h, rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), 0)
		require.Empty(t, out.Records)
		require.Empty(t, out.NextShardIterator)
		require.ElementsMatch(t, children, out.ChildShards)
	})

	t.Run("ChildShardsAbsentBeforeEnd", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 3)
		// An open shard never ends: every response has a next iterator.
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		for _, want := range []int{2, 1, 0} {
			out := rdGet(h, it, 2)
			require.Len(t, out.Records, want)
			require.Empty(t, out.ChildShards)
			require.NotEmpty(t, out.NextShardIterator)
			it = out.NextShardIterator
		}
		// A closed shard read with a Limit below its record count.
		children := rdSplit(h, rdStream)
		it = rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		for range 2 {
			out := rdGet(h, it, 1)
			require.Len(t, out.Records, 1)
			require.Empty(t, out.ChildShards, "not at the end yet")
			require.NotEmpty(t, out.NextShardIterator)
			it = out.NextShardIterator
		}
		out := rdGet(h, it, 1)
		require.Len(t, out.Records, 1)
		require.Empty(t, out.NextShardIterator)
		require.ElementsMatch(t, children, out.ChildShards)
		// Children are open: no ChildShards there.
		for _, c := range children {
			out := rdGet(h, rdIter(h, rdStream, c.ShardID, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), 0)
			require.Empty(t, out.ChildShards)
			require.NotEmpty(t, out.NextShardIterator)
		}
	})

	t.Run("ChildShardsAfterMerge", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 2)
		lo := rdPutAt(h, rdStream, false, "lo")
		hi := rdPutAt(h, rdStream, true, "hi")
		require.Equal(t, rdShard0, lo.ShardID)
		require.Equal(t, rdShard1, hi.ShardID)
		require.NoError(t, h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: rdStream, ShardToMerge: rdShard0, AdjacentShardToMerge: rdShard1}))
		children := rdChildren(h, rdStream, rdShard0)
		require.Len(t, children, 1)
		require.Equal(t, []string{rdShard0, rdShard1}, children[0].ParentShards)
		require.Equal(t, shardlog.HashKeyRange{StartingHashKey: shardlog.MinHashKey, EndingHashKey: shardlog.MaxHashKey}, children[0].HashKeyRange)
		for shard, put := range map[string]shardlog.PutRecordOutput{rdShard0: lo, rdShard1: hi} {
			recs, last := rdDrain(h, rdIter(h, rdStream, shard, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), 0)
			require.Equal(t, []string{put.SequenceNumber.String()}, rdRecSeqs(recs), shard)
			require.Empty(t, last.NextShardIterator, shard)
			require.Equal(t, children, last.ChildShards, shard)
		}
	})
}
