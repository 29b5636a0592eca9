package pgprojection_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/projection/pgprojection"
	"github.com/shoal-dev/shoal/projection/projectiontest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// uniquePrefix returns a fresh table prefix and drops its tables (and the
// tests' read-model tables, _rm and TestOnQueued's _rm_q) when t ends.
func uniquePrefix(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	prefix := pgtest.UniqueName("shoal_projection_t")
	pgtest.DropTables(t, pool, prefix+"_shards", prefix+"_members", prefix+"_parked", prefix+"_rm", prefix+"_rm_q")
	return prefix
}

// newStore returns a store on fresh tables.
func newStore(t *testing.T) (*pgprojection.Store, *pgxpool.Pool, string) {
	t.Helper()
	pool := pgtest.Pool(t)
	prefix := uniquePrefix(t, pool)
	s, err := pgprojection.New(context.Background(), pool, pgprojection.WithTablePrefix(prefix))
	require.NoError(t, err)
	return s, pool, prefix
}

func TestSharedStore(t *testing.T) {
	s, _, _ := newStore(t)
	projectiontest.RunSharedStore(t, func(*testing.T) projection.SharedStore { return s }, 200*time.Millisecond)
}

func TestNewConcurrent(t *testing.T) {
	pool := pgtest.Pool(t)
	prefix := uniquePrefix(t, pool)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := pgprojection.New(context.Background(), pool, pgprojection.WithTablePrefix(prefix))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	_, err := pgprojection.New(context.Background(), pool, pgprojection.WithTablePrefix(prefix))
	require.NoError(t, err, "again, on existing tables")
}

// TestBadArguments needs no server: New checks its arguments first.
func TestBadArguments(t *testing.T) {
	var ae *shardlog.ArgumentError
	for _, p := range []string{"", "Upper", "1abc", "a-b", "a b", `x"; DROP TABLE y; --`, "a234567890123456789012345678901234567890123456789012345x"} {
		_, err := pgprojection.New(context.Background(), nil, pgprojection.WithTablePrefix(p))
		require.ErrorAs(t, err, &ae, "%q", p)
		assert.Equal(t, "tablePrefix", ae.Field)
		assert.ErrorIs(t, err, shardlog.ErrInvalidArgument)
	}
	_, err := pgprojection.New(context.Background(), nil)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "pool", ae.Field)
}

func seq(pos uint64) shardlog.SequenceNumber { return shardlog.MakeSequenceNumber(pos, 0) }

