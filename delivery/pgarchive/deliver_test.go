package pgarchive_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/pgarchive"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	a, _ := newArchive(t, pgarchive.Options{})
	sh := synthShard(3)
	sh.ParentShardID = "shardId-000000000001"
	// More than two pages, three keys.
	recs := synthRecords(3, basePos, 2*pgarchive.PageSize+17, 200, "alpha", "beta", "gamma")
	recs[5].Data = nil // an empty record reads back as empty, not nil
	require.NoError(t, a.Deliver(ctx, batchOf("orders", sh, recs)))
	recs[5].Data = []byte{}

	requireRecords(t, recs, collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "orders", ShardID: sh.ShardID})))
	requireRecords(t, recs[1000:], collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{
		StreamName: "orders", ShardID: sh.ShardID, After: recs[999].SequenceNumber})))
	require.Empty(t, collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "orders", ShardID: "shardId-000000000004"})))
	require.Empty(t, collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "other", ShardID: sh.ShardID})))

	for _, key := range []string{"alpha", "beta", "gamma"} {
		var want []shardlog.Record
		for _, r := range recs {
			if r.PartitionKey == key {
				want = append(want, r)
			}
		}
		requireRecords(t, want, collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "orders", PartitionKey: key})))
		requireRecords(t, want[100:], collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{
			StreamName: "orders", PartitionKey: key, After: want[99].SequenceNumber})))
	}
	require.Empty(t, collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "orders", PartitionKey: "delta"})))

	shards, err := a.ArchivedShards(ctx, "orders")
	require.NoError(t, err)
	require.Equal(t, []shardlog.Shard{sh}, shards)
	shards, err = a.ArchivedShards(ctx, "other")
	require.NoError(t, err)
	require.Empty(t, shards)

	// The catalog keeps what it learnt: closing the shard later sticks,
	// and a later batch that does not say so does not reopen it.
	closed := sh
	closed.Closed, closed.EndingSequenceNumber = true, recs[len(recs)-1].SequenceNumber
	require.NoError(t, a.Deliver(ctx, batchOf("orders", closed, nil)))
	require.NoError(t, a.Deliver(ctx, batchOf("orders", sh, recs[len(recs)-1:])))
	shards, err = a.ArchivedShards(ctx, "orders")
	require.NoError(t, err)
	require.Equal(t, []shardlog.Shard{closed}, shards)
}

// TestDeliverIdempotent: retries and overlapping or out-of-order batches
// leave each record once.
func TestDeliverIdempotent(t *testing.T) {
	ctx := context.Background()
	a, pool := newArchive(t, pgarchive.Options{})
	sh := synthShard(0)
	recs := synthRecords(0, basePos, 5000, 100, "a", "b")
	deliver := func(from, to int) {
		t.Helper()
		require.NoError(t, a.Deliver(ctx, batchOf("s", sh, recs[from:to])))
	}
	requireShard := func(n int) {
		t.Helper()
		rows, distinct := countRows(t, pool, a, "s", sh.ShardID)
		require.Equal(t, n, rows)
		require.Equal(t, n, distinct)
		requireRecords(t, recs[:n], collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "s", ShardID: sh.ShardID})))
	}
	deliver(0, 2000)
	requireShard(2000)
	deliver(0, 2000) // the same batch again
	requireShard(2000)
	deliver(0, 3000) // same First, larger Last
	requireShard(3000)
	deliver(0, 1000) // same First, smaller Last
	requireShard(3000)
	deliver(2500, 3500) // overlapping the end
	requireShard(3500)

	// Out of order: a later batch first, then the gap before it.
	deliver(4500, 5000)
	rows, _ := countRows(t, pool, a, "s", sh.ShardID)
	require.Equal(t, 4000, rows)
	deliver(3500, 4500)
	requireShard(5000)

	// A retry whose contents differ (a transform that is not
	// deterministic) keeps the first contents.
	changed := append([]shardlog.Record(nil), recs[:10]...)
	changed[3].Data = []byte("changed")
	require.NoError(t, a.Deliver(ctx, batchOf("s", sh, changed)))
	requireShard(5000)
}

