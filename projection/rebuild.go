package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// Reset clears p's read model (its OnReset function) and then its
// checkpoints and parked events in cps, so the next run replays every
// shard from its trim horizon. Stop every instance running p first; to
// rebuild while the old version keeps serving, run the new version under
// a new name instead.
func Reset(ctx context.Context, cps CheckpointStore, p *Projection) error {
	if p.reset != nil {
		if err := p.reset(ctx); err != nil {
			return fmt.Errorf("projection %s: reset the read model: %w", p.name, err)
		}
	}
	if err := cps.Reset(ctx, p.name); err != nil {
		return fmt.Errorf("projection %s: reset checkpoints: %w", p.name, err)
	}
	return nil
}

// Rebuild resets p (see Reset) and replays every shard into it to the
// current end, with opts (Owner must be empty: a rebuild runs alone),
// calling progress (if not nil) at most every interval and once at the
// end. Start the projection's live runners afterwards; they continue from
// the rebuild's checkpoints.
func Rebuild(ctx context.Context, store *eventstore.Store, p *Projection, opts Options, interval time.Duration, progress func(RebuildProgress)) error {
	return rebuild(ctx, store, p, opts, time.Time{}, interval, progress)
}

// rebuild is Rebuild, or RebuildAsOf with until set.
func rebuild(ctx context.Context, store *eventstore.Store, p *Projection, opts Options, until time.Time, interval time.Duration, progress func(RebuildProgress)) error {
	if opts.Checkpoints == nil {
		return &shardlog.ArgumentError{Field: "Checkpoints", Reason: "a rebuild needs the store its live runners will continue from"}
	}
	opts.CatchUpOnly = true
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if p == nil || p.name == "" {
		return &shardlog.ArgumentError{Field: "p", Reason: "needs a name (projection.New)"}
	}
	if store == nil {
		return &shardlog.ArgumentError{Field: "store", Reason: "a rebuild needs the event store to read"}
	}
	if err := Reset(ctx, o.Checkpoints, p); err != nil {
		return err
	}
	if !until.IsZero() {
		// The marker goes first: a rebuild cut short is as-of all the same.
		if err := o.Checkpoints.SaveCheckpoint(ctx, p.name, asOfKey(until), Progress{Done: true}, 0); err != nil {
			return fmt.Errorf("projection %s: record the as-of marker: %w", p.name, err)
		}
	}
	t := &tracker{inner: o.Observer, shards: map[string]*shardSpan{}, start: time.Now(), every: interval, report: progress, until: until}
	opts.Checkpoints, opts.Observer, opts.until = o.Checkpoints, t, until
	r, err := NewRunner(store, opts, p)
	if err != nil {
		return err
	}
	if err := r.Run(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	t.finish()
	return nil
}
