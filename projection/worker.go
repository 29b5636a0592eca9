package projection

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// worker processes one shard for one projection: read a batch, apply it,
// checkpoint, repeat.
type worker struct {
	run   *projRun
	shard string
	after shardlog.SequenceNumber // last applied

	// With leases: the token and how long this instance may trust it.
	token uint64
	valid atomic.Int64 // unix nanos; zero without leases

	events atomic.Int64                            // applied by this worker
	pub    atomic.Pointer[shardlog.SequenceNumber] // after, for Stats
	lag    atomic.Int64
}

// outcome is how a worker ended.
type outcome struct {
	shard    string
	end      bool // the shard is closed and finished
	children []shardlog.ChildShard
	caughtUp bool // CatchUpOnly: at the shard's current end
	err      error
}

// errLeaseExpired stops a worker whose lease it can no longer trust.
var errLeaseExpired = fmt.Errorf("%w: not renewed within its TTL", ErrLeaseLost)

// leaseValid reports whether the worker may still act on its lease.
func (w *worker) leaseValid() bool {
	v := w.valid.Load()
	return v == 0 || time.Now().UnixNano() < v
}

// loop reads and applies the shard until its end, ctx, an error, or (with
// CatchUpOnly) its current end.
func (w *worker) loop(ctx context.Context) outcome {
	r := w.run
	rd, err := r.store.ReadShard(ctx, w.shard, w.after)
	if err != nil {
		return outcome{shard: w.shard, err: err}
	}
	for {
		if !w.leaseValid() {
			return outcome{shard: w.shard, err: errLeaseExpired}
		}
		b, rerr := rd.Next(ctx, r.opts.BatchSize)
		if ctx.Err() != nil {
			return outcome{shard: w.shard, err: ctx.Err()}
		}
		w.lag.Store(b.MillisBehindLatest)
		past := false // RebuildAsOf: the shard reached an event after until
		if !r.opts.until.IsZero() {
			var n int
			if n, past = pastCut(b.Events, r.opts.until); past {
				// The rest of the shard is after until: a bad record
				// among it, or the shard's end, is no concern here.
				b.Events, b.End, b.ChildShards, rerr = b.Events[:n], false, nil, nil
			}
		}
		if b.ExpiredGap {
			w.gap(b)
		}
		if len(b.Events) > 0 {
			start := time.Now()
			if err := w.apply(ctx, b.Events); err != nil {
				return outcome{shard: w.shard, err: err}
			}
			r.opts.Observer.Batch(BatchInfo{
				Projection: r.p.name, Shard: w.shard, Events: len(b.Events), Duration: time.Since(start),
				MillisBehindLatest: b.MillisBehindLatest, First: b.Events[0].RecordedAt, Last: b.Events[len(b.Events)-1].RecordedAt,
			})
		}
		if rerr != nil {
			return outcome{shard: w.shard, err: fmt.Errorf("projection %s: %w", r.p.name, rerr)}
		}
		if past {
			// Finished as of until, not Done: its children are not started.
			return outcome{shard: w.shard, caughtUp: true}
		}
		if b.End {
			p := Progress{After: w.after, Done: true}
			if err := w.storeRetry(ctx, "checkpoint", func() error {
				return r.cps.SaveCheckpoint(ctx, r.p.name, w.shard, p, w.token)
			}); err != nil {
				return outcome{shard: w.shard, err: w.storeError(ctx, "checkpoint", err)}
			}
			return outcome{shard: w.shard, end: true, children: b.ChildShards}
		}
		if len(b.Events) == 0 {
			if r.opts.CatchUpOnly {
				return outcome{shard: w.shard, caughtUp: true}
			}
			if err := rd.Wait(ctx); err != nil {
				return outcome{shard: w.shard, err: err}
			}
		}
	}
}

// gap reports a read that began past expired events: the checkpoint's
// event has passed retention, and events after it may have expired
// unread.
func (w *worker) gap(b eventstore.ShardBatch) {
	r := w.run
	g := GapInfo{Projection: r.p.name, Shard: w.shard, After: w.after}
	if len(b.Events) > 0 {
		g.Oldest = b.Events[0].Position.SequenceNumber
	}
	r.gaps.Add(1)
	r.opts.Observer.Gap(g)
	r.opts.Logger.Warn("projection: the read passed the log's retention; events after the checkpoint may have expired unread",
		"projection", r.p.name, "shard", w.shard, "checkpoint", w.after.String(), "next", g.Oldest.String())
}

