package pgsnapshot_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/eventstore/pgsnapshot"
)

// The example needs a server, so it is compiled but not run by go test.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	// New creates the table if it is missing.
	store, err := pgsnapshot.New(ctx, pool, pgsnapshot.WithTable("order_snapshots"))
	if err != nil {
		log.Fatal(err)
	}
	// Pass it to eventstore.Open with eventstore.WithSnapshots(store).

	err = store.SaveSnapshot(ctx, eventstore.Snapshot{
		StreamID:      "order-1",
		Version:       3,
		Type:          "order",
		SchemaVersion: 1,
		Data:          []byte(`{"lines":3}`),
		TakenAt:       time.Now(),
	})
	if err != nil {
		log.Fatal(err)
	}
	snap, ok, err := store.LoadSnapshot(ctx, "order-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ok, snap.Version, string(snap.Data))
}
