package shardlog_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// openLog opens a Log on the in-memory engine with a fixed clock, so that
// sequence numbers and arrival times are the same on every run, and creates
// a provisioned stream with the given number of shards.
func openLog(ctx context.Context, stream string, shards int) *shardlog.Log {
	clock := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	log, err := shardlog.Open(ctx, memory.New(), shardlog.WithClock(clock), shardlog.WithRetentionInterval(0))
	if err != nil {
		panic(err)
	}
	if err := log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: stream, ShardCount: shards}); err != nil {
		panic(err)
	}
	return log
}

func ExampleLog_PutRecord() {
	ctx := context.Background()
	log := openLog(ctx, "orders", 2)
	defer log.Close()

	// Each record goes to the shard that owns its key's hash. A sequence
	// number is position·2^32 + shard index; with this fixed clock the first
	// position is the arrival time in Unix microseconds.
	for _, key := range []string{"order-1", "order-3", "order-1"} {
		out, err := log.PutRecord(ctx, shardlog.PutRecordInput{
			StreamName:   "orders",
			PartitionKey: key,
			Data:         []byte(`{"event":"created"}`),
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(key, out.ShardID, out.SequenceNumber)
	}
	// Output:
	// order-1 shardId-000000000000 7590594679742136320000000
	// order-3 shardId-000000000001 7590594679742136320000001
	// order-1 shardId-000000000000 7590594679742140614967296
}

func ExampleLog_AppendKey() {
	ctx := context.Background()
	log := openLog(ctx, "orders", 1)
	defer log.Close()

	// The zero ExpectedSequenceNumber means "the key has no records yet".
	first, err := log.AppendKey(ctx, shardlog.AppendKeyInput{
		StreamName:   "orders",
		PartitionKey: "order-1",
		Data:         [][]byte{[]byte("created"), []byte("item-added")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("appended", first.First, "to", first.Last)

	// A writer that still believes the key is new loses.
	_, err = log.AppendKey(ctx, shardlog.AppendKeyInput{
		StreamName:   "orders",
		PartitionKey: "order-1",
		Data:         [][]byte{[]byte("created")},
	})
	var conflict *shardlog.ConflictError
	if !errors.As(err, &conflict) {
		fmt.Println("expected a conflict, got", err)
		return
	}
	fmt.Println("conflict: actual latest", conflict.Actual)
	fmt.Println("is ErrKeyConflict:", errors.Is(err, shardlog.ErrKeyConflict))

	// Reload (here: take the actual latest number) and try again.
	next, err := log.AppendKey(ctx, shardlog.AppendKeyInput{
		StreamName:             "orders",
		PartitionKey:           "order-1",
		Data:                   [][]byte{[]byte("paid")},
		ExpectedSequenceNumber: conflict.Actual,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("appended", next.First)
	// Output:
	// appended 7590594679742136320000000 to 7590594679742140614967296
	// conflict: actual latest 7590594679742140614967296
	// is ErrKeyConflict: true
	// appended 7590594679742144909934592
}

func ExampleLog_ReadKey() {
	ctx := context.Background()
	log := openLog(ctx, "orders", 2)
	defer log.Close()

	for _, r := range []struct{ key, event string }{
		{"order-1", "created"}, {"order-2", "created"}, {"order-1", "paid"}, {"order-2", "cancelled"}, {"order-1", "shipped"},
	} {
		if _, err := log.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "orders", PartitionKey: r.key, Data: []byte(r.event)}); err != nil {
			fmt.Println(err)
			return
		}
	}

	// The zero sequence number reads the key from its first record.
	for r, err := range log.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "orders", PartitionKey: "order-1"}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(r.PartitionKey, string(r.Data))
	}
	// Output:
	// order-1 created
	// order-1 paid
	// order-1 shipped
}

func ExampleLog_GetRecords() {
	ctx := context.Background()
	log := openLog(ctx, "orders", 1)
	defer log.Close()

	for _, event := range []string{"created", "item-added", "paid", "shipped", "delivered"} {
		if _, err := log.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "orders", PartitionKey: "order-1", Data: []byte(event)}); err != nil {
			fmt.Println(err)
			return
		}
	}

	iter, err := log.GetShardIterator(ctx, shardlog.GetShardIteratorInput{
		StreamName:        "orders",
		ShardID:           "shardId-000000000000",
		ShardIteratorType: shardlog.TrimHorizon,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	it := iter.ShardIterator
	// An open shard never ends: stop when a batch comes back empty (a real
	// consumer would sleep and poll again). A closed shard ends with an
	// empty NextShardIterator.
	for it != "" {
		out, err := log.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: 2})
		if err != nil {
			fmt.Println(err)
			return
		}
		if len(out.Records) == 0 {
			break
		}
		fmt.Print("batch:")
		for _, r := range out.Records {
			fmt.Print(" ", string(r.Data))
		}
		fmt.Println()
		it = out.NextShardIterator
	}
	// Output:
	// batch: created item-added
	// batch: paid shipped
	// batch: delivered
}

func ExampleLog_SplitShard() {
	ctx := context.Background()
	log := openLog(ctx, "orders", 1)
	defer log.Close()

	// 2^127: the middle of the only shard's range [0, 2^128-1].
	if err := log.SplitShard(ctx, shardlog.SplitShardInput{StreamName: "orders", ShardToSplit: "shardId-000000000000", NewStartingHashKey: "170141183460469231731687303715884105728"}); err != nil {
		fmt.Println(err)
		return
	}
	out, err := log.ListShards(ctx, shardlog.ListShardsInput{StreamName: "orders"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range out.Shards {
		fmt.Printf("%s closed=%t parent=%q\n  [%s,\n   %s]\n", s.ShardID, s.Closed, s.ParentShardID,
			s.HashKeyRange.StartingHashKey, s.HashKeyRange.EndingHashKey)
	}
	// Output:
	// shardId-000000000000 closed=true parent=""
	//   [0,
	//    340282366920938463463374607431768211455]
	// shardId-000000000001 closed=false parent="shardId-000000000000"
	//   [0,
	//    170141183460469231731687303715884105727]
	// shardId-000000000002 closed=false parent="shardId-000000000000"
	//   [170141183460469231731687303715884105728,
	//    340282366920938463463374607431768211455]
}

func ExampleCursor_Records() {
	ctx := context.Background()
	log := openLog(ctx, "orders", 1)
	defer log.Close()

	for _, event := range []string{"created", "paid", "shipped"} {
		if _, err := log.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "orders", PartitionKey: "order-1", Data: []byte(event)}); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Close the shard by splitting it: Records then ends by itself after
	// the shard's last record. On an open shard it would wait for new
	// records until its context is done.
	if err := log.SplitShard(ctx, shardlog.SplitShardInput{StreamName: "orders", ShardToSplit: "shardId-000000000000", NewStartingHashKey: "170141183460469231731687303715884105728"}); err != nil {
		fmt.Println(err)
		return
	}

	c, err := log.NewCursor(ctx, shardlog.NewCursorInput{StreamName: "orders", ShardID: "shardId-000000000000", StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for r, err := range c.Records(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(r.PartitionKey, string(r.Data))
	}
	b, err := c.Next(ctx, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("end:", b.End)
	for _, child := range b.ChildShards {
		fmt.Println("next read:", child.ShardID)
	}
	// Output:
	// order-1 created
	// order-1 paid
	// order-1 shipped
	// end: true
	// next read: shardId-000000000001
	// next read: shardId-000000000002
}

func ExampleHashPartitionKey() {
	// The MD5 of "order-1", read as a big-endian 128-bit integer.
	h := shardlog.HashPartitionKey("order-1")
	fmt.Println(h)

	// A stream of two shards splits the hash-key space at 2^127.
	lowEnd, _ := shardlog.ParseHashKey("170141183460469231731687303715884105727")
	highStart, _ := shardlog.ParseHashKey("170141183460469231731687303715884105728")
	shards := []shardlog.HashKeyRange{
		{StartingHashKey: shardlog.MinHashKey, EndingHashKey: lowEnd},
		{StartingHashKey: highStart, EndingHashKey: shardlog.MaxHashKey},
	}
	for i, r := range shards {
		if r.Contains(h) {
			fmt.Printf("order-1 goes to shardId-%012d\n", i)
		}
	}
	// Output:
	// 146877212252092102612564579855103022916
	// order-1 goes to shardId-000000000000
}

func ExampleReadyShards() {
	ctx := context.Background()
	log := openLog(ctx, "orders", 2)
	defer log.Close()

	// Split shard 0: its children 2 and 3 wait until it is read to its end.
	if err := log.SplitShard(ctx, shardlog.SplitShardInput{
		StreamName: "orders", ShardToSplit: "shardId-000000000000", NewStartingHashKey: "1000",
	}); err != nil {
		fmt.Println(err)
		return
	}
	list, err := log.ListShards(ctx, shardlog.ListShardsInput{StreamName: "orders"})
	if err != nil {
		fmt.Println(err)
		return
	}
	done := map[string]bool{}
	for range 2 {
		var ids []string
		for _, sh := range shardlog.ReadyShards(list.Shards, func(id string) bool { return done[id] }) {
			ids = append(ids, sh.ShardID)
			done[sh.ShardID] = true // read to its end
		}
		fmt.Println(ids)
	}
	// Output:
	// [shardId-000000000000 shardId-000000000001]
	// [shardId-000000000002 shardId-000000000003]
}
