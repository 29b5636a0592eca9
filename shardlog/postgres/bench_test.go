package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/postgres"
)

// The benchmarks of the PostgreSQL engine set each Shoal figure next to
// the plain-SQL way of doing the same on the same server, measured in the
// same run (most alternate the two operation by operation), so that a
// ratio survives a noisy machine:
//
//   - BenchmarkPutRecordConcurrent (bench_put_test.go): durable PutRecord
//     from 64 producers through a Log, against the plain events-table
//     pattern, one INSERT per event into a table with UNIQUE (stream,
//     version), from 64 producers.
//   - BenchmarkPutRecords500 (bench_put_test.go): PutRecords of 500
//     records through a Log, against a raw pgx CopyFrom of the same 500
//     rows (partition key and data) into a plain table.
//   - BenchmarkLargeLog (bench_large_test.go): ReadKey of a key with 10
//     records among SHOAL_BENCH_RECORDS rows (default 100k; 10M for the
//     documented run), against the bare SELECT of the same 10 rows from a
//     plain table holding the same rows with a B-tree (key, seq) index;
//     then EnforceRetention dropping the older half of the rows, against a
//     DELETE of the same rows.
//   - BenchmarkSubscriberLatency (bench_push_test.go): put → subscriber
//     in another process (a child process of the test binary on its own
//     engine and Log, subscribed with SubscribeToShard), against INSERT +
//     pg_notify with a LISTEN-then-SELECT reader in the same child.
//
// Each run gets a fresh schema for the engine and another for the peer's
// tables, both dropped when it ends. They skip without SHOAL_TEST_POSTGRES
// and, being benchmarks, run only with -bench:
//
//	SHOAL_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	    go test -run '^$' -bench . ./shardlog/postgres
//
// bench/postgres.sh runs them several times and prints medians and ratios.
const (
	benchStream     = "bench"
	benchShards     = 4
	benchRecordSize = 256                           // bytes of data per record
	benchBatch      = shardlog.MaxPutRecordsEntries // 500
	benchKeyPool    = 1 << 16                       // random partition keys of the put benchmarks
	benchProducers  = 64                            // concurrent producers of BenchmarkPutRecordConcurrent
	benchRecordsEnv = "SHOAL_BENCH_RECORDS"         // rows of BenchmarkLargeLog, e.g. 10M
	benchDefaultN   = 100_000                       // its default: quick enough for a plain -bench run
)

// benchEnv is one benchmark run's engine, Log and peer schema.
type benchEnv struct {
	url    string
	pool   *pgxpool.Pool
	schema string // the engine's
	peer   string // the peer's tables
	eng    *postgres.Engine
	log    *shardlog.Log
}

// newBenchEnv opens a pool of at most maxConns connections, an engine on
// it in a fresh schema and a Log on the engine (no retention janitor,
// opts added), and creates the bench stream of benchShards shards. The
// Log is closed and both schemas are dropped when b ends.
func newBenchEnv(b *testing.B, maxConns int32, opts ...shardlog.Option) *benchEnv {
	b.Helper()
	return newBenchEnvWith(b, maxConns, nil, opts...)
}

// newBenchEnvWith is newBenchEnv with configure, if not nil, applied to
// the engine's options.
func newBenchEnvWith(b *testing.B, maxConns int32, configure func(*postgres.Options), opts ...shardlog.Option) *benchEnv {
	b.Helper()
	ctx := context.Background()
	pool := pgtest.PoolWith(b, func(c *pgxpool.Config) { c.MaxConns = maxConns })
	env := &benchEnv{url: pgtest.URL(b), pool: pool,
		schema: pgtest.UniqueName("shoal_bench_"), peer: pgtest.UniqueName("shoal_bench_peer_")}
	dropSchemas(b, pool, env.schema, env.peer)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{env.peer}.Sanitize()); err != nil {
		b.Fatalf("create schema: %v", err)
	}
	po := postgres.Options{Schema: env.schema, Pool: pool}
	if configure != nil {
		configure(&po)
	}
	env.eng, env.log = openBenchLog(b, env.url, po, opts...)
	err := env.log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: benchStream, ShardCount: benchShards})
	if err != nil {
		b.Fatalf("CreateStream: %v", err)
	}
	return env
}

// openBenchLog opens an engine and a Log on it, without the retention
// janitor; the Log (and so the engine) is closed when b ends.
func openBenchLog(b *testing.B, url string, po postgres.Options, opts ...shardlog.Option) (*postgres.Engine, *shardlog.Log) {
	b.Helper()
	ctx := context.Background()
	eng, err := postgres.Open(ctx, url, po)
	if err != nil {
		b.Fatalf("postgres.Open: %v", err)
	}
	l, err := shardlog.Open(ctx, eng, append([]shardlog.Option{shardlog.WithRetentionInterval(0)}, opts...)...)
	if err != nil {
		_ = eng.Close()
		b.Fatalf("shardlog.Open: %v", err)
	}
	b.Cleanup(func() {
		if err := l.Close(); err != nil {
			b.Errorf("Log.Close: %v", err)
		}
	})
	return eng, l
}

