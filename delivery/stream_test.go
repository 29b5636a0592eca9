package delivery_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

const rtKiB = 1024

func TestBufferBySize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{}
		c := rtConfig(l, dest, 900*time.Second)
		c.Buffering.SizeMiB = 1
		s, err := delivery.New(c)
		require.NoError(t, err)
		stop := rtRun(t, s)

		// One byte short of 1 MiB: nothing is delivered.
		rtPut(t, l, rtSource, rtKey, rtBytes(256*rtKiB, 'a'), rtBytes(256*rtKiB, 'b'), rtBytes(256*rtKiB, 'c'), rtBytes(256*rtKiB-1, 'd'))
		synctest.Wait()
		assert.Empty(t, dest.got())
		st := s.Status()
		require.Len(t, st.Shards, 1)
		assert.Equal(t, 4, st.Shards[0].BufferedRecords)
		assert.Equal(t, 1<<20-1, st.Shards[0].BufferedBytes)

		// Exactly 1 MiB: delivered at once.
		rtPut(t, l, rtSource, rtKey, []byte("e"))
		synctest.Wait()
		got := dest.got()
		require.Len(t, got, 1)
		assert.Len(t, got[0].Records, 5)
		assert.Equal(t, 1<<20, got[0].Bytes)
		assert.Equal(t, got[0].Records[0].SequenceNumber, got[0].First)
		assert.Equal(t, got[0].Records[4].SequenceNumber, got[0].Last)
		assert.Equal(t, "archive", got[0].DeliveryStream)
		assert.Equal(t, 1, got[0].Version)
		assert.Equal(t, rtSource, got[0].Source)
		assert.Equal(t, "shardId-000000000000", got[0].Shard.ShardID)
		cps := rtCheckpoints(t, s.Config().Source.Checkpoints, "archive")
		assert.Equal(t, got[0].Last, cps["shardId-000000000000"].After)

		// Past 1 MiB: the record that crosses the threshold is in the batch.
		rtPut(t, l, rtSource, rtKey, rtBytes(512*rtKiB, 'f'), rtBytes(600*rtKiB, 'g'))
		synctest.Wait()
		got = dest.got()
		require.Len(t, got, 2)
		assert.Len(t, got[1].Records, 2)
		assert.Equal(t, (512+600)*rtKiB, got[1].Bytes)
		require.NoError(t, stop())
	})
}

func TestBufferByInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{}
		s, err := delivery.New(rtConfig(l, dest, 60*time.Second))
		require.NoError(t, err)
		stop := rtRun(t, s)
		synctest.Wait()

		rtPut(t, l, rtSource, rtKey, rtStrings("a", 3)...)
		time.Sleep(30 * time.Second)
		rtPut(t, l, rtSource, rtKey, rtStrings("b", 2)...)
		time.Sleep(29 * time.Second)
		synctest.Wait()
		assert.Empty(t, dest.got(), "nothing before the interval")
		time.Sleep(time.Second)
		synctest.Wait()
		require.Len(t, dest.got(), 1, "delivered at the interval, measured from the oldest record")
		assert.Equal(t, []string{"a-0", "a-1", "a-2", "b-0", "b-1"}, dest.data())

		// The next buffer's interval starts with its own first record.
		time.Sleep(10 * time.Second)
		rtPut(t, l, rtSource, rtKey, []byte("c"))
		time.Sleep(59 * time.Second)
		synctest.Wait()
		assert.Len(t, dest.got(), 1)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Len(t, dest.got(), 2)
		require.NoError(t, stop())
	})
}

func TestIntervalZeroDeliversAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{}
		s, err := delivery.New(rtConfig(l, dest, 0))
		require.NoError(t, err)
		stop := rtRun(t, s)
		synctest.Wait()
		rtPut(t, l, rtSource, rtKey, []byte("x"))
		synctest.Wait()
		assert.Equal(t, []string{"x"}, dest.data())
		rtPut(t, l, rtSource, rtKey, []byte("y"))
		synctest.Wait()
		assert.Equal(t, []string{"x", "y"}, dest.data())
		require.NoError(t, stop())
	})
}

func TestGracefulStopDeliversTheBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 2)
		defer l.Close()
		dest := &rtDest{}
		s, err := delivery.New(rtConfig(l, dest, 900*time.Second))
		require.NoError(t, err)
		stop := rtRun(t, s)
		rtPut(t, l, rtSource, rtKey, rtStrings("r", 20)...)
		synctest.Wait()
		assert.Empty(t, dest.got())
		require.NoError(t, stop())
		assert.ElementsMatch(t, rtStrs(rtStrings("r", 20)), dest.data())
		// One batch per shard: a batch never mixes shards.
		got := dest.got()
		require.Len(t, got, 2)
		assert.NotEqual(t, got[0].Shard.ShardID, got[1].Shard.ShardID)
		cps := rtCheckpoints(t, s.Config().Source.Checkpoints, "archive")
		for _, b := range got {
			for _, r := range b.Records {
				assert.Equal(t, b.Shard.ShardID, r.SequenceNumber.ShardID())
			}
			assert.Equal(t, b.Last, cps[b.Shard.ShardID].After)
		}
		st := s.Status()
		assert.Equal(t, delivery.Stopped, st.State)
		assert.NoError(t, st.Err)
		assert.False(t, st.Running)
		assert.False(t, st.CreatedAt.IsZero())
		assert.False(t, st.StartedAt.Before(st.CreatedAt))
		assert.Equal(t, rtSource, st.Source)
		require.Len(t, st.Shards, 2)
		for _, sh := range st.Shards {
			assert.False(t, sh.Checkpoint.IsZero())
			assert.False(t, sh.Running)
			assert.Zero(t, sh.BufferedRecords)
		}
		assert.EqualValues(t, 20, st.DeliveredRecords)
		assert.ErrorIs(t, s.Run(context.Background()), delivery.ErrRunning)
	})
}

func rtStrs(b [][]byte) []string {
	out := make([]string, len(b))
	for i := range b {
		out[i] = string(b[i])
	}
	return out
}

func TestCheckpointMovesOnlyAfterDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{failN: 4}
		m := &rtMetrics{}
		c := rtConfig(l, dest, 10*time.Second)
		c.Metrics = m
		s, err := delivery.New(c)
		require.NoError(t, err)
		cps := s.Config().Source.Checkpoints
		var seen []shardlog.SequenceNumber
		dest.before = func(*delivery.Batch) {
			seen = append(seen, rtCheckpoints(t, cps, "archive")["shardId-000000000000"].After)
		}
		stop := rtRun(t, s)
		rtPut(t, l, rtSource, rtKey, rtStrings("r", 5)...)
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, rtStrs(rtStrings("r", 5)), dest.data(), "no loss, no duplicate")
		require.Len(t, seen, 5)
		for _, sq := range seen {
			assert.True(t, sq.IsZero(), "the checkpoint moved while the destination failed")
		}
		assert.Equal(t, dest.got()[0].Last, rtCheckpoints(t, cps, "archive")["shardId-000000000000"].After)
		assert.EqualValues(t, 1, m.count(delivery.DeliverySuccess))
		assert.EqualValues(t, 5, m.count(delivery.DeliveryRecords))
		assert.EqualValues(t, 5, m.count(delivery.DataReadRecords))
		assert.EqualValues(t, 1, m.count(delivery.DeliveryObjectCount))
		require.NoError(t, stop())
	})
}

func TestRetryExhaustedToErrorOutput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{down: true}
		eo := &rtErrOut{}
		c := rtConfig(l, dest, 0)
		c.ErrorOutput = eo
		c.Retry.Duration = 10 * time.Second
		s, err := delivery.New(c)
		require.NoError(t, err)
		stop := rtRun(t, s)
		synctest.Wait()
		start := time.Now()
		rtPut(t, l, rtSource, rtConstKey("k"), rtStrings("r", 3)...)
		time.Sleep(time.Minute)
		synctest.Wait()
		failed := eo.got(delivery.DeliveryFailed)
		require.Len(t, failed, 3)
		cps := rtCheckpoints(t, s.Config().Source.Checkpoints, "archive")
		for i, f := range failed {
			assert.Equal(t, []byte(rtStrings("r", 3)[i]), f.RawData)
			assert.NotEmpty(t, f.ErrorCode)
			assert.Contains(t, f.ErrorMessage, errRtDown.Error())
			assert.Greater(t, f.AttemptsMade, 1)
			assert.Equal(t, rtSource, f.Source)
			assert.Equal(t, "shardId-000000000000", f.ShardID)
			assert.Equal(t, "k", f.PartitionKey)
			assert.False(t, f.SequenceNumber.IsZero())
			assert.False(t, f.ArrivalTimestamp.IsZero())
			assert.False(t, f.AttemptEndingTimestamp.Before(start.Add(10*time.Second)), "retried for the whole duration")
		}
		assert.Equal(t, failed[2].SequenceNumber, cps["shardId-000000000000"].After, "moved on past the failed batch")

		// The stream goes on.
		dest.setDown(false)
		rtPut(t, l, rtSource, rtKey, []byte("next"))
		synctest.Wait()
		assert.Equal(t, []string{"next"}, dest.data())
		assert.EqualValues(t, 3, s.Status().FailedRecords)
		require.NoError(t, stop())
	})
}

func TestRetryExhaustedStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{down: true}
		c := rtConfig(l, dest, 0)
		c.ErrorOutput = &rtErrOut{}
		c.Retry.Duration = 10 * time.Second
		c.Retry.OnExhausted = delivery.Stop
		s, err := delivery.New(c)
		require.NoError(t, err)
		rtPut(t, l, rtSource, rtKey, rtStrings("r", 3)...)
		err = s.Run(context.Background())
		var de *delivery.DeliveryError
		require.ErrorAs(t, err, &de)
		assert.ErrorIs(t, err, errRtDown)
		assert.Equal(t, "shardId-000000000000", de.ShardID)
		assert.Greater(t, de.Attempts, 1)
		cps := rtCheckpoints(t, s.Config().Source.Checkpoints, "archive")
		assert.True(t, cps["shardId-000000000000"].After.IsZero(), "the checkpoint stays before the batch")
		st := s.Status()
		assert.Equal(t, delivery.Stopped, st.State)
		assert.ErrorIs(t, st.Err, errRtDown)
	})
}

func TestNoErrorOutputStopsRatherThanDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{down: true}
		c := rtConfig(l, dest, 0)
		c.Retry.Duration = -1 // no retries
		s, err := delivery.New(c)
		require.NoError(t, err)
		rtPut(t, l, rtSource, rtKey, rtStrings("r", 2)...)
		err = s.Run(context.Background())
		assert.ErrorIs(t, err, delivery.ErrNoErrorOutput)
		assert.True(t, rtCheckpoints(t, s.Config().Source.Checkpoints, "archive")["shardId-000000000000"].After.IsZero())
		assert.Equal(t, 1, dest.calls)
	})
}

func TestRestartResumesFromCheckpoints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 3)
		defer l.Close()
		dest := &rtDest{}
		c := rtConfig(l, dest, 5*time.Second)
		s, err := delivery.New(c)
		require.NoError(t, err)
		c.Source.Checkpoints = s.Config().Source.Checkpoints
		stop := rtRun(t, s)
		rtPut(t, l, rtSource, rtKey, rtStrings("a", 30)...)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())
		rtPut(t, l, rtSource, rtKey, rtStrings("b", 30)...) // while stopped

		s2, err := delivery.New(c)
		require.NoError(t, err)
		stop = rtRun(t, s2)
		rtPut(t, l, rtSource, rtKey, rtStrings("c", 30)...)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())
		want := append(append(rtStrs(rtStrings("a", 30)), rtStrs(rtStrings("b", 30))...), rtStrs(rtStrings("c", 30))...)
		assert.ElementsMatch(t, want, dest.data(), "every record once")
	})
}

func TestStartAtLatest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		rtPut(t, l, rtSource, rtKey, []byte("old"))
		dest := &rtDest{}
		c := rtConfig(l, dest, 0)
		c.Source.StartAtLatest = true
		s, err := delivery.New(c)
		require.NoError(t, err)
		stop := rtRun(t, s)
		synctest.Wait()
		rtPut(t, l, rtSource, rtKey, []byte("new"))
		synctest.Wait()
		require.NoError(t, stop())
		assert.Equal(t, []string{"new"}, dest.data())
	})
}

