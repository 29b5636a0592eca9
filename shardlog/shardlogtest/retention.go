package shardlogtest

import (
	"fmt"
	"iter"
	"math/big"
	"sort"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func testRetention(t *testing.T, newEngine NewEngine) {
	retention := func(h *Harness, stream string) int {
		h.T.Helper()
		d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: stream})
		require.NoError(h.T, err)
		return d.RetentionPeriodHours
	}
	readAll := func(h *Harness, stream string) []string {
		h.T.Helper()
		var out []string
		for _, s := range h.AllShards(stream) {
			for _, r := range h.ReadShard(stream, s.ShardID) {
				out = append(out, string(r.Data))
			}
		}
		sort.Strings(out)
		return out
	}
	const field = "RetentionPeriodHours"

	t.Run("Default", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		require.Equal(t, 24, retention(h, "s"))
	})

	t.Run("Increase", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 24}), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 23}), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 8761}), shardlog.ErrInvalidArgument, field)
		require.Equal(t, 24, retention(h, "s"))
		require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 25}))
		require.Equal(t, 25, retention(h, "s"))
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 25}), shardlog.ErrInvalidArgument, field)
		require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 8760}))
		require.Equal(t, 8760, retention(h, "s"))
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 8760}), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 8761}), shardlog.ErrInvalidArgument, field)
		require.Equal(t, 8760, retention(h, "s"))
	})

	t.Run("Decrease", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 24}), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 23}), shardlog.ErrInvalidArgument, field)
		require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 100}))
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 100}), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 101}), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 23}), shardlog.ErrInvalidArgument, field)
		require.Equal(t, 100, retention(h, "s"))
		require.NoError(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 99}))
		require.Equal(t, 99, retention(h, "s"))
		require.NoError(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 24}))
		require.Equal(t, 24, retention(h, "s"))
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 24}), shardlog.ErrInvalidArgument, field)
	})

	t.Run("ExpiredRecordsNeverReturned", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		var old []shardlog.PutRecordOutput
		for i := range 5 {
			old = append(old, h.Put("s", "key", []byte(fmt.Sprint("old", i))))
		}
		// At exactly the retention period the records are not yet older than it.
		h.Clock.Advance(24 * time.Hour)
		require.Len(t, readAll(h, "s"), 5)

		h.Clock.Advance(time.Millisecond)
		require.Empty(t, readAll(h, "s"), "TRIM_HORIZON reads nothing past retention")

		// GetRecords returns an empty batch with a next iterator.
		itOut, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: old[0].ShardID, ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)
		it := itOut.ShardIterator
		res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
		require.NoError(t, err)
		require.Empty(t, res.Records)
		require.NotEmpty(t, res.NextShardIterator)

		// Reading at an expired record's sequence number skips it too.
		atOut, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: old[0].ShardID,
			ShardIteratorType: shardlog.AtSequenceNumber, StartingSequenceNumber: old[1].SequenceNumber})
		require.NoError(t, err)
		at := atOut.ShardIterator

		fresh := h.Put("s", "key", []byte("new"))
		require.Equal(t, []string{"new"}, readAll(h, "s"))
		res, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: at})
		require.NoError(t, err)
		require.Len(t, res.Records, 1)
		require.Equal(t, fresh.SequenceNumber, res.Records[0].SequenceNumber)

		// Other read paths skip them too.
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: "s", ShardID: old[0].ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		require.NoError(t, err)
		b, err := c.Next(h.Ctx, 0)
		require.NoError(t, err)
		require.Len(t, b.Records, 1)
		require.Equal(t, []byte("new"), b.Records[0].Data)
		var byKey []string
		for r, err := range h.Log.ReadKey(h.Ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "key"}) {
			require.NoError(t, err)
			byKey = append(byKey, string(r.Data))
		}
		require.Equal(t, []string{"new"}, byKey)

		// After EnforceRetention, the same holds.
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Equal(t, []string{"new"}, readAll(h, "s"))
	})

	for _, enforced := range []bool{false, true} {
		t.Run(fmt.Sprintf("CursorReportsExpiredGap/enforced=%v", enforced), func(t *testing.T) {
			t.Parallel()
			h := NewHarness(t, newEngine)
			h.CreateStream("s", 1)
			first := h.Put("s", "key", []byte("a"))
			h.Put("s", "key", []byte("b")) // never read before it expires
			// A cursor that read "a" and stops there, a cursor at the tip,
			// and one that will start from the trim horizon.
			behind, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: "s", ShardID: first.ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: first.SequenceNumber}})
			require.NoError(t, err)
			h.Clock.Advance(25 * time.Hour)
			if enforced {
				require.NoError(t, h.Log.EnforceRetention(h.Ctx))
			}
			h.Put("s", "key", []byte("c"))
			b, err := behind.Next(h.Ctx, 0)
			require.NoError(t, err)
			require.True(t, b.ExpiredGap, "the cursor's next record expired unread")
			require.Len(t, b.Records, 1)
			require.Equal(t, []byte("c"), b.Records[0].Data)
			b, err = behind.Next(h.Ctx, 0)
			require.NoError(t, err)
			require.False(t, b.ExpiredGap, "a cursor that caught up reports nothing")

			th, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: "s", ShardID: first.ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
			require.NoError(t, err)
			b, err = th.Next(h.Ctx, 0)
			require.NoError(t, err)
			require.False(t, b.ExpiredGap, "a trim-horizon read skips nothing it was asked for")
			require.Len(t, b.Records, 1)
		})
	}

	t.Run("LastKeySequenceIgnoresExpired", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.Put("s", "key", []byte("old"))
		h.Clock.Advance(24*time.Hour + time.Millisecond)
		lk, err := h.Log.LastKey(h.Ctx, shardlog.LastKeyInput{StreamName: "s", PartitionKey: "key"})
		require.NoError(t, err)
		require.False(t, lk.Found, "an expired record is not the key's latest")
		require.True(t, lk.Record.SequenceNumber.IsZero(), "an expired record is not the key's latest")
	})

	for _, trimmed := range []bool{true, false} {
		t.Run(fmt.Sprintf("IncreaseDoesNotRevive/trimmed=%v", trimmed), func(t *testing.T) {
			t.Parallel()
			h := NewHarness(t, newEngine)
			h.CreateStream("s", 2)
			for i := range 6 {
				h.Put("s", fmt.Sprint("k", i), []byte(fmt.Sprint("old", i)))
			}
			h.Clock.Advance(24*time.Hour + time.Millisecond)
			if trimmed {
				require.NoError(t, h.Log.EnforceRetention(h.Ctx))
			}
			require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 48}))
			require.Empty(t, readAll(h, "s"), "expired records stay expired after retention is raised")
			require.Empty(t, collectKey(t, h.Log.ReadKey(h.Ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "k0"})))
			h.Put("s", "k", []byte("new"))
			require.Equal(t, []string{"new"}, readAll(h, "s"))
		})
	}

	t.Run("IncreaseKeepsLiveRecordsLonger", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.Put("s", "k", []byte("a"))
		h.Clock.Advance(23 * time.Hour)
		require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 48}))
		h.Clock.Advance(24 * time.Hour)
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Equal(t, []string{"a"}, readAll(h, "s"), "47h old, within 48h retention")
		h.Clock.Advance(time.Hour + time.Millisecond)
		require.Empty(t, readAll(h, "s"))
	})

	t.Run("DecreaseHidesOlderAtOnce", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 72}))
		h.Put("s", "k", []byte("a-60h"))
		h.Clock.Advance(36 * time.Hour)
		h.Put("s", "k", []byte("b-24h"))
		h.Clock.Advance(24 * time.Hour)
		h.Put("s", "k", []byte("c-0h"))
		require.Equal(t, []string{"a-60h", "b-24h", "c-0h"}, readAll(h, "s"))
		require.NoError(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 24}))
		require.Equal(t, []string{"b-24h", "c-0h"}, readAll(h, "s"), "no EnforceRetention needed")
		h.Clock.Advance(time.Millisecond)
		require.Equal(t, []string{"c-0h"}, readAll(h, "s"))
	})

	t.Run("ExpiredClosedShardDropped", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.Put("s", "k1", []byte("before"))
		mid := new(big.Int).Lsh(big.NewInt(1), 127).String()
		require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: "shardId-000000000000", NewStartingHashKey: mid}))
		const parent = "shardId-000000000000"
		ids := func() []string {
			var out []string
			for _, s := range h.AllShards("s") {
				out = append(out, s.ShardID)
			}
			return out
		}
		listed := func() []string {
			out, err := h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{StreamName: "s"})
			require.NoError(t, err)
			var ids []string
			for _, s := range out.Shards {
				ids = append(ids, s.ShardID)
			}
			return ids
		}
		all := []string{parent, "shardId-000000000001", "shardId-000000000002"}
		require.Equal(t, all, ids())

		// Within retention the closed parent stays, with its record.
		h.Clock.Advance(24 * time.Hour)
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Equal(t, all, ids())
		require.Equal(t, all, listed())
		require.Len(t, h.ReadShard("s", parent), 1)

		h.Put("s", "k2", []byte("child"))
		h.Clock.Advance(time.Millisecond)
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Equal(t, all[1:], ids(), "the expired parent leaves DescribeStream")
		require.Equal(t, all[1:], listed(), "and ListShards")
		d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "s"})
		require.NoError(t, err)
		require.Equal(t, 2, d.OpenShardCount)
		streamsRequireTiling(t, d.Shards)
		_, err = h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: parent, ShardIteratorType: shardlog.TrimHorizon})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		require.Equal(t, []string{"child"}, readAll(h, "s"), "the children and their records remain")

		// Open shards are never dropped, even with all records expired.
		h.Clock.Advance(100 * time.Hour)
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Equal(t, all[1:], ids())
		require.Empty(t, readAll(h, "s"))
		h.Put("s", "k3", []byte("later"))
		require.Equal(t, []string{"later"}, readAll(h, "s"))
	})

	t.Run("OpenShardNeverDropped", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("empty", 2)
		h.CreateStream("full", 1)
		h.Put("full", "k", []byte("x"))
		h.Clock.Advance(1000 * time.Hour)
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Len(t, h.OpenShards("empty"), 2)
		require.Len(t, h.OpenShards("full"), 1)
		streamsRequireTiling(t, h.AllShards("empty"))
		require.Empty(t, readAll(h, "full"))
	})
}

func collectKey(t *testing.T, seq iter.Seq2[shardlog.Record, error]) []shardlog.Record {
	t.Helper()
	var out []shardlog.Record
	for r, err := range seq {
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}
