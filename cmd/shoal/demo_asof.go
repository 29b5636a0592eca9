package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/eventstore"
)

// demoAsOf shows order-1 as it was at an earlier time: at the recorded
// time of before, its last event before it shipped. The loaded aggregate is
// read-only.
func demoAsOf(ctx context.Context, repo *aggregate.Repository[order], before eventstore.Event, p func(string, ...any), heading func(string)) error {
	heading("Time travel: order-1 as it was before it shipped")
	now, err := repo.Load(ctx, "order-1")
	if err != nil {
		return err
	}
	at := before.RecordedAt
	then, err := repo.LoadAsOf(ctx, "order-1", eventstore.AtTime(at))
	if err != nil {
		return err
	}
	state := func(o *order) string {
		s := "not shipped"
		if o.Shipped {
			s = "shipped"
		}
		return fmt.Sprintf("%d items, %s, %s, version %d", o.Items, euros(o.Cents), s, o.Version())
	}
	p("  now:              %s", state(now))
	p("  as of %s: %s", at.UTC().Format(time.TimeOnly+".000000"), state(then))
	if then.Shipped || then.Version() != before.Version || !now.Shipped {
		return fmt.Errorf("order-1 as of %s is %s, now %s: want version %d, not shipped", at, state(then), state(now), before.Version)
	}
	then.add("sku-back-in-time", 100)
	_, err = repo.Save(ctx, then)
	p("  saving the past: %v", err)
	if !errors.Is(err, aggregate.ErrReadOnly) {
		return fmt.Errorf("saving order-1 as of %s: got %v, want aggregate.ErrReadOnly", at, err)
	}
	return nil
}
