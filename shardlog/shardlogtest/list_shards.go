package shardlogtest

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

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
			require.NoError(h.T, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: id, NewStartingHashKey: rsMid(rsShard(h, "s", id).HashKeyRange)}))
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
		require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(0), NewStartingHashKey: rsMid(rsShard(h, "s", rsShardID(0)).HashKeyRange)}))
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
		lc, err := h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "c", MaxResults: 1})
		require.NoError(t, err)
		ctok := lc.NextToken
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

	t.Run("DescribeStreamPages", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		splitStream(h)
		describe := func(in shardlog.DescribeStreamInput) *shardlog.DescribeStreamOutput {
			t.Helper()
			in.StreamName = "s"
			d, err := h.Log.DescribeStream(h.Ctx, in)
			require.NoError(t, err)
			return d
		}
		// Pages of 2, each starting after the last shard of the one before:
		// every shard once, in index order; HasMoreShards on all but the
		// last page.
		var got []string
		var more []bool
		in := shardlog.DescribeStreamInput{Limit: 2}
		for {
			d := describe(in)
			got = append(got, rsIDs(d.Shards)...)
			more = append(more, d.HasMoreShards)
			if !d.HasMoreShards {
				break
			}
			in.ExclusiveStartShardID = d.Shards[len(d.Shards)-1].ShardID
		}
		require.Equal(t, all9, got)
		require.Equal(t, []bool{true, true, true, true, false}, more)
		// A page that ends exactly at the last shard has no more.
		d := describe(shardlog.DescribeStreamInput{Limit: 2, ExclusiveStartShardID: rsShardID(6)})
		require.Equal(t, all9[7:], rsIDs(d.Shards))
		require.False(t, d.HasMoreShards)
		d = describe(shardlog.DescribeStreamInput{Limit: 9})
		require.Equal(t, all9, rsIDs(d.Shards))
		require.False(t, d.HasMoreShards, "Limit equal to the shard count")
		d = describe(shardlog.DescribeStreamInput{Limit: 8})
		require.True(t, d.HasMoreShards, "Limit one under the shard count")
		// A shard ID that does not exist (any more) still marks a position.
		d = describe(shardlog.DescribeStreamInput{ExclusiveStartShardID: rsShardID(99)})
		require.Empty(t, d.Shards)
		require.False(t, d.HasMoreShards)
		// A malformed one is refused, as ListShards refuses it, rather than
		// compared as a string (which skipped every shard).
		for _, bad := range []string{"shard-7", "shardId-7", "shardId-0000000000007"} {
			_, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "s", ExclusiveStartShardID: bad})
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ExclusiveStartShardId")
		}
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		// Shards 0 and 1 are created at Epoch; shard 0 splits into 2 and 3 at
		// Epoch+1h; the listing happens at Epoch+2h.
		newSplit := func(t *testing.T) *Harness {
			h := NewHarness(t, newEngine)
			h.CreateStream("s", 2)
			h.Clock.Advance(time.Hour)
			require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(0), NewStartingHashKey: rsMid(rsShard(h, "s", rsShardID(0)).HashKeyRange)}))
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
