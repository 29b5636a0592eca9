package shardlogtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// mlTail reads a shard through a cursor in a goroutine, waiting for new
// records, and hands each record (or the error that ended the reading) to
// the returned channel; the channel is closed when the cursor reaches the
// end of a closed shard. The reading stops when the test ends.
func mlTail(t *testing.T, ctx context.Context, l *shardlog.Log, stream, shard string) <-chan rsTailed {
	t.Helper()
	cur, err := l.NewCursor(ctx, shardlog.NewCursorInput{StreamName: stream, ShardID: shard, StartingPosition: shardlog.StartingPosition{Type: shardlog.Latest}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan rsTailed, 100)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		defer close(ch)
		for r, err := range cur.Records(ctx) {
			ch <- rsTailed{r, err}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// rsTailed is one record read by mlTail, or the error that ended it.
type rsTailed struct {
	rec shardlog.Record
	err error
}

// mlRequireTailed waits for the next record of an mlTail, bounded by rsWait
// (a reader that missed its wake-up would never return).
func mlRequireTailed(t *testing.T, ch <-chan rsTailed, data string) shardlog.Record {
	t.Helper()
	select {
	case r, ok := <-ch:
		require.True(t, ok, "the reader stopped before %s", data)
		require.NoError(t, r.err)
		require.Equal(t, data, string(r.rec.Data))
		return r.rec
	case <-time.After(rsWait):
		t.Fatalf("the reader did not wake for %s within %v", data, rsWait)
		return shardlog.Record{}
	}
}

// mlRequireTailEnd waits for an mlTail to reach the end of its shard.
func mlRequireTailEnd(t *testing.T, ch <-chan rsTailed) {
	t.Helper()
	select {
	case r, ok := <-ch:
		require.False(t, ok, "a record or error after the shard's end: %+v", r)
	case <-time.After(rsWait):
		t.Fatalf("the reader did not reach the end of the closed shard within %v", rsWait)
	}
}

// mlSubscribe subscribes a consumer registered through another Log to a
// shard from LATEST through Log i, once Log i has learned of the consumer
// (within MultiLogPropagation).
func mlSubscribe(m *mlHarness, i int, arn, shard string) *shardlog.Subscription {
	t := m.T
	t.Helper()
	var sub *shardlog.Subscription
	mlSeen(t, fmt.Sprintf("Log %d subscribes a consumer another Log registered", i), func() error {
		var err error
		sub, err = m.Logs[i].SubscribeToShard(m.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arn, ShardID: shard, StartingPosition: shardlog.StartingPosition{Type: shardlog.Latest}})
		return err
	})
	return sub
}

// mlPut puts one record by partition key and requires success.
func mlPut(t *testing.T, m *mlHarness, l *shardlog.Log, stream, key, data string) shardlog.PutRecordOutput {
	t.Helper()
	out, err := l.PutRecord(m.Ctx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: key, Data: []byte(data)})
	require.NoError(t, err)
	return *out
}

func testMultiLogReaders(t *testing.T, newShared NewSharedEngines) {
	t.Run("a cursor waiting through one Log wakes on puts through the others", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 3)
		a, b, c := m.Logs[0], m.Logs[1], m.Logs[2]
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
		shard := rsShardID(0)
		tail := mlTail(t, m.Ctx, b, "s", shard)
		for i := range 6 {
			// Nothing is left to read between rounds: the reader waits.
			writer := []*shardlog.Log{a, c}[i%2]
			d := fmt.Sprint("r", i)
			out := mlPut(t, m, writer, "s", "k", d)
			require.Equal(t, out.SequenceNumber, mlRequireTailed(t, tail, d).SequenceNumber)
		}

		// A split through a ends b's reading of the parent, even if b does
		// not hear of it through the change feed.
		m.Lag[1].Pause()
		require.NoError(t, a.SplitShard(m.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: shard, NewStartingHashKey: akPow2(127)}))
		mlRequireTailEnd(t, tail)
		itOut, err := b.GetShardIterator(m.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: shard, ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)
		_, res := rdDrain(m.H(1), itOut.ShardIterator, 100)
		require.Equal(t, []string{rsShardID(1), rsShardID(2)}, rsChildIDs(res.ChildShards), "b names the children a made")
	})

	t.Run("GetRecords through a Log that has not heard of a split ends the parent", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 2)
		a, b := m.Logs[0], m.Logs[1]
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
		it := rdIter(m.H(1), "s", rsShardID(0), shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		m.Lag[1].Pause() // b polls; no cursor or subscription of b meets the seal
		out := mlPut(t, m, a, "s", "k", "x")
		require.NoError(t, a.SplitShard(m.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(0), NewStartingHashKey: akPow2(127)}))
		res, err := b.GetRecords(m.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
		require.NoError(t, err)
		require.Equal(t, []string{"x"}, rsData(res.Records))
		require.Equal(t, out.SequenceNumber, res.Records[0].SequenceNumber)
		require.Empty(t, res.NextShardIterator, "the parent is sealed and read to its end")
		require.Equal(t, []string{rsShardID(1), rsShardID(2)}, rsChildIDs(res.ChildShards))
	})

	t.Run("GetRecords through one Log returns what another put", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 2)
		a := m.Logs[0]
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
		it := rdIter(m.H(1), "s", rsShardID(0), shardlog.Latest, shardlog.SequenceNumber{}, time.Time{})
		res := rdGet(m.H(1), it, 10)
		require.Empty(t, res.Records)
		for i := range 5 {
			d := fmt.Sprint("r", i)
			out := mlPut(t, m, a, "s", "k", d)
			// Acknowledged through a: b's next GetRecords returns it, no waiting.
			res = rdGet(m.H(1), res.NextShardIterator, 10)
			require.Equal(t, []string{d}, rsData(res.Records))
			require.Equal(t, out.SequenceNumber, res.Records[0].SequenceNumber)
		}
	})

	t.Run("a subscription through one Log gets records put through the others", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 3)
		a, c := m.Logs[0], m.Logs[2]
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
		arn := rsConsumer(m.H(0), "s", "projector")
		sub := mlSubscribe(m, 1, arn, rsShardID(0))
		for i := range 6 {
			next := rsNextAsync(m.Ctx, sub)
			rsRequireBlocked(t, next)
			writer := []*shardlog.Log{a, c}[i%2]
			d := fmt.Sprint("r", i)
			out := mlPut(t, m, writer, "s", "k", d)
			r := rsAwait(t, next)
			require.NoError(t, r.err)
			require.Equal(t, []string{d}, rsData(r.ev.Records), "round %d", i)
			require.Equal(t, out.SequenceNumber, r.ev.ContinuationSequenceNumber)
		}

		// A split through a ends b's subscription with the children, even
		// if b does not hear of it through the change feed.
		m.Lag[1].Pause()
		require.NoError(t, a.SplitShard(m.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(0), NewStartingHashKey: akPow2(127)}))
		r := rsAwait(t, rsNextAsync(m.Ctx, sub))
		require.NoError(t, r.err)
		require.Empty(t, r.ev.Records)
		require.Equal(t, []string{rsShardID(1), rsShardID(2)}, rsChildIDs(r.ev.ChildShards))
	})
}

