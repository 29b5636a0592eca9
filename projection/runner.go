package projection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// Runner runs projections over a store: for each projection, every shard
// in order on its own goroutine, and a child shard only once all its
// parents are finished, so each stream's events reach the handlers in
// version order. Handlers of different shards run concurrently.
type Runner struct {
	runs    []*projRun
	running atomic.Bool
}

// NewRunner returns a runner for projections over store.
func NewRunner(store *eventstore.Store, opts Options, projections ...*Projection) (*Runner, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(projections) == 0 {
		return nil, &shardlog.ArgumentError{Field: "projections", Reason: "at least one is required"}
	}
	r := &Runner{}
	seen := map[string]bool{}
	for i, p := range projections {
		if p == nil || p.name == "" {
			return nil, &shardlog.ArgumentError{Field: fmt.Sprintf("projections[%d]", i), Reason: "needs a name (projection.New)"}
		}
		if seen[p.name] {
			return nil, &shardlog.ArgumentError{Field: fmt.Sprintf("projections[%d]", i), Reason: fmt.Sprintf("the name %q is used twice", p.name)}
		}
		seen[p.name] = true
		d, err := p.bind(store.Registry())
		if err != nil {
			return nil, err
		}
		if err := p.checkStore(opts.Checkpoints); err != nil {
			return nil, err
		}
		pr := &projRun{store: store, opts: opts, p: p, d: d, cps: opts.Checkpoints, workers: map[string]*worker{}}
		if opts.Owner != "" {
			pr.leases = opts.Checkpoints.(LeaseStore)
		}
		r.runs = append(r.runs, pr)
	}
	return r, nil
}

// Run processes events until ctx is done (it then returns nil, once every
// shard goroutine has checkpointed what it applied and, with leases, given
// its leases back), a fatal error, or, with CatchUpOnly, the current end
// of every shard. A handler error is not fatal (it is retried, then the
// event is parked) unless StopOnPark is set. A failing checkpoint store is
// retried as a handler is, then is fatal; with leases, a failure to
// schedule (heartbeat, renew, acquire) is retried at the next renewal
// instead. A projection rebuilt as of a point in time (RebuildAsOf) is
// refused with ErrAsOfReadModel until it is Reset. Call Run once.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("projection: a Runner runs once")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(r.runs))
	for _, pr := range r.runs {
		go func() { errs <- pr.run(ctx) }()
	}
	var first error
	for range r.runs {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// projRun runs one projection.
type projRun struct {
	store  *eventstore.Store
	opts   Options
	p      *Projection
	d      *dispatch
	cps    CheckpointStore
	leases LeaseStore // nil without leases

	events, retries, parked, gaps atomic.Int64

	mu      sync.Mutex
	workers map[string]*worker // running, for Stats
}

// slot is a running shard worker, as the scheduler sees it.
type slot struct {
	w        *worker
	cancel   context.CancelFunc
	lease    Lease
	stopping bool // cancelled to give the shard to another instance
	lost     bool // its lease could not be renewed
}

// sched is the scheduler's state; only run's goroutine touches it.
type sched struct {
	slots    map[string]*slot
	caughtUp map[string]bool
	out      chan outcome
	wg       sync.WaitGroup
	// releaseBy, once set (at shutdown), is the deadline of every lease
	// release.
	releaseBy time.Time
}

// run schedules the projection's shards until ctx is done or a fatal error.
func (pr *projRun) run(ctx context.Context) error {
	s := &sched{slots: map[string]*slot{}, caughtUp: map[string]bool{}, out: make(chan outcome)}
	wctx, stopAll := context.WithCancel(ctx)
	defer func() {
		for _, sl := range s.slots {
			sl.stopping = true // their leases are released as they stop
		}
		// Every release shares one deadline, so a hung store delays the
		// stop by one LeaseTTL, not one per shard.
		s.releaseBy = time.Now().Add(pr.opts.LeaseTTL)
		stopAll()
		go func() { s.wg.Wait(); close(s.out) }()
		for o := range s.out {
			pr.ended(ctx, s, o)
		}
		pr.leave()
	}()
	var tick <-chan time.Time
	if pr.leases != nil {
		t := time.NewTicker(pr.opts.LeaseTTL / 3)
		defer t.Stop()
		tick = t.C
	}
	for {
		if err := pr.schedule(ctx, wctx, s); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if pr.leases == nil || errors.Is(err, ErrAsOfReadModel) {
				return err
			}
			pr.opts.Logger.Warn("projection: scheduling failed; retrying at the next renewal", "projection", pr.p.name, "err", err)
		}
		if pr.opts.CatchUpOnly && len(s.slots) == 0 {
			return nil
		}
		select {
		case o := <-s.out:
			if err := pr.ended(ctx, s, o); err != nil {
				return err
			}
		case <-tick:
		case <-ctx.Done():
			return nil
		}
	}
}

