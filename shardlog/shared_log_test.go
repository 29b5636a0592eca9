package shardlog_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// staleEngine is a handle on a shared in-memory log whose Log can be kept
// behind the others: with deaf set, its change feed delivers nothing, and
// with failLoads set, loading metadata fails (the database is unreachable).
type staleEngine struct {
	*memory.Engine
	failLoads atomic.Bool
	deaf      bool
	quiet     chan string // the feed handed out when deaf; never sends
}

var errUnreachable = errors.New("test: database unreachable")

func (e *staleEngine) LoadStream(ctx context.Context, name string) (shardlog.StreamMeta, bool, error) {
	if e.failLoads.Load() {
		return shardlog.StreamMeta{}, false, errUnreachable
	}
	return e.Engine.LoadStream(ctx, name)
}

func (e *staleEngine) LoadStreams(ctx context.Context) ([]shardlog.StreamMeta, error) {
	if e.failLoads.Load() {
		return nil, errUnreachable
	}
	return e.Engine.LoadStreams(ctx)
}

func (e *staleEngine) Changes() <-chan string {
	if e.deaf {
		return e.quiet
	}
	return e.Engine.Changes()
}

// twoSharedLogs opens Log a on a fresh in-memory log and Log b on e, a
// second handle on it (deaf to a's changes if told), both on clock and
// with one token secret.
func twoSharedLogs(t *testing.T, deaf bool, clock func() time.Time) (a, b *shardlog.Log, e *staleEngine) {
	t.Helper()
	ctx := context.Background()
	eng := memory.New()
	e = &staleEngine{Engine: eng.Attach(), deaf: deaf, quiet: make(chan string)}
	secret := shardlog.WithTokenSecret([]byte("one secret for both Logs"))
	a, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0), shardlog.WithClock(clock), secret)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	b, err = shardlog.Open(ctx, e, shardlog.WithRetentionInterval(0), shardlog.WithClock(clock), secret)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return a, b, e
}

// TestSharedPutRecordsReportsCommittedEntriesWhenRerouteFails: PutRecords
// over two shards, one of them sealed by another Log, commits the other
// shard's entries; when reloading the metadata to reroute the sealed
// group's entries then fails, those entries fail, but the committed ones
// are still reported as committed (not a whole-request error that a client
// would retry, storing them twice).
func TestSharedPutRecordsReportsCommittedEntriesWhenRerouteFails(t *testing.T) {
	ctx := context.Background()
	a, b, e := twoSharedLogs(t, true, time.Now)
	require.NoError(t, a.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 2}))
	_, err := b.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: "s"}) // b caches s
	require.NoError(t, err)

	// a splits shard 1 (hash keys from 2^127), which b does not learn of.
	require.NoError(t, a.SplitShard(ctx, shardlog.SplitShardInput{
		StreamName: "s", ShardToSplit: "shardId-000000000001", NewStartingHashKey: "255211775190703847597530955573826158592",
	}))
	e.failLoads.Store(true)

	out, err := b.PutRecords(ctx, shardlog.PutRecordsInput{StreamName: "s", Records: []shardlog.PutRecordsEntry{
		{PartitionKey: "k", Data: []byte("to shard 0"), ExplicitHashKey: "0"},
		{PartitionKey: "k", Data: []byte("to sealed shard 1"), ExplicitHashKey: "340282366920938463463374607431768211455"},
	}})
	require.NoError(t, err, "entry 0 is committed: the request as a whole must not fail")
	require.Equal(t, 1, out.FailedRecordCount)
	require.Equal(t, "shardId-000000000000", out.Records[0].ShardID)
	require.Empty(t, out.Records[0].ErrorCode)
	require.Equal(t, shardlog.ErrorCodeInternalFailure, out.Records[1].ErrorCode)
	require.ErrorIs(t, out.Records[1].Err, shardlog.ErrInternalFailure)

	// What was reported committed is in the log, once.
	it, err := a.GetShardIterator(ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: "shardId-000000000000", ShardIteratorType: shardlog.TrimHorizon})
	require.NoError(t, err)
	got, err := a.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: it.ShardIterator})
	require.NoError(t, err)
	require.Len(t, got.Records, 1)
	require.Equal(t, out.Records[0].SequenceNumber, got.Records[0].SequenceNumber)
}

