package aggregate_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// Events are plain structs.
type OrderPlaced struct {
	Customer string
}

type ItemAdded struct {
	SKU      string
	Quantity int
}

type OrderShipped struct {
	Carrier string
}

// Order is the state: a struct that embeds aggregate.Base.
type Order struct {
	aggregate.Base
	Customer string
	Items    map[string]int
	Shipped  bool
}

var (
	ErrAlreadyPlaced = errors.New("order already placed")
	ErrShipped       = errors.New("order already shipped")
	ErrEmpty         = errors.New("order has no items")
)

// Commands are methods: they check the state, then record events.
func (o *Order) Place(customer string) error {
	if o.Version() > 0 {
		return ErrAlreadyPlaced
	}
	o.Record(OrderPlaced{Customer: customer})
	return nil
}

func (o *Order) Add(sku string, qty int) error {
	if o.Shipped {
		return ErrShipped
	}
	o.Record(ItemAdded{SKU: sku, Quantity: qty})
	return nil
}

func (o *Order) Ship(carrier string) error {
	switch {
	case o.Shipped:
		return ErrShipped
	case len(o.Items) == 0:
		return ErrEmpty
	}
	o.Record(OrderShipped{Carrier: carrier})
	return nil
}

// Orders declares how each event changes the state.
var Orders = aggregate.Define[Order]("order",
	aggregate.Apply(func(o *Order, e OrderPlaced) {
		o.Customer, o.Items = e.Customer, map[string]int{}
	}),
	aggregate.Apply(func(o *Order, e ItemAdded) { o.Items[e.SKU] += e.Quantity }),
	aggregate.Apply(func(o *Order, e OrderShipped) { o.Shipped = true }),
)

// newStore opens an event store on an in-memory log.
func newStore(ctx context.Context) *eventstore.Store {
	log, err := shardlog.Open(ctx, memory.New())
	if err != nil {
		panic(err)
	}
	store, err := eventstore.Open(ctx, log, "orders",
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 4}))
	if err != nil {
		panic(err)
	}
	return store
}

// Define an aggregate, create it, update it, load it.
func Example() {
	ctx := context.Background()
	repo, err := aggregate.NewRepository(newStore(ctx), Orders)
	if err != nil {
		panic(err)
	}

	_, err = repo.Create(ctx, "order-1", func(o *Order) error { return o.Place("ann") })
	if err != nil {
		panic(err)
	}
	_, err = repo.Update(ctx, "order-1", func(o *Order) error {
		if err := o.Add("apple", 3); err != nil {
			return err
		}
		return o.Ship("ups")
	})
	if err != nil {
		panic(err)
	}

	o, err := repo.Load(ctx, "order-1")
	if err != nil {
		panic(err)
	}
	fmt.Println(o.ID(), o.Version(), o.Customer, o.Items, o.Shipped)

	// A command that breaks a rule records nothing.
	_, err = repo.Update(ctx, "order-1", func(o *Order) error { return o.Ship("dhl") })
	fmt.Println(err)
	// Output:
	// order-1 3 ann map[apple:3] true
	// order already shipped
}

// Two writers load the same version; the second save loses the race.
// Update would load again and re-run the command; Save leaves it to you.
func ExampleRepository_Save_conflict() {
	ctx := context.Background()
	repo, _ := aggregate.NewRepository(newStore(ctx), Orders)
	repo.Create(ctx, "order-2", func(o *Order) error { return o.Place("bo") })

	a, _ := repo.Load(ctx, "order-2")
	b, _ := repo.Load(ctx, "order-2")
	a.Add("pear", 1)
	b.Add("plum", 2)
	if _, err := repo.Save(ctx, a); err != nil {
		panic(err)
	}
	_, err := repo.Save(ctx, b)
	var wrong *eventstore.WrongExpectedVersionError
	if errors.As(err, &wrong) {
		fmt.Printf("expected version %s, stream is at %d\n", wrong.Expected, wrong.Actual)
	}
	// Output:
	// expected version 1, stream is at 2
}

// Snapshots: every 100 events, the state is stored; Load starts there.
func ExampleWithSnapshotEvery() {
	ctx := context.Background()
	log, _ := shardlog.Open(ctx, memory.New())
	snaps := eventstore.NewMemorySnapshots()
	store, _ := eventstore.Open(ctx, log, "orders",
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 1}),
		eventstore.WithSnapshots(snaps))
	repo, _ := aggregate.NewRepository(store, Orders, aggregate.WithSnapshotEvery(100))

	o, _ := repo.New("order-3")
	o.Place("cy")
	for range 249 {
		o.Add("nut", 1)
	}
	repo.Save(ctx, o)

	snap, _, _ := snaps.LoadSnapshot(ctx, "order-3")
	loaded, _ := repo.Load(ctx, "order-3")
	fmt.Println(snap.Version, loaded.Version(), loaded.Items["nut"])
	// Output:
	// 250 250 249
}
