package delivery

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// Firehose's put limits.
const (
	MaxRecordSize   = 1000 * 1024 // bytes of one record's data
	MaxBatchRecords = 500         // records in one PutRecordBatch
	MaxBatchBytes   = 4 << 20     // bytes of one PutRecordBatch's data
)

// Errors of the delivery stream.
var (
	// ErrInvalidSource: PutRecord or PutRecordBatch on a delivery stream
	// that reads a stream instead of taking direct puts (Firehose's
	// InvalidSourceException).
	ErrInvalidSource = errors.New("delivery: the delivery stream does not take direct puts")
	// ErrServiceUnavailable: the put was throttled or the stream is
	// stopping; retry it (Firehose's ServiceUnavailableException).
	ErrServiceUnavailable = errors.New("delivery: service unavailable")
)

// Stream is a delivery stream: Run reads the source's shards, buffers
// each shard's records, and delivers them batch by batch (one shard per
// batch), moving a shard's checkpoint only once the destination holds its
// batch. PutRecord and PutRecordBatch feed a DirectPut stream. A Stream's
// methods are safe for concurrent use; Run is called once.
type Stream struct {
	cfg    Config
	leases projection.LeaseStore // nil without Source.Owner

	running atomic.Bool

	ensureMu sync.Mutex
	ensured  bool // the DirectPut backing stream exists

	gaps, deliveredRecs, deliveredBatches, failedRecs atomic.Int64

	mu        sync.Mutex
	state     State
	runErr    error
	runNow    bool
	workers   map[string]*worker
	shards    []shardlog.Shard               // as last listed
	cps       map[string]projection.Progress // as last read
	freshness time.Duration
	created   time.Time
	started   time.Time
}

// New validates cfg and returns a stream that delivers once Run is called.
// A bad field is reported as a *shardlog.ArgumentError naming it and its
// limit.
func New(cfg Config) (*Stream, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Stream{cfg: cfg, state: Active, workers: map[string]*worker{}, created: cfg.Now()}
	if cfg.Source.Owner != "" {
		s.leases = cfg.Source.Checkpoints.(projection.LeaseStore)
	}
	return s, nil
}

// Name returns the delivery stream's name.
func (s *Stream) Name() string { return s.cfg.Name }

// Config returns the stream's configuration, with defaults filled in.
func (s *Stream) Config() Config { return s.cfg }