// ended handles a worker's outcome; it returns a fatal error.
func (pr *projRun) ended(ctx context.Context, s *sched, o outcome) error {
	sl := s.slots[o.shard]
	delete(s.slots, o.shard)
	pr.mu.Lock()
	delete(pr.workers, o.shard)
	pr.mu.Unlock()
	if sl == nil {
		return nil
	}
	sl.cancel()
	var fatal error
	switch {
	case o.caughtUp:
		s.caughtUp[o.shard] = true
	case o.err != nil && isLeaseLoss(o.err):
		pr.opts.Logger.Warn("projection: lease lost; the shard's new owner continues", "projection", pr.p.name, "shard", o.shard, "owner", pr.opts.Owner, "err", o.err)
		pr.opts.Observer.Lease(LeaseChange{Projection: pr.p.name, Shard: o.shard, Owner: pr.opts.Owner, Token: sl.lease.Token, Lost: true})
		return nil
	case o.err != nil && (ctx.Err() != nil || sl.stopping || sl.lost) && isStop(o.err):
		// Stopped on purpose.
	case o.err != nil:
		fatal = o.err // give the lease back all the same
	}
	if pr.leases == nil {
		return fatal
	}
	if sl.lost {
		pr.opts.Observer.Lease(LeaseChange{Projection: pr.p.name, Shard: o.shard, Owner: pr.opts.Owner, Token: sl.lease.Token, Lost: true})
		return fatal
	}
	deadline := s.releaseBy
	if deadline.IsZero() {
		deadline = time.Now().Add(pr.opts.LeaseTTL)
	}
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	if err := pr.leases.Release(rctx, sl.lease); errors.Is(err, ErrLeaseLost) {
		pr.opts.Observer.Lease(LeaseChange{Projection: pr.p.name, Shard: o.shard, Owner: pr.opts.Owner, Token: sl.lease.Token, Lost: true})
	} else if err != nil {
		pr.opts.Logger.Warn("projection: releasing a lease failed; it will expire", "projection", pr.p.name, "shard", o.shard, "err", err)
	} else {
		pr.opts.Observer.Lease(LeaseChange{Projection: pr.p.name, Shard: o.shard, Owner: pr.opts.Owner, Token: sl.lease.Token})
	}
	return fatal
}

// isStop reports whether err is a cancellation or a deadline.
func isStop(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// leave removes this instance from the live list, so the others take its
// shards without waiting for its heartbeat to expire.
func (pr *projRun) leave() {
	if pr.leases == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), pr.opts.LeaseTTL)
	defer cancel()
	if _, err := pr.leases.Heartbeat(ctx, pr.p.name, pr.opts.Owner, 0); err != nil {
		pr.opts.Logger.Warn("projection: leaving failed; the heartbeat will expire", "projection", pr.p.name, "err", err)
	}
}

// schedule starts the shards that are ready and, with leases, renews,
// balances and takes over leases.
func (pr *projRun) schedule(ctx, wctx context.Context, s *sched) error {
	held := 0
	if pr.leases != nil {
		held = pr.renew(ctx, s)
	}
	shards, err := pr.store.Shards(ctx)
	if err != nil {
		return err
	}
	cps, err := pr.cps.Checkpoints(ctx, pr.p.name)
	if err != nil {
		return fmt.Errorf("projection %s: checkpoints: %w", pr.p.name, err)
	}
	if at, ok, err := asOfMarker(cps); err != nil {
		return fmt.Errorf("projection %s: %w", pr.p.name, err)
	} else if ok && !at.Equal(pr.opts.until) {
		return fmt.Errorf("projection %s: as of %s: %w", pr.p.name, at.Format(time.RFC3339Nano), ErrAsOfReadModel)
	}
	// Shards whose parents are finished, in shard order; a shard caught
	// up (CatchUpOnly) is not finished, so its children wait.
	var ready []string
	for _, sh := range shardlog.ReadyShards(shards, func(id string) bool { return cps[id].Done }) {
		if !s.caughtUp[sh.ShardID] {
			ready = append(ready, sh.ShardID)
		}
	}
	slices.SortFunc(ready, compareShard)
	if pr.leases == nil {
		for _, id := range ready {
			if s.slots[id] == nil {
				pr.start(wctx, s, id, cps[id].After, Lease{}, 0)
			}
		}
		return nil
	}
	return pr.balance(ctx, wctx, s, ready, held)
}

// start runs a worker on shard id after sequence number after.
// validUntil (unix nanos) bounds how long it may trust its lease; zero
// without leases.
func (pr *projRun) start(wctx context.Context, s *sched, id string, after shardlog.SequenceNumber, l Lease, validUntil int64) {
	ctx, cancel := context.WithCancel(wctx)
	w := &worker{run: pr, shard: id, after: after, token: l.Token}
	w.valid.Store(validUntil)
	w.pub.Store(&after)
	s.slots[id] = &slot{w: w, cancel: cancel, lease: l}
	pr.mu.Lock()
	pr.workers[id] = w
	pr.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		o := w.loop(ctx)
		s.out <- o
	}()
}