func TestInTx(t *testing.T) {
	ctx := context.Background()
	s, pool, prefix := newStore(t)
	rm := pgx.Identifier{prefix + "_rm"}.Sanitize()
	_, err := pool.Exec(ctx, "CREATE TABLE "+rm+" (id text PRIMARY KEY)")
	require.NoError(t, err)
	const shard = "shardId-000000000000"

	// insert writes a read-model row through the ctx's transaction.
	insert := func(id string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			tx, ok := pgprojection.TxFrom(ctx)
			if !ok {
				return errors.New("no transaction in ctx")
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+rm+" (id) VALUES ($1)", id)
			return err
		}
	}
	exists := func(t *testing.T, id string) bool {
		t.Helper()
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+rm+" WHERE id = $1", id).Scan(&n))
		return n == 1
	}
	checkpoint := func(t *testing.T, name string) projection.Progress {
		t.Helper()
		cps, err := s.Checkpoints(ctx, name)
		require.NoError(t, err)
		return cps[shard]
	}

	t.Run("ApplyErrorCommitsNothing", func(t *testing.T) {
		name := "p-" + t.Name()
		l, err := s.Acquire(ctx, name, shard, "a", time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.SaveCheckpoint(ctx, name, shard, projection.Progress{After: seq(1)}, l.Token))
		boom := errors.New("boom")
		err = s.InTx(ctx, name, shard, projection.Progress{After: seq(2)}, l.Token, func(ctx context.Context) error {
			if err := insert("apply-error")(ctx); err != nil {
				return err
			}
			return boom
		})
		require.ErrorIs(t, err, boom)
		assert.False(t, exists(t, "apply-error"), "the read-model write is rolled back")
		assert.Equal(t, projection.Progress{After: seq(1)}, checkpoint(t, name), "the checkpoint is unchanged")
	})

	t.Run("StaleTokenRollsBack", func(t *testing.T) {
		name := "p-" + t.Name()
		a, err := s.Acquire(ctx, name, shard, "a", time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.SaveCheckpoint(ctx, name, shard, projection.Progress{After: seq(1)}, a.Token))
		require.NoError(t, s.Release(ctx, a))
		b, err := s.Acquire(ctx, name, shard, "b", time.Minute)
		require.NoError(t, err)
		require.Greater(t, b.Token, a.Token)
		err = s.InTx(ctx, name, shard, projection.Progress{After: seq(2)}, a.Token, insert("stale"))
		require.ErrorIs(t, err, projection.ErrLeaseLost)
		assert.False(t, exists(t, "stale"), "the read-model write is rolled back")
		assert.Equal(t, projection.Progress{After: seq(1)}, checkpoint(t, name), "the checkpoint is unchanged")
	})

	t.Run("CommitsBoth", func(t *testing.T) {
		name := "p-" + t.Name()
		l, err := s.Acquire(ctx, name, shard, "a", time.Minute)
		require.NoError(t, err)
		want := projection.Progress{After: shardlog.MakeSequenceNumber(1<<63+5, 3), Done: true}
		require.NoError(t, s.InTx(ctx, name, shard, want, l.Token, insert("ok")))
		assert.True(t, exists(t, "ok"))
		assert.Equal(t, want, checkpoint(t, name))
		ls, err := s.Leases(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, []projection.Lease{l}, ls, "the lease is untouched")
	})

	t.Run("Unfenced", func(t *testing.T) {
		name := "p-" + t.Name()
		require.NoError(t, s.InTx(ctx, name, shard, projection.Progress{After: seq(7)}, 0, insert("unfenced")))
		assert.True(t, exists(t, "unfenced"))
		assert.Equal(t, projection.Progress{After: seq(7)}, checkpoint(t, name))
		ls, err := s.Leases(ctx, name)
		require.NoError(t, err)
		assert.Empty(t, ls, "an unfenced checkpoint is no lease")
	})

	t.Run("FencedWithoutLease", func(t *testing.T) {
		name := "p-" + t.Name()
		err := s.InTx(ctx, name, shard, projection.Progress{After: seq(7)}, 1, insert("no-lease"))
		require.ErrorIs(t, err, projection.ErrLeaseLost)
		assert.False(t, exists(t, "no-lease"))
		assert.Empty(t, checkpoint(t, name))
	})

	t.Run("OnHandlerGetsTx", func(t *testing.T) {
		name := "p-" + t.Name()
		h := pgprojection.Adapt(name, func(ctx context.Context, tx pgx.Tx, _ projection.Event[struct{}]) error {
			_, err := tx.Exec(ctx, "INSERT INTO "+rm+" (id) VALUES ($1)", "handler")
			return err
		})
		require.NoError(t, s.InTx(ctx, name, shard, projection.Progress{After: seq(1)}, 0, func(ctx context.Context) error {
			return h(ctx, projection.Event[struct{}]{})
		}))
		assert.True(t, exists(t, "handler"))
	})
}

// TestTxFromOutside needs no server.
func TestTxFromOutside(t *testing.T) {
	tx, ok := pgprojection.TxFrom(context.Background())
	assert.False(t, ok)
	assert.Nil(t, tx)
}

// TestOnWithoutTx needs no server: the adapter refuses to run without a
// Store transaction.
func TestOnWithoutTx(t *testing.T) {
	called := false
	fn := func(context.Context, pgx.Tx, projection.Event[struct{}]) error { called = true; return nil }
	pgprojection.On(projection.New("orders"), fn) // registers without a server

	err := pgprojection.Adapt("orders", fn)(context.Background(), projection.Event[struct{}]{})
	require.ErrorIs(t, err, pgprojection.ErrNoTx)
	assert.Contains(t, err.Error(), "orders")
	assert.Contains(t, err.Error(), "use the Store as the runner's checkpoint store")
	assert.False(t, called)
}
