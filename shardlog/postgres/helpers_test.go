package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/stretchr/testify/require"
)

// testPool is a small pool every engine of a test shares: the suite runs
// many engines, and each also holds its listener's connection. Its
// sessions commit with synchronous_commit=off: the tests check what
// commits make visible, and in what order, not that the server's disk
// flushed them (that is the server's part of the durability contract,
// which TestAppendDurableOnReturn runs with the server's setting), and
// waiting for a WAL flush per commit would make the suite minutes long on
// a slow disk.
func testPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return pgtest.PoolWith(t, func(c *pgxpool.Config) {
		c.MaxConns = 16
		c.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	})
}

// freshSchema returns a schema name no other test uses, dropped (with
// everything in it) when t ends.
func freshSchema(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	schema := pgtest.UniqueName("shoal_test_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openEngine opens an engine on schema through pool; it is closed when t
// ends (closing twice is harmless).
func openEngine(t *testing.T, pool *pgxpool.Pool, schema string, opts ...func(*Options)) *Engine {
	t.Helper()
	o := Options{Schema: schema, Pool: pool}
	for _, f := range opts {
		f(&o)
	}
	e, err := Open(t.Context(), "", o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e
}
