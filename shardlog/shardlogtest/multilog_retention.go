package shardlogtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
)

// testMultiLogRetention: retention enforced through a Log that has not
// heard of another Log's retention change follows the stored period.
func testMultiLogRetention(t *testing.T, newShared NewSharedEngines) {
	t.Run("a Log that has not heard of a raised retention period trims by the raised one", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 2)
		a, b := m.Logs[0], m.Logs[1]
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
		_, err := b.DescribeStream(m.Ctx, shardlog.DescribeStreamInput{StreamName: "s"})
		require.NoError(t, err)
		m.Lag[1].Pause() // b keeps the 24 h period in its copy
		put, err := a.PutRecord(m.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte("kept 48 h")})
		require.NoError(t, err)

		m.Clock.Advance(23 * time.Hour)
		require.NoError(t, a.IncreaseStreamRetentionPeriod(m.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 48}))
		m.Clock.Advance(2 * time.Hour) // past the old period, within the new one
		require.NoError(t, b.EnforceRetention(m.Ctx))

		it, err := a.GetShardIterator(m.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: put.ShardID, ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)
		got, err := a.GetRecords(m.Ctx, shardlog.GetRecordsInput{ShardIterator: it.ShardIterator})
		require.NoError(t, err)
		require.Len(t, got.Records, 1, "the record is within the stream's 48 h retention")
		require.Equal(t, put.SequenceNumber, got.Records[0].SequenceNumber)
	})
}
