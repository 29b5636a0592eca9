package projection

import (
	"context"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// Progress is a projection's progress in one shard: the sequence number of
// the last event applied (zero: none) and whether the shard is closed and
// finished, so its children may start.
type Progress = eventstore.ShardProgress

// CheckpointStore keeps, per (projection, shard), how far the projection
// got, and the events it parked.
//
// token is the fencing token of the lease the writer holds on the shard
// (zero: the runner runs without leases). A store that also implements
// LeaseStore must refuse, with ErrLeaseLost, a write whose non-zero token
// is not the shard's current lease token, atomically with the write: that
// is what keeps an instance that lost its lease from moving a checkpoint
// another instance now owns. A store without leases refuses any non-zero
// token.
type CheckpointStore interface {
	// Checkpoints returns the projection's progress in every shard it has
	// recorded (an empty map for a new projection).
	Checkpoints(ctx context.Context, projection string) (map[string]Progress, error)
	// SaveCheckpoint records p as the projection's progress in shard.
	SaveCheckpoint(ctx context.Context, projection, shard string, p Progress, token uint64) error
	// Park records a poison event and the progress past it, atomically
	// where the store can (a crash between the two at worst records the
	// parked event twice: parked events are keyed by position).
	Park(ctx context.Context, projection string, ev Parked, p Progress, token uint64) error
	// Parked lists the projection's parked events, oldest first.
	Parked(ctx context.Context, projection string) ([]Parked, error)
	// Reset deletes the projection's checkpoints and parked events, so it
	// replays from the start. Leases are kept.
	Reset(ctx context.Context, projection string) error
}

// Parked is an event a handler kept failing on, with the error: a
// dead-letter record. The event itself stays in the log at Position.
type Parked struct {
	Shard          string
	SequenceNumber shardlog.SequenceNumber
	StreamID       string
	Version        uint64
	EventID        string
	Type           string
	Error          string
	Attempts       int
	ParkedAt       time.Time
}

// Transactor is implemented by checkpoint stores that can run a batch of
// handler calls and the checkpoint write in one transaction (pgprojection):
// the read model and the checkpoint then commit together, so a crash never
// applies an event twice or skips one.
type Transactor interface {
	// InTx runs apply inside one transaction and, if it succeeds, records
	// p as the progress in shard (fenced by token, as SaveCheckpoint) in
	// that same transaction, then commits. If apply or the checkpoint
	// write fails, nothing is committed. With shard empty no checkpoint is
	// written (ReplayKey). The ctx passed to apply carries the transaction
	// for the store's handler adapters. Once apply has returned, InTx must
	// not let ctx interrupt its commit: it returns only when the commit is
	// decided, or when the connection failed (the runner then reads the
	// checkpoint back before it retries, to learn whether it landed).
	InTx(ctx context.Context, projection, shard string, p Progress, token uint64, apply func(ctx context.Context) error) error
}
