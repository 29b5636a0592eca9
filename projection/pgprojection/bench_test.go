package pgprojection_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/projection/pgprojection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// BenchmarkPGReadModel replays N events (SHOAL_BENCH_PG_EVENTS, default
// 100,000) from a store on the file engine (4 shards, streams of 10
// events) into a PostgreSQL read model, one row per event, and compares it
// with inserting the same rows with no Shoal involved. The read model is
//
//	<prefix>_rm(stream_id text, version bigint, account_id text, amount bigint,
//	            currency text, reference text, balance bigint, at timestamptz,
//	            PRIMARY KEY (stream_id, version))
//
// and every row is one `INSERT INTO <prefix>_rm (...) VALUES ($1, ..., $8)`.
// Sub-benchmarks, each op one full pass of all N events into the emptied
// table (TRUNCATE and checkpoint reset between ops, untimed):
//
//   - shoal: a CatchUpOnly Runner with the pgprojection.Store as its
//     checkpoint store (BatchSize SHOAL_BENCH_PG_BATCH, default 1000), so
//     each batch's handlers and its checkpoint commit in one transaction.
//     The handler is registered with pgprojection.On, decodes the event
//     (ev.Data()) and runs one tx.Exec per event: the natural user code,
//     one round trip per event. The runner works the 4 shards at once, on
//     4 connections.
//   - shoal-queued: the same runner, but the handler is registered with
//     pgprojection.OnQueued and queues its INSERT (w.Exec); the Store
//     sends a batch's queued writes in one pgx.Batch before the
//     checkpoint: one round trip per batch.
//   - raw-1conn, raw-4conns: the same rows, built in memory beforehand,
//     inserted with pgx.Batch (SendBatch) 1000 rows per transaction
//     (Begin, SendBatch, Commit), on one connection, or on 4 at once with
//     the rows split by shard as the runner splits them.
//
// Every sub-benchmark reports events/s (rows committed per second of wall
// time). Skipped unless SHOAL_TEST_POSTGRES is set. Run with
//
//	SHOAL_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	go test -run '^$' -bench BenchmarkPGReadModel -benchtime 2x ./projection/pgprojection
const (
	pgBenchEventsEnv     = "SHOAL_BENCH_PG_EVENTS"
	pgBenchEventsDefault = 100_000
	pgBenchBatchEnv      = "SHOAL_BENCH_PG_BATCH"
	pgBenchBatchDefault  = 1000
	pgBenchRawBatch      = 1000 // rows per transaction of the raw peer
	pgBenchShards        = 4
	pgBenchStreamLen     = 10
	pgBenchWriters       = 8
	pgBenchStream        = "events"
	pgBenchEventType     = "FundsDeposited"
)