// dropGate is a memory engine whose DropStream waits to be let through.
type dropGate struct {
	*memory.Engine
	entered, release chan struct{}
}

func (e *dropGate) DropStreamID(ctx context.Context, name string, id uint64) error {
	close(e.entered)
	<-e.release
	return nil // the handle is closed by now: the drop itself does not matter
}

// TestCloseRacesDeleteStream: Close, ending the streams' subscriptions,
// must not read the Log's stream map while a DeleteStream in flight
// removes its stream from it (a data race, or "concurrent map iteration
// and map write"). Run with -race.
func TestCloseRacesDeleteStream(t *testing.T) {
	ctx := context.Background()
	e := &dropGate{Engine: memory.New(), entered: make(chan struct{}), release: make(chan struct{})}
	l, err := shardlog.Open(ctx, e, shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
	deleted := make(chan error, 1)
	go func() { deleted <- l.DeleteStream(ctx, shardlog.DeleteStreamInput{StreamName: "s"}) }()
	<-e.entered
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	time.Sleep(20 * time.Millisecond) // let Close run; no synchronization with it
	close(e.release)
	require.NoError(t, <-deleted)
	require.NoError(t, <-closed)
}

// TestSharedUnknownShardIsLookedUp: a shard another Log just created (a
// split's child, named to the client by that Log) is found by a Log that
// has not heard of the split yet, as a stream another Log created is:
// GetShardIterator, GetRecords and NewCursor ask the engine before
// answering ResourceNotFound.
func TestSharedUnknownShardIsLookedUp(t *testing.T) {
	ctx := context.Background()
	a, b, _ := twoSharedLogs(t, true, time.Now)
	require.NoError(t, a.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
	_, err := b.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: "s"})
	require.NoError(t, err)
	require.NoError(t, a.SplitShard(ctx, shardlog.SplitShardInput{
		StreamName: "s", ShardToSplit: "shardId-000000000000", NewStartingHashKey: "170141183460469231731687303715884105728",
	}))
	it, err := b.GetShardIterator(ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: "shardId-000000000001", ShardIteratorType: shardlog.TrimHorizon})
	require.NoError(t, err)
	_, err = b.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: it.ShardIterator})
	require.NoError(t, err)

	// An iterator a issued on its newest child, read through b.
	require.NoError(t, a.SplitShard(ctx, shardlog.SplitShardInput{
		StreamName: "s", ShardToSplit: "shardId-000000000002", NewStartingHashKey: "255211775190703847597530955573826158592",
	}))
	it, err = a.GetShardIterator(ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: "shardId-000000000004", ShardIteratorType: shardlog.TrimHorizon})
	require.NoError(t, err)
	_, err = b.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: it.ShardIterator})
	require.NoError(t, err)

	_, err = b.GetShardIterator(ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: "shardId-000000000009", ShardIteratorType: shardlog.TrimHorizon})
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
}

// TestSharedGetRecordsReachesEndOfShardSealedElsewhere: a GetRecords
// poller on a Log that has not heard of another Log's split of its shard
// still gets the shard's end and its children once it has read every
// record, from the seal the engine reports, instead of empty batches until
// the change feed catches up.
func TestSharedGetRecordsReachesEndOfShardSealedElsewhere(t *testing.T) {
	ctx := context.Background()
	a, b, _ := twoSharedLogs(t, true, time.Now)
	require.NoError(t, a.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
	it, err := b.GetShardIterator(ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: "shardId-000000000000", ShardIteratorType: shardlog.TrimHorizon})
	require.NoError(t, err)
	put, err := a.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte("x")})
	require.NoError(t, err)
	require.NoError(t, a.SplitShard(ctx, shardlog.SplitShardInput{
		StreamName: "s", ShardToSplit: "shardId-000000000000", NewStartingHashKey: "170141183460469231731687303715884105728",
	}))
	got, err := b.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: it.ShardIterator})
	require.NoError(t, err)
	require.Len(t, got.Records, 1)
	require.Equal(t, put.SequenceNumber, got.Records[0].SequenceNumber)
	require.Empty(t, got.NextShardIterator, "every record of the sealed shard is read: the shard ends")
	require.Len(t, got.ChildShards, 2)
}

