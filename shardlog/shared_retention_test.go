package shardlog_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
)

// TestSharedRetentionUsesStoredPeriod: a Log whose cached metadata still
// has the retention period another Log has since raised must not trim the
// records the raised period keeps.
func TestSharedRetentionUsesStoredPeriod(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a, b, _ := twoSharedLogs(t, true, clock)
	require.NoError(t, a.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
	_, err := b.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: "s"}) // b caches 24 h
	require.NoError(t, err)
	put, err := a.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte("kept 48 h")})
	require.NoError(t, err)

	advance(23 * time.Hour)
	require.NoError(t, a.IncreaseStreamRetentionPeriod(ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 48}))
	advance(2 * time.Hour) // 25 h: past the old period, within the new one
	require.NoError(t, b.EnforceRetention(ctx))

	it, err := a.GetShardIterator(ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: put.ShardID, ShardIteratorType: shardlog.TrimHorizon})
	require.NoError(t, err)
	got, err := a.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: it.ShardIterator})
	require.NoError(t, err)
	require.Len(t, got.Records, 1, "the record is within the stream's 48 h retention")
	require.Equal(t, put.SequenceNumber, got.Records[0].SequenceNumber)
}
