package shardlog_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// TestStreamSettingsPersisted: encryption and enhanced monitoring are
// saved with the stream's metadata, so they survive a reopen, and
// DescribeStream and DescribeStreamSummary report them.
func TestStreamSettingsPersisted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *shardlog.Log {
		eng, err := file.Open(dir)
		require.NoError(t, err)
		log, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0))
		require.NoError(t, err)
		return log
	}
	log := open()
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
	sum, err := log.DescribeStreamSummary(ctx, shardlog.DescribeStreamSummaryInput{StreamName: "s"})
	require.NoError(t, err)
	require.Equal(t, shardlog.EncryptionNone, sum.EncryptionType)
	require.Equal(t, []string{}, sum.EnhancedMonitoring)

	require.NoError(t, log.StartStreamEncryption(ctx, shardlog.StartStreamEncryptionInput{StreamName: "s", EncryptionType: shardlog.EncryptionKMS, KeyID: "alias/a"}))
	sum, err = log.DescribeStreamSummary(ctx, shardlog.DescribeStreamSummaryInput{StreamName: "s"})
	require.NoError(t, err)
	require.Equal(t, shardlog.EncryptionKMS, sum.EncryptionType)
	require.Equal(t, "alias/a", sum.KeyID)
	require.NoError(t, log.StartStreamEncryption(ctx, shardlog.StartStreamEncryptionInput{StreamName: "s", EncryptionType: shardlog.EncryptionKMS, KeyID: "alias/b"}))
	mon, err := log.EnableEnhancedMonitoring(ctx, shardlog.EnableEnhancedMonitoringInput{StreamName: "s", ShardLevelMetrics: []string{"IteratorAgeMilliseconds", "IncomingBytes"}})
	require.NoError(t, err)
	require.Equal(t, []string{}, mon.CurrentShardLevelMetrics)
	require.Equal(t, []string{"IncomingBytes", "IteratorAgeMilliseconds"}, mon.DesiredShardLevelMetrics)
	require.NoError(t, log.Close())

	log = open()
	defer log.Close()
	d, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: "s"})
	require.NoError(t, err)
	require.Equal(t, shardlog.EncryptionKMS, d.EncryptionType)
	require.Equal(t, "alias/b", d.KeyID)
	require.Equal(t, []string{"IncomingBytes", "IteratorAgeMilliseconds"}, d.EnhancedMonitoring)
	sum, err = log.DescribeStreamSummary(ctx, shardlog.DescribeStreamSummaryInput{StreamName: "s"})
	require.NoError(t, err)
	require.Equal(t, []string{"alias/a", "alias/b"}, sum.EncryptionKeyIDs)

	mon, err = log.DisableEnhancedMonitoring(ctx, shardlog.DisableEnhancedMonitoringInput{StreamName: "s", ShardLevelMetrics: []string{"ALL"}})
	require.NoError(t, err)
	require.Equal(t, []string{}, mon.DesiredShardLevelMetrics)
	require.NoError(t, log.StopStreamEncryption(ctx, shardlog.StopStreamEncryptionInput{StreamName: "s", EncryptionType: shardlog.EncryptionKMS, KeyID: "alias/b"}))
	sum, err = log.DescribeStreamSummary(ctx, shardlog.DescribeStreamSummaryInput{StreamName: "s"})
	require.NoError(t, err)
	require.Equal(t, shardlog.EncryptionNone, sum.EncryptionType)
	require.Empty(t, sum.KeyID)
	require.Equal(t, []string{"alias/a", "alias/b"}, sum.EncryptionKeyIDs, "the keys ever used are kept")

	// A stream created again under the name starts with neither.
	require.NoError(t, log.DeleteStream(ctx, shardlog.DeleteStreamInput{StreamName: "s", EnforceConsumerDeletion: false}))
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
	sum, err = log.DescribeStreamSummary(ctx, shardlog.DescribeStreamSummaryInput{StreamName: "s"})
	require.NoError(t, err)
	require.Empty(t, sum.EncryptionKeyIDs)
}

func TestStreamSettingsErrors(t *testing.T) {
	ctx := context.Background()
	log := openLimited(t, shardlog.AccountLimits{})
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
	for _, in := range []shardlog.StartStreamEncryptionInput{
		{StreamName: "s", EncryptionType: shardlog.EncryptionNone, KeyID: "k"},
		{StreamName: "s", EncryptionType: shardlog.EncryptionKMS},
	} {
		err := log.StartStreamEncryption(ctx, in)
		var ae *shardlog.ArgumentError
		require.ErrorAs(t, err, &ae)
	}
	err := log.StartStreamEncryption(ctx, shardlog.StartStreamEncryptionInput{StreamName: "nope", EncryptionType: shardlog.EncryptionKMS, KeyID: "k"})
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	for _, m := range [][]string{nil, {"Nope"}, {"ALL", "ALL", "ALL", "ALL", "ALL", "ALL", "ALL", "ALL"}} {
		_, err := log.EnableEnhancedMonitoring(ctx, shardlog.EnableEnhancedMonitoringInput{StreamName: "s", ShardLevelMetrics: m})
		require.ErrorIs(t, err, shardlog.ErrInvalidArgument, "%v", m)
	}
}
