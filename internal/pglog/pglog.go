// Package pglog gives the tests of the packages above shardlog (eventstore,
// aggregate, projection) the PostgreSQL engine, so that their
// engine-agnostic tests also run on a log shared through PostgreSQL: a
// fresh schema per log on the server named by SHOAL_TEST_POSTGRES, dropped
// when the test ends, and engines on it that share one small pool.
//
// Sessions commit with synchronous_commit=off: these tests check what the
// layers above the log do, not that the server's disk flushed a commit
// (shardlog/postgres tests that with the server's setting).
//
// It is a test helper: only _test.go files import it.
package pglog

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog/postgres"
)

// Kind is the engine-kind name the tests use for the PostgreSQL engine.
const Kind = "postgres"

// Available reports whether SHOAL_TEST_POSTGRES names a server. Tests add
// Kind to their engine kinds only then, so that `go test ./...` passes
// with no services.
func Available() bool { return os.Getenv(pgtest.Env) != "" }

var (
	poolOnce sync.Once
	pool     *pgxpool.Pool
	poolErr  error
)

// sharedPool returns the test process's pool, opened on first use and
// left to the process's exit.
func sharedPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := pgtest.URL(tb)
	poolOnce.Do(func() {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			poolErr = err
			return
		}
		cfg.MaxConns = 8
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
		pool, poolErr = pgxpool.NewWithConfig(context.Background(), cfg)
	})
	if poolErr != nil {
		tb.Fatalf("%s: %v", pgtest.Env, poolErr)
	}
	return pool
}

// NewSchema returns a schema name no other test uses, dropped with
// everything in it when tb ends. Call it before opening engines on it, so
// that their cleanups (closing them) run first.
func NewSchema(tb testing.TB) string {
	tb.Helper()
	p := sharedPool(tb)
	schema := pgtest.UniqueName("shoal_pglog_")
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := p.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// Open opens an engine on schema, as another process would: opening it
// again on the same schema is a restart, or a second process.
func Open(tb testing.TB, schema string) *postgres.Engine {
	tb.Helper()
	e, err := postgres.Open(context.Background(), "", postgres.Options{Schema: schema, Pool: sharedPool(tb)})
	if err != nil {
		tb.Fatalf("open the PostgreSQL engine on schema %s: %v", schema, err)
	}
	return e
}

// Engine opens an engine on a fresh schema. The caller closes it (a Log
// closes its engine).
func Engine(tb testing.TB) *postgres.Engine {
	tb.Helper()
	return Open(tb, NewSchema(tb))
}
