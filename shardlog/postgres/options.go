package postgres

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Options configures an Engine. The zero value is usable.
type Options struct {
	// Schema is the PostgreSQL schema that holds the log's tables; one
	// schema is one log. Default: "shoal".
	Schema string
	// Pool, if set, is used instead of a pool opened from the URL; the
	// Engine does not close it. LISTEN still needs a dedicated connection,
	// which the Engine opens from the pool's configuration.
	Pool *pgxpool.Pool
	// PartitionSpan is the span each records partition covers: records
	// are partitioned by position, and a position is its record's arrival
	// time in Unix microseconds or a little more, so a partition holds
	// about PartitionSpan of arrivals. Retention drops whole partitions,
	// so records are kept up to one PartitionSpan past their retention
	// (hidden from reads at once, stored until their partition goes);
	// reads by key visit one index per partition still retained, and
	// every query plans one scan per partition it may touch. Default: one
	// day (DefaultPartitionSpan): a log at the default retention of 24 h
	// has two or three partitions.
	PartitionSpan time.Duration
	// Logger receives the engine's structured logs. Default: discard.
	Logger *slog.Logger
	// DropLockTimeout bounds how long dropping an expired partition waits
	// for the lock it needs on the records table; while it waits, other
	// queries of the table queue behind it. A drop that times out is
	// retried by the next Trim. Default: 200 ms.
	DropLockTimeout time.Duration
}

// DefaultSchema is the schema used when Options.Schema is empty.
const DefaultSchema = "shoal"

// DefaultPartitionSpan is the PartitionSpan used when Options.PartitionSpan
// is zero.
const DefaultPartitionSpan = 24 * time.Hour

func (o Options) withDefaults() Options {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if o.PartitionSpan <= 0 {
		o.PartitionSpan = DefaultPartitionSpan
	}
	if o.PartitionSpan < time.Millisecond {
		o.PartitionSpan = time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DropLockTimeout <= 0 {
		o.DropLockTimeout = 200 * time.Millisecond
	}
	return o
}