// pgBenchDeposited is the event of projection's replay benchmarks (and
// eventstore's): about 200 bytes of msgpack.
type pgBenchDeposited struct {
	AccountID   string    `json:"account_id"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Reference   string    `json:"reference"`
	Description string    `json:"description"`
	Teller      string    `json:"teller"`
	Balance     int64     `json:"balance"`
	Sequence    int       `json:"sequence"`
	At          time.Time `json:"at"`
}

func pgBenchEvent(id string, i int) pgBenchDeposited {
	return pgBenchDeposited{
		AccountID:   id,
		Amount:      int64(1000 + i%9000),
		Currency:    "EUR",
		Reference:   fmt.Sprintf("INV-2026-%08d", i),
		Description: "monthly transfer from savings account, standing order",
		Teller:      "branch-0042/web",
		Balance:     int64(250_000 + i*1000),
		Sequence:    i,
		At:          time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
	}
}

func pgBenchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchPrefix is uniquePrefix for a benchmark: a fresh table prefix whose
// tables (the store's and the read model, _rm) are dropped when b ends.
func benchPrefix(b *testing.B, pool *pgxpool.Pool) string {
	b.Helper()
	prefix := pgtest.UniqueName("shoal_projection_b")
	pgtest.DropTables(b, pool, prefix+"_shards", prefix+"_members", prefix+"_parked", prefix+"_rm")
	return prefix
}

// pgBenchBuildStore appends n events to a new store on the file engine in
// owner's temp dir (SyncNever, then closed and reopened with the default
// options); it is closed when owner ends.
func pgBenchBuildStore(b *testing.B, n int) *eventstore.Store {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	reg := eventstore.NewRegistry()
	if err := eventstore.Register[pgBenchDeposited](reg, pgBenchEventType); err != nil {
		b.Fatal(err)
	}
	open := func(opts ...file.Option) (*shardlog.Log, *eventstore.Store) {
		fe, err := file.Open(dir, opts...)
		if err != nil {
			b.Fatalf("file.Open: %v", err)
		}
		l, err := shardlog.Open(ctx, fe, shardlog.WithRetentionInterval(0))
		if err != nil {
			b.Fatalf("shardlog.Open: %v", err)
		}
		s, err := eventstore.Open(ctx, l, pgBenchStream, eventstore.WithRegistry(reg),
			eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: pgBenchShards}))
		if err != nil {
			_ = l.Close()
			b.Fatalf("eventstore.Open: %v", err)
		}
		return l, s
	}
	l, s := open(file.WithSync(file.SyncNever))
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range pgBenchWriters {
		wg.Go(func() {
			evs := make([]any, pgBenchStreamLen)
			for {
				i := int(next.Add(1) - 1)
				if i >= n/pgBenchStreamLen {
					return
				}
				id := fmt.Sprintf("acct-%07d", i)
				for v := range evs {
					evs[v] = pgBenchEvent(id, v+1)
				}
				if _, err := s.Append(ctx, id, eventstore.Exact(0), evs...); err != nil {
					mu.Lock()
					firstErr = fmt.Errorf("Append(%s): %w", id, err)
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		b.Fatalf("Close: %v", err)
	}
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	l, s = open()
	b.Cleanup(func() {
		if err := l.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return s
}

// pgBenchRows reads every event of s, shard by shard, and returns the
// read model's rows (insert arguments) per shard.
func pgBenchRows(b *testing.B, s *eventstore.Store) [][][]any {
	b.Helper()
	ctx := context.Background()
	shards, err := s.Shards(ctx)
	if err != nil {
		b.Fatal(err)
	}
	out := make([][][]any, len(shards))
	for i, sh := range shards {
		rd, err := s.ReadShard(ctx, sh.ShardID, shardlog.SequenceNumber{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			bt, err := rd.Next(ctx, shardlog.MaxGetRecordsLimit)
			if err != nil {
				b.Fatal(err)
			}
			for j := range bt.Events {
				ev := &bt.Events[j]
				d, err := eventstore.DataAs[pgBenchDeposited](ev)
				if err != nil {
					b.Fatal(err)
				}
				out[i] = append(out[i], pgBenchArgs(ev.StreamID, ev.Version, d))
			}
			if len(bt.Events) == 0 || bt.End {
				break
			}
		}
	}
	return out
}

// pgBenchArgs is the read-model row of an event: the INSERT's arguments.
func pgBenchArgs(streamID string, version uint64, d pgBenchDeposited) []any {
	return []any{streamID, int64(version), d.AccountID, d.Amount, d.Currency, d.Reference, d.Balance, d.At}
}

func BenchmarkPGReadModel(b *testing.B) {
	pool := pgtest.Pool(b)
	ctx := context.Background()
	n := pgBenchEnvInt(pgBenchEventsEnv, pgBenchEventsDefault) / pgBenchStreamLen * pgBenchStreamLen
	batch := pgBenchEnvInt(pgBenchBatchEnv, pgBenchBatchDefault)
	var settings string
	if err := pool.QueryRow(ctx, `SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings
WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_wal_size')`).Scan(&settings); err == nil {
		b.Logf("postgres: %s", settings)
	}

	prefix := benchPrefix(b, pool)
	rm := pgx.Identifier{prefix + "_rm"}.Sanitize()
	if _, err := pool.Exec(ctx, `CREATE TABLE `+rm+` (
	stream_id  text NOT NULL,
	version    bigint NOT NULL,
	account_id text NOT NULL,
	amount     bigint NOT NULL,
	currency   text NOT NULL,
	reference  text NOT NULL,
	balance    bigint NOT NULL,
	at         timestamptz NOT NULL,
	PRIMARY KEY (stream_id, version)
)`); err != nil {
		b.Fatal(err)
	}
	insert := `INSERT INTO ` + rm + ` (stream_id, version, account_id, amount, currency, reference, balance, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	cps, err := pgprojection.New(ctx, pool, pgprojection.WithTablePrefix(prefix))
	if err != nil {
		b.Fatal(err)
	}

	start := time.Now()
	s := pgBenchBuildStore(b, n)
	rows := pgBenchRows(b, s)
	b.Logf("built the store (%d events, %d shards) and the rows in %.1fs", n, pgBenchShards, time.Since(start).Seconds())

	// reset empties the read model and the checkpoints (untimed).
	reset := func(b *testing.B, name string) {
		b.Helper()
		if _, err := pool.Exec(ctx, "TRUNCATE "+rm); err != nil {
			b.Fatal(err)
		}
		if err := cps.Reset(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
	// check requires the read model to hold all n rows.
	check := func(b *testing.B) {
		b.Helper()
		var got int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+rm).Scan(&got); err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("the read model has %d rows, want %d", got, n)
		}
	}
	// runShoal is one op of a Shoal sub-benchmark.
	runShoal := func(b *testing.B, name string, store projection.CheckpointStore, p *projection.Projection) {
		for range b.N {
			b.StopTimer()
			reset(b, name)
			r, err := projection.NewRunner(s, projection.Options{
				Checkpoints: store, CatchUpOnly: true, BatchSize: batch,
				Retry: projection.RetryPolicy{Attempts: 1}, StopOnPark: true,
			}, p)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := r.Run(ctx); err != nil {
				b.Fatalf("Run: %v", err)
			}
			b.StopTimer()
			if st := r.Stats(); len(st) != 1 || st[0].Events != int64(n) {
				b.Fatalf("Stats: %+v, want %d events", st, n)
			}
			check(b)
			b.StartTimer()
		}
		b.StopTimer()
		pgBenchReport(b, n)
		b.ReportMetric(float64(batch), "batch")
	}

	b.Run("shoal", func(b *testing.B) {
		p := projection.New("pg-bench")
		pgprojection.On(p, func(ctx context.Context, tx pgx.Tx, ev projection.Event[pgBenchDeposited]) error {
			d, err := ev.Data()
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, insert, pgBenchArgs(ev.StreamID, ev.Version, d)...)
			return err
		})
		runShoal(b, p.Name(), cps, p)
	})

	b.Run("shoal-queued", func(b *testing.B) {
		p := projection.New("pg-bench-queued")
		pgprojection.OnQueued(p, func(_ context.Context, w *pgprojection.Writes, ev projection.Event[pgBenchDeposited]) error {
			d, err := ev.Data()
			if err != nil {
				return err
			}
			w.Exec(insert, pgBenchArgs(ev.StreamID, ev.Version, d)...)
			return nil
		})
		runShoal(b, p.Name(), cps, p)
	})

	// insertRows inserts rows pgBenchRawBatch per transaction.
	insertRows := func(rows [][]any) error {
		for len(rows) > 0 {
			k := min(len(rows), pgBenchRawBatch)
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				bt := &pgx.Batch{}
				for _, r := range rows[:k] {
					bt.Queue(insert, r...)
				}
				return tx.SendBatch(ctx, bt).Close()
			})
			if err != nil {
				return err
			}
			rows = rows[k:]
		}
		return nil
	}
	for _, conns := range []int{1, pgBenchShards} {
		name := "raw-1conn"
		if conns > 1 {
			name = fmt.Sprintf("raw-%dconns", conns)
		}
		b.Run(name, func(b *testing.B) {
			work := rows
			if conns == 1 {
				var all [][]any
				for _, r := range rows {
					all = append(all, r...)
				}
				work = [][][]any{all}
			}
			for range b.N {
				b.StopTimer()
				reset(b, "raw")
				b.StartTimer()
				var wg sync.WaitGroup
				errs := make([]error, len(work))
				for i, w := range work {
					wg.Go(func() { errs[i] = insertRows(w) })
				}
				wg.Wait()
				b.StopTimer()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				check(b)
				b.StartTimer()
			}
			b.StopTimer()
			pgBenchReport(b, n)
			b.ReportMetric(pgBenchRawBatch, "batch")
		})
	}
}

func pgBenchReport(b *testing.B, n int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n*b.N)/s, "events/s")
	}
}
