package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
)

// An order as it was at 09:30, and at version 3: read-only aggregates.
// The log's clock is a test clock here, so the times are fixed; a real log
// records each event's arrival time.
func ExampleRepository_LoadAsOf() {
	ctx := context.Background()
	clock := shardlogtest.NewClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	log, _ := shardlog.Open(ctx, memory.New(), shardlog.WithClock(clock.Now))
	store, _ := eventstore.Open(ctx, log, "orders",
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 1}))
	repo, _ := aggregate.NewRepository(store, Orders)

	// 09:00: placed with two figs (versions 1-2). 10:00: one more, shipped
	// (versions 3-4).
	repo.Create(ctx, "order-4", func(o *Order) error {
		o.Place("di")
		return o.Add("fig", 2)
	})
	clock.Advance(time.Hour)
	repo.Update(ctx, "order-4", func(o *Order) error {
		o.Add("fig", 1)
		return o.Ship("ups")
	})

	then, err := repo.LoadAsOf(ctx, "order-4", eventstore.AtTime(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)))
	if err != nil {
		panic(err)
	}
	fmt.Println("09:30:", then.Version(), then.Items, then.Shipped)
	v3, _ := repo.LoadAsOf(ctx, "order-4", eventstore.AtVersion(3))
	fmt.Println("version 3:", v3.Version(), v3.Items, v3.Shipped)
	now, _ := repo.Load(ctx, "order-4")
	fmt.Println("now:", now.Version(), now.Items, now.Shipped)

	// The past is read-only.
	then.Add("fig", 5)
	_, err = repo.Save(ctx, then)
	fmt.Println(errors.Is(err, aggregate.ErrReadOnly))

	// Before the order existed; past its end.
	_, err = repo.LoadAsOf(ctx, "order-4", eventstore.AtTime(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)))
	fmt.Println(errors.Is(err, eventstore.ErrStreamNotFound))
	_, err = repo.LoadAsOf(ctx, "order-4", eventstore.AtVersion(9))
	var past *eventstore.VersionNotFoundError
	fmt.Println(errors.As(err, &past), past.Current)
	// Output:
	// 09:30: 2 map[fig:2] false
	// version 3: 3 map[fig:3] false
	// now: 4 map[fig:3] true
	// true
	// true
	// true 4
}
