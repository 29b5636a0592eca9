package delivery_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// An ObjectDestination archives batches to a filesystem store; an
// ObjectArchive over the same store reads them back, by shard or by key.
func ExampleObjectDestination() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "shoal-archive")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := delivery.NewDirStore(dir)
	if err != nil {
		panic(err)
	}
	dest, err := delivery.NewObjectDestination(store, delivery.ObjectOptions{}) // JSON lines, gzip
	if err != nil {
		panic(err)
	}

	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	shard := shardlog.Shard{ShardID: "shardId-000000000000"}
	var recs []shardlog.Record
	for i, key := range []string{"cart-1", "cart-2", "cart-1"} {
		recs = append(recs, shardlog.Record{
			SequenceNumber:              shardlog.MakeSequenceNumber(uint64(100+i), 0),
			ApproximateArrivalTimestamp: at,
			PartitionKey:                key,
			Data:                        fmt.Appendf(nil, `{"n":%d}`, i),
		})
	}
	batch := &delivery.Batch{DeliveryStream: "carts-archive", Version: 1, Source: "carts", Shard: shard,
		First: recs[0].SequenceNumber, Last: recs[2].SequenceNumber, Records: recs}
	if err := dest.Deliver(ctx, batch); err != nil {
		panic(err)
	}
	// The index objects beside the data object (whose key the layout names).
	for key, err := range store.List(ctx, delivery.DefaultIndexPrefix) {
		if err != nil {
			panic(err)
		}
		fmt.Println(key)
	}

	archive, err := delivery.NewObjectArchive(store, dest.Options())
	if err != nil {
		panic(err)
	}
	for r, err := range archive.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "carts", PartitionKey: "cart-1"}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(r.SequenceNumber, r.PartitionKey, string(r.Data))
	}
	n := 0
	for _, err := range archive.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "carts", ShardID: shard.ShardID}) {
		if err != nil {
			panic(err)
		}
		n++
	}
	fmt.Println(n, "records in the shard")
	// Output:
	// shoal-index/carts/shardId-000000000000/000000000000000000000000000429496729600.json
	// shoal-index/carts/shardId-000000000000/shard.json
	// 429496729600 cart-1 {"n":0}
	// 438086664192 cart-1 {"n":2}
	// 3 records in the shard
}
