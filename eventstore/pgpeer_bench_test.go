// The PostgreSQL peer of bench_test.go: the same workloads on a plain
// events table with a unique (stream_id, version) index, the pattern
// Marten and message-db use, so that bench/eventstore.sh can report
// same-run ratios. The benchmarks skip unless SHOAL_TEST_POSTGRES names a
// server:
//
//	SHOAL_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	    go test -run '^$' -bench BenchmarkPG ./eventstore

package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/pgtest"
)

// pgCodec encodes and decodes payloads exactly as the store does.
var pgCodec = eventstore.Msgpack()

// pgDurability is a PostgreSQL counterpart of a file engine sync policy.
type pgDurability struct {
	name string
	// syncCommit is the session's synchronous_commit: "on" waits for the
	// WAL fdatasync at commit (SyncAlways); "off" returns before it, and
	// the WAL writer flushes every wal_writer_delay (SyncInterval).
	syncCommit string
}

var (
	pgAlways   = pgDurability{"always", "on"}
	pgInterval = pgDurability{"interval", "off"}
)

var pgTableSeq atomic.Int64

// pgOpen connects to SHOAL_TEST_POSTGRES with conns connections (opened
// before it returns) and creates a new events table, dropped when b ends.
// It returns the pool and the table's name.
func pgOpen(b *testing.B, d pgDurability, conns int) (*pgxpool.Pool, string) {
	b.Helper()
	ctx := context.Background()
	pool := pgtest.PoolWith(b, func(cfg *pgxpool.Config) {
		cfg.MaxConns = int32(conns)
		cfg.MinConns = 0
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = d.syncCommit
	})
	var err error
	// open every connection now, outside the timed part
	held := make([]*pgxpool.Conn, conns)
	for i := range held {
		if held[i], err = pool.Acquire(ctx); err != nil {
			b.Fatalf("connect to %s: %v", pgtest.Env, err)
		}
	}
	for _, c := range held {
		c.Release()
	}
	table := fmt.Sprintf("shoal_es_bench_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, pgTableSeq.Add(1))
	_, err = pool.Exec(ctx, `CREATE TABLE `+table+` (
		global_position bigserial PRIMARY KEY,
		stream_id text NOT NULL,
		version bigint NOT NULL,
		type text NOT NULL,
		data bytea NOT NULL,
		metadata jsonb,
		recorded_at timestamptz NOT NULL DEFAULT now(),
		UNIQUE (stream_id, version))`)
	if err != nil {
		b.Fatalf("create table: %v", err)
	}
	pgtest.DropTables(b, pool, table)
	return pool, table
}

var pgSettingsOnce sync.Map // benchmark name → logged

// pgLogSettings logs the server's version and durability settings, with
// the session's synchronous_commit, once per top-level benchmark and
// synchronous_commit.
func pgLogSettings(b *testing.B, pool *pgxpool.Pool) {
	var sc string
	if err := pool.QueryRow(context.Background(), "SHOW synchronous_commit").Scan(&sc); err != nil {
		b.Fatalf("SHOW synchronous_commit: %v", err)
	}
	name, _, _ := strings.Cut(b.Name(), "/")
	if _, done := pgSettingsOnce.LoadOrStore(name+" "+sc, true); done {
		return
	}
	var parts []string
	for _, s := range []string{"server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "commit_delay", "wal_writer_delay", "shared_buffers"} {
		var v string
		if err := pool.QueryRow(context.Background(), "SHOW "+s).Scan(&v); err != nil {
			b.Fatalf("SHOW %s: %v", s, err)
		}
		parts = append(parts, s+"="+v)
	}
	b.Logf("postgres: %s", strings.Join(parts, " "))
}

const pgInsert = `INSERT INTO %s (stream_id, version, type, data) VALUES ($1, $2, $3, $4)`

// pgAppend appends k events to stream id at versions v+1..v+k in one
// transaction: a pipelined batch of k INSERTs, which PostgreSQL runs as
// one implicit transaction, in one round trip (or with COPY). A duplicate
// (stream_id, version), i.e. a wrong expected version, fails the whole
// transaction.
func pgAppend(ctx context.Context, pool *pgxpool.Pool, insert, table, id string, v uint64, k int, copyIn bool) error {
	if copyIn {
		rows := make([][]any, k)
		for j := range rows {
			p, err := pgCodec.Marshal(benchEvent(id, int(v)+j+1))
			if err != nil {
				return err
			}
			rows[j] = []any{id, int64(v) + int64(j) + 1, benchEventType, p}
		}
		_, err := pool.CopyFrom(ctx, pgx.Identifier{table}, []string{"stream_id", "version", "type", "data"}, pgx.CopyFromRows(rows))
		return err
	}
	var batch pgx.Batch
	for j := range k {
		p, err := pgCodec.Marshal(benchEvent(id, int(v)+j+1))
		if err != nil {
			return err
		}
		batch.Queue(insert, id, int64(v)+int64(j)+1, benchEventType, p)
	}
	return pool.SendBatch(ctx, &batch).Close()
}

// pgCheckConcurrency checks, on table, that an append at a taken
// version fails with a unique violation and writes none of its events.
func pgCheckConcurrency(b *testing.B, pool *pgxpool.Pool, insert, table string, copyIn bool) {
	b.Helper()
	ctx := context.Background()
	const id = "occ-check"
	if err := pgAppend(ctx, pool, insert, table, id, 0, 2, copyIn); err != nil {
		b.Fatalf("append: %v", err)
	}
	err := pgAppend(ctx, pool, insert, table, id, 1, 3, copyIn) // versions 2..4; 2 is taken
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		b.Fatalf("append at a taken version: %v, want a unique violation (23505)", err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE stream_id = $1", id).Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n != 2 {
		b.Fatalf("after a failed append the stream has %d events, want 2: the append was not atomic", n)
	}
	if _, err := pool.Exec(ctx, "DELETE FROM "+table+" WHERE stream_id = $1", id); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPGAppend is BenchmarkAppend on PostgreSQL: one transaction of k
// INSERTs per op, with versions n+1..n+k from the locally tracked n.
// always: synchronous_commit=on; interval: synchronous_commit=off.
// 10events-copy/always inserts the 10 rows with one COPY instead.
func BenchmarkPGAppend(b *testing.B) {
	for _, k := range []int{1, 10} {
		b.Run(fmt.Sprintf("%devents", k), func(b *testing.B) {
			for _, d := range []pgDurability{pgAlways, pgInterval} {
				b.Run(d.name, func(b *testing.B) { benchPGAppend(b, d, k, false) })
			}
		})
	}
	b.Run("10events-copy", func(b *testing.B) {
		for _, d := range []pgDurability{pgAlways, pgInterval} {
			b.Run(d.name, func(b *testing.B) { benchPGAppend(b, d, 10, true) })
		}
	})
}

func benchPGAppend(b *testing.B, d pgDurability, k int, copyIn bool) {
	pool, table := pgOpen(b, d, 1)
	pgLogSettings(b, pool)
	insert := fmt.Sprintf(pgInsert, table)
	pgCheckConcurrency(b, pool, insert, table, copyIn)
	ctx := context.Background()
	ids := make([]string, benchAppendAggregates)
	for i := range ids {
		ids[i] = benchAggregateID("acct", i)
	}
	versions := make([]uint64, len(ids))
	h := newBenchHist(benchHistMax, 1)
	op := 0
	for b.Loop() {
		a := op % len(ids)
		op++
		t := time.Now()
		err := pgAppend(ctx, pool, insert, table, ids[a], versions[a], k, copyIn)
		h.add(time.Since(t))
		if err != nil {
			b.Fatalf("append to %s at %d: %v", ids[a], versions[a], err)
		}
		versions[a] += uint64(k)
	}
	benchReport(b, op*k, h)
}

// BenchmarkPGLoad is BenchmarkLoad on PostgreSQL: the same log (the same
// single-event appends in the same order, loaded with COPY, then VACUUM
// ANALYZE), and each op selects one aggregate's rows by the unique index
// in version order and msgpack-decodes every payload.
func BenchmarkPGLoad(b *testing.B) {
	pool, table := pgOpen(b, pgAlways, 1)
	pgLogSettings(b, pool)
	ctx := context.Background()
	plan, targets := benchLoadPlan()
	versions := map[string]int64{}
	rows := make([][]any, 0, len(plan))
	for _, id := range plan {
		v := versions[id] + 1
		versions[id] = v
		p, err := pgCodec.Marshal(benchEvent(id, int(v)))
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, []any{id, v, benchEventType, p})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{table}, []string{"stream_id", "version", "type", "data"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatalf("preload COPY: %v", err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+table); err != nil {
		b.Fatalf("VACUUM ANALYZE: %v", err)
	}
	query := fmt.Sprintf(`SELECT global_position, version, type, data, metadata, recorded_at FROM %s WHERE stream_id = $1 ORDER BY version`, table)
	for _, n := range benchLoadSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchPGLoad(b, pool, query, targets[n], n) })
	}
}

