package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/shardlog"
)

// putRound is how many puts each side makes per round of
// BenchmarkPutRecordConcurrent: 16 per producer.
const putRound = benchProducers * 16

// BenchmarkPutRecordConcurrent: 64 producers, each op one durable
// PutRecord (256 bytes, a random key of 65,536) through a Log on the
// engine, against the plain events-table pattern: 64 producers, each op
// one INSERT of an event (stream, version, data) in its own transaction
// into a table with a bigserial key and UNIQUE (stream, version), the
// stream being the same key and the version the stream's next. Both use
// one pool of 64 connections and commit with the server's
// synchronous_commit. An iteration is one round: putRound puts by the
// Log's producers, then as many INSERTs by the peer's (the order
// alternates round by round). Reports records/s of each (shoal-rec/s,
// insert-rec/s), their ratio (shoal/insert) and each side's ack latency.
func BenchmarkPutRecordConcurrent(b *testing.B) {
	ctx := context.Background()
	env := newBenchEnv(b, benchProducers)
	events := env.peerTable("events")
	env.exec(b, `CREATE TABLE `+events.Sanitize()+` (
	id bigserial PRIMARY KEY,
	stream text NOT NULL,
	version bigint NOT NULL,
	data bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (stream, version))`)
	insert := `INSERT INTO ` + events.Sanitize() + ` (stream, version, data) VALUES ($1, $2, $3)`
	keys := benchKeys(benchKeyPool, 1)
	data := benchData(2)
	// Producer w puts to keys w, w+64, w+128, ... in turn on each side;
	// versions[k] is key k's last version in the events table.
	versions := make([]int64, len(keys))
	var next [2][benchProducers]int

	// phase runs n puts by benchProducers goroutines and returns its wall
	// time and each put's latency.
	fails := newErrOnce()
	phase := func(side, n int, put func(w, k int) error) (time.Duration, []time.Duration) {
		var left atomic.Int64
		left.Store(int64(n))
		lat := make([][]time.Duration, benchProducers)
		var wg sync.WaitGroup
		start := time.Now()
		for w := range benchProducers {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					k := (w + benchProducers*next[side][w]) % len(keys)
					next[side][w]++
					t := time.Now()
					if err := put(w, k); err != nil {
						fails.set(err)
						return
					}
					lat[w] = append(lat[w], time.Since(t))
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		var all []time.Duration
		for _, l := range lat {
			all = append(all, l...)
		}
		return elapsed, all
	}
	putShoal := func(_, k int) error {
		_, err := env.log.PutRecord(ctx, shardlog.PutRecordInput{StreamName: benchStream, PartitionKey: keys[k], Data: data})
		return err
	}
	putInsert := func(_, k int) error {
		versions[k]++
		_, err := env.pool.Exec(ctx, insert, keys[k], versions[k], data)
		return err
	}

	var inShoal, inInsert time.Duration
	var latShoal, latInsert []time.Duration
	rounds := 0
	for b.Loop() {
		for j := range 2 {
			if (rounds+j)%2 == 0 { // neither always goes first
				d, l := phase(0, putRound, putShoal)
				inShoal += d
				latShoal = append(latShoal, l...)
			} else {
				d, l := phase(1, putRound, putInsert)
				inInsert += d
				latInsert = append(latInsert, l...)
			}
			fails.check(b)
		}
		rounds++
	}
	n := float64(rounds * putRound)
	b.ReportMetric(n/inShoal.Seconds(), "shoal-rec/s")
	b.ReportMetric(n/inInsert.Seconds(), "insert-rec/s")
	b.ReportMetric(inInsert.Seconds()/inShoal.Seconds(), "shoal/insert")
	reportLatency(b, "shoal-", latShoal)
	reportLatency(b, "insert-", latInsert)
	if got := env.storedRecords(b); got != int64(rounds*putRound) {
		b.Errorf("the engine holds %d records, want %d", got, rounds*putRound)
	}
	if got := env.countRows(b, events); got != int64(rounds*putRound) {
		b.Errorf("the events table holds %d rows, want %d", got, rounds*putRound)
	}
}

// BenchmarkPutRecords500: one producer, each op one PutRecords of 500
// records (256 bytes, random keys of 65,536) through a Log on the engine,
// against a raw pgx CopyFrom of the same 500 rows (partition key, data)
// into a plain table with no index, alternating batch by batch (each goes
// first in every other op). Both run on one pool and commit with the
// server's synchronous_commit. Reports records/s of each (shoal-rec/s,
// copy-rec/s), their ratio (shoal/copy: copy time ÷ Log time) and each
// batch's latency.
func BenchmarkPutRecords500(b *testing.B) {
	ctx := context.Background()
	env := newBenchEnv(b, 16)
	raw := env.peerTable("raw")
	env.exec(b, `CREATE TABLE `+raw.Sanitize()+` (partition_key text NOT NULL, data bytea NOT NULL)`)
	keys := benchKeys(benchKeyPool, 3)
	data := benchData(4)
	entries := make([]shardlog.PutRecordsEntry, benchBatch)
	rows := make([][]any, benchBatch)
	var inShoal, inCopy time.Duration
	var latShoal, latCopy []time.Duration
	ops := 0
	for b.Loop() {
		for j := range entries {
			k := keys[(ops*benchBatch+j)%len(keys)]
			entries[j] = shardlog.PutRecordsEntry{PartitionKey: k, Data: data}
			rows[j] = []any{k, data}
		}
		for j := range 2 {
			t := time.Now()
			if (ops+j)%2 == 0 {
				if _, err := putRecords(ctx, env.log, entries); err != nil {
					b.Fatal(err)
				}
				d := time.Since(t)
				inShoal += d
				latShoal = append(latShoal, d)
			} else {
				n, err := env.pool.CopyFrom(ctx, raw, []string{"partition_key", "data"}, pgx.CopyFromRows(rows))
				if err != nil || n != benchBatch {
					b.Fatalf("CopyFrom: %d rows, %v", n, err)
				}
				d := time.Since(t)
				inCopy += d
				latCopy = append(latCopy, d)
			}
		}
		ops++
	}
	n := float64(ops * benchBatch)
	b.ReportMetric(n/inShoal.Seconds(), "shoal-rec/s")
	b.ReportMetric(n/inCopy.Seconds(), "copy-rec/s")
	b.ReportMetric(inCopy.Seconds()/inShoal.Seconds(), "shoal/copy")
	reportLatency(b, "shoal-", latShoal)
	reportLatency(b, "copy-", latCopy)
	if got := env.storedRecords(b); got != int64(ops*benchBatch) {
		b.Errorf("the engine holds %d records, want %d", got, ops*benchBatch)
	}
	if got := env.countRows(b, raw); got != int64(ops*benchBatch) {
		b.Errorf("the plain table holds %d rows, want %d", got, ops*benchBatch)
	}
}
