package shardlog_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// archive is a RetentionHolder that remembers how far it archived each
// shard.
type archive struct {
	mu      sync.Mutex
	through map[string]shardlog.SequenceNumber
}

func (a *archive) ArchivedThrough(_ context.Context, _, shardID string) (shardlog.SequenceNumber, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.through[shardID], nil
}

func ExampleLog_HoldRetention() {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	log, err := shardlog.Open(ctx, memory.New(), shardlog.WithClock(func() time.Time { return now }), shardlog.WithRetentionInterval(0))
	if err != nil {
		panic(err)
	}
	defer log.Close()
	if err := log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "orders", ShardCount: 1}); err != nil {
		panic(err)
	}
	arch := &archive{through: map[string]shardlog.SequenceNumber{}}
	release := log.HoldRetention("orders", arch)
	defer release()

	out, err := log.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "orders", PartitionKey: "order-1", Data: []byte("created")})
	if err != nil {
		panic(err)
	}
	count := func() int {
		n := 0
		for _, err := range log.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "orders", PartitionKey: "order-1"}) {
			if err != nil {
				panic(err)
			}
			n++
		}
		return n
	}

	// A day and an hour later the record is past retention, but not
	// archived: the log keeps it, and says so.
	now = now.Add(25 * time.Hour)
	if err := log.EnforceRetention(ctx); err != nil {
		panic(err)
	}
	st, _ := log.RetentionHold("orders")
	fmt.Println("records:", count(), "held:", st.Held, "behind:", st.Behind)

	// Once archived, it expires.
	arch.mu.Lock()
	arch.through[out.ShardID] = out.SequenceNumber
	arch.mu.Unlock()
	if err := log.EnforceRetention(ctx); err != nil {
		panic(err)
	}
	st, _ = log.RetentionHold("orders")
	fmt.Println("records:", count(), "held:", st.Held)
	// Output:
	// records: 1 held: true behind: 1h0m0s
	// records: 0 held: false
}