func benchPGLoad(b *testing.B, pool *pgxpool.Pool, query string, ids []string, n int) {
	ctx := context.Background()
	h := newBenchHist(benchHistMax, 2)
	op := 0
	var (
		pos, version int64
		typ          string
		data, meta   []byte
		at           time.Time
	)
	for b.Loop() {
		id := ids[op%len(ids)]
		op++
		t := time.Now()
		rows, err := pool.Query(ctx, query, id)
		if err != nil {
			b.Fatalf("load %s: %v", id, err)
		}
		got := 0
		for rows.Next() {
			if err := rows.Scan(&pos, &version, &typ, &data, &meta, &at); err != nil {
				b.Fatalf("load %s: %v", id, err)
			}
			var ev benchDeposited
			if err := pgCodec.Unmarshal(data, &ev); err != nil {
				b.Fatalf("load %s v%d: %v", id, version, err)
			}
			if ev.Sequence != int(version) || typ != benchEventType {
				b.Fatalf("load %s v%d: decoded %s event %d", id, version, typ, ev.Sequence)
			}
			got++
		}
		if err := rows.Err(); err != nil {
			b.Fatalf("load %s: %v", id, err)
		}
		h.add(time.Since(t))
		if got != n || version != int64(n) {
			b.Fatalf("load %s: %d events up to v%d, want %d", id, got, version, n)
		}
	}
	benchReport(b, op*n, h)
}

