package projection

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// Options configures a Runner. The zero value runs without leases, with
// checkpoints in memory.
type Options struct {
	// Checkpoints keeps the projections' progress; nil: a new MemoryStore.
	// A store that implements Transactor (pgprojection) runs each batch's
	// handlers and its checkpoint in one transaction.
	Checkpoints CheckpointStore
	// Owner names this instance (unique among the instances sharing the
	// projections: a host name plus a process ID, say) and turns on
	// leases: Checkpoints must then be a SharedStore, and each shard is
	// processed by the one instance holding its lease.
	Owner string
	// LeaseTTL is how long a lease lasts unrenewed (zero: 10 s). Leases
	// are renewed, and shards balanced, every LeaseTTL/3; an instance that
	// dies is replaced after at most LeaseTTL.
	LeaseTTL time.Duration
	// BatchSize is how many events are read, applied and checkpointed
	// together (1-10000; zero: 500).
	BatchSize int
	// Retry is how a failing handler is retried before its event is
	// parked.
	Retry RetryPolicy
	// StopOnPark stops the runner with a *HandlerError when an event is
	// parked, leaving the checkpoint before it (the event is tried again
	// when the runner restarts). By default the runner records the parked
	// event, moves past it, and continues.
	StopOnPark bool
	// CatchUpOnly makes Run return once every shard is processed to its
	// current end, instead of waiting for new events: a replay.
	CatchUpOnly bool
	// Observer is told about batches, retries, parked events and leases.
	Observer Observer
	// Logger logs lease changes and retries; nil: slog.Default().
	Logger *slog.Logger

	// until, set by RebuildAsOf, stops every shard at its last event
	// recorded at or before it.
	until time.Time
}

// RetryPolicy is how often and how patiently a failing event is retried.
type RetryPolicy struct {
	// Attempts is how many times an event is tried before it is parked
	// (zero: 5; 1: never retried).
	Attempts int
	// MinBackoff and MaxBackoff bound the wait between attempts, which
	// doubles from MinBackoff, with jitter (zero: 100 ms and 5 s).
	MinBackoff, MaxBackoff time.Duration
}

// backoff returns the wait after failed attempt n (1-based).
func (r RetryPolicy) backoff(n int, jitter float64) time.Duration {
	d := r.MinBackoff
	for i := 1; i < n && d < r.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.MaxBackoff)
	return time.Duration(float64(d) * (0.5 + jitter/2))
}

// withDefaults fills zero fields and validates the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Checkpoints == nil {
		o.Checkpoints = NewMemoryStore()
	}
	if o.Owner != "" {
		if _, ok := o.Checkpoints.(SharedStore); !ok {
			return o, &shardlog.ArgumentError{Field: "Checkpoints", Reason: fmt.Sprintf("%T keeps no leases: with Owner set, use a SharedStore (MemoryStore, pgprojection, redisprojection)", o.Checkpoints)}
		}
		if o.CatchUpOnly {
			return o, &shardlog.ArgumentError{Field: "CatchUpOnly", Reason: "a replay runs alone: unset Owner (no leases)"}
		}
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.LeaseTTL < 30*time.Millisecond {
		return o, &shardlog.ArgumentError{Field: "LeaseTTL", Reason: fmt.Sprintf("%s is below the minimum of 30ms", o.LeaseTTL)}
	}
	if o.BatchSize == 0 {
		o.BatchSize = 500
	}
	if o.BatchSize < 1 || o.BatchSize > shardlog.MaxGetRecordsLimit {
		return o, &shardlog.ArgumentError{Field: "BatchSize", Reason: fmt.Sprintf("%d is outside 1-%d", o.BatchSize, shardlog.MaxGetRecordsLimit)}
	}
	r := &o.Retry
	if r.Attempts == 0 {
		r.Attempts = 5
	}
	if r.Attempts < 1 {
		return o, &shardlog.ArgumentError{Field: "Retry.Attempts", Reason: fmt.Sprintf("%d is below 1", r.Attempts)}
	}
	if r.MinBackoff == 0 {
		r.MinBackoff = 100 * time.Millisecond
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = 5 * time.Second
	}
	if r.MinBackoff < 0 || r.MaxBackoff < r.MinBackoff {
		return o, &shardlog.ArgumentError{Field: "Retry.MaxBackoff", Reason: fmt.Sprintf("backoff %s-%s is not a range of non-negative durations", r.MinBackoff, r.MaxBackoff)}
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
