package shardlog_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

func openLimited(t *testing.T, limits shardlog.AccountLimits) *shardlog.Log {
	t.Helper()
	log, err := shardlog.Open(context.Background(), memory.New(), shardlog.WithRetentionInterval(0),
		shardlog.WithAccountLimits(limits), shardlog.WithARNScope("eu-west-1", "123456789012"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = log.Close() })
	return log
}

func requireQuota(t *testing.T, err error, quota string, current, limit, additional int) {
	t.Helper()
	require.ErrorIs(t, err, shardlog.ErrLimitExceeded)
	var le *shardlog.LimitExceededError
	require.True(t, errors.As(err, &le), "%v", err)
	require.Equal(t, quota, le.Quota)
	require.Equal(t, current, le.Current, "current")
	require.Equal(t, limit, le.Limit, "limit")
	require.Equal(t, additional, le.Additional, "additional")
	require.Contains(t, err.Error(), "account 123456789012 in eu-west-1")
}

// TestAccountShardLimit: the open shards of all streams together stay at or
// under the quota, through CreateStream, SplitShard and UpdateShardCount;
// a refused operation changes nothing.
func TestAccountShardLimit(t *testing.T) {
	ctx := context.Background()
	log := openLimited(t, shardlog.AccountLimits{Shards: 6})
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "a", ShardCount: 3}))
	err := log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "b", ShardCount: 4})
	requireQuota(t, err, "shard", 3, 6, 4)
	require.Contains(t, err.Error(), "Current shard count for the account: 3. Limit: 6. Number of additional shards that would have resulted from this request: 4.")
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "b", ShardCount: 2}))

	// 5 of 6: one split fits, the second does not.
	require.NoError(t, log.SplitShard(ctx, shardlog.SplitShardInput{StreamName: "b", ShardToSplit: "shardId-000000000000", NewStartingHashKey: "1000"}))
	requireQuota(t, log.SplitShard(ctx, shardlog.SplitShardInput{StreamName: "b", ShardToSplit: "shardId-000000000001", NewStartingHashKey: shardlog.MaxHashKey.String()}), "shard", 6, 6, 1)
	_, err = log.UpdateShardCount(ctx, shardlog.UpdateShardCountInput{StreamName: "a", TargetShardCount: 4})
	requireQuota(t, err, "shard", 6, 6, 1)
	d, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: "a"})
	require.NoError(t, err)
	require.Equal(t, 3, d.OpenShardCount, "the refused scaling changed nothing")
	require.Equal(t, shardlog.StatusActive, d.StreamStatus)

	// Scaling down frees shards for another stream.
	_, err = log.UpdateShardCount(ctx, shardlog.UpdateShardCountInput{StreamName: "a", TargetShardCount: 2})
	require.NoError(t, err)
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "c", ShardCount: 1}))
	lim, err := log.DescribeLimits(ctx, shardlog.DescribeLimitsInput{})
	require.NoError(t, err)
	require.Equal(t, shardlog.DescribeLimitsOutput{ShardLimit: 6, OpenShardCount: 6}, *lim)
	require.NoError(t, log.DeleteStream(ctx, shardlog.DeleteStreamInput{StreamName: "c", EnforceConsumerDeletion: false}))
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "d", ShardCount: 1}))
}

// TestAccountOnDemandLimit: CreateStream and UpdateStreamMode stay within
// the on-demand stream quota.
func TestAccountOnDemandLimit(t *testing.T) {
	ctx := context.Background()
	log := openLimited(t, shardlog.AccountLimits{OnDemandStreams: 1})
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "od", StreamMode: shardlog.OnDemand}))
	err := log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "od2", StreamMode: shardlog.OnDemand})
	requireQuota(t, err, "on-demand stream count", 1, 1, 1)
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "p", ShardCount: 1}))
	requireQuota(t, log.UpdateStreamMode(ctx, shardlog.UpdateStreamModeInput{StreamName: "p", StreamMode: shardlog.OnDemand}), "on-demand stream count", 1, 1, 1)
	require.NoError(t, log.UpdateStreamMode(ctx, shardlog.UpdateStreamModeInput{StreamName: "od", StreamMode: shardlog.Provisioned}))
	require.NoError(t, log.UpdateStreamMode(ctx, shardlog.UpdateStreamModeInput{StreamName: "p", StreamMode: shardlog.OnDemand}))
	lim, err := log.DescribeLimits(ctx, shardlog.DescribeLimitsInput{})
	require.NoError(t, err)
	require.Equal(t, shardlog.DescribeLimitsOutput{OnDemandStreamCountLimit: 1, OnDemandStreamCount: 1, OpenShardCount: 5}, *lim)
}