// BenchmarkPGAppendConcurrent is BenchmarkAppendConcurrent on PostgreSQL:
// as many connections as goroutines, each goroutine appending one event
// per op (one single-row transaction) to its own share of 10,000
// aggregates.
func BenchmarkPGAppendConcurrent(b *testing.B) {
	b.Run("10k-aggregates", func(b *testing.B) {
		for _, d := range []pgDurability{pgAlways, pgInterval} {
			b.Run(d.name, func(b *testing.B) { benchPGAppendConcurrent(b, d) })
		}
	})
}

func benchPGAppendConcurrent(b *testing.B, d pgDurability) {
	par := benchParallelism()
	goroutines := par * runtime.GOMAXPROCS(0)
	pool, table := pgOpen(b, d, goroutines)
	pgLogSettings(b, pool)
	insert := fmt.Sprintf(pgInsert, table)
	ctx := context.Background()
	ids := make([]string, benchConcAggregates)
	for i := range ids {
		ids[i] = benchAggregateID("conc", i)
	}
	var (
		next  atomic.Int64
		mu    sync.Mutex
		hists []*benchHist
		total atomic.Int64
	)
	perG := max(1024, benchHistMax/goroutines)
	b.SetParallelism(par)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := int(next.Add(1) - 1)
		var mine []string
		for i := g % goroutines; i < len(ids); i += goroutines {
			mine = append(mine, ids[i])
		}
		versions := make([]uint64, len(mine))
		h := newBenchHist(perG, uint64(g)+3)
		n := 0
		for i := 0; pb.Next(); i++ {
			a := i % len(mine)
			t := time.Now()
			err := pgAppend(ctx, pool, insert, table, mine[a], versions[a], 1, false)
			h.add(time.Since(t))
			if err != nil {
				b.Errorf("append to %s at %d: %v", mine[a], versions[a], err)
				return
			}
			versions[a]++
			n++
		}
		total.Add(int64(n))
		mu.Lock()
		hists = append(hists, h)
		mu.Unlock()
	})
	b.StopTimer()
	benchReport(b, int(total.Load()), hists...)
}
