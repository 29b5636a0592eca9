package pgprojection_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/projection/pgprojection"
	"github.com/shoal-dev/shoal/shardlog"
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

// TestTransactionalHandlersNeedTransactor: a projection with pgprojection
// handlers is refused a store that cannot give them a transaction, by
// NewRunner, Rebuild and ReplayKey, instead of every event failing.
func TestTransactionalHandlersNeedTransactor(t *testing.T) {
	s := newEventStore(t, 1)
	for name, register := range map[string]func(p *projection.Projection){
		"On": func(p *projection.Projection) {
			pgprojection.On(p, func(context.Context, pgx.Tx, projection.Event[accountOpened]) error { return nil })
		},
		"OnQueued": func(p *projection.Projection) {
			pgprojection.OnQueued(p, func(context.Context, *pgprojection.Writes, projection.Event[accountOpened]) error { return nil })
		},
		"OnOther": func(p *projection.Projection) {
			pgprojection.OnOther(p, func(context.Context, pgx.Tx, *eventstore.Event) error { return nil })
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := projection.New("needs-tx")
			register(p)
			var ae *shardlog.ArgumentError
			_, err := projection.NewRunner(s, projection.Options{}, p)
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "Checkpoints", ae.Field)
			err = projection.Rebuild(context.Background(), s, p, projection.Options{Checkpoints: projection.NewMemoryStore()}, 0, nil)
			require.ErrorAs(t, err, &ae)
			_, err = projection.ReplayKey(context.Background(), s, projection.NewMemoryStore(), p, "a", nil)
			require.ErrorAs(t, err, &ae)
		})
	}
}

// TestDroppedConnectionIsNotParked: a handler whose connection drops
// mid-batch fails the batch as the store's failure (projection.ErrTransient):
// the batch is retried on a new connection and no event is parked.
func TestDroppedConnectionIsNotParked(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(t, 1)
	l := newLedger()
	for range 2 {
		l.round(t, s, 20)
	}
	store, pool, rm := newRunnerStore(t, 4)
	p := readModelProjection("dropped", rm)
	var dropped atomic.Bool
	pgprojection.On(p, func(ctx context.Context, tx pgx.Tx, ev projection.Event[accountCredited]) error {
		if ev.StreamID == "acct-7" && dropped.CompareAndSwap(false, true) {
			_ = tx.Conn().Close(ctx) // the connection goes away under the handler
			_, err := tx.Exec(ctx, "SELECT 1")
			return err
		}
		return applyToReadModel(ctx, tx, rm, ev.Event)
	})
	obs := &countingObserver{}
	r, err := projection.NewRunner(s, projection.Options{Checkpoints: store, CatchUpOnly: true, BatchSize: 10, Observer: obs, Logger: quietLogger(),
		Retry: projection.RetryPolicy{Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}}, p)
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))
	require.True(t, dropped.Load())
	parked, err := store.Parked(ctx, "dropped")
	require.NoError(t, err)
	assert.Empty(t, parked)
	requireExactlyOnce(t, pool, rm, l)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	require.Len(t, obs.why, 1, "one retry")
	assert.Contains(t, obs.why[0], projection.ErrTransient.Error(), "retried as the store's failure, not the event's")
}
