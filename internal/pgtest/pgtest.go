// Package pgtest gives the PostgreSQL tests and benchmarks their server:
// a pgxpool on the URL in SHOAL_TEST_POSTGRES, closed when the test ends,
// or a skip that names the variable when it is not set; and fresh table
// names whose tables are dropped when the test ends.
//
// It is a test helper: only _test.go files import it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Env names the environment variable that holds the server's URL.
const Env = "SHOAL_TEST_POSTGRES"

// URL returns the server's URL, or skips tb if Env is not set.
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(Env)
	if url == "" {
		tb.Skip(Env + " is not set: set it to a PostgreSQL URL " +
			"(e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests")
	}
	return url
}

// Pool connects to the server, or skips tb if Env is not set. The pool is
// closed when tb ends.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return PoolWith(tb, nil)
}

// PoolWith is Pool with configure applied to the pool's configuration
// first (connections, session parameters), if configure is not nil.
func PoolWith(tb testing.TB, configure func(*pgxpool.Config)) *pgxpool.Pool {
	tb.Helper()
	url := URL(tb)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("%s=%s: %v", Env, url, err)
	}
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("%s=%s: %v", Env, url, err)
	}
	tb.Cleanup(pool.Close)
	if err := pool.Ping(context.Background()); err != nil {
		tb.Fatalf("%s=%s: %v", Env, url, err)
	}
	return pool
}

// UniqueName returns prefix followed by 12 random hex digits: a table
// name (or a prefix of table names) no other test uses.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// DropTables drops the tables when tb ends (those that exist).
func DropTables(tb testing.TB, pool *pgxpool.Pool, tables ...string) {
	tb.Helper()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, table := range tables {
			if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()); err != nil {
				tb.Errorf("drop table %s: %v", table, err)
			}
		}
	})
}
