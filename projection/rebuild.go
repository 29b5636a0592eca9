package projection

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
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

// RebuildProgress is reported while Rebuild runs.
type RebuildProgress struct {
	// Events applied so far.
	Events int64
	// EstimatedTotal extrapolates Events over the time span each shard
	// being read still has to cover (its MillisBehindLatest). It is an
	// estimate: shards not started yet (the children of a reshard) are not
	// in it, and it assumes events arrived at an even rate.
	EstimatedTotal int64
	// MillisBehindLatest is, per shard being read, how far its last read
	// was behind the shard's newest record.
	MillisBehindLatest map[string]int64
	Elapsed            time.Duration
	// Done is set on the last report, when every shard is read to the end
	// it had when Rebuild reached it.
	Done bool
}

// Rebuild resets p (see Reset) and replays every shard into it to the
// current end, with opts (Owner must be empty: a rebuild runs alone),
// calling progress (if not nil) at most every interval and once at the
// end. Start the projection's live runners afterwards; they continue from
// the rebuild's checkpoints.
func Rebuild(ctx context.Context, store *eventstore.Store, p *Projection, opts Options, interval time.Duration, progress func(RebuildProgress)) error {
	opts.CatchUpOnly = true
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if err := Reset(ctx, o.Checkpoints, p); err != nil {
		return err
	}
	t := &tracker{inner: o.Observer, shards: map[string]*shardSpan{}, start: time.Now(), every: interval, report: progress}
	opts.Checkpoints, opts.Observer = o.Checkpoints, t
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

// tracker turns batch reports into RebuildProgress.
type tracker struct {
	inner  Observer
	start  time.Time
	every  time.Duration
	report func(RebuildProgress)

	mu     sync.Mutex
	events int64
	shards map[string]*shardSpan
	last   time.Time
}

// shardSpan is what the tracker knows of one shard.
type shardSpan struct {
	events      int64
	first, last time.Time // RecordedAt of the first and last events seen
	lag         int64
}

func (t *tracker) Batch(b BatchInfo) {
	t.inner.Batch(b)
	t.mu.Lock()
	defer t.mu.Unlock()
	sp := t.shards[b.Shard]
	if sp == nil {
		sp = &shardSpan{first: b.First}
		t.shards[b.Shard] = sp
	}
	sp.events += int64(b.Events)
	sp.last, sp.lag = b.Last, b.MillisBehindLatest
	t.events += int64(b.Events)
	if t.report != nil && time.Since(t.last) >= t.every {
		t.last = time.Now()
		t.report(t.snapshot(false))
	}
}

func (t *tracker) Retry(r RetryInfo)        { t.inner.Retry(r) }
func (t *tracker) Park(p string, pk Parked) { t.inner.Park(p, pk) }
func (t *tracker) Lease(c LeaseChange)      { t.inner.Lease(c) }

// snapshot builds a report; t.mu is held.
func (t *tracker) snapshot(done bool) RebuildProgress {
	p := RebuildProgress{Events: t.events, MillisBehindLatest: map[string]int64{}, Elapsed: time.Since(t.start), Done: done}
	var est float64
	for id, sp := range t.shards {
		covered := sp.last.Sub(sp.first).Milliseconds()
		if covered <= 0 || sp.lag <= 0 || done {
			est += float64(sp.events)
		} else {
			est += float64(sp.events) * float64(covered+sp.lag) / float64(covered)
		}
		if !done {
			p.MillisBehindLatest[id] = sp.lag
		}
	}
	p.EstimatedTotal = max(int64(est), t.events)
	p.MillisBehindLatest = maps.Clone(p.MillisBehindLatest)
	return p
}

func (t *tracker) finish() {
	if t.report == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.report(t.snapshot(true))
}

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