// TestDeliverConcurrent: deliverers racing on one shard (a lease
// handover) neither duplicate a row nor see an error.
func TestDeliverConcurrent(t *testing.T) {
	ctx := context.Background()
	a, pool := newArchive(t, pgarchive.Options{})
	sh := synthShard(1)
	recs := synthRecords(1, basePos, 4000, 100, "a", "b", "c")
	for round := range 4 {
		// Each round adds 1000 records; every goroutine delivers from
		// the round's start (the same First) to a different Last.
		from := round * 1000
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				to := from + 250*(g+1)
				assert.NoError(t, a.Deliver(ctx, batchOf("s", sh, recs[from:to])))
			})
		}
		wg.Wait()
		rows, distinct := countRows(t, pool, a, "s", sh.ShardID)
		require.Equal(t, from+1000, rows, "round %d", round)
		require.Equal(t, rows, distinct)
	}
	requireRecords(t, recs, collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "s", ShardID: sh.ShardID})))
}

// TestReadStopsEarly: breaking out of a read releases its connection.
func TestReadStopsEarly(t *testing.T) {
	ctx := context.Background()
	a, pool := newArchive(t, pgarchive.Options{})
	sh := synthShard(0)
	recs := synthRecords(0, basePos, pgarchive.PageSize+10, 10)
	require.NoError(t, a.Deliver(ctx, batchOf("s", sh, recs)))
	for name, seq := range map[string]func(func(shardlog.Record, error) bool){
		"ReadKey":   a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "k"}),
		"ReadShard": a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "s", ShardID: sh.ShardID}),
	} {
		for _, stop := range []int{1, 3, pgarchive.PageSize, pgarchive.PageSize + 1} {
			n := 0
			for r, err := range seq {
				require.NoError(t, err)
				require.Equal(t, recs[n].SequenceNumber, r.SequenceNumber)
				n++
				if n == stop {
					break
				}
			}
			require.Equal(t, stop, n, name)
			require.Zero(t, pool.Stat().AcquiredConns(), "%s stopped after %d: no connection held", name, stop)
		}
	}
	// A cancelled context ends the read with its error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	var errs []error
	for _, err := range a.ReadKey(cctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "k"}) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], context.Canceled)
}

