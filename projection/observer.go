package projection

import (
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// Observer is told what a runner does, for metrics and progress bars; the
// core ships no metrics library. Calls come from the shard goroutines
// concurrently and must return quickly. Embed NopObserver to implement
// only some methods.
type Observer interface {
	// Batch is called after a batch of events was applied and its
	// checkpoint written.
	Batch(BatchInfo)
	// Retry is called before a failed event is tried again.
	Retry(RetryInfo)
	// Park is called after an event was parked.
	Park(projection string, p Parked)
	// Lease is called when this instance acquires, releases or loses a
	// shard's lease.
	Lease(LeaseChange)
	// Gap is called when a read began past expired events: the
	// projection fell behind the log's retention on a shard (while it was
	// stopped, or while it ran), and events after its checkpoint may have
	// expired unread.
	Gap(GapInfo)
}

// BatchInfo describes one applied batch.
type BatchInfo struct {
	Projection string
	Shard      string
	Events     int
	Duration   time.Duration // reading excluded: handlers and checkpoint
	// MillisBehindLatest is how far the batch's read was behind the
	// shard's newest record.
	MillisBehindLatest int64
	// First and Last are the batch's first and last events' RecordedAt.
	First, Last time.Time
}

// RetryInfo describes a retry of a failed event.
type RetryInfo struct {
	Projection string
	Position   eventstore.Position
	Attempt    int // the attempt that failed (1 is the first)
	Err        error
}

// LeaseChange is a lease acquired (Held true) or given up or lost (Held
// false, Lost when it was taken rather than released).
type LeaseChange struct {
	Projection, Shard, Owner string
	Token                    uint64
	Held, Lost               bool
}

// GapInfo describes a checkpoint that fell behind retention. The events
// between After and Oldest (exclusive) may have expired before the
// projection read them; the log cannot tell whether there were any.
type GapInfo struct {
	Projection, Shard string
	After             shardlog.SequenceNumber // the checkpoint
	Oldest            shardlog.SequenceNumber // the next event read (zero: none yet)
}

// NopObserver ignores everything.
type NopObserver struct{}

// Batch implements Observer.
func (NopObserver) Batch(BatchInfo) {}

// Retry implements Observer.
func (NopObserver) Retry(RetryInfo) {}

// Park implements Observer.
func (NopObserver) Park(string, Parked) {}

// Lease implements Observer.
func (NopObserver) Lease(LeaseChange) {}

// Gap implements Observer.
func (NopObserver) Gap(GapInfo) {}
