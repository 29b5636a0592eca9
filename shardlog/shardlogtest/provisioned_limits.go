package shardlogtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func testProvisionedLimits(t *testing.T, newEngine NewEngine) {
	// Each enabler creates stream "s" with n shards and limits on, either at
	// creation or afterwards.
	type enabler struct {
		name   string
		create func(t *testing.T, h *Harness, n int)
	}
	enablers := []enabler{
		{"AtCreate", func(t *testing.T, h *Harness, n int) {
			require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: n, ProvisionedLimits: true}))
		}},
		{"SetProvisionedLimits", func(t *testing.T, h *Harness, n int) {
			h.CreateStream("s", n)
			require.NoError(t, h.Log.SetProvisionedLimits(h.Ctx, shardlog.SetProvisionedLimitsInput{StreamName: "s", ProvisionedLimits: true}))
		}},
	}
	put := func(h *Harness, hash string, size int) (*shardlog.PutRecordOutput, error) {
		return h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", ExplicitHashKey: hash, Data: make([]byte, size-1)})
	}
	iterator := func(t *testing.T, h *Harness, shard string) string {
		t.Helper()
		itOut, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: shard, ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)
		it := itOut.ShardIterator
		return it
	}
	const shard0, shard1 = "shardId-000000000000", "shardId-000000000001"

	t.Run("OffByDefault", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "s"})
		require.NoError(t, err)
		require.False(t, d.ProvisionedLimits)
		recPutN(t, h, "s", recFirstHash, 2*shardlog.ShardWriteRecordsPerSecond, 10)
		for range 3 { // 3 MiB at one instant
			_, err := put(h, recFirstHash, recMiB)
			require.NoError(t, err)
		}
		it := iterator(t, h, shard0)
		for i := range 3 * shardlog.ShardReadCallsPerSecond {
			res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: 1})
			require.NoError(t, err, "read %d", i)
			it = res.NextShardIterator
		}
	})

	t.Run("WriteRecordsPerSecond", func(t *testing.T) {
		t.Parallel()
		for _, e := range enablers {
			t.Run(e.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				e.create(t, h, 2)
				d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "s"})
				require.NoError(t, err)
				require.True(t, d.ProvisionedLimits)
				for i := range shardlog.ShardWriteRecordsPerSecond {
					_, err := put(h, recFirstHash, 1)
					require.NoError(t, err, "put %d", i)
				}
				_, err = put(h, recFirstHash, 1)
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				// Another shard has its own budget.
				out, err := put(h, recLastHash, 1)
				require.NoError(t, err)
				require.Equal(t, shard1, out.ShardID)
				// The throttled put stored nothing.
				require.Len(t, h.ReadShard("s", shard0), shardlog.ShardWriteRecordsPerSecond)
				// A second later the budget is back.
				h.Clock.Advance(time.Second)
				_, err = put(h, recFirstHash, 1)
				require.NoError(t, err)
			})
		}
	})

	t.Run("WriteBytesPerSecond", func(t *testing.T) {
		t.Parallel()
		for _, e := range enablers {
			t.Run(e.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				e.create(t, h, 2)
				for range 4 { // 4 × 256 KiB = 1 MiB
					_, err := put(h, recFirstHash, recMiB/4)
					require.NoError(t, err)
				}
				_, err := put(h, recFirstHash, 1)
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				_, err = put(h, recLastHash, recMiB)
				require.NoError(t, err, "another shard has its own budget")
				// Half a second refills half a MiB, not a byte more.
				h.Clock.Advance(500 * time.Millisecond)
				_, err = put(h, recFirstHash, recMiB/2+1)
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				_, err = put(h, recFirstHash, recMiB/2)
				require.NoError(t, err)
				_, err = put(h, recFirstHash, 1)
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				h.Clock.Advance(time.Second)
				_, err = put(h, recFirstHash, recMiB)
				require.NoError(t, err)
			})
		}
	})

	t.Run("TurnedOffAgain", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1, ProvisionedLimits: true}))
		_, err := put(h, recFirstHash, recMiB)
		require.NoError(t, err)
		_, err = put(h, recFirstHash, 1)
		require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
		require.NoError(t, h.Log.SetProvisionedLimits(h.Ctx, shardlog.SetProvisionedLimitsInput{StreamName: "s"}))
		_, err = put(h, recFirstHash, recMiB)
		require.NoError(t, err)
	})

	t.Run("PutRecordsMarksOnlyThrottledEntries", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 2, ProvisionedLimits: true}))
		const pre = shardlog.ShardWriteRecordsPerSecond - 50
		recPutN(t, h, "s", recFirstHash, pre, 1)
		// 200 entries alternating shards: shard 0 has room for 50 of its
		// 100, shard 1 for all of its 100.
		entries := make([]shardlog.PutRecordsEntry, 200)
		for i := range entries {
			hash := recFirstHash
			if i%2 == 1 {
				hash = recLastHash
			}
			entries[i] = shardlog.PutRecordsEntry{PartitionKey: "k", ExplicitHashKey: hash, Data: []byte(fmt.Sprint(i))}
		}
		out, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: entries})
		require.NoError(t, err)
		require.Len(t, out.Records, len(entries))
		failed := 0
		committed := map[string][]shardlog.PutRecordsResultEntry{}
		committedData := map[string][][]byte{}
		for i, r := range out.Records {
			if r.ErrorCode != "" {
				failed++
				require.Equal(t, 0, i%2, "only shard 0 is throttled (entry %d)", i)
				require.Equal(t, shardlog.ErrorCodeThroughputExceeded, r.ErrorCode)
				require.Equal(t, "ProvisionedThroughputExceededException", r.ErrorCode)
				require.NotEmpty(t, r.ErrorMessage)
				require.True(t, r.SequenceNumber.IsZero())
				require.Empty(t, r.ShardID)
				require.ErrorIs(t, r.Err, shardlog.ErrProvisionedThroughputExceeded)
				continue
			}
			require.Empty(t, r.ErrorMessage)
			require.NoError(t, r.Err)
			require.False(t, r.SequenceNumber.IsZero())
			committed[r.ShardID] = append(committed[r.ShardID], r)
			committedData[r.ShardID] = append(committedData[r.ShardID], entries[i].Data)
		}
		require.Equal(t, 50, failed)
		require.Equal(t, failed, out.FailedRecordCount)
		require.Len(t, committed[shard0], 50)
		require.Len(t, committed[shard1], 100)

		require.NoError(t, h.Log.SetProvisionedLimits(h.Ctx, shardlog.SetProvisionedLimitsInput{StreamName: "s"})) // read back freely
		recs0 := h.ReadShard("s", shard0)
		require.Len(t, recs0, pre+50)
		recs1 := h.ReadShard("s", shard1)
		for shard, recs := range map[string][]shardlog.Record{shard0: recs0[pre:], shard1: recs1} {
			require.Len(t, recs, len(committed[shard]))
			for j, r := range recs {
				require.Equal(t, committed[shard][j].SequenceNumber, r.SequenceNumber)
				require.Equal(t, committedData[shard][j], r.Data)
			}
		}
	})

	t.Run("PutRecordsBytes", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1, ProvisionedLimits: true}))
		quarter := make([]byte, recMiB/4-1)
		entries := []shardlog.PutRecordsEntry{
			{PartitionKey: "k", Data: quarter}, {PartitionKey: "k", Data: quarter},
			{PartitionKey: "k", Data: quarter}, {PartitionKey: "k", Data: quarter},
			{PartitionKey: "k", Data: nil}, // 1 byte past 1 MiB
		}
		out, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: entries})
		require.NoError(t, err)
		require.Equal(t, 1, out.FailedRecordCount)
		for i := range 4 {
			require.Empty(t, out.Records[i].ErrorCode, i)
		}
		require.Equal(t, shardlog.ErrorCodeThroughputExceeded, out.Records[4].ErrorCode)
		require.ErrorIs(t, out.Records[4].Err, shardlog.ErrProvisionedThroughputExceeded)
	})

	t.Run("ReadCallsPerSecond", func(t *testing.T) {
		t.Parallel()
		for _, e := range enablers {
			t.Run(e.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				e.create(t, h, 2)
				_, err := put(h, recFirstHash, 10)
				require.NoError(t, err)
				it := iterator(t, h, shard0)
				for i := range shardlog.ShardReadCallsPerSecond {
					res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
					require.NoError(t, err, "read %d", i)
					require.NotEmpty(t, res.NextShardIterator)
					it = res.NextShardIterator
				}
				_, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				// Another shard has its own budget.
				_, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: iterator(t, h, shard1)})
				require.NoError(t, err)
				// A fifth of a second refills one call.
				h.Clock.Advance(200 * time.Millisecond)
				res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
				require.NoError(t, err)
				_, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: res.NextShardIterator})
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				h.Clock.Advance(time.Second)
				for i := range shardlog.ShardReadCallsPerSecond {
					_, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: res.NextShardIterator})
					require.NoError(t, err, "read %d after a second", i)
				}
			})
		}
	})

	t.Run("ReadBytesPerSecond", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		for range 4 {
			_, err := put(h, recFirstHash, recMiB)
			require.NoError(t, err)
		}
		require.NoError(t, h.Log.SetProvisionedLimits(h.Ctx, shardlog.SetProvisionedLimitsInput{StreamName: "s", ProvisionedLimits: true}))
		it := iterator(t, h, shard0)
		// 2 MiB at one instant: two 1 MiB reads, then the budget is spent.
		for i := range 2 {
			res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: 1})
			require.NoError(t, err, "read %d", i)
			require.Len(t, res.Records, 1)
			it = res.NextShardIterator
		}
		_, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: 1})
		require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
		h.Clock.Advance(time.Second)
		res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: 1})
		require.NoError(t, err)
		require.Len(t, res.Records, 1)
	})

	t.Run("PenaltyAfter10MiBRead", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		// Ten records of exactly 1 MiB, written with limits off.
		for range 10 {
			_, err := put(h, recFirstHash, recMiB)
			require.NoError(t, err)
		}
		require.NoError(t, h.Log.SetProvisionedLimits(h.Ctx, shardlog.SetProvisionedLimitsInput{StreamName: "s", ProvisionedLimits: true}))
		it := iterator(t, h, shard0)
		res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
		require.NoError(t, err)
		require.Len(t, res.Records, 10)
		size := 0
		for _, r := range res.Records {
			size += r.Size()
		}
		require.Equal(t, shardlog.MaxGetRecordsBytes, size)
		next := res.NextShardIterator
		for _, d := range []time.Duration{0, time.Second, 3 * time.Second, 999 * time.Millisecond} {
			h.Clock.Advance(d)
			_, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: next})
			require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded, "after %v more", d)
		}
		h.Clock.Advance(2 * time.Millisecond) // just past 5 s after the big read
		res, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: next})
		require.NoError(t, err)
		require.Empty(t, res.Records)
	})
}
