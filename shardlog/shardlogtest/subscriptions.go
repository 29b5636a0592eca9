package shardlogtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// rsWait bounds every wait for an event, far below SubscriptionHeartbeat so
// a missed wake-up fails instead of turning into an empty heartbeat event.
const rsWait = 2 * time.Second

type rsResult struct {
	ev  *shardlog.SubscribeToShardEvent
	err error
}

// rsNextAsync calls Next in a goroutine, bounded by rsWait.
func rsNextAsync(ctx context.Context, sub *shardlog.Subscription) <-chan rsResult {
	ch := make(chan rsResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, rsWait)
		defer cancel()
		ev, err := sub.Next(ctx)
		ch <- rsResult{ev, err}
	}()
	return ch
}

// rsNext calls Next, bounded by rsWait.
func rsNext(t *testing.T, sub *shardlog.Subscription) (*shardlog.SubscribeToShardEvent, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), rsWait)
	defer cancel()
	return sub.Next(ctx)
}

// rsRequireBlocked asserts Next has not returned yet.
func rsRequireBlocked(t *testing.T, ch <-chan rsResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Next returned early: %+v, %v", r.ev, r.err)
	case <-time.After(20 * time.Millisecond):
	}
}

// rsAwait returns the result of an rsNextAsync.
func rsAwait(t *testing.T, ch <-chan rsResult) rsResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(rsWait + time.Second):
		t.Fatal("Next did not return")
		return rsResult{}
	}
}

// rsCollect calls Next until n records arrived, checking each event's
// continuation number.
func rsCollect(t *testing.T, sub *shardlog.Subscription, n int) []shardlog.Record {
	t.Helper()
	var out []shardlog.Record
	for len(out) < n {
		ev, err := rsNext(t, sub)
		require.NoError(t, err)
		require.NotEmpty(t, ev.Records, "empty event while waiting for records")
		require.Equal(t, ev.Records[len(ev.Records)-1].SequenceNumber, ev.ContinuationSequenceNumber)
		require.Nil(t, ev.ChildShards, "ChildShards on an open shard")
		out = append(out, ev.Records...)
	}
	require.Len(t, out, n)
	return out
}