// apply applies a batch and checkpoints it. A handler that keeps failing
// has its event parked; the batch's other events are applied once.
func (w *worker) apply(ctx context.Context, events []eventstore.Event) error {
	for len(events) > 0 {
		n, herr, err := w.commitRetrying(ctx, events)
		if err != nil {
			return err
		}
		events = events[n:]
		if herr == nil {
			continue
		}
		// events[0] failed once; retry it alone.
		if err := w.retry(ctx, &events[0], herr); err != nil {
			return err
		}
		events = events[1:]
	}
	return nil
}

// commitRetrying is commit, retrying a failing checkpoint store (not a
// lost lease) with the retry policy's backoff; the last failure is
// returned.
func (w *worker) commitRetrying(ctx context.Context, events []eventstore.Event) (int, error, error) {
	r := w.run
	for attempt := 1; ; attempt++ {
		n, herr, err := w.commit(ctx, events) // n is 0 when err is set
		if err == nil || isLeaseLoss(err) || ctx.Err() != nil {
			return n, herr, err
		}
		if k, lerr := w.landed(ctx, events); lerr == nil && k > 0 {
			return k, nil, nil // the commit failed only on its way back
		}
		if attempt >= r.opts.Retry.Attempts {
			return n, herr, err
		}
		r.retries.Add(1)
		r.opts.Observer.Retry(RetryInfo{Projection: r.p.name, Position: events[0].Position, Attempt: attempt, Err: err})
		r.opts.Logger.Warn("projection: checkpoint store failed; retrying", "projection", r.p.name, "shard", w.shard, "attempt", attempt, "err", err)
		if err := w.sleep(ctx, attempt); err != nil {
			return 0, nil, err
		}
	}
}

// landed reads the shard's checkpoint back after a failed commit, and
// returns how many of events it already covers: a transaction whose
// COMMIT reached the server before the connection failed is not applied
// a second time.
func (w *worker) landed(ctx context.Context, events []eventstore.Event) (int, error) {
	if _, ok := w.run.cps.(Transactor); !ok {
		return 0, nil // handlers ran outside any transaction: at-least-once anyway
	}
	cps, err := w.run.cps.Checkpoints(ctx, w.run.p.name)
	if err != nil {
		return 0, err
	}
	after := cps[w.shard].After
	if after.Compare(w.after) <= 0 {
		return 0, nil
	}
	k := 0
	for k < len(events) && events[k].Position.SequenceNumber.Compare(after) <= 0 {
		k++
	}
	if k > 0 {
		w.done(events[:k])
	}
	return k, nil
}

// storeRetry runs a checkpoint-store operation, retrying a failure (not a
// lost lease) with the retry policy's backoff.
func (w *worker) storeRetry(ctx context.Context, what string, op func() error) error {
	r := w.run
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || isLeaseLoss(err) || ctx.Err() != nil || attempt >= r.opts.Retry.Attempts {
			return err
		}
		r.retries.Add(1)
		r.opts.Observer.Retry(RetryInfo{Projection: r.p.name, Position: eventstore.Position{ShardID: w.shard, SequenceNumber: w.after}, Attempt: attempt, Err: err})
		r.opts.Logger.Warn("projection: checkpoint store failed; retrying", "projection", r.p.name, "shard", w.shard, "op", what, "attempt", attempt, "err", err)
		if err := w.sleep(ctx, attempt); err != nil {
			return err
		}
	}
}

