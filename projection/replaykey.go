package projection

import (
	"context"
	"fmt"

	"github.com/shoal-dev/shoal/eventstore"
)

// ReplayKey applies every event of one stream (aggregate) to p's
// handlers, in version order, to rebuild that aggregate's view; fn, if not
// nil, runs first to clear it. Events past the log's retention come from
// the store's archive; if neither holds them, ReplayKey fails with
// eventstore.ErrEventsExpired before applying anything. With a
// Transactor (pgprojection), clearing and replaying commit in one
// transaction, and no checkpoint moves. Handlers are not retried here: the
// first error is returned (and, with a Transactor, rolls everything back).
func ReplayKey(ctx context.Context, store *eventstore.Store, cps CheckpointStore, p *Projection, streamID string, clear func(ctx context.Context, streamID string) error) (int, error) {
	d, err := p.bind(store.Registry())
	if err != nil {
		return 0, err
	}
	if err := p.checkStore(cps); err != nil {
		return 0, err
	}
	var events []eventstore.Event
	for ev, err := range store.Read(ctx, streamID, 1) {
		if err != nil {
			return 0, fmt.Errorf("projection %s: replay %q: %w", p.name, streamID, err)
		}
		events = append(events, ev)
	}
	apply := func(ctx context.Context) error {
		if clear != nil {
			if err := clear(ctx, streamID); err != nil {
				return fmt.Errorf("projection %s: clear %q: %w", p.name, streamID, err)
			}
		}
		for i := range events {
			if h := d.handler(&events[i]); h != nil {
				if err := h(ctx, &events[i]); err != nil {
					return fmt.Errorf("projection %s: replay %q v%d: %w", p.name, streamID, events[i].Version, err)
				}
			}
		}
		return nil
	}
	if tx, ok := cps.(Transactor); ok {
		err = tx.InTx(ctx, p.name, "", Progress{}, 0, apply)
	} else {
		err = apply(ctx)
	}
	if err != nil {
		return 0, err
	}
	return len(events), nil
}