func TestSplitDeliversParentBeforeChildren(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{}
		c := rtConfig(l, dest, 5*time.Second)
		c.RelistInterval = time.Second // relist often while the parent's delivery is retried
		c.Retry.MinBackoff, c.Retry.MaxBackoff = 2*time.Second, 4*time.Second
		s, err := delivery.New(c)
		require.NoError(t, err)
		cps := s.Config().Source.Checkpoints
		parent := "shardId-000000000000"
		var order []string
		dest.before = func(b *delivery.Batch) {
			order = append(order, b.Shard.ShardID)
			if b.Shard.ShardID != parent {
				assert.True(t, rtCheckpoints(t, cps, "archive")[parent].Done, "a child delivered before its parent was done")
				assert.Equal(t, parent, b.Shard.ParentShardID, "the batch carries the shard's lineage")
			}
		}
		stop := rtRun(t, s)
		rtPut(t, l, rtSource, rtKey, rtStrings("p", 50)...)
		synctest.Wait()
		dest.mu.Lock()
		dest.failN = 3 // the parent's last batch takes a while
		dest.mu.Unlock()
		require.NoError(t, l.SplitShard(ctx, shardlog.SplitShardInput{StreamName: rtSource, ShardToSplit: parent, NewStartingHashKey: "170141183460469231731687303715884105728"}))
		rtPut(t, l, rtSource, rtKey, rtStrings("c", 50)...)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.NoError(t, stop())
		assert.ElementsMatch(t, append(rtStrs(rtStrings("p", 50)), rtStrs(rtStrings("c", 50))...), dest.data())
		require.GreaterOrEqual(t, len(order), 3)
		assert.Equal(t, parent, order[0])
		m := rtCheckpoints(t, cps, "archive")
		assert.True(t, m[parent].Done)
		assert.Len(t, m, 3)
	})
}

func TestExpiredGapIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := rtLog(t, 1)
		defer l.Close()
		rtPut(t, l, rtSource, rtKey, rtStrings("old", 3)...)
		first, err := l.NewCursor(ctx, shardlog.NewCursorInput{StreamName: rtSource, ShardID: "shardId-000000000000", StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		require.NoError(t, err)
		b, err := first.Next(ctx, 1)
		require.NoError(t, err)

		dest := &rtDest{}
		m := &rtMetrics{}
		c := rtConfig(l, dest, 0)
		c.NoRetentionHold = true
		c.Metrics = m
		s, err := delivery.New(c)
		require.NoError(t, err)
		// A checkpoint at the first record, then a day passes: the records
		// after it expire unread.
		require.NoError(t, s.Config().Source.Checkpoints.SaveCheckpoint(ctx, "archive", "shardId-000000000000", projection.Progress{After: b.Records[0].SequenceNumber}, 0))
		time.Sleep(25 * time.Hour)
		rtPut(t, l, rtSource, rtKey, []byte("new"))
		stop := rtRun(t, s)
		synctest.Wait()
		require.NoError(t, stop())
		assert.Equal(t, []string{"new"}, dest.data())
		assert.EqualValues(t, 1, s.Status().ExpiredGaps)
		assert.EqualValues(t, 1, m.count(delivery.ExpiredGaps))
	})
}

func TestTransformConfiguredStillDelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{}
		m := &rtMetrics{}
		c := rtConfig(l, dest, 0)
		c.Metrics = m
		// Every record Ok with its own data: the batch is delivered whole.
		c.Transform = func(_ context.Context, in []delivery.TransformRecord) ([]delivery.TransformedRecord, error) {
			out := make([]delivery.TransformedRecord, len(in))
			for i, r := range in {
				out[i] = delivery.TransformedRecord{RecordID: r.RecordID, Result: delivery.Ok, Data: r.Data}
			}
			return out, nil
		}
		s, err := delivery.New(c)
		require.NoError(t, err)
		stop := rtRun(t, s)
		synctest.Wait()
		rtPutAtOnce(t, l, rtSource, rtKey, rtStrings("t", 3)...)
		synctest.Wait()
		require.NoError(t, stop())
		assert.Equal(t, rtStrs(rtStrings("t", 3)), dest.data())
		assert.EqualValues(t, 3, m.count(delivery.SucceedProcessingRecs))
		assert.EqualValues(t, 1, m.count(delivery.ExecuteProcessingOK))
	})
}

func TestGracefulStopIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{down: true}
		c := rtConfig(l, dest, 900*time.Second)
		c.Retry.Duration = time.Hour
		c.ShutdownTimeout = 5 * time.Second
		s, err := delivery.New(c)
		require.NoError(t, err)
		stop := rtRun(t, s)
		rtPut(t, l, rtSource, rtKey, rtStrings("r", 3)...)
		synctest.Wait()
		start := time.Now()
		require.NoError(t, stop())
		assert.Equal(t, 5*time.Second, time.Since(start), "the stop waits the shutdown timeout, no longer")
		assert.Positive(t, dest.calls)
		assert.True(t, rtCheckpoints(t, s.Config().Source.Checkpoints, "archive")["shardId-000000000000"].After.IsZero())
	})
}