func testMultiLogClose(t *testing.T, newShared NewSharedEngines) {
	t.Run("closing one Log leaves the others working", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 3)
		a, b, c := m.Logs[0], m.Logs[1], m.Logs[2]
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: akStream, ShardCount: 1}))
		arn := rsConsumer(m.H(0), akStream, "projector")
		sub := mlSubscribe(m, 2, arn, rsShardID(0))
		tail := mlTail(t, m.Ctx, c, akStream, rsShardID(0))
		first := mlPut(t, m, b, akStream, "k", "before")
		require.Equal(t, "before", string(mlRequireTailed(t, tail, "before").Data))
		require.Equal(t, []string{"before"}, rsData(rsCollect(t, sub, 1)))

		require.NoError(t, a.Close())
		_, err := a.PutRecord(m.Ctx, shardlog.PutRecordInput{StreamName: akStream, PartitionKey: "k", Data: []byte("closed")})
		require.ErrorIs(t, err, shardlog.ErrClosed)
		require.NoError(t, a.Close(), "closing twice")

		// b and c go on: puts, readers, conditional appends, changes.
		mlPut(t, m, b, akStream, "k", "after")
		require.Equal(t, "after", string(mlRequireTailed(t, tail, "after").Data))
		require.Equal(t, []string{"after"}, rsData(rsCollect(t, sub, 1)))
		out, err := c.AppendKey(m.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: "k", Data: akBatch("c", 1), ExpectedSequenceNumber: akLast(m.H(1), "k")})
		require.NoError(t, err)
		require.Equal(t, out.Last, akLast(m.H(1), "k"))
		require.Positive(t, out.Last.Compare(first.SequenceNumber))
		mlRequireTailed(t, tail, "c-0")
		require.Equal(t, []string{"c-0"}, rsData(rsCollect(t, sub, 1)))
		require.NoError(t, b.AddTagsToStream(m.Ctx, shardlog.AddTagsToStreamInput{StreamName: akStream, Tags: map[string]string{"after": "close"}}))
		mlSeen(t, "c sees b's tag", func() error {
			tags, err := mlTags(m, c, akStream)
			if err == nil && tags["after"] != "close" {
				err = errors.New("tag missing")
			}
			return err
		})

		// A Log opened after the close shares the log too.
		d := m.OpenLog()
		got, err := akReadAll(m.Ctx, d, akStream, "k", shardlog.SequenceNumber{})
		require.NoError(t, err)
		require.Equal(t, []string{"before", "after", "c-0"}, rsData(got))
		mlPut(t, m, d, akStream, "k", "from-d")
		require.Equal(t, "from-d", string(mlRequireTailed(t, tail, "from-d").Data))
	})
}