func TestAccountLimitsUnlimitedAndBad(t *testing.T) {
	ctx := context.Background()
	log := openLimited(t, shardlog.AccountLimits{})
	for _, n := range []string{"a", "b", "c"} {
		require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: n, StreamMode: shardlog.OnDemand}))
	}
	_, err := shardlog.Open(ctx, memory.New(), shardlog.WithAccountLimits(shardlog.AccountLimits{Shards: -1}))
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
}

// TestAccountLimitsConcurrent: concurrent growth cannot pass a quota
// together: of 20 streams of 1 shard and 10 splits against a quota of 12
// shards, exactly as many succeed as fit.
func TestAccountLimitsConcurrent(t *testing.T) {
	ctx := context.Background()
	log := openLimited(t, shardlog.AccountLimits{Shards: 12})
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "base", ShardCount: 2}))
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 20 {
		wg.Go(func() {
			errs <- log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: fmt.Sprint("s", i), ShardCount: 1})
		})
	}
	wg.Go(func() {
		for range 10 {
			d, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: "base"})
			if err != nil {
				errs <- err
				return
			}
			var open shardlog.Shard
			for _, sh := range d.Shards {
				if !sh.Closed {
					open = sh
				}
			}
			at, _ := new(big.Int).SetString(open.HashKeyRange.StartingHashKey.String(), 10)
			errs <- log.SplitShard(ctx, shardlog.SplitShardInput{StreamName: "base", ShardToSplit: open.ShardID, NewStartingHashKey: at.Add(at, big.NewInt(1)).String()})
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			require.ErrorIs(t, err, shardlog.ErrLimitExceeded)
		}
	}
	lim, err := log.DescribeLimits(ctx, shardlog.DescribeLimitsInput{})
	require.NoError(t, err)
	require.Equal(t, 12, lim.OpenShardCount, "filled to the quota, never past it")
}

// failingSaves is an engine whose SaveStream fails while fail is set.
type failingSaves struct {
	shardlog.Engine
	fail bool
}

func (f *failingSaves) SaveStream(ctx context.Context, m shardlog.StreamMeta) error {
	if f.fail {
		return errors.New("injected: disk full")
	}
	return f.Engine.SaveStream(ctx, m)
}

// TestAccountLimitsFailedReshard: a reshard that fails after sealing
// shards (its metadata could not be saved) takes none of the quota, and a
// deleted stream gives its shards back at once.
func TestAccountLimitsFailedReshard(t *testing.T) {
	ctx := context.Background()
	eng := &failingSaves{Engine: memory.New()}
	log, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0), shardlog.WithAccountLimits(shardlog.AccountLimits{Shards: 4}))
	require.NoError(t, err)
	defer log.Close()
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "a", ShardCount: 2}))
	eng.fail = true
	_, err = log.UpdateShardCount(ctx, shardlog.UpdateShardCountInput{StreamName: "a", TargetShardCount: 4})
	require.ErrorIs(t, err, shardlog.ErrInternalFailure)
	eng.fail = false
	d, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: "a"})
	require.NoError(t, err)
	require.Equal(t, shardlog.StatusUpdating, d.StreamStatus, "the failed reshard sealed shards")
	lim, err := log.DescribeLimits(ctx, shardlog.DescribeLimitsInput{})
	require.NoError(t, err)
	require.Equal(t, 2, lim.OpenShardCount, "the failed reshard reserved nothing")
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "b", ShardCount: 2}))
	require.ErrorIs(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "c", ShardCount: 1}), shardlog.ErrLimitExceeded)
	require.NoError(t, log.DeleteStream(ctx, shardlog.DeleteStreamInput{StreamName: "a"}))
	require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "c", ShardCount: 2}))
}
