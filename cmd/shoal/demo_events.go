package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/eventstore/filesnapshot"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// demoEventStream is the shardlog stream the event-sourcing part writes.
const demoEventStream = "order-events"

// The demo's events.
type (
	orderPlaced struct {
		Customer string `json:"customer"`
	}
	itemAdded struct {
		SKU   string `json:"sku"`
		Cents int    `json:"cents"`
	}
	orderShipped struct {
		Carrier string `json:"carrier"`
	}
)

var errNothingToShip = errors.New("order has no items")

// order is the demo's aggregate.
type order struct {
	aggregate.Base
	Customer string
	Items    int
	Cents    int
	Shipped  bool
}

func (o *order) place(customer string) error {
	o.Record(orderPlaced{Customer: customer})
	return nil
}

func (o *order) add(sku string, cents int) error {
	if o.Shipped {
		return errors.New("order already shipped")
	}
	o.Record(itemAdded{SKU: sku, Cents: cents})
	return nil
}

func (o *order) ship(carrier string) error {
	if o.Items == 0 {
		return errNothingToShip
	}
	o.Record(orderShipped{Carrier: carrier})
	return nil
}

var orderType = aggregate.Define[order]("order",
	aggregate.Apply(func(o *order, e orderPlaced) { o.Customer = e.Customer }),
	aggregate.Apply(func(o *order, e itemAdded) { o.Items++; o.Cents += e.Cents }),
	aggregate.Apply(func(o *order, e orderShipped) { o.Shipped = true }),
)

