package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// worker delivers one shard: it reads with a Cursor from the checkpoint,
// buffers the shard's records, and flushes them as one Batch when the
// buffer reaches the size hint, its oldest record has waited the interval,
// the shard ends, or the stream stops.
type worker struct {
	s     *Stream
	shard shardlog.Shard
	from  shardlog.StartingPosition
	after shardlog.SequenceNumber // checkpoint: last delivered

	// With leases: the token and how long this instance may trust it.
	token uint64
	valid atomic.Int64 // unix nanos; zero without leases

	// The buffer; only the worker's goroutine touches it.
	buf   []shardlog.Record
	bytes int
	since time.Time // Config.Now when buf[0] entered the buffer

	// Published for Status and the retention hold.
	mu        sync.Mutex
	delivered shardlog.SequenceNumber
	nbuf      int
	nbytes    int
	oldest    time.Time // buf[0]'s arrival
}

// outcome is how a worker ended.
type outcome struct {
	shard string
	end   bool // the shard is closed and delivered: checkpointed Done
	lost  bool // the lease was lost: the buffer was dropped
	err   error
}

// leaseValid reports whether the worker may still act on its lease.
func (w *worker) leaseValid() bool {
	v := w.valid.Load()
	return v == 0 || time.Now().UnixNano() < v
}

// loop reads and delivers the shard until its end, ctx, or an error.
func (w *worker) loop(ctx context.Context) outcome {
	id := w.shard.ShardID
	dctx, stopD := w.deliveryContext(ctx)
	defer stopD()
	cfg := &w.s.cfg
	cur, err := cfg.Source.Log.NewCursor(ctx, shardlog.NewCursorInput{StreamName: cfg.Source.StreamName, ShardID: id, StartingPosition: w.from})
	if err != nil {
		return w.result(ctx, fmt.Errorf("delivery %s: open shard %s: %w", cfg.Name, id, err))
	}
	if w.from.Type == shardlog.Latest {
		if err := w.saveLatest(dctx, cur.Position()); err != nil {
			return w.result(ctx, err)
		}
	}
	limit := cfg.Buffering.SizeMiB << 20
	readFailures := 0
	for {
		if ctx.Err() != nil {
			return w.stop(ctx, dctx)
		}
		if !w.leaseValid() {
			return outcome{shard: id, lost: true}
		}
		if w.due() {
			if err := w.flush(dctx); err != nil {
				return w.result(ctx, err)
			}
		}
		b, err := cur.Next(ctx, 0)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			readFailures++
			if readFailures >= readAttempts || errors.Is(err, shardlog.ErrResourceNotFound) || errors.Is(err, shardlog.ErrInvalidArgument) {
				return w.result(ctx, fmt.Errorf("delivery %s: read shard %s: %w", cfg.Name, id, err))
			}
			cfg.Logger.Warn("delivery: reading the source failed; retrying", "deliveryStream", cfg.Name, "shard", id, "attempt", readFailures, "err", err)
			_ = backoffWait(ctx, cfg.Retry.backoff(readFailures))
			continue
		}
		readFailures = 0
		if b.End && !w.shard.Closed {
			// The shard closed while it was read: the batches from here on
			// (and CloseShard) carry its end.
			w.describe(ctx)
		}
		if b.ExpiredGap {
			w.gap(cur, b)
		}
		if n := len(b.Records); n > 0 {
			bytes := 0
			for _, r := range b.Records {
				bytes += len(r.Data)
			}
			w.s.add(DataReadRecords, float64(n))
			w.s.add(DataReadBytes, float64(bytes))
		}
		for _, r := range b.Records {
			w.add(r)
			if w.bytes >= limit {
				if err := w.flush(dctx); err != nil {
					return w.result(ctx, err)
				}
			}
		}
		if cfg.Buffering.Interval == 0 {
			// Deliver at once: what this read returned is one batch.
			if err := w.flush(dctx); err != nil {
				return w.result(ctx, err)
			}
		}
		if b.End {
			if err := w.flush(dctx); err != nil {
				return w.result(ctx, err)
			}
			if err := w.closeShard(dctx); err != nil {
				return w.result(ctx, err)
			}
			if err := w.checkpoint(dctx, projection.Progress{After: w.after, Done: true}); err != nil {
				return w.result(ctx, err)
			}
			cfg.Logger.Info("delivery: shard delivered to its end", "deliveryStream", cfg.Name, "shard", id)
			return outcome{shard: id, end: true}
		}
		if len(b.Records) == 0 {
			if err := w.wait(ctx, cur); err != nil && ctx.Err() == nil {
				return w.result(ctx, fmt.Errorf("delivery %s: wait on shard %s: %w", cfg.Name, id, err))
			}
		}
	}
}

