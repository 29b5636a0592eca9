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
	// PartitionSpan is the span of arrival time each records partition
	// covers; retention drops whole partitions. Default: one hour.
	PartitionSpan time.Duration
	// Logger receives the engine's structured logs. Default: discard.
	Logger *slog.Logger
}