// TestSharedDeregistrationEndsOtherLogsSubscriptions: a consumer
// deregistered through one Log loses its subscriptions through the other
// Logs too, as soon as they hear of it, not when the subscriptions' five
// minutes are over.
func TestSharedDeregistrationEndsOtherLogsSubscriptions(t *testing.T) {
	ctx := context.Background()
	a, b, _ := twoSharedLogs(t, false, time.Now)
	require.NoError(t, a.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
	reg, err := a.RegisterStreamConsumer(ctx, shardlog.RegisterStreamConsumerInput{StreamName: "s", ConsumerName: "c"})
	require.NoError(t, err)
	var sub *shardlog.Subscription
	require.Eventually(t, func() bool { // once b has heard of the consumer
		sub, err = b.SubscribeToShard(ctx, shardlog.SubscribeToShardInput{ConsumerARN: reg.ConsumerARN, ShardID: "shardId-000000000000", StartingPosition: shardlog.StartingPosition{Type: shardlog.Latest}})
		return err == nil
	}, time.Second, time.Millisecond)

	require.NoError(t, a.DeregisterStreamConsumer(ctx, shardlog.DeregisterStreamConsumerInput{StreamName: "s", ConsumerName: "c"}))
	wait, cancel := context.WithTimeout(ctx, 2*time.Second) // a heartbeat comes after 5 s
	defer cancel()
	_, err = sub.Next(wait)
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
}

// slowDropEngine is a handle whose DropStreamID waits until released.
type slowDropEngine struct {
	*memory.Engine
	reached, release chan struct{}
}

func (e *slowDropEngine) DropStreamID(ctx context.Context, name string, id uint64) error {
	close(e.reached)
	<-e.release
	return e.Engine.DropStreamID(ctx, name, id)
}

// TestSharedDeleteDropsOnlyItsIncarnation: a DeleteStream that reaches the
// engine after another Log deleted the stream, created it again and put a
// record in it drops nothing: the new stream and its record stay, and the
// late delete answers ResourceNotFound.
func TestSharedDeleteDropsOnlyItsIncarnation(t *testing.T) {
	ctx := context.Background()
	root := memory.New()
	slow := &slowDropEngine{Engine: root.Attach(), reached: make(chan struct{}), release: make(chan struct{})}
	a, err := shardlog.Open(ctx, slow, shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	b, err := shardlog.Open(ctx, root, shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })

	require.NoError(t, a.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
	done := make(chan error, 1)
	go func() { done <- a.DeleteStream(ctx, shardlog.DeleteStreamInput{StreamName: "s"}) }()
	<-slow.reached

	require.NoError(t, b.DeleteStream(ctx, shardlog.DeleteStreamInput{StreamName: "s"}))
	require.NoError(t, b.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 2}))
	_, err = b.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte("kept")})
	require.NoError(t, err)

	close(slow.release)
	require.ErrorIs(t, <-done, shardlog.ErrResourceNotFound, "the late delete finds its incarnation gone")
	out, err := b.LastKey(ctx, shardlog.LastKeyInput{StreamName: "s", PartitionKey: "k"})
	require.NoError(t, err)
	require.True(t, out.Found, "the new stream's acknowledged record survives the late delete")
	require.Equal(t, "kept", string(out.Record.Data))
}