// Run reads, buffers and delivers until ctx is done, then delivers what is
// buffered (graceful stop, bounded by Config.ShutdownTimeout), gives its
// leases back and returns nil. It returns an error when the stream must
// stop: a batch the destination refused past the retry duration under
// OnExhausted = Stop, records that failed with no error output to record
// them in, or a source that cannot be read. A DirectPut stream's backing
// stream is created first if missing. Run is called once.
func (s *Stream) Run(ctx context.Context) (err error) {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	s.mu.Lock()
	s.runNow, s.started = true, s.cfg.Now()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.runNow, s.state, s.runErr, s.freshness = false, Stopped, err, 0
		s.mu.Unlock()
		s.set(DeliveryDataFreshness, 0)
		s.set(RetentionHoldSeconds, 0)
		if err != nil {
			s.cfg.Logger.Error("delivery: stream stopped", "deliveryStream", s.cfg.Name, "err", err)
		}
	}()
	if s.cfg.Source.DirectPut {
		if err := s.ensureSource(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	if !s.cfg.NoRetentionHold {
		release := s.cfg.Source.Log.HoldRetention(s.cfg.Source.StreamName, holder{s})
		defer release()
	}
	return s.loop(ctx)
}

// slot is a running shard worker, as the scheduler sees it.
type slot struct {
	w        *worker
	cancel   context.CancelCauseFunc
	lease    projection.Lease
	stopping bool // stopped to give the shard to another instance
	lost     bool // its lease could not be renewed
}

// sched is the scheduler's state; only loop's goroutine touches it.
type sched struct {
	slots map[string]*slot
	out   chan outcome
	wg    sync.WaitGroup
}

// errRebalance stops a worker whose shard goes to another instance; it
// delivers its buffer first.
var errRebalance = errors.New("delivery: shard handed to another instance")

// loop schedules the shards until ctx is done or a fatal error.
func (s *Stream) loop(ctx context.Context) error {
	sc := &sched{slots: map[string]*slot{}, out: make(chan outcome)}
	wctx, stopAll := context.WithCancel(ctx)
	tick := s.cfg.RelistInterval
	if s.leases != nil {
		tick = min(tick, s.cfg.Source.LeaseTTL/3)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	defer func() {
		for _, sl := range sc.slots {
			sl.stopping = true
		}
		stopAll() // the workers deliver their buffers, then end
		go func() { sc.wg.Wait(); close(sc.out) }()
		// Keep renewing the leases while they deliver (bounded by
		// ShutdownTimeout), or a delivery longer than the lease's TTL
		// could not be checkpointed.
		rctx := context.WithoutCancel(ctx)
		for {
			select {
			case o, ok := <-sc.out:
				if !ok {
					s.leave()
					return
				}
				_ = s.ended(ctx, sc, o)
			case <-t.C:
				if s.leases != nil {
					rc, cancel := context.WithTimeout(rctx, s.cfg.Source.LeaseTTL)
					s.renew(rc, sc)
					cancel()
				}
			}
		}
	}()
	for {
		if err := s.schedule(ctx, wctx, sc); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if s.leases == nil {
				return err
			}
			s.cfg.Logger.Warn("delivery: scheduling failed; retrying at the next renewal", "deliveryStream", s.cfg.Name, "err", err)
		}
		s.updateFreshness()
		select {
		case o := <-sc.out:
			if err := s.ended(ctx, sc, o); err != nil {
				return err
			}
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// schedule lists the shards, starts the ready ones and, with leases,
// renews, balances and takes over leases.
func (s *Stream) schedule(ctx, wctx context.Context, sc *sched) error {
	held := 0
	if s.leases != nil {
		held = s.renew(ctx, sc)
	}
	d, err := s.cfg.Source.Log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: s.cfg.Source.StreamName})
	if err != nil {
		return err
	}
	cps, err := s.cfg.Source.Checkpoints.Checkpoints(ctx, s.cfg.Name)
	if err != nil {
		return err
	}
	shards := d.Shards
	s.mu.Lock()
	s.shards, s.cps = shards, cps
	s.mu.Unlock()
	ready := shardlog.ReadyShards(shards, func(id string) bool { return cps[id].Done })
	slices.SortFunc(ready, func(a, b shardlog.Shard) int { return cmp.Compare(a.ShardID, b.ShardID) })
	if s.leases == nil {
		for _, sh := range ready {
			if sc.slots[sh.ShardID] == nil {
				s.start(wctx, sc, sh, cps, projection.Lease{}, 0)
			}
		}
		return nil
	}
	return s.balance(ctx, wctx, sc, ready, held)
}

// startPosition is where a worker on sh starts: after its checkpoint; or,
// with StartAtLatest, at LATEST for a shard neither it nor its parents
// has a checkpoint for (a shard the stream never read, not a child of one
// it did); else at the trim horizon.
func (s *Stream) startPosition(sh shardlog.Shard, cps map[string]projection.Progress) shardlog.StartingPosition {
	if p := cps[sh.ShardID]; !p.After.IsZero() {
		return shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: p.After}
	}
	if s.cfg.Source.StartAtLatest {
		_, own := cps[sh.ShardID]
		parent := false
		for _, id := range [2]string{sh.ParentShardID, sh.AdjacentParentShardID} {
			if _, ok := cps[id]; id != "" && ok {
				parent = true
			}
		}
		if !own && !parent {
			return shardlog.StartingPosition{Type: shardlog.Latest}
		}
	}
	return shardlog.StartingPosition{Type: shardlog.TrimHorizon}
}

// start runs a worker on sh. validUntil (unix nanos) bounds how long it
// may trust its lease; zero without leases.
func (s *Stream) start(wctx context.Context, sc *sched, sh shardlog.Shard, cps map[string]projection.Progress, l projection.Lease, validUntil int64) {
	ctx, cancel := context.WithCancelCause(wctx)
	w := &worker{s: s, shard: sh, from: s.startPosition(sh, cps), after: cps[sh.ShardID].After, token: l.Token}
	w.delivered = w.after
	w.valid.Store(validUntil)
	sc.slots[sh.ShardID] = &slot{w: w, cancel: cancel, lease: l}
	s.mu.Lock()
	s.workers[sh.ShardID] = w
	s.mu.Unlock()
	sc.wg.Add(1)
	go func() {
		defer sc.wg.Done()
		sc.out <- w.loop(ctx)
	}()
}

// ended handles a worker's outcome; it returns a fatal error.
func (s *Stream) ended(ctx context.Context, sc *sched, o outcome) error {
	sl := sc.slots[o.shard]
	delete(sc.slots, o.shard)
	if sl == nil {
		return nil
	}
	// Keep the worker's last progress for Status.
	delivered := sl.w.deliveredThrough()
	s.mu.Lock()
	delete(s.workers, o.shard)
	if s.cps == nil {
		s.cps = map[string]projection.Progress{}
	}
	p := s.cps[o.shard]
	if delivered.Compare(p.After) > 0 {
		p.After = delivered
	}
	p.Done = p.Done || o.end
	s.cps[o.shard] = p
	s.mu.Unlock()
	sl.cancel(nil)
	var fatal error
	switch {
	case o.lost:
		s.cfg.Logger.Warn("delivery: lease lost; the shard's new owner delivers from its checkpoint", "deliveryStream", s.cfg.Name, "shard", o.shard, "owner", s.cfg.Source.Owner)
		return nil
	case o.err != nil && !isStop(o.err):
		fatal = o.err
	}
	if s.leases == nil || sl.lost {
		return fatal
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Source.LeaseTTL)
	defer cancel()
	if err := s.leases.Release(rctx, sl.lease); err != nil && !errors.Is(err, projection.ErrLeaseLost) {
		s.cfg.Logger.Warn("delivery: releasing a lease failed; it will expire", "deliveryStream", s.cfg.Name, "shard", o.shard, "err", err)
	}
	return fatal
}

// isStop reports whether err is a cancellation or a deadline.
func isStop(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// updateFreshness sets DataFreshness: the age of the oldest record read
// and not yet delivered; and RetentionHold.Seconds: how far the source's
// retention hold keeps records past the retention period
// (shardlog.HoldStatus.Behind).
func (s *Stream) updateFreshness() {
	now := s.cfg.Now()
	var oldest time.Duration
	s.mu.Lock()
	for _, w := range s.workers {
		if t := w.oldestArrival(); !t.IsZero() {
			oldest = max(oldest, now.Sub(t))
		}
	}
	s.freshness = oldest
	s.mu.Unlock()
	s.set(DeliveryDataFreshness, oldest.Seconds())
	s.set(RetentionHoldSeconds, s.retentionHold().Behind.Seconds())
}

// retentionHold is the source stream's retention hold, as the log last
// computed it (zero when there is none, or the stream does not exist).
func (s *Stream) retentionHold() shardlog.HoldStatus {
	h, err := s.cfg.Source.Log.RetentionHold(s.cfg.Source.StreamName)
	if err != nil {
		return shardlog.HoldStatus{}
	}
	return h
}

// add adds v to a counter metric.
func (s *Stream) add(m Metric, v float64) {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.Add(s.cfg.Name, m, v)
	}
}

// set sets a gauge metric.
func (s *Stream) set(m Metric, v float64) {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.Set(s.cfg.Name, m, v)
	}
}

