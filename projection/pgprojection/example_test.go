package pgprojection_test

import (
	"context"
	"log"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/projection/pgprojection"
)

type OrderPlaced struct {
	OrderID string
	Total   int64
}

// The example needs a server, so it is compiled but not run by go test.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	// New creates the checkpoint, lease and parked-event tables if missing.
	store, err := pgprojection.New(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}

	// The handler writes the read model through the transaction the
	// store's InTx opens, so the row and the checkpoint commit together.
	p := projection.New("order-totals")
	pgprojection.On(p, func(ctx context.Context, tx pgx.Tx, ev projection.Event[OrderPlaced]) error {
		o, err := ev.Data()
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO order_totals (order_id, total) VALUES ($1, $2)
ON CONFLICT (order_id) DO UPDATE SET total = excluded.total`, o.OrderID, o.Total)
		return err
	})
	// Run p with store as the runner's checkpoint store; it implements
	// projection.SharedStore and projection.Transactor.
	var _ projection.SharedStore = store
	var _ projection.Transactor = store
}