func TestDeliverFailed(t *testing.T) {
	ctx := context.Background()
	a, pool := newArchive(t, pgarchive.Options{})
	sn := shardlog.MakeSequenceNumber(basePos, 2)
	recs := []delivery.FailedRecord{
		{AttemptsMade: 4, ArrivalTimestamp: t0, ErrorCode: "Lambda.FunctionError", ErrorMessage: "boom",
			AttemptEndingTimestamp: t0.Add(time.Minute), RawData: []byte("raw"),
			Source: "s", ShardID: sn.ShardID(), SequenceNumber: sn, PartitionKey: "k"},
		{AttemptsMade: 1, ErrorCode: "Dropped"}, // no origin, no times, no data
	}
	require.NoError(t, a.DeliverFailed(ctx, delivery.ProcessingFailed, recs))
	require.NoError(t, a.DeliverFailed(ctx, delivery.DeliveryFailed, nil))

	rows, err := pool.Query(ctx, `SELECT output_type, attempts_made, arrival_timestamp, error_code, error_message,
	attempt_ending_timestamp, raw_data, source_stream, shard_id, seq::text, partition_key
FROM `+pgx.Identifier{a.Table() + "_errors"}.Sanitize()+` ORDER BY id`)
	require.NoError(t, err)
	type row struct {
		OutputType   string
		Attempts     int
		Arrival      *time.Time
		Code, Msg    string
		Ending       *time.Time
		Raw          []byte
		Source       string
		Shard        string
		Seq          *string
		PartitionKey string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	require.NoError(t, err)
	require.Len(t, got, 2)
	g := got[0]
	require.Equal(t, "processing-failed", g.OutputType)
	require.Equal(t, 4, g.Attempts)
	require.True(t, t0.Equal(*g.Arrival))
	require.True(t, t0.Add(time.Minute).Equal(*g.Ending))
	require.Equal(t, []string{"Lambda.FunctionError", "boom", "s", sn.ShardID(), sn.String(), "k"},
		[]string{g.Code, g.Msg, g.Source, g.Shard, *g.Seq, g.PartitionKey})
	require.Equal(t, []byte("raw"), g.Raw)
	g = got[1]
	require.Equal(t, 1, g.Attempts)
	require.Nil(t, g.Arrival)
	require.Nil(t, g.Ending)
	require.Nil(t, g.Seq)
	require.Empty(t, g.Raw)
}

// TestBadArguments needs no server for the options: New checks them
// before it touches the pool.
func TestBadArguments(t *testing.T) {
	ctx := context.Background()
	for _, table := range []string{
		`x; DROP TABLE y`, `a"b`, `x"; DROP TABLE y; --`, `Upper`, `a.b.c`, `.x`, `x.`, `1abc`, `sch ema.t`,
		`t-1`, `tab le`, `é`, "t\x00", string(make([]byte, 49)), `abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvw`, // 49 bytes
		`s.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvw`,
	} {
		_, err := pgarchive.New(ctx, nil, pgarchive.Options{Table: table})
		var argErr *shardlog.ArgumentError
		require.ErrorAs(t, err, &argErr, "%q", table)
		require.Equal(t, "Table", argErr.Field, "%q", table)
		require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
		require.Contains(t, argErr.Reason, "48 bytes")
	}
	_, err := pgarchive.New(ctx, nil, pgarchive.Options{Table: "archive.events"})
	var argErr *shardlog.ArgumentError
	require.ErrorAs(t, err, &argErr)
	require.Equal(t, "pool", argErr.Field)
}

// TestBadInput: bad batches and reads are *shardlog.ArgumentError, and
// nothing is written.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	a, pool := newArchive(t, pgarchive.Options{})
	sh := synthShard(0)
	recs := synthRecords(0, basePos, 3, 10)
	swapped := []shardlog.Record{recs[1], recs[0]}
	dup := []shardlog.Record{recs[0], recs[0]}
	zero := []shardlog.Record{recs[0], {PartitionKey: "k"}}
	for _, c := range []struct {
		b     *delivery.Batch
		field string
	}{
		{nil, "Batch"},
		{batchOf("", sh, recs), "Source"},
		{batchOf("s", shardlog.Shard{}, recs), "Shard.ShardID"},
		{batchOf("s", sh, swapped), "Records[1].SequenceNumber"},
		{batchOf("s", sh, dup), "Records[1].SequenceNumber"},
		{batchOf("s", sh, zero), "Records[1].SequenceNumber"},
	} {
		err := a.Deliver(ctx, c.b)
		var argErr *shardlog.ArgumentError
		require.ErrorAs(t, err, &argErr)
		require.Equal(t, c.field, argErr.Field)
	}
	rows, _ := countRows(t, pool, a, "s", sh.ShardID)
	require.Zero(t, rows)

	requireArgErr := func(field string, seq func(func(shardlog.Record, error) bool)) {
		t.Helper()
		n := 0
		for _, err := range seq {
			n++
			var argErr *shardlog.ArgumentError
			require.ErrorAs(t, err, &argErr)
			require.Equal(t, field, argErr.Field)
		}
		require.Equal(t, 1, n)
	}
	requireArgErr("StreamName", a.ReadKey(ctx, shardlog.ReadKeyInput{PartitionKey: "k"}))
	requireArgErr("PartitionKey", a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s"}))
	requireArgErr("StreamName", a.ReadShard(ctx, eventstore.ArchiveShardInput{ShardID: sh.ShardID}))
	requireArgErr("ShardID", a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "s"}))
	_, err := a.ArchivedShards(ctx, "")
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
	err = a.DeliverFailed(ctx, "", []delivery.FailedRecord{{}})
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
	err = a.DeliverFailed(ctx, delivery.DeliveryFailed, []delivery.FailedRecord{{AttemptsMade: -1}})
	var argErr *shardlog.ArgumentError
	require.ErrorAs(t, err, &argErr)
	require.Equal(t, "records[0].AttemptsMade", argErr.Field)
}

// TestNoCreate: with NoCreate, New leaves the schema alone, and the
// archive works on tables created from Schema.
func TestNoCreate(t *testing.T) {
	ctx := context.Background()
	a, pool := newArchive(t, pgarchive.Options{}) // creates the tables
	b, err := pgarchive.New(ctx, pool, pgarchive.Options{Table: a.Table(), NoCreate: true})
	require.NoError(t, err)
	require.Equal(t, a.Schema(), b.Schema())
	require.NoError(t, b.Deliver(ctx, batchOf("s", synthShard(0), synthRecords(0, basePos, 3, 10))))
	require.Len(t, collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "k"})), 3)

	// On a schema with no tables, New succeeds and the first write says
	// what is missing.
	missing, err := pgarchive.New(ctx, pool, pgarchive.Options{Table: "shoal_archive_missing_table", NoCreate: true})
	require.NoError(t, err)
	err = missing.Deliver(ctx, batchOf("s", synthShard(0), synthRecords(0, basePos, 3, 10)))
	require.Error(t, err)
	require.False(t, errors.Is(err, shardlog.ErrInvalidArgument))
}

