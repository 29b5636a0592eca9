package pgprojection_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/projection/pgprojection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnQueued: queued writes commit with the checkpoint, keep event order
// with immediate (On) writes of the same batch, and a queued write that
// fails is pinned on its event, which is retried and parked while the
// rest of the batch commits once.
func TestOnQueued(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(t, 2)
	l := newLedger()
	for range 3 {
		l.round(t, s, 40)
	}
	// A poison event: its queued INSERT breaks the table's CHECK.
	_, err := s.Append(ctx, "acct-poison", eventstore.NoStream, accountOpened{}, accountCredited{Cents: -1}, accountCredited{Cents: 3})
	require.NoError(t, err)

	store, pool, rm := newRunnerStore(t, 8)
	tbl := rm[:len(rm)-1] + `_q"`
	_, err = pool.Exec(ctx, "CREATE TABLE "+tbl+` (n bigserial, stream_id text, version int, cents int CHECK (cents >= 0), PRIMARY KEY (stream_id, version))`)
	require.NoError(t, err)

	p := projection.New("queued")
	pgprojection.On(p, func(ctx context.Context, tx pgx.Tx, ev projection.Event[accountOpened]) error {
		_, err := tx.Exec(ctx, "INSERT INTO "+tbl+" (stream_id, version, cents) VALUES ($1, $2, 0)", ev.StreamID, int64(ev.Version))
		return err
	})
	pgprojection.OnQueued(p, func(_ context.Context, w *pgprojection.Writes, ev projection.Event[accountCredited]) error {
		d, err := ev.Data()
		if err != nil {
			return err
		}
		w.Exec("INSERT INTO "+tbl+" (stream_id, version, cents) VALUES ($1, $2, $3)", ev.StreamID, int64(ev.Version), d.Cents)
		return nil
	})
	obs := &countingObserver{}
	r, err := projection.NewRunner(s, projection.Options{
		Checkpoints: store, CatchUpOnly: true, BatchSize: 50, Observer: obs, Logger: quietLogger(),
		Retry: projection.RetryPolicy{Attempts: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
	}, p)
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))

	parked, err := store.Parked(ctx, "queued")
	require.NoError(t, err)
	require.Len(t, parked, 1, "only the poison event")
	assert.Equal(t, "acct-poison", parked[0].StreamID)
	assert.Equal(t, uint64(2), parked[0].Version)
	assert.Contains(t, parked[0].Error, "check constraint")

	var rows, streams int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT stream_id) FROM "+tbl).Scan(&rows, &streams))
	assert.Equal(t, l.total()+2, rows, "every event but the poison one, once (the primary key refuses a second)")
	assert.Equal(t, 41, streams)
	// Within a stream, rows were inserted in version order although v1 is
	// written at once and the rest are queued.
	var disorder int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT version, lag(version) OVER (PARTITION BY stream_id ORDER BY n) AS prev FROM `+tbl+`) x WHERE prev IS NOT NULL AND version < prev`).Scan(&disorder))
	assert.Zero(t, disorder)
}

// TestOnQueuedWithoutTx: an OnQueued handler run outside a Store
// transaction returns ErrNoTx.
func TestOnQueuedWithoutTx(t *testing.T) {
	s := newEventStore(t, 1)
	_, err := s.Append(context.Background(), "a", eventstore.NoStream, accountOpened{})
	require.NoError(t, err)
	p := projection.New("no-tx")
	called := false
	pgprojection.OnQueued(p, func(context.Context, *pgprojection.Writes, projection.Event[accountOpened]) error {
		called = true
		return nil
	})
	r, err := projection.NewRunner(s, projection.Options{CatchUpOnly: true, Logger: quietLogger(),
		Retry: projection.RetryPolicy{Attempts: 1}, StopOnPark: true}, p)
	require.NoError(t, err)
	require.ErrorIs(t, r.Run(context.Background()), pgprojection.ErrNoTx)
	assert.False(t, called)
}
