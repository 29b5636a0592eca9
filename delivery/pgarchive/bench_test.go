package pgarchive_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/delivery/pgarchive"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
	"github.com/stretchr/testify/require"
)

// benchBatch is the batch size of the delivery benchmarks: 5,000 records
// of 200 bytes, about 1 MB, within Firehose's default 5 MiB buffer.
const (
	benchBatch = 5000
	benchSize  = 200
)

// benchRecords returns the records of iteration i: each iteration
// archives new records, after the previous iteration's.
func benchRecords(i int) []shardlog.Record {
	return synthRecords(0, basePos+uint64(i*benchBatch*3), benchBatch, benchSize, "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8")
}

// BenchmarkArchiveDeliver: Archive.Deliver of batches of new records (the
// steady state), in rows/s. Compare with BenchmarkRawCopyFrom.
func BenchmarkArchiveDeliver(b *testing.B) {
	ctx := context.Background()
	a, pool := newArchive(b, pgarchive.Options{})
	sh := synthShard(0)
	b.SetBytes(benchBatch * benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		recs := benchRecords(i)
		b.StartTimer()
		if err := a.Deliver(ctx, batchOf("bench", sh, recs)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "rows/s")
	rows, distinct := countRows(b, pool, a, "bench", sh.ShardID)
	require.Equal(b, b.N*benchBatch, rows, "every iteration archived new rows")
	require.Equal(b, rows, distinct)
}

// BenchmarkRawCopyFrom is the baseline of BenchmarkArchiveDeliver: the
// same records copied with pgx CopyFrom, on the pool, into a bare table of
// the archive table's shape and indexes, with nothing else: no
// transaction, no catalog, no duplicate check.
func BenchmarkRawCopyFrom(b *testing.B) {
	raw := newRawTable(b)
	b.SetBytes(benchBatch * benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		recs := benchRecords(i)
		b.StartTimer()
		raw.copy(b, recs)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "rows/s")
	raw.requireRows(b, b.N*benchBatch)
}

// BenchmarkDeliverVsRawCopyFrom runs BenchmarkArchiveDeliver's and
// BenchmarkRawCopyFrom's work alternately, batch by batch, and reports
// both rates and their ratio: on a shared machine, a same-run ratio that
// load drifting between two benchmarks does not skew.
func BenchmarkDeliverVsRawCopyFrom(b *testing.B) {
	ctx := context.Background()
	a, pool := newArchive(b, pgarchive.Options{})
	sh := synthShard(0)
	raw := newRawTable(b)
	var inDeliver, inRaw time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		recs := benchRecords(i)
		b.StartTimer()
		deliver := func() {
			start := time.Now()
			if err := a.Deliver(ctx, batchOf("bench", sh, recs)); err != nil {
				b.Fatal(err)
			}
			inDeliver += time.Since(start)
		}
		copyRaw := func() {
			start := time.Now()
			raw.copy(b, recs)
			inRaw += time.Since(start)
		}
		if i%2 == 0 { // neither always goes first
			deliver()
			copyRaw()
		} else {
			copyRaw()
			deliver()
		}
	}
	b.StopTimer()
	rows := float64(b.N * benchBatch)
	b.ReportMetric(rows/inDeliver.Seconds(), "deliver-rows/s")
	b.ReportMetric(rows/inRaw.Seconds(), "raw-rows/s")
	b.ReportMetric(inRaw.Seconds()/inDeliver.Seconds(), "deliver/raw")
	n, _ := countRows(b, pool, a, "bench", sh.ShardID)
	require.Equal(b, b.N*benchBatch, n)
	raw.requireRows(b, b.N*benchBatch)
}

// rawTable is the baseline's bare table: the archive table's shape and
// indexes, and nothing else.
type rawTable struct {
	pool  *pgxpool.Pool
	ident pgx.Identifier
}

func newRawTable(b *testing.B) *rawTable {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	table := pgtest.UniqueName("shoal_archive_raw")
	pgtest.DropTables(b, pool, table)
	ident := pgx.Identifier{table}
	_, err := pool.Exec(ctx, `CREATE TABLE `+ident.Sanitize()+` (
	stream text NOT NULL, shard text NOT NULL, seq numeric(39, 0) NOT NULL CHECK (seq > 0),
	partition_key text NOT NULL, arrival timestamptz NOT NULL, data bytea NOT NULL,
	stream_id text, version bigint, type text, event_id uuid,
	PRIMARY KEY (stream, shard, seq))`)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, `CREATE INDEX ON `+ident.Sanitize()+` (stream, partition_key, seq)`)
	require.NoError(b, err)
	return &rawTable{pool: pool, ident: ident}
}

var rawColumns = []string{"stream", "shard", "seq", "partition_key", "arrival", "data", "stream_id", "version", "type", "event_id"}