// Status returns the stream's progress as this process knows it.
func (s *Stream) Status() Status {
	s.mu.Lock()
	st := Status{
		Name: s.cfg.Name, Version: s.cfg.Version, Source: s.cfg.Source.StreamName, DirectPut: s.cfg.Source.DirectPut,
		State: s.state, CreatedAt: s.created, StartedAt: s.started, Running: s.runNow, Err: s.runErr, DataFreshness: s.freshness,
	}
	byID := map[string]*ShardStatus{}
	for _, sh := range s.shards {
		p := s.cps[sh.ShardID]
		st.Shards = append(st.Shards, ShardStatus{ShardID: sh.ShardID, Checkpoint: p.After, Done: p.Done})
	}
	for i := range st.Shards {
		byID[st.Shards[i].ShardID] = &st.Shards[i]
	}
	workers := make([]*worker, 0, len(s.workers))
	for _, w := range s.workers {
		workers = append(workers, w)
	}
	s.mu.Unlock()
	for _, w := range workers {
		ws := w.status()
		if cur := byID[ws.ShardID]; cur != nil {
			*cur = ws
		} else {
			st.Shards = append(st.Shards, ws)
		}
	}
	slices.SortFunc(st.Shards, func(a, b ShardStatus) int { return cmp.Compare(a.ShardID, b.ShardID) })
	st.ExpiredGaps = s.gaps.Load()
	st.DeliveredRecords = s.deliveredRecs.Load()
	st.DeliveredBatches = s.deliveredBatches.Load()
	st.FailedRecords = s.failedRecs.Load()
	st.RetentionHold = s.retentionHold()
	return st
}
