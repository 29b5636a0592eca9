package delivery_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// Run leaves no goroutine behind: with leases over four shards, a
// transform, a reshard and the ObjectDestination on a DirStore, once Run
// returned every goroutine it started has ended (synctest.Wait lets the
// bubble's goroutines settle). runtime.NumGoroutine counts the whole
// process, where goroutines of earlier tests may still be ending, so the
// count after Run may be lower than before, never higher.
func TestRunLeavesNoGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := rtLog(t, 4)
		defer l.Close()
		store, err := delivery.NewDirStore(t.TempDir())
		require.NoError(t, err)
		dest, err := delivery.NewObjectDestination(store, delivery.ObjectOptions{})
		require.NoError(t, err)
		synctest.Wait()
		before := runtime.NumGoroutine()

		c := rtConfig(l, dest, time.Second)
		c.Source.Checkpoints, c.Source.Owner, c.Source.LeaseTTL = projection.NewMemoryStore(), "a", 3*time.Second
		c.Transform = byPrefix(new(atomic.Int64))
		s, err := delivery.New(c)
		require.NoError(t, err)
		stop := rtRun(t, s)
		rtPut(t, l, rtSource, rtKey, rtStrings("ok", 40)...)
		time.Sleep(5 * time.Second)
		shards := s.Status().Shards
		require.NoError(t, l.MergeShards(ctx, shardlog.MergeShardsInput{StreamName: rtSource, ShardToMerge: shards[0].ShardID, AdjacentShardToMerge: shards[1].ShardID}))
		rtPut(t, l, rtSource, rtKey, rtStrings("ok", 40)...)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())
		synctest.Wait()
		assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left after Run returned")
		assert.EqualValues(t, 80, s.Status().DeliveredRecords)
	})
}