// copy is the baseline: one pgx CopyFrom of recs on the pool.
func (t *rawTable) copy(b *testing.B, recs []shardlog.Record) {
	shardID := synthShard(0).ShardID
	_, err := t.pool.CopyFrom(context.Background(), t.ident, rawColumns, pgx.CopyFromSlice(len(recs), func(j int) ([]any, error) {
		r := &recs[j]
		return []any{"bench", shardID, seqNumeric(r.SequenceNumber), r.PartitionKey, r.ApproximateArrivalTimestamp, r.Data,
			nil, nil, nil, nil}, nil
	}))
	if err != nil {
		b.Fatal(err)
	}
}

func (t *rawTable) requireRows(b *testing.B, want int) {
	var rows int
	require.NoError(b, t.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+t.ident.Sanitize()).Scan(&rows))
	require.Equal(b, want, rows)
}

// seqNumeric is the cheapest numeric of a sequence number pgx encodes.
func seqNumeric(s shardlog.SequenceNumber) pgtype.Numeric {
	pos := s.Position()
	n := new(big.Int).SetUint64(pos >> 32)
	n.Lsh(n, 64)
	n.Or(n, new(big.Int).SetUint64(pos<<32|uint64(s.ShardIndex())))
	return pgtype.Numeric{Int: n, Valid: true}
}

// loadEvents is how many events the load benchmarks read.
const loadEvents = 1000

// loadFixture writes loadEvents events of one aggregate (in appends of
// 10) to a memory-engine log and returns the store; with archived, it
// also delivers them to a PostgreSQL archive and moves the clock past
// retention, so that only the archive holds them, and returns a store
// reading the archive.
func loadFixture(b *testing.B, archived bool) *eventstore.Store {
	ctx := context.Background()
	clock := shardlogtest.NewClockAt(t0)
	l := openLog(b, clock, "acct", 1)
	reg := registry(b)
	store, err := eventstore.Open(ctx, l, "acct", eventstore.WithRegistry(reg))
	require.NoError(b, err)
	for i := 0; i < loadEvents; i += 10 {
		evs := make([]any, 10)
		for j := range evs {
			evs[j] = deposited{Amount: i + j}
		}
		_, err := store.Append(ctx, "acct-1", eventstore.Any, evs...)
		require.NoError(b, err)
	}
	if !archived {
		return store
	}
	a, _ := newArchive(b, pgarchive.Options{Events: store})
	deliverLog(b, a, l, "acct")
	clock.Advance(shardlog.DefaultRetentionHours*time.Hour + time.Hour)
	require.NoError(b, l.EnforceRetention(ctx))
	require.Empty(b, shardRecords(b, l, "acct", "shardId-000000000000"), "every event expired from the log")
	tiered, err := eventstore.Open(ctx, l, "acct", eventstore.WithRegistry(reg), eventstore.WithArchive(a))
	require.NoError(b, err)
	return tiered
}

func benchLoad(b *testing.B, store *eventstore.Store) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		loadAll(b, store)
	}
	b.ReportMetric(float64(b.N*loadEvents)/b.Elapsed().Seconds(), "events/s")
}

// loadAll loads the aggregate and decodes every event.
func loadAll(b *testing.B, store *eventstore.Store) {
	ld, err := store.Load(context.Background(), "acct-1", nil)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for ev, err := range ld.Events {
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ev.Data(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if n != loadEvents {
		b.Fatalf("loaded %d events, want %d", n, loadEvents)
	}
}

// BenchmarkTieredVsLiveLoad runs BenchmarkTieredLoad's and
// BenchmarkLiveLoad's loads alternately and reports both rates and the
// time ratio tiered/live, a same-run ratio.
func BenchmarkTieredVsLiveLoad(b *testing.B) {
	tiered, live := loadFixture(b, true), loadFixture(b, false)
	var inTiered, inLive time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range 2 {
			start := time.Now()
			if (i+j)%2 == 0 { // neither always goes first
				loadAll(b, tiered)
				inTiered += time.Since(start)
			} else {
				loadAll(b, live)
				inLive += time.Since(start)
			}
		}
	}
	events := float64(b.N * loadEvents)
	b.ReportMetric(events/inTiered.Seconds(), "tiered-events/s")
	b.ReportMetric(events/inLive.Seconds(), "live-events/s")
	b.ReportMetric(inTiered.Seconds()/inLive.Seconds(), "tiered/live")
}

// BenchmarkTieredLoad: eventstore Load of an aggregate's 1,000 events,
// all past the log's retention, from the PostgreSQL archive. Compare
// with BenchmarkLiveLoad.
func BenchmarkTieredLoad(b *testing.B) { benchLoad(b, loadFixture(b, true)) }

// BenchmarkLiveLoad: the same Load, of the same 1,000 events in the live
// log (memory engine).
func BenchmarkLiveLoad(b *testing.B) {
	pgtest.URL(b) // reported next to BenchmarkTieredLoad: skip alike
	benchLoad(b, loadFixture(b, false))
}