// dropSchemas drops the schemas, and all they hold, when tb ends.
func dropSchemas(tb testing.TB, pool *pgxpool.Pool, schemas ...string) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for _, s := range schemas {
			if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
				tb.Errorf("drop schema %s: %v", s, err)
			}
		}
	})
}

// peerTable returns the identifier of a table in the peer schema.
func (e *benchEnv) peerTable(name string) pgx.Identifier { return pgx.Identifier{e.peer, name} }

// exec runs SQL on the pool or fails b.
func (e *benchEnv) exec(b *testing.B, sql string, args ...any) {
	b.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		b.Fatalf("%s: %v", sql, err)
	}
}

// storedRecords returns how many records the engine holds in the bench
// stream, from its shards' bounds.
func (e *benchEnv) storedRecords(b *testing.B) int64 {
	b.Helper()
	ctx := context.Background()
	meta, ok, err := e.eng.LoadStream(ctx, benchStream)
	if err != nil || !ok {
		b.Fatalf("LoadStream(%s): %v, found %v", benchStream, err, ok)
	}
	var n int64
	for i := range meta.Shards {
		bd, err := e.eng.Bounds(ctx, meta.Shards[i].Ref(&meta))
		if err != nil {
			b.Fatalf("Bounds(%s): %v", meta.Shards[i].ID, err)
		}
		n += bd.Count
	}
	return n
}

// countRows returns count(*) of a table.
func (e *benchEnv) countRows(b *testing.B, table pgx.Identifier) int64 {
	b.Helper()
	var n int64
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table.Sanitize()).Scan(&n); err != nil {
		b.Fatalf("count %s: %v", table.Sanitize(), err)
	}
	return n
}

// benchData returns benchRecordSize pseudo-random bytes.
func benchData(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	d := make([]byte, benchRecordSize)
	for i := range d {
		d[i] = byte(r.Uint32())
	}
	return d
}

// benchKeys returns n random 16-hex-digit partition keys, so that records
// spread evenly over the shards.
func benchKeys(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%016x", r.Uint64())
	}
	return keys
}

// putRecords appends entries with PutRecords and fails on any failed entry.
func putRecords(ctx context.Context, l *shardlog.Log, entries []shardlog.PutRecordsEntry) (*shardlog.PutRecordsOutput, error) {
	out, err := l.PutRecords(ctx, shardlog.PutRecordsInput{StreamName: benchStream, Records: entries})
	if err != nil {
		return nil, fmt.Errorf("PutRecords: %w", err)
	}
	if out.FailedRecordCount != 0 {
		for _, r := range out.Records {
			if r.ErrorCode != "" {
				return nil, fmt.Errorf("PutRecords: %d failed records, first: %s %s", out.FailedRecordCount, r.ErrorCode, r.ErrorMessage)
			}
		}
	}
	return out, nil
}

// benchRecords is SHOAL_BENCH_RECORDS (a count, optionally with a k or M
// suffix), or benchDefaultN, rounded up to whole batches.
func benchRecords(b *testing.B) int {
	n := benchDefaultN
	if s := strings.TrimSpace(os.Getenv(benchRecordsEnv)); s != "" {
		mult := 1
		switch {
		case strings.HasSuffix(s, "M"):
			mult, s = 1_000_000, strings.TrimSuffix(s, "M")
		case strings.HasSuffix(s, "k"):
			mult, s = 1000, strings.TrimSuffix(s, "k")
		}
		v, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
		if err != nil || v <= 0 {
			b.Fatalf("%s=%q: want a positive count such as 100000 or 10M", benchRecordsEnv, os.Getenv(benchRecordsEnv))
		}
		n = v * mult
	}
	return (n + benchBatch - 1) / benchBatch * benchBatch
}

// envInt returns the positive integer in the environment variable name,
// or def.
func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// percentile returns the q-quantile (0 ≤ q ≤ 1) of sorted, nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1))]
}

// reportLatency reports the p50 and p99 of d, in µs, as prefix+"p50-µs"
// and prefix+"p99-µs", and returns the p50.
func reportLatency(b *testing.B, prefix string, d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	p50 := percentile(s, 0.5)
	b.ReportMetric(float64(p50.Nanoseconds())/1e3, prefix+"p50-µs")
	b.ReportMetric(float64(percentile(s, 0.99).Nanoseconds())/1e3, prefix+"p99-µs")
	return p50
}

// errOnce keeps the first error of concurrent workers.
type errOnce struct{ ch chan error }

func newErrOnce() *errOnce { return &errOnce{ch: make(chan error, 1)} }

func (e *errOnce) set(err error) {
	select {
	case e.ch <- err:
	default:
	}
}

func (e *errOnce) check(b *testing.B) {
	b.Helper()
	select {
	case err := <-e.ch:
		b.Fatal(err)
	default:
	}
}