func testSubscriptions(t *testing.T, newEngine NewEngine) {
	th := shardlog.StartingPosition{Type: shardlog.TrimHorizon}
	setup := func(t *testing.T) (*Harness, string) {
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		return h, rsConsumer(h, "s", "app")
	}

	t.Run("TrimHorizonThenLive", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		var want []shardlog.SequenceNumber
		for i := range 3 {
			want = append(want, h.Put("s", "k", []byte(fmt.Sprintf("old-%d", i))).SequenceNumber)
		}
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		got := rsCollect(t, sub, 3)
		require.Equal(t, []string{"old-0", "old-1", "old-2"}, rsData(got))

		// Next blocks until another goroutine appends, then returns promptly.
		ch := rsNextAsync(h.Ctx, sub)
		rsRequireBlocked(t, ch)
		const live = 5
		putErr := make(chan error, 1)
		go func() {
			for i := range live {
				if _, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte(fmt.Sprintf("new-%d", i))}); err != nil {
					putErr <- err
					return
				}
			}
			putErr <- nil
		}()
		r := rsAwait(t, ch)
		require.NoError(t, r.err)
		require.NotEmpty(t, r.ev.Records)
		require.Equal(t, r.ev.Records[len(r.ev.Records)-1].SequenceNumber, r.ev.ContinuationSequenceNumber)
		got = append(got, r.ev.Records...)
		if n := len(got) - 3; n < live {
			got = append(got, rsCollect(t, sub, live-n)...)
		}
		require.NoError(t, <-putErr)
		require.Equal(t, []string{"old-0", "old-1", "old-2", "new-0", "new-1", "new-2", "new-3", "new-4"}, rsData(got))
		for i := 1; i < len(got); i++ {
			require.Positive(t, got[i].SequenceNumber.Compare(got[i-1].SequenceNumber))
		}
		require.Equal(t, want, []shardlog.SequenceNumber{got[0].SequenceNumber, got[1].SequenceNumber, got[2].SequenceNumber})
	})

	t.Run("StartingPositions", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		var seqs []shardlog.SequenceNumber
		for i := range 4 {
			seqs = append(seqs, h.Put("s", "k", []byte(fmt.Sprint(i))).SequenceNumber)
		}
		h.Clock.Advance(time.Second)
		cases := []struct {
			pos  shardlog.StartingPosition
			want []string
		}{
			{shardlog.StartingPosition{Type: shardlog.AtSequenceNumber, SequenceNumber: seqs[1]}, []string{"1", "2", "3", "x"}},
			{shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: seqs[1]}, []string{"2", "3", "x"}},
			{shardlog.StartingPosition{Type: shardlog.AtTimestamp, Timestamp: Epoch}, []string{"0", "1", "2", "3", "x"}},
			{shardlog.StartingPosition{Type: shardlog.Latest}, []string{"x"}},
		}
		subs := make([]*shardlog.Subscription, len(cases))
		for i, tc := range cases {
			// One consumer per position: the same consumer may hold one
			// subscription per shard at a time.
			a := arn
			if i > 0 {
				a = rsConsumer(h, "s", fmt.Sprintf("app%d", i))
			}
			subs[i] = rsSubscribe(h, a, rsShardID(0), tc.pos)
			defer subs[i].Close()
		}
		h.Put("s", "k", []byte("x"))
		for i, tc := range cases {
			require.Equal(t, tc.want, rsData(rsCollect(t, subs[i], len(tc.want))), "position %+v", tc.pos)
		}
		// Bad positions are refused.
		a := rsConsumer(h, "s", "bad")
		for _, pos := range []shardlog.StartingPosition{
			{Type: shardlog.AfterSequenceNumber},
			{Type: shardlog.AtTimestamp},
			{Type: "SOMEWHERE"},
			{Type: shardlog.AtSequenceNumber, SequenceNumber: shardlog.MakeSequenceNumber(seqs[0].Position(), 5)},
		} {
			_, err := h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: a, ShardID: rsShardID(0), StartingPosition: pos})
			require.ErrorIs(t, err, shardlog.ErrInvalidArgument, "position %+v", pos)
		}
	})

	t.Run("ResumeFromContinuation", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		for i := range 3 {
			h.Put("s", "k", []byte(fmt.Sprint(i)))
		}
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		got := rsCollect(t, sub, 3)
		ev := got[len(got)-1].SequenceNumber
		require.NoError(t, sub.Close())
		for i := 3; i < 6; i++ {
			h.Put("s", "k", []byte(fmt.Sprint(i)))
		}
		h.Clock.Advance(shardlog.ResubscribeGuard)
		sub = rsSubscribe(h, arn, rsShardID(0), shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: ev})
		defer sub.Close()
		require.Equal(t, []string{"3", "4", "5"}, rsData(rsCollect(t, sub, 3)))
	})

	t.Run("ResubscribeGuardAndTakeover", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		h.CreateStream("t", 2)
		arnT := rsConsumer(h, "t", "app")
		other := rsConsumer(h, "s", "other")
		old := rsSubscribe(h, arn, rsShardID(0), th)
		defer old.Close()

		h.Clock.Advance(shardlog.ResubscribeGuard - time.Nanosecond)
		_, err := h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arn, ShardID: rsShardID(0), StartingPosition: th})
		require.ErrorIs(t, err, shardlog.ErrResourceInUse)
		// Another consumer of the shard, or the same consumer on other
		// shards, is not affected.
		rsSubscribe(h, other, rsShardID(0), th).Close()
		rsSubscribe(h, arnT, rsShardID(0), th).Close()
		rsSubscribe(h, arnT, rsShardID(1), th).Close()

		// The old subscription is waiting when the new one takes over.
		ch := rsNextAsync(h.Ctx, old)
		rsRequireBlocked(t, ch)
		h.Clock.Advance(time.Nanosecond)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		r := rsAwait(t, ch)
		require.ErrorIs(t, r.err, shardlog.ErrResourceInUse)
		_, err = rsNext(t, old)
		require.ErrorIs(t, err, shardlog.ErrResourceInUse)

		h.Put("s", "k", []byte("x"))
		require.Equal(t, []string{"x"}, rsData(rsCollect(t, sub, 1)))
	})

	t.Run("Lifetime", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		h.Clock.Advance(shardlog.SubscriptionLifetime - time.Nanosecond)
		h.Put("s", "k", []byte("last"))
		require.Equal(t, []string{"last"}, rsData(rsCollect(t, sub, 1)))
		h.Clock.Advance(time.Nanosecond)
		h.Put("s", "k", []byte("too late"))
		_, err := rsNext(t, sub)
		require.ErrorIs(t, err, io.EOF)
	})

	t.Run("ClosedShardEnd", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		var last shardlog.SequenceNumber
		for i := range 2 {
			last = h.Put("s", "k", []byte(fmt.Sprint(i))).SequenceNumber
		}
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		require.Equal(t, []string{"0", "1"}, rsData(rsCollect(t, sub, 2)))

		// Split while the subscriber waits: the last event names the children.
		ch := rsNextAsync(h.Ctx, sub)
		rsRequireBlocked(t, ch)
		require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: rsShardID(0), NewStartingHashKey: rsMid(rsShard(h, "s", rsShardID(0)).HashKeyRange)}))
		r := rsAwait(t, ch)
		require.NoError(t, r.err)
		require.Empty(t, r.ev.Records)
		require.Equal(t, last, r.ev.ContinuationSequenceNumber)
		require.Equal(t, []string{rsShardID(1), rsShardID(2)}, rsChildIDs(r.ev.ChildShards))
		for _, c := range r.ev.ChildShards {
			require.Equal(t, []string{rsShardID(0)}, c.ParentShards)
			require.Equal(t, rsShard(h, "s", c.ShardID).HashKeyRange, c.HashKeyRange)
		}
		_, err := rsNext(t, sub)
		require.ErrorIs(t, err, io.EOF)

		// Subscribing to a closed shard delivers its records and the
		// children in one go, then ends.
		h.Clock.Advance(shardlog.ResubscribeGuard)
		sub2 := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub2.Close()
		ev, err := rsNext(t, sub2)
		require.NoError(t, err)
		require.Equal(t, []string{"0", "1"}, rsData(ev.Records))
		require.Equal(t, last, ev.ContinuationSequenceNumber)
		require.Equal(t, []string{rsShardID(1), rsShardID(2)}, rsChildIDs(ev.ChildShards))
		_, err = rsNext(t, sub2)
		require.ErrorIs(t, err, io.EOF)
	})

	t.Run("MergedShardEnd", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 2)
		arn := rsConsumer(h, "s", "app")
		sub := rsSubscribe(h, arn, rsShardID(1), th)
		defer sub.Close()
		require.NoError(t, h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: "s", ShardToMerge: rsShardID(0), AdjacentShardToMerge: rsShardID(1)}))
		ev, err := rsNext(t, sub)
		require.NoError(t, err)
		require.Empty(t, ev.Records)
		require.Len(t, ev.ChildShards, 1)
		require.Equal(t, rsShardID(2), ev.ChildShards[0].ShardID)
		require.Equal(t, []string{rsShardID(0), rsShardID(1)}, ev.ChildShards[0].ParentShards)
		_, err = rsNext(t, sub)
		require.ErrorIs(t, err, io.EOF)
	})

	t.Run("DeregisterEndsSubscription", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		ch := rsNextAsync(h.Ctx, sub)
		rsRequireBlocked(t, ch)
		require.NoError(t, h.Log.DeregisterStreamConsumer(h.Ctx, shardlog.DeregisterStreamConsumerInput{StreamName: "s", ConsumerName: "app"}))
		r := rsAwait(t, ch)
		require.ErrorIs(t, r.err, shardlog.ErrResourceNotFound)
		h.Put("s", "k", []byte("x"))
		_, err := rsNext(t, sub)
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})

	t.Run("DeleteStreamEndsSubscription", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		ch := rsNextAsync(h.Ctx, sub)
		rsRequireBlocked(t, ch)
		require.NoError(t, h.Log.DeleteStream(h.Ctx, shardlog.DeleteStreamInput{StreamName: "s", EnforceConsumerDeletion: true}))
		r := rsAwait(t, ch)
		require.ErrorIs(t, r.err, shardlog.ErrResourceNotFound)
	})

	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		ch := rsNextAsync(h.Ctx, sub)
		rsRequireBlocked(t, ch)
		require.NoError(t, sub.Close())
		r := rsAwait(t, ch)
		require.ErrorIs(t, r.err, io.EOF)
		h.Put("s", "k", []byte("x"))
		_, err := rsNext(t, sub)
		require.ErrorIs(t, err, io.EOF)
		require.NoError(t, sub.Close(), "closing twice")
	})

	t.Run("ContextCancelUnblocksNext", func(t *testing.T) {
		t.Parallel()
		h, arn := setup(t)
		sub := rsSubscribe(h, arn, rsShardID(0), th)
		defer sub.Close()
		ctx, cancel := context.WithCancel(h.Ctx)
		go func() {
			time.Sleep(20 * time.Millisecond)
			cancel()
		}()
		began := time.Now()
		_, err := sub.Next(ctx)
		require.ErrorIs(t, err, context.Canceled)
		require.Less(t, time.Since(began), rsWait, "Next ignored the cancelled context")
		// An already cancelled context returns at once as well.
		_, err = sub.Next(ctx)
		require.True(t, errors.Is(err, context.Canceled), "got %v", err)
		// The subscription is still usable with a live context.
		h.Put("s", "k", []byte("x"))
		require.Equal(t, []string{"x"}, rsData(rsCollect(t, sub, 1)))
	})
}
