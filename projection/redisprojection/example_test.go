package redisprojection_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/projection/redisprojection"
	"github.com/shoal-dev/shoal/shardlog"
)

// A lease fences checkpoint writes: once another instance holds the
// shard, the old holder's token is refused. (miniredis stands in for a
// Redis server here.)
func Example() {
	srv, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ctx := context.Background()
	store := redisprojection.New(redis.NewClient(&redis.Options{Addr: srv.Addr()}))

	const shard = "shardId-000000000000"
	a, _ := store.Acquire(ctx, "orders", shard, "node-a", 50*time.Millisecond)
	fmt.Println("node-a holds token", a.Token)
	_ = store.SaveCheckpoint(ctx, "orders", shard, projection.Progress{After: shardlog.MakeSequenceNumber(10, 0)}, a.Token)

	time.Sleep(100 * time.Millisecond) // node-a stops renewing; its lease expires
	b, _ := store.Acquire(ctx, "orders", shard, "node-b", time.Minute)
	fmt.Println("node-b holds token", b.Token)

	err = store.SaveCheckpoint(ctx, "orders", shard, projection.Progress{After: shardlog.MakeSequenceNumber(11, 0)}, a.Token)
	fmt.Println("node-a's late write refused:", err != nil)
	cps, _ := store.Checkpoints(ctx, "orders")
	fmt.Println("checkpoint at position", cps[shard].After.Position())
	// Output:
	// node-a holds token 1
	// node-b holds token 2
	// node-a's late write refused: true
	// checkpoint at position 10
}
