package projection_test

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

type OrderPlaced struct {
	Customer string `json:"customer"`
	Cents    int    `json:"cents"`
}

type OrderCancelled struct{}

// A read model of spend per customer, built from every shard and
// replayed to the current end.
func Example() {
	ctx := context.Background()
	log, _ := shardlog.Open(ctx, memory.New())
	reg := eventstore.NewRegistry()
	_ = eventstore.Register[OrderPlaced](reg, "order.placed")
	_ = eventstore.Register[OrderCancelled](reg, "order.cancelled")
	store, err := eventstore.Open(ctx, log, "orders", eventstore.WithRegistry(reg),
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 4}))
	if err != nil {
		panic(err)
	}
	_, _ = store.Append(ctx, "order-1", eventstore.NoStream, OrderPlaced{Customer: "ann", Cents: 1200})
	_, _ = store.Append(ctx, "order-2", eventstore.NoStream, OrderPlaced{Customer: "bob", Cents: 500})
	_, _ = store.Append(ctx, "order-3", eventstore.NoStream, OrderPlaced{Customer: "ann", Cents: 300})
	_, _ = store.Append(ctx, "order-3", eventstore.Exact(1), OrderCancelled{})

	var mu sync.Mutex // shards are applied concurrently
	spend := map[string]int{}
	byOrder := map[string]OrderPlaced{}
	p := projection.New("spend-per-customer")
	projection.On(p, func(_ context.Context, ev projection.Event[OrderPlaced]) error {
		o, err := ev.Data()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		spend[o.Customer] += o.Cents
		byOrder[ev.StreamID] = o
		return nil
	})
	projection.On(p, func(_ context.Context, ev projection.Event[OrderCancelled]) error {
		mu.Lock()
		defer mu.Unlock()
		o := byOrder[ev.StreamID] // placed before cancelled: same stream, same order
		spend[o.Customer] -= o.Cents
		return nil
	})

	r, err := projection.NewRunner(store, projection.Options{CatchUpOnly: true}, p)
	if err != nil {
		panic(err)
	}
	if err := r.Run(ctx); err != nil {
		panic(err)
	}
	names := make([]string, 0, len(spend))
	for n := range spend {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Println(n, spend[n])
	}
	fmt.Println("events:", r.Stats()[0].Events)
	// Output:
	// ann 1200
	// bob 500
	// events: 4
}
