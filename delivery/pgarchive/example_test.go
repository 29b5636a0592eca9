package pgarchive_test

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/delivery/pgarchive"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// An archive on PostgreSQL serves an event store's reads past the log's
// retention; a delivery stream (package delivery) fills it with Deliver.
func Example() {
	ctx := context.Background()
	pool, err := poolFromEnv(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()

	log, err := shardlog.Open(ctx, memory.New())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer log.Close()
	store, err := eventstore.Open(ctx, log, "orders",
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 2}))
	if err != nil {
		fmt.Println(err)
		return
	}

	// The archive decodes the store's events into its event columns.
	archive, err := pgarchive.New(ctx, pool, pgarchive.Options{Table: "orders_archive", Events: store})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Reads that meet expired versions fill them from the archive.
	tiered, err := eventstore.Open(ctx, log, "orders", eventstore.WithArchive(archive))
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = tiered
}

func poolFromEnv(ctx context.Context) (*pgxpool.Pool, error) {
	return pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
}
