package delivery

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

type rtHoldDest struct{}

func (rtHoldDest) Deliver(context.Context, *Batch) error { return nil }

func TestRetentionHolderReportsTheDeliveredCheckpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l, err := shardlog.Open(ctx, memory.New())
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "src", ShardCount: 1}))
		s, err := New(Config{Name: "h", Source: Source{Log: l, StreamName: "src"}, Destination: rtHoldDest{},
			Buffering: BufferingHints{Interval: time.Minute}, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		h := holder{s}
		const parent = "shardId-000000000000"
		put := func(n int) (last shardlog.SequenceNumber) {
			for range n {
				out, err := l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "src", PartitionKey: "k", Data: []byte("x")})
				require.NoError(t, err)
				last = out.SequenceNumber
			}
			return last
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()

		last := put(3)
		synctest.Wait()
		got, err := h.ArchivedThrough(ctx, "src", parent)
		require.NoError(t, err)
		assert.True(t, got.IsZero(), "buffered is not archived")
		time.Sleep(time.Minute)
		synctest.Wait()
		got, err = h.ArchivedThrough(ctx, "src", parent)
		require.NoError(t, err)
		assert.Equal(t, last, got)
		// Freshness: nothing buffered now.
		assert.Zero(t, s.Status().DataFreshness)
		put(1)
		synctest.Wait()
		time.Sleep(20 * time.Second)
		synctest.Wait()
		s.updateFreshness()
		assert.Equal(t, 20*time.Second, s.Status().DataFreshness)

		// Split: the parent is delivered to its end, and reported through
		// its last record, from the checkpoint store once its worker is gone.
		require.NoError(t, l.SplitShard(ctx, shardlog.SplitShardInput{StreamName: "src", ShardToSplit: parent, NewStartingHashKey: "170141183460469231731687303715884105728"}))
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		d, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: "src"})
		require.NoError(t, err)
		got, err = h.ArchivedThrough(ctx, "src", parent)
		require.NoError(t, err)
		assert.Equal(t, d.Shards[0].EndingSequenceNumber, got)
		cancel()
		require.NoError(t, <-done)
		got, err = h.ArchivedThrough(ctx, "other", parent)
		require.NoError(t, err)
		assert.True(t, got.IsZero())
	})
}
