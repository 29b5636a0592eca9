package delivery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// backoff is the wait before retry n (1-based): MinBackoff doubling up to
// MaxBackoff, with jitter (half of it fixed, half random).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.MinBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// backoffWait waits d, or until ctx is done.
func backoffWait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// deliver hands b to the destination, retrying with backoff for up to
// Retry.Duration; then, as Retry.OnExhausted says, it records b's records
// in the error output and returns nil (the checkpoint then moves past
// them), or returns a *DeliveryError.
func (w *worker) deliver(ctx context.Context, b *Batch) error {
	s := w.s
	cfg := &s.cfg
	pol := cfg.Retry
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := cfg.Destination.Deliver(ctx, b)
		if err == nil {
			s.add(DeliverySuccess, 1)
			s.add(DeliveryRecords, float64(len(b.Records)))
			s.add(DeliveryBytes, float64(b.Bytes))
			s.add(DeliveryObjectCount, 1)
			s.deliveredRecs.Add(int64(len(b.Records)))
			s.deliveredBatches.Add(1)
			return nil
		}
		s.add(DeliverySuccess, 0)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !w.leaseValid() {
			return errLeaseLost
		}
		elapsed := time.Since(start)
		if pol.Duration < 0 || elapsed >= pol.Duration {
			return w.exhausted(ctx, b, attempt, err)
		}
		wait := min(pol.backoff(attempt), pol.Duration-elapsed)
		cfg.Logger.Warn("delivery: destination failed; retrying", "deliveryStream", cfg.Name, "shard", b.Shard.ShardID,
			"first", b.First.String(), "last", b.Last.String(), "attempt", attempt, "wait", wait, "err", err)
		if err := backoffWait(ctx, wait); err != nil {
			return err
		}
	}
}

// deliveryFailedCode is the ErrorCode of records the destination refused
// past the retry duration.
const deliveryFailedCode = "Delivery.Failed"

// exhausted handles a batch the destination refused for the whole retry
// duration.
func (w *worker) exhausted(ctx context.Context, b *Batch, attempts int, err error) error {
	cfg := &w.s.cfg
	if cfg.Retry.OnExhausted == Stop {
		return &DeliveryError{DeliveryStream: cfg.Name, ShardID: b.Shard.ShardID, First: b.First, Last: b.Last, Attempts: attempts, Err: err}
	}
	now := cfg.Now()
	failed := make([]FailedRecord, len(b.Records))
	for i, r := range b.Records {
		failed[i] = FailedRecord{
			AttemptsMade: attempts, ArrivalTimestamp: r.ApproximateArrivalTimestamp, ErrorCode: deliveryFailedCode, ErrorMessage: err.Error(),
			AttemptEndingTimestamp: now, RawData: r.Data, Source: b.Source, ShardID: b.Shard.ShardID, SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey,
		}
	}
	cfg.Logger.Error("delivery: the destination refused a batch past the retry duration; its records go to the error output",
		"deliveryStream", cfg.Name, "shard", b.Shard.ShardID, "first", b.First.String(), "last", b.Last.String(), "records", len(b.Records), "attempts", attempts, "err", err)
	return w.recordFailed(ctx, b, DeliveryFailed, failed)
}

// recordFailed writes failed records to the error output, retrying it as
// the destination is retried. Without an error output, or when it keeps
// failing, the stream stops (a *DeliveryError): nothing is dropped
// without a record of it.
func (w *worker) recordFailed(ctx context.Context, b *Batch, typ OutputType, failed []FailedRecord) error {
	s := w.s
	cfg := &s.cfg
	derr := func(attempts int, err error) error {
		return &DeliveryError{DeliveryStream: cfg.Name, ShardID: b.Shard.ShardID, First: b.First, Last: b.Last, Attempts: attempts, Err: err}
	}
	if cfg.ErrorOutput == nil {
		return derr(0, fmt.Errorf("%w (%d records %s)", ErrNoErrorOutput, len(failed), typ))
	}
	pol := cfg.Retry
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := cfg.ErrorOutput.DeliverFailed(ctx, typ, failed)
		if err == nil {
			s.failedRecs.Add(int64(len(failed)))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		elapsed := time.Since(start)
		if pol.Duration < 0 || elapsed >= pol.Duration {
			return derr(attempt, fmt.Errorf("error output: %w", err))
		}
		wait := min(pol.backoff(attempt), pol.Duration-elapsed)
		cfg.Logger.Warn("delivery: error output failed; retrying", "deliveryStream", cfg.Name, "shard", b.Shard.ShardID, "attempt", attempt, "err", err)
		if err := backoffWait(ctx, wait); err != nil {
			return err
		}
	}
}