// saveLatest checkpoints a shard started at LATEST (StartAtLatest) just
// before next, the cursor's first position: the records before it are
// skipped on purpose, so they count as delivered (the retention hold does
// not keep them), and a restart or the next lease holder goes on from
// here instead of skipping again to a later LATEST.
func (w *worker) saveLatest(ctx context.Context, next shardlog.SequenceNumber) error {
	var after shardlog.SequenceNumber
	if next.Position() > 0 {
		after = shardlog.MakeSequenceNumber(next.Position()-1, next.ShardIndex())
	}
	if err := w.checkpoint(ctx, projection.Progress{After: after}); err != nil {
		return err
	}
	w.after = after
	w.mu.Lock()
	w.delivered = after
	w.mu.Unlock()
	return nil
}

// deliveryContext is the context flushes run under: not cancelled by
// ctx at once, so that a graceful stop delivers the buffer, but
// ShutdownTimeout after ctx is done, or at once when the lease is lost.
// With a lease it also ends when the lease lapses unrenewed (the lease
// store unreachable, the scheduler stalled): another instance may then
// take the shard over and deliver from the checkpoint, under the same
// object names, and a write still in flight here must not land after
// its own.
func (w *worker) deliveryContext(ctx context.Context) (context.Context, func()) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var t, lapse *time.Timer
	stopped := false
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(context.Cause(ctx), projection.ErrLeaseLost) {
			cancel()
			return
		}
		mu.Lock()
		if !stopped {
			t = time.AfterFunc(w.s.cfg.ShutdownTimeout, cancel)
		}
		mu.Unlock()
	})
	// watch re-arms itself at each renewed validity, and cancels once the
	// lease was not renewed in time.
	var watch func()
	watch = func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		d := time.Until(time.Unix(0, w.valid.Load()))
		if d <= 0 {
			cancel()
			return
		}
		lapse = time.AfterFunc(d, watch)
	}
	if w.valid.Load() != 0 {
		watch()
	}
	return dctx, func() {
		stop()
		mu.Lock()
		stopped = true
		if t != nil {
			t.Stop()
		}
		if lapse != nil {
			lapse.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// stop ends the worker once ctx is done: it delivers the buffer (within
// the shutdown timeout) unless the lease was lost.
func (w *worker) stop(ctx, dctx context.Context) outcome {
	id := w.shard.ShardID
	if errors.Is(context.Cause(ctx), projection.ErrLeaseLost) {
		return outcome{shard: id, lost: true}
	}
	if err := w.flush(dctx); err != nil {
		if errors.Is(err, projection.ErrLeaseLost) || !w.leaseValid() {
			return outcome{shard: id, lost: true}
		}
		w.s.cfg.Logger.Warn("delivery: stopping without delivering the buffer; it is read again from the checkpoint after a restart",
			"deliveryStream", w.s.cfg.Name, "shard", id, "records", len(w.buf), "err", err)
	}
	return outcome{shard: id, err: ctx.Err()}
}

// result turns a flush or read error into the worker's outcome.
func (w *worker) result(ctx context.Context, err error) outcome {
	id := w.shard.ShardID
	switch {
	case errors.Is(err, projection.ErrLeaseLost), isStop(err) && !w.leaseValid():
		// A stop because the lease lapsed is a lost lease too.
		return outcome{shard: id, lost: true}
	case ctx.Err() != nil && isStop(err):
		return outcome{shard: id, err: ctx.Err()}
	}
	return outcome{shard: id, err: err}
}

// add puts r in the buffer.
func (w *worker) add(r shardlog.Record) {
	if len(w.buf) == 0 {
		w.since = w.s.cfg.Now()
	}
	w.buf = append(w.buf, r)
	w.bytes += len(r.Data)
	w.mu.Lock()
	w.nbuf, w.nbytes = len(w.buf), w.bytes
	if w.nbuf == 1 {
		w.oldest = r.ApproximateArrivalTimestamp
	}
	w.mu.Unlock()
}

// due reports whether the buffer's oldest record has waited the interval.
func (w *worker) due() bool {
	return len(w.buf) > 0 && !w.s.cfg.Now().Before(w.since.Add(w.s.cfg.Buffering.Interval))
}

// wait blocks until the shard may have records, the buffer's interval has
// passed, or ctx is done.
func (w *worker) wait(ctx context.Context, cur *shardlog.Cursor) error {
	if len(w.buf) == 0 {
		return cur.Wait(ctx)
	}
	d := w.since.Add(w.s.cfg.Buffering.Interval).Sub(w.s.cfg.Now())
	if d <= 0 {
		return nil
	}
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := cur.Wait(tctx)
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// gap reports a read that began past expired records.
func (w *worker) gap(cur *shardlog.Cursor, b shardlog.Batch) {
	s := w.s
	s.gaps.Add(1)
	s.add(ExpiredGaps, 1)
	next := cur.Position()
	if len(b.Records) > 0 {
		next = b.Records[0].SequenceNumber
	}
	s.cfg.Logger.Warn("delivery: the read passed the log's retention; records after the checkpoint may have expired undelivered",
		"deliveryStream", s.cfg.Name, "shard", w.shard.ShardID, "checkpoint", w.after.String(), "next", next.String())
}

// flush delivers the buffer as one batch and then, only then, moves the
// checkpoint past it.
func (w *worker) flush(ctx context.Context) error {
	if len(w.buf) == 0 {
		return nil
	}
	if !w.leaseValid() {
		return errLeaseLost // deliver nothing on a lapsed lease
	}
	s := w.s
	cfg := &s.cfg
	recs := w.buf
	b := &Batch{
		DeliveryStream: cfg.Name, Version: cfg.Version, Source: cfg.Source.StreamName, Shard: w.shard,
		First: recs[0].SequenceNumber, Last: recs[len(recs)-1].SequenceNumber, Records: recs, Bytes: w.bytes,
		FirstArrival: recs[0].ApproximateArrivalTimestamp,
	}
	if cfg.Transform != nil {
		if err := w.transform(ctx, b); err != nil {
			return err
		}
	}
	if len(b.Records) > 0 {
		if err := w.deliver(ctx, b); err != nil {
			return err
		}
	}
	if err := w.checkpoint(ctx, projection.Progress{After: b.Last}); err != nil {
		return err
	}
	w.after = b.Last
	w.buf, w.bytes = nil, 0
	w.mu.Lock()
	w.delivered, w.nbuf, w.nbytes, w.oldest = b.Last, 0, 0, time.Time{}
	w.mu.Unlock()
	s.updateFreshness()
	return nil
}

// transform runs the configured Transform over b, sends the records it
// failed to the error output, and leaves b with the records to deliver.
func (w *worker) transform(ctx context.Context, b *Batch) error {
	s := w.s
	cfg := &s.cfg
	in := len(b.Records)
	start := time.Now()
	failed, err := runTransform(ctx, cfg.Transform, cfg.TransformRetries, b, cfg.Retry.backoff)
	s.add(ExecuteProcessingDur, float64(time.Since(start).Milliseconds()))
	if err != nil {
		return err
	}
	if len(failed) == in && in > 0 {
		s.add(ExecuteProcessingOK, 0)
	} else {
		s.add(ExecuteProcessingOK, 1)
	}
	b.Bytes = 0
	for _, r := range b.Records {
		b.Bytes += len(r.Data)
	}
	s.add(SucceedProcessingRecs, float64(len(b.Records)))
	s.add(SucceedProcessingByte, float64(b.Bytes))
	if len(failed) > 0 {
		return w.recordFailed(ctx, b, ProcessingFailed, failed)
	}
	return nil
}

// describe refreshes the shard's description from the log (to learn that
// it closed, and its ending sequence number). A failure is logged: the
// shard is then delivered with the description it had.
func (w *worker) describe(ctx context.Context) {
	cfg := &w.s.cfg
	d, err := cfg.Source.Log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: cfg.Source.StreamName})
	if err != nil {
		cfg.Logger.Warn("delivery: describing a closed shard failed; its end is not recorded", "deliveryStream", cfg.Name, "shard", w.shard.ShardID, "err", err)
		return
	}
	for _, sh := range d.Shards {
		if sh.ShardID == w.shard.ShardID {
			// Only these fields: Status reads ShardID concurrently.
			w.shard.Closed, w.shard.EndingSequenceNumber = sh.Closed, sh.EndingSequenceNumber
			return
		}
	}
}

// closeShard tells a ShardCloser destination that the shard, read to its
// end and delivered, is closed; retried as deliveries are, then logged.
// Only a lost lease or the end of ctx is an error.
func (w *worker) closeShard(ctx context.Context) error {
	cfg := &w.s.cfg
	sc, ok := cfg.Destination.(ShardCloser)
	if !ok || !w.shard.Closed {
		return nil
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := sc.CloseShard(ctx, cfg.Source.StreamName, w.shard)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !w.leaseValid() {
			return errLeaseLost
		}
		elapsed := time.Since(start)
		if cfg.Retry.Duration < 0 || elapsed >= cfg.Retry.Duration {
			cfg.Logger.Error("delivery: the destination did not record the shard's end; its records are delivered", "deliveryStream", cfg.Name, "shard", w.shard.ShardID, "attempts", attempt, "err", err)
			return nil
		}
		if err := backoffWait(ctx, min(cfg.Retry.backoff(attempt), cfg.Retry.Duration-elapsed)); err != nil {
			return err
		}
	}
}

// checkpoint saves p for the shard, fenced by the lease token, retrying a
// failing store (not a lost lease) a few times.
func (w *worker) checkpoint(ctx context.Context, p projection.Progress) error {
	cfg := &w.s.cfg
	for attempt := 1; ; attempt++ {
		if !w.leaseValid() {
			return errLeaseLost
		}
		err := cfg.Source.Checkpoints.SaveCheckpoint(ctx, cfg.Name, w.shard.ShardID, p, w.token)
		if err == nil {
			return nil
		}
		if errors.Is(err, projection.ErrLeaseLost) || ctx.Err() != nil || attempt >= checkpointAttempts {
			return fmt.Errorf("delivery %s: checkpoint shard %s: %w", cfg.Name, w.shard.ShardID, err)
		}
		cfg.Logger.Warn("delivery: checkpoint store failed; retrying", "deliveryStream", cfg.Name, "shard", w.shard.ShardID, "attempt", attempt, "err", err)
		if err := backoffWait(ctx, cfg.Retry.backoff(attempt)); err != nil {
			return err
		}
	}
}

// checkpointAttempts is how often a failing checkpoint write is tried,
// readAttempts how often a failing read of the source, before the stream
// stops with the error.
const (
	checkpointAttempts = 5
	readAttempts       = 5
)

// oldestArrival is the arrival time of the oldest buffered record (zero:
// none).
func (w *worker) oldestArrival() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.oldest
}

// deliveredThrough is the last record delivered and checkpointed.
func (w *worker) deliveredThrough() shardlog.SequenceNumber {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.delivered
}

// status is the worker's ShardStatus.
func (w *worker) status() ShardStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return ShardStatus{
		ShardID: w.shard.ShardID, Checkpoint: w.delivered, Running: true, Leased: w.token != 0,
		BufferedRecords: w.nbuf, BufferedBytes: w.nbytes,
	}
}