// TestNewConcurrent: New is idempotent and safe to race.
func TestNewConcurrent(t *testing.T) {
	a, pool := newArchive(t, pgarchive.Options{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, err := pgarchive.New(context.Background(), pool, pgarchive.Options{Table: a.Table()})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
}

// TestNumericOrder: records come back in numeric order of their sequence
// numbers, also where the decimal forms differ in length (text order
// would differ).
func TestNumericOrder(t *testing.T) {
	ctx := context.Background()
	a, _ := newArchive(t, pgarchive.Options{})
	var recs []shardlog.Record
	for _, pos := range []uint64{1, 3, 24, 1000, 99_999, 1_000_000, basePos, basePos * 1000, 1<<64 - 1} {
		recs = append(recs, shardlog.Record{SequenceNumber: shardlog.MakeSequenceNumber(pos, 7),
			ApproximateArrivalTimestamp: t0, PartitionKey: "k", Data: []byte{byte(len(recs))}})
	}
	require.NoError(t, a.Deliver(ctx, batchOf("s", synthShard(7), recs)))
	requireRecords(t, recs, collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "k"})))
	requireRecords(t, recs, collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "s", ShardID: synthShard(7).ShardID})))
	requireRecords(t, recs[4:], collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "k", After: recs[3].SequenceNumber})))
	// A retry of a prefix (every number at or below the largest) is a no-op.
	require.NoError(t, a.Deliver(ctx, batchOf("s", synthShard(7), recs[:5])))
	requireRecords(t, recs, collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "s", ShardID: synthShard(7).ShardID})))
}

// TestDeliverRetriesAUniqueViolation: a writer that bypasses the catalog
// lock inserts one of the batch's rows while Deliver copies; Deliver's
// COPY waits for it, fails with a unique violation when it commits, and
// Deliver runs its transaction again: no error, every row once.
func TestDeliverRetriesAUniqueViolation(t *testing.T) {
	ctx := context.Background()
	a, pool := newArchive(t, pgarchive.Options{})
	sh := synthShard(0)
	recs := synthRecords(0, basePos, 1000, 50)
	require.NoError(t, a.Deliver(ctx, batchOf("s", sh, recs[:100])))

	other, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer other.Rollback(ctx) //nolint:errcheck
	r := recs[500]
	_, err = other.Exec(ctx, `INSERT INTO `+pgx.Identifier{a.Table()}.Sanitize()+` (stream, shard, seq, partition_key, arrival, data)
VALUES ('s', $1, $2::text::numeric, $3, $4, $5)`, sh.ShardID, r.SequenceNumber.String(), r.PartitionKey, r.ApproximateArrivalTimestamp, r.Data)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- a.Deliver(ctx, batchOf("s", sh, recs[100:])) }()
	// Wait until Deliver's COPY waits on the uncommitted row.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%copy%' || $1 || '%'`, a.Table()).Scan(&waiting))
		if waiting > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "Deliver's COPY never waited on the other writer")
		select {
		case err := <-done:
			t.Fatalf("Deliver returned before the other writer committed: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	require.NoError(t, other.Commit(ctx))
	require.NoError(t, <-done)
	rows, distinct := countRows(t, pool, a, "s", sh.ShardID)
	require.Equal(t, 1000, rows)
	require.Equal(t, 1000, distinct)
	requireRecords(t, recs, collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "s", ShardID: sh.ShardID})))
}

// TestPageBoundaries: reads of around and exactly a multiple of PageSize
// records yield each once.
func TestPageBoundaries(t *testing.T) {
	ctx := context.Background()
	a, _ := newArchive(t, pgarchive.Options{})
	for i, n := range []int{1, pgarchive.PageSize - 1, pgarchive.PageSize, pgarchive.PageSize + 1, 2 * pgarchive.PageSize} {
		sh := synthShard(uint32(i))
		key := sh.ShardID
		recs := synthRecords(uint32(i), basePos, n, 8, key)
		require.NoError(t, a.Deliver(ctx, batchOf("s", sh, recs)))
		requireRecords(t, recs, collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: key})))
		requireRecords(t, recs, collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: "s", ShardID: sh.ShardID})))
		requireRecords(t, recs[n/2+1:], collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: key, After: recs[n/2].SequenceNumber})))
	}
}