// sleep waits the backoff after failed attempt n, or until ctx is done.
func (w *worker) sleep(ctx context.Context, n int) error {
	t := time.NewTimer(w.run.opts.Retry.backoff(n, rand.Float64()))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// commit applies events in order and checkpoints what it applied. It
// returns how many events are done and, if a handler failed, its error:
// with a Transactor, the events before the failing one are committed in a
// second transaction; without, they were applied and are checkpointed.
func (w *worker) commit(ctx context.Context, events []eventstore.Event) (int, error, error) {
	r := w.run
	if tx, ok := r.cps.(Transactor); ok {
		failed, herr := -1, error(nil)
		last := events[len(events)-1].Position.SequenceNumber
		err := tx.InTx(ctx, r.p.name, w.shard, Progress{After: last}, w.token, func(ctx context.Context) error {
			for i := range events {
				if err := w.handle(ctx, &events[i]); err != nil {
					failed, herr = i, err
					return err
				}
			}
			return nil
		})
		var ee *EventError
		if errors.Is(err, ErrTransient) {
			failed = -1 // the store failed, not the event
		} else if errors.As(err, &ee) { // a queued write of one event failed
			for i := range events {
				if events[i].Position == ee.Position {
					failed, herr = i, ee.Err
				}
			}
		}
		switch {
		case err == nil:
			w.done(events)
			return len(events), nil, nil
		case failed < 0 || ctx.Err() != nil:
			return 0, nil, w.storeError(ctx, "commit", err)
		case failed == 0:
			return 0, herr, nil
		}
		// Commit the events before the failing one; handlers may fail
		// differently the second time.
		n, herr2, err := w.commit(ctx, events[:failed])
		if err != nil || herr2 != nil || n < failed {
			return n, herr2, err
		}
		return failed, herr, nil
	}
	applied, herr, lost := len(events), error(nil), false
	for i := range events {
		if ctx.Err() != nil {
			applied = i
			break
		}
		if !w.leaseValid() { // another instance may hold the shard by now
			applied, lost = i, true
			break
		}
		if err := w.handle(ctx, &events[i]); err != nil {
			applied, herr = i, err
			break
		}
	}
	if applied > 0 {
		// Checkpoint what was applied, even when stopping.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		last := events[applied-1].Position.SequenceNumber
		if err := r.cps.SaveCheckpoint(sctx, r.p.name, w.shard, Progress{After: last}, w.token); err != nil {
			return 0, nil, w.storeError(ctx, "checkpoint", err)
		}
		w.done(events[:applied])
	}
	if ctx.Err() != nil {
		return applied, nil, ctx.Err()
	}
	if lost {
		return applied, nil, errLeaseExpired
	}
	return applied, herr, nil
}

// done records events as applied.
func (w *worker) done(events []eventstore.Event) {
	w.after = events[len(events)-1].Position.SequenceNumber
	after := w.after
	w.pub.Store(&after)
	w.events.Add(int64(len(events)))
	w.run.events.Add(int64(len(events)))
}

// storeError wraps a failed checkpoint write.
func (w *worker) storeError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("projection %s: %s %s: %w", w.run.p.name, what, w.shard, err)
}

// handle runs ev's handler, if any.
func (w *worker) handle(ctx context.Context, ev *eventstore.Event) (err error) {
	h := w.run.d.handler(ev)
	if h == nil {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panicked: %v", v)
		}
	}()
	return h(ctx, ev)
}

// retry tries ev alone until it succeeds or runs out of attempts; then it
// parks it.
func (w *worker) retry(ctx context.Context, ev *eventstore.Event, err error) error {
	r := w.run
	pol := r.opts.Retry
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt >= pol.Attempts {
			return w.park(ctx, ev, err, attempt)
		}
		r.retries.Add(1)
		r.opts.Observer.Retry(RetryInfo{Projection: r.p.name, Position: ev.Position, Attempt: attempt, Err: err})
		r.opts.Logger.Warn("projection handler failed; retrying", "projection", r.p.name, "position", ev.Position.String(),
			"stream", ev.StreamID, "version", ev.Version, "attempt", attempt, "err", err)
		if err := w.sleep(ctx, attempt); err != nil {
			return err
		}
		if !w.leaseValid() {
			return errLeaseExpired
		}
		var n int
		var serr error
		n, err, serr = w.commitRetrying(ctx, []eventstore.Event{*ev})
		if serr != nil {
			return serr
		}
		if n == 1 {
			return nil
		}
	}
}

// park records ev as parked; under StopOnPark it then stops the runner.
func (w *worker) park(ctx context.Context, ev *eventstore.Event, err error, attempts int) error {
	r := w.run
	pk := Parked{
		Shard: w.shard, SequenceNumber: ev.Position.SequenceNumber, StreamID: ev.StreamID, Version: ev.Version,
		EventID: ev.ID.String(), Type: ev.Type, Error: err.Error(), Attempts: attempts, ParkedAt: time.Now().UTC(),
	}
	progress := Progress{After: ev.Position.SequenceNumber}
	if r.opts.StopOnPark {
		progress = Progress{After: w.after}
	}
	if perr := w.storeRetry(ctx, "park", func() error { return r.cps.Park(ctx, r.p.name, pk, progress, w.token) }); perr != nil {
		return w.storeError(ctx, "park", perr)
	}
	r.parked.Add(1)
	r.opts.Observer.Park(r.p.name, pk)
	r.opts.Logger.Error("projection parked an event", "projection", r.p.name, "position", ev.Position.String(),
		"stream", ev.StreamID, "version", ev.Version, "type", ev.Type, "attempts", attempts, "err", err)
	herr := &HandlerError{Projection: r.p.name, Position: ev.Position, StreamID: ev.StreamID, Version: ev.Version, Type: ev.Type, Attempts: attempts, Err: err}
	if r.opts.StopOnPark {
		return herr
	}
	w.done([]eventstore.Event{*ev})
	return nil
}

// isLeaseLoss reports whether err means another instance has the shard.
func isLeaseLoss(err error) bool { return errors.Is(err, ErrLeaseLost) }
