package delivery_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
)

// A shard that closes while the stream runs is recorded as closed in the
// ObjectDestination's catalog, with its ending sequence number, whether
// its last batch carried the end or every record was delivered before it
// closed.
func TestShardClosedWhileRunningIsRecorded(t *testing.T) {
	for name, before := range map[string]bool{"records after the last delivery": false, "nothing after the last delivery": true} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				l := rtLog(t, 1)
				defer l.Close()
				dir, err := delivery.NewDirStore(t.TempDir())
				require.NoError(t, err)
				dest, err := delivery.NewObjectDestination(dir, delivery.ObjectOptions{})
				require.NoError(t, err)
				s, err := delivery.New(rtConfig(l, dest, 10*time.Second))
				require.NoError(t, err)
				stop := rtRun(t, s)
				rtPut(t, l, rtSource, rtKey, rtStrings("a", 5)...)
				time.Sleep(time.Minute)
				synctest.Wait()
				if !before {
					rtPut(t, l, rtSource, rtKey, rtStrings("b", 5)...)
				}
				const parent = "shardId-000000000000"
				require.NoError(t, l.SplitShard(ctx, shardlog.SplitShardInput{StreamName: rtSource, ShardToSplit: parent, NewStartingHashKey: "170141183460469231731687303715884105728"}))
				rtPut(t, l, rtSource, rtKey, rtStrings("c", 5)...)
				time.Sleep(time.Minute)
				synctest.Wait()
				require.NoError(t, stop())

				d, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: rtSource})
				require.NoError(t, err)
				var ending shardlog.SequenceNumber
				for _, sh := range d.Shards {
					if sh.ShardID == parent {
						ending = sh.EndingSequenceNumber
					}
				}
				require.False(t, ending.IsZero())
				a, err := delivery.NewObjectArchive(dir, dest.Options())
				require.NoError(t, err)
				shards, err := a.ArchivedShards(ctx, rtSource)
				require.NoError(t, err)
				require.Len(t, shards, 3)
				assert.Equal(t, parent, shards[0].ShardID)
				assert.True(t, shards[0].Closed, "the parent is recorded as closed")
				assert.Equal(t, ending, shards[0].EndingSequenceNumber)
				for _, sh := range shards[1:] {
					assert.Equal(t, parent, sh.ParentShardID)
					assert.False(t, sh.Closed)
				}
			})
		})
	}
}
