package postgres_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/postgres"
)

const (
	largeTargetKeys = 1000                // keys read by BenchmarkLargeLog, 10 records each
	largeKeyRecords = 10                  // records per target key
	largeLoaders    = 4                   // goroutines loading batches concurrently
	largeSpan       = time.Hour           // the unit of arrival time the rows are spread over
	largeSpansEnv   = "SHOAL_BENCH_SPANS" // spans of arrival time the rows are spread over
	largeSpans      = 24                  // its default: a day of arrivals
	// largePartitionEnv sets the engine's PartitionSpan (a Go duration,
	// e.g. 1h); unset, the engine's default (postgres.DefaultPartitionSpan).
	largePartitionEnv = "SHOAL_BENCH_PARTITION"
	largeRetention    = 24 * time.Hour // the stream's retention (the default)
	largeKeyPrefix    = "target-"      // the target keys; random keys are hex
	largeLoadPool     = largeLoaders*benchShards + largeLoaders + 4
)

// BenchmarkLargeLog loads SHOAL_BENCH_RECORDS rows (default 100k; the
// documented figure uses 10M) of 256 bytes into a Log on the engine
// (PutRecords of 500 records of one shard, largeLoaders at once) and the
// same rows (key, seq, arrival, data) into a plain table with a B-tree
// index on (key, seq), with CopyFrom. The rows' arrival times are spread
// evenly over SHOAL_BENCH_SPANS (default 24: a day at the default
// retention) spans of one hour, through the Log's clock, as in a log with
// 24 h of records; the engine partitions them by its PartitionSpan
// (SHOAL_BENCH_PARTITION, default the engine's: one day, so two
// partitions; SHOAL_BENCH_PARTITION=1h gives one per span). 1,000 target
// keys have exactly 10 records each, spread evenly through their shard's
// rows; every other key is one of N/10
// random keys.
//
// Each op then reads one target key in full (round robin) with
// Log.ReadKey and with the bare indexed SELECT of its 10 rows from the
// plain table (seq, arrival, data; ORDER BY seq), alternately. Reports
// shoal- and select- p50-µs/p99-µs and shoal/select (the ratio of the
// p50s).
//
// After the reads (once, outside the timed loop) the clock moves so that
// the older half of the spans is past the stream's 24 h retention, and it
// times Log.EnforceRetention (the engine hides them at once and drops the
// partitions that hold nothing else: with one-day partitions, none yet)
// against DELETE FROM plain WHERE arrival < horizon, the same rows:
// trim-ms, delete-ms, delete/trim, expired-rows (those the DELETE
// removes) and trimmed-rows (those the engine no longer counts). Also
// reported: the load rates of both sides (load-shoal-rec/s,
// load-copy-rec/s: rows ÷ the time spent in each side's calls, times the 4
// loaders; the sides interleave batch by batch) and the rows.
func BenchmarkLargeLog(b *testing.B) {
	ctx := context.Background()
	n := (benchRecords(b) + benchShards*benchBatch - 1) / (benchShards * benchBatch) * (benchShards * benchBatch)
	spans := envInt(b, largeSpansEnv, largeSpans)
	if n < largeTargetKeys*largeKeyRecords*2 {
		b.Fatalf("%s=%d: want at least %d rows", benchRecordsEnv, n, largeTargetKeys*largeKeyRecords*2)
	}
	t0 := time.Now().Add(-largeRetention - time.Duration(spans+4)*largeSpan).Truncate(largeSpan)
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }

	env := newLargeEnv(b, now)
	plain := env.peerTable("plain")
	env.exec(b, `CREATE TABLE `+plain.Sanitize()+` (key text NOT NULL, seq bigint NOT NULL, arrival timestamptz NOT NULL, data bytea NOT NULL)`)
	env.exec(b, `CREATE INDEX ON `+plain.Sanitize()+` (key, seq)`)

	// The rows. To load quickly, every batch goes to one shard (batch g
	// to shard g mod benchShards): one transaction per PutRecords.
	meta, ok, err := env.eng.LoadStream(ctx, benchStream)
	if err != nil || !ok {
		b.Fatalf("LoadStream: %v, found %v", err, ok)
	}
	shardOf := func(key string) int {
		h := shardlog.HashPartitionKey(key)
		for j := range meta.Shards {
			if meta.Shards[j].HashKeyRange.Contains(h) {
				return j
			}
		}
		b.Fatalf("no shard holds the hash key of %q", key)
		return 0
	}
	var targets, random [benchShards][]string // by shard
	for i := range largeTargetKeys {
		k := fmt.Sprintf("%s%04d", largeKeyPrefix, i)
		targets[shardOf(k)] = append(targets[shardOf(k)], k)
	}
	for _, k := range benchKeys(max(benchShards, n/10), 5) {
		random[shardOf(k)] = append(random[shardOf(k)], k)
	}
	perShard := n / benchShards                                       // rows of each shard
	targetAt := make(map[int]string, largeTargetKeys*largeKeyRecords) // row index -> target key
	batches := n / benchBatch
	for j := range benchShards {
		slots := len(targets[j]) * largeKeyRecords
		for k := range slots {
			local := k * perShard / slots // the shard's local row, spread evenly
			g := (local/benchBatch)*benchShards + j
			targetAt[g*benchBatch+local%benchBatch] = targets[j][k%len(targets[j])]
		}
	}
	fill := benchData(6)
	row := func(i int, r *rand.Rand) (string, []byte) {
		key, ok := targetAt[i]
		if !ok {
			bucket := random[(i/benchBatch)%benchShards]
			key = bucket[r.IntN(len(bucket))]
		}
		d := make([]byte, benchRecordSize)
		copy(d, fill)
		binary.BigEndian.PutUint64(d, uint64(i))
		return key, d
	}
	var allTargets []string
	for j := range targets {
		allTargets = append(allTargets, targets[j]...)
	}

	// The load: span by span, each span's batches by largeLoaders at once.
	var inPut, inCopy atomic.Int64
	var expired int
	horizonSpan := spans / 2 // spans [0, horizonSpan) expire
	for s := range spans {
		clock.Store(t0.Add(time.Duration(s)*largeSpan + time.Minute).UnixNano())
		arrival := now()
		lo, hi := s*batches/spans, (s+1)*batches/spans
		if s < horizonSpan {
			expired += (hi - lo) * benchBatch
		}
		var next atomic.Int64
		next.Store(int64(lo))
		fails := newErrOnce()
		var wg sync.WaitGroup
		for range largeLoaders {
			wg.Go(func() {
				entries := make([]shardlog.PutRecordsEntry, benchBatch)
				rows := make([][]any, benchBatch)
				for {
					g := int(next.Add(1) - 1)
					if g >= hi {
						return
					}
					r := rand.New(rand.NewPCG(uint64(g), 7))
					for j := range benchBatch {
						i := g*benchBatch + j
						key, d := row(i, r)
						entries[j] = shardlog.PutRecordsEntry{PartitionKey: key, Data: d}
						rows[j] = []any{key, int64(i + 1), arrival, d}
					}
					t := time.Now()
					if _, err := putRecords(ctx, env.log, entries); err != nil {
						fails.set(err)
						return
					}
					inPut.Add(int64(time.Since(t)))
					t = time.Now()
					if _, err := env.pool.CopyFrom(ctx, plain, []string{"key", "seq", "arrival", "data"}, pgx.CopyFromRows(rows)); err != nil {
						fails.set(fmt.Errorf("CopyFrom: %w", err))
						return
					}
					inCopy.Add(int64(time.Since(t)))
				}
			})
		}
		wg.Wait()
		fails.check(b)
	}
	clock.Store(t0.Add(time.Duration(spans) * largeSpan).UnixNano())
	// Both sides start the reads from the same state: statistics taken,
	// no dirty pages left from the load.
	env.analyze(b, env.schema)
	env.analyze(b, env.peer)
	env.exec(b, "CHECKPOINT")

	sel := `SELECT seq, arrival, data FROM ` + plain.Sanitize() + ` WHERE key = $1 ORDER BY seq`
	readShoal := func(key string) error {
		got := 0
		for _, err := range env.log.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: benchStream, PartitionKey: key}) {
			if err != nil {
				return fmt.Errorf("ReadKey(%s): %w", key, err)
			}
			got++
		}
		if got != largeKeyRecords {
			return fmt.Errorf("ReadKey(%s): %d records, want %d", key, got, largeKeyRecords)
		}
		return nil
	}
	readSelect := func(key string) error {
		rows, err := env.pool.Query(ctx, sel, key)
		if err != nil {
			return err
		}
		defer rows.Close()
		got := 0
		var (
			seq     int64
			arrival time.Time
			data    []byte
		)
		for rows.Next() {
			if err := rows.Scan(&seq, &arrival, &data); err != nil {
				return err
			}
			got++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if got != largeKeyRecords {
			return fmt.Errorf("SELECT %s: %d rows, want %d", key, got, largeKeyRecords)
		}
		return nil
	}
	var latShoal, latSelect []time.Duration
	ops := 0
	for b.Loop() {
		key := allTargets[ops%len(allTargets)]
		for j := range 2 {
			t := time.Now()
			if (ops+j)%2 == 0 {
				if err := readShoal(key); err != nil {
					b.Fatal(err)
				}
				latShoal = append(latShoal, time.Since(t))
			} else {
				if err := readSelect(key); err != nil {
					b.Fatal(err)
				}
				latSelect = append(latSelect, time.Since(t))
			}
		}
		ops++
	}
	b.ReportMetric(float64(n), "rows")
	b.ReportMetric(float64(n)/time.Duration(inPut.Load()).Seconds()*largeLoaders, "load-shoal-rec/s")
	b.ReportMetric(float64(n)/time.Duration(inCopy.Load()).Seconds()*largeLoaders, "load-copy-rec/s")
	p50Shoal := reportLatency(b, "shoal-", latShoal)
	p50Select := reportLatency(b, "select-", latSelect)
	b.ReportMetric(float64(p50Shoal)/float64(p50Select), "shoal/select")

	// Retention: the older half of the spans expires.
	horizon := t0.Add(time.Duration(horizonSpan) * largeSpan)
	clock.Store(horizon.Add(largeRetention).UnixNano())
	before := env.storedRecords(b)
	env.exec(b, "CHECKPOINT")
	t := time.Now()
	if err := env.log.EnforceRetention(ctx); err != nil {
		b.Fatalf("EnforceRetention: %v", err)
	}
	dTrim := time.Since(t)
	env.exec(b, "CHECKPOINT")
	t = time.Now()
	tag, err := env.pool.Exec(ctx, `DELETE FROM `+plain.Sanitize()+` WHERE arrival < $1`, horizon)
	if err != nil {
		b.Fatalf("DELETE: %v", err)
	}
	dDelete := time.Since(t)
	if tag.RowsAffected() != int64(expired) {
		b.Errorf("DELETE removed %d rows, want %d", tag.RowsAffected(), expired)
	}
	// An engine may keep expired records (a partition that also holds
	// live ones); it must not drop live ones.
	after := env.storedRecords(b)
	if after < int64(n-expired) {
		b.Errorf("after EnforceRetention the engine holds %d records, fewer than the %d not expired", after, n-expired)
	}
	b.ReportMetric(float64(expired), "expired-rows")
	b.ReportMetric(float64(before-after), "trimmed-rows")
	b.ReportMetric(float64(dTrim.Microseconds())/1e3, "trim-ms")
	b.ReportMetric(float64(dDelete.Microseconds())/1e3, "delete-ms")
	b.ReportMetric(dDelete.Seconds()/dTrim.Seconds(), "delete/trim")
}

// newLargeEnv is newBenchEnv for BenchmarkLargeLog: the engine's
// partitions span SHOAL_BENCH_PARTITION (default: the engine's default),
// and the Log runs on the clock now.
func newLargeEnv(b *testing.B, now func() time.Time) *benchEnv {
	b.Helper()
	var span time.Duration
	if v := os.Getenv(largePartitionEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("%s=%q: want a positive duration", largePartitionEnv, v)
		}
		span = d
	}
	return newBenchEnvWith(b, largeLoadPool, func(o *postgres.Options) { o.PartitionSpan = span }, shardlog.WithClock(now))
}

// analyze runs ANALYZE on every table of schema.
func (e *benchEnv) analyze(b *testing.B, schema string) {
	b.Helper()
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = $1`, schema)
	if err != nil {
		b.Fatalf("list tables of %s: %v", schema, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatalf("list tables of %s: %v", schema, err)
	}
	for _, t := range tables {
		e.exec(b, "ANALYZE "+t)
	}
}