// demoRegistry registers the demo's event types under their names.
func demoRegistry() (*eventstore.Registry, error) {
	reg := eventstore.NewRegistry()
	for _, err := range []error{
		eventstore.Register[orderPlaced](reg, "order.placed"),
		eventstore.Register[itemAdded](reg, "order.item-added"),
		eventstore.Register[orderShipped](reg, "order.shipped"),
	} {
		if err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// demoEvents is the event-sourcing part of the demo: an aggregate
// repository, optimistic concurrency, snapshots and a read model fed by a
// projection, on the same log. dataDir holds the snapshots and the
// projection's checkpoints ("" keeps them in memory). It returns the
// registry of the demo's event types.
func demoEvents(ctx context.Context, log *shardlog.Log, dataDir string, p func(string, ...any), heading func(string)) (*eventstore.Registry, error) {
	var snaps eventstore.SnapshotStore = eventstore.NewMemorySnapshots()
	if dataDir != "" {
		snapDir := snapshotDir(dataDir)
		// Snapshots belong to the stream the previous run deleted.
		if err := os.RemoveAll(snapDir); err != nil {
			return nil, err
		}
		fs, err := filesnapshot.Open(snapDir)
		if err != nil {
			return nil, err
		}
		snaps = fs
	}
	reg, err := demoRegistry()
	if err != nil {
		return nil, err
	}
	store, err := eventstore.Open(ctx, log, demoEventStream,
		eventstore.WithRegistry(reg), eventstore.WithSnapshots(snaps),
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 4}))
	if err != nil {
		return nil, err
	}
	repo, err := aggregate.NewRepository(store, orderType, aggregate.WithSnapshotEvery(10), aggregate.WithRetries(50))
	if err != nil {
		return nil, err
	}

	heading(fmt.Sprintf("Event sourcing: Order aggregates on stream %q (4 shards)", demoEventStream))
	for i, c := range []string{"ann", "bo", "cy"} {
		id := fmt.Sprintf("order-%d", i+1)
		if _, err := repo.Create(ctx, id, func(o *order) error { return o.place(c) }); err != nil {
			return nil, err
		}
		p("  created %s for %s", id, c)
	}

	heading("Optimistic concurrency: 8 writers add 3 items each to order-1 at once")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 {
				_, err := repo.Update(ctx, "order-1", func(o *order) error {
					return o.add(fmt.Sprintf("sku-%d-%d", w, i), 100)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, err
	}
	o1, err := repo.Load(ctx, "order-1")
	if err != nil {
		return nil, err
	}
	p("  order-1: %d items, version %d: every command applied once (conflicts were retried)", o1.Items, o1.Version())
	if o1.Items != 24 || o1.Version() != 25 {
		return nil, fmt.Errorf("order-1 has %d items at version %d, want 24 at 25", o1.Items, o1.Version())
	}
	snap, ok, err := snaps.LoadSnapshot(ctx, "order-1")
	if err != nil {
		return nil, err
	}
	if ok {
		p("  latest snapshot: version %d (one every 10 events); Load reads it plus %d event(s)", snap.Version, o1.Version()-snap.Version)
	}

	heading("Commands check the state before recording events")
	_, err = repo.Update(ctx, "order-2", func(o *order) error { return o.ship("ups") })
	p("  ship order-2 (no items): %v", err)
	if !errors.Is(err, errNothingToShip) {
		return nil, fmt.Errorf("shipping an empty order: got %v", err)
	}
	beforeShip, err := store.Last(ctx, "order-1")
	if err != nil {
		return nil, err
	}
	if _, err := repo.Update(ctx, "order-1", func(o *order) error { return o.ship("ups") }); err != nil {
		return nil, err
	}
	p("  ship order-1: ok")

	if err := demoAsOf(ctx, repo, beforeShip, p, heading); err != nil {
		return nil, err
	}

	heading("A read model from every shard: a projection rebuilt by replay, then live")
	var cps projection.CheckpointStore = projection.NewMemoryStore()
	if dataDir != "" {
		dir := filepath.Join(dataDir, "projections")
		if err := os.RemoveAll(dir); err != nil { // they belong to the deleted stream
			return nil, err
		}
		fs, err := projection.OpenFileStore(dir)
		if err != nil {
			return nil, err
		}
		defer fs.Close()
		cps = fs
	}
	type row struct{ items, cents int }
	var mu sync.Mutex // shards are applied concurrently
	model := map[string]*row{}
	totals := projection.New("order-totals")
	projection.On(totals, func(_ context.Context, ev projection.Event[orderPlaced]) error {
		mu.Lock()
		defer mu.Unlock()
		model[ev.StreamID] = &row{}
		return nil
	})
	projection.On(totals, func(_ context.Context, ev projection.Event[itemAdded]) error {
		item, err := ev.Data()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		model[ev.StreamID].items++ // placed comes first: one stream, one shard order
		model[ev.StreamID].cents += item.Cents
		return nil
	})
	var last projection.RebuildProgress
	err = projection.Rebuild(ctx, store, totals, projection.Options{Checkpoints: cps}, 0, func(pr projection.RebuildProgress) { last = pr })
	if err != nil {
		return nil, err
	}
	p("  rebuilt: %d events replayed in %s", last.Events, last.Elapsed.Round(time.Microsecond))
	if last.Events != 28 {
		return nil, fmt.Errorf("the rebuild applied %d events, want 28", last.Events)
	}
	runCtx, stop := context.WithCancel(ctx)
	runner, err := projection.NewRunner(store, projection.Options{Checkpoints: cps}, totals)
	if err != nil {
		stop()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	if _, err := repo.Update(ctx, "order-2", func(o *order) error { return o.add("sku-late", 250) }); err != nil {
		stop()
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for runner.Stats()[0].Events < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		return nil, err
	}
	if n := runner.Stats()[0].Events; n != 1 {
		return nil, fmt.Errorf("the live runner applied %d events, want 1", n)
	}
	p("  live: a new item on order-2 reached the read model")
	ids := make([]string, 0, len(model))
	for id := range model {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p("  %-8s %2d items  %s", id, model[id].items, euros(model[id].cents))
	}
	saved, err := cps.Checkpoints(ctx, totals.Name())
	if err != nil {
		return nil, err
	}
	shards := make([]string, 0, len(saved))
	for id := range saved {
		shards = append(shards, strings.TrimPrefix(id, "shardId-"))
	}
	sort.Strings(shards)
	p("  checkpoints saved for shards %s", strings.Join(shards, ", "))
	return reg, nil
}

func euros(cents int) string { return fmt.Sprintf("%d.%02d EUR", cents/100, cents%100) }

// snapshotDir is where the demo keeps snapshots on the file engine.
func snapshotDir(dataDir string) string { return filepath.Join(dataDir, "snapshots") }
