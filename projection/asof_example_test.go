package projection_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
)

// The read model "spend per customer" as it was at the end of March,
// built beside the live one under a name of its own.
func ExampleRebuildAsOf() {
	ctx := context.Background()
	clock := shardlogtest.NewClockAt(time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)) // the log's clock, for the example
	log, _ := shardlog.Open(ctx, memory.New(), shardlog.WithClock(clock.Now))
	reg := eventstore.NewRegistry()
	_ = eventstore.Register[OrderPlaced](reg, "order.placed")
	store, err := eventstore.Open(ctx, log, "orders", eventstore.WithRegistry(reg),
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 2}))
	if err != nil {
		panic(err)
	}
	_, _ = store.Append(ctx, "order-1", eventstore.NoStream, OrderPlaced{Customer: "ann", Cents: 1200})
	_, _ = store.Append(ctx, "order-2", eventstore.NoStream, OrderPlaced{Customer: "bob", Cents: 500})
	clock.Advance(2 * time.Hour) // April 1st, 01:00
	_, _ = store.Append(ctx, "order-3", eventstore.NoStream, OrderPlaced{Customer: "ann", Cents: 300})

	// spendPerCustomer is the projection, parameterised by its name and
	// its read model: the live one and the quarter's one differ in both.
	spendPerCustomer := func(name string, spend map[string]int, mu *sync.Mutex) *projection.Projection {
		p := projection.New(name)
		projection.On(p, func(_ context.Context, ev projection.Event[OrderPlaced]) error {
			o, err := ev.Data()
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			spend[o.Customer] += o.Cents
			return nil
		})
		return p
	}
	var mu sync.Mutex
	q1 := map[string]int{}
	endOfMarch := time.Date(2026, 3, 31, 23, 59, 59, 999999999, time.UTC)
	cps := projection.NewMemoryStore()
	err = projection.RebuildAsOf(ctx, store, spendPerCustomer("spend-2026q1", q1, &mu),
		projection.Options{Checkpoints: cps}, endOfMarch, time.Second, func(p projection.RebuildProgress) {
			if p.Done {
				fmt.Println("events applied:", p.Events)
			}
		})
	if err != nil {
		panic(err)
	}
	fmt.Println("ann", q1["ann"], "bob", q1["bob"])
	at, ok, _ := projection.AsOf(ctx, cps, "spend-2026q1")
	fmt.Println("as of", at.Format(time.DateTime), ok)
	// Output:
	// events applied: 2
	// ann 1200 bob 500
	// as of 2026-03-31 23:59:59 true
}
