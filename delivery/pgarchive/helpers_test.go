package pgarchive_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/pgarchive"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// newArchive returns an archive on fresh tables, dropped when tb ends,
// and its pool.
func newArchive(tb testing.TB, opts pgarchive.Options) (*pgarchive.Archive, *pgxpool.Pool) {
	tb.Helper()
	pool := pgtest.Pool(tb)
	table := pgtest.UniqueName("shoal_archive_t")
	pgtest.DropTables(tb, pool, table, table+"_shards", table+"_errors")
	opts.Table = table
	a, err := pgarchive.New(context.Background(), pool, opts)
	require.NoError(tb, err)
	return a, pool
}

// t0 is the arrival time of the synthetic records.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// synthShard is a shard of index i covering the whole hash-key range.
func synthShard(i uint32) shardlog.Shard {
	return shardlog.Shard{
		ShardID:                shardlog.MakeSequenceNumber(1, i).ShardID(),
		HashKeyRange:           shardlog.HashKeyRange{StartingHashKey: shardlog.MinHashKey, EndingHashKey: shardlog.MaxHashKey},
		StartingSequenceNumber: shardlog.MakeSequenceNumber(1, i),
	}
}

// synthRecords returns n records of shard i at positions from firstPos
// (spaced by 3, as a sequencer may leave gaps), with partition keys taken
// in turn from keys and size bytes of data each. Positions are large, as
// the log's are (Unix microseconds), so the numbers use all 128 bits'
// worth of digits.
func synthRecords(i uint32, firstPos uint64, n, size int, keys ...string) []shardlog.Record {
	if len(keys) == 0 {
		keys = []string{"k"}
	}
	out := make([]shardlog.Record, n)
	for j := range out {
		pos := firstPos + uint64(3*j)
		data := make([]byte, size)
		for k := range data {
			data[k] = byte('a' + (j+k)%26)
		}
		copy(data, fmt.Sprintf("%d:", pos))
		out[j] = shardlog.Record{
			SequenceNumber:              shardlog.MakeSequenceNumber(pos, i),
			ApproximateArrivalTimestamp: t0.Add(time.Duration(j) * time.Millisecond),
			PartitionKey:                keys[j%len(keys)],
			Data:                        data,
		}
	}
	return out
}

// basePos is a position like the log's: Unix microseconds.
const basePos = uint64(1_893_553_445_000_000)

// batchOf returns the batch of recs from shard of stream.
func batchOf(stream string, shard shardlog.Shard, recs []shardlog.Record) *delivery.Batch {
	b := &delivery.Batch{DeliveryStream: "ds", Version: 1, Source: stream, Shard: shard, Records: recs}
	if len(recs) > 0 {
		b.First, b.Last = recs[0].SequenceNumber, recs[len(recs)-1].SequenceNumber
	}
	for _, r := range recs {
		b.Bytes += len(r.Data)
	}
	return b
}

// countRows returns the number of rows of (stream, shard) and the number
// of distinct sequence numbers among them.
func countRows(tb testing.TB, pool *pgxpool.Pool, a *pgarchive.Archive, stream, shard string) (rows, distinct int) {
	tb.Helper()
	err := pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT seq) FROM `+pgx.Identifier{a.Table()}.Sanitize()+
		` WHERE stream = $1 AND shard = $2`, stream, shard).Scan(&rows, &distinct)
	require.NoError(tb, err)
	return rows, distinct
}

// collect drains seq, failing tb on an error.
func collect(tb testing.TB, seq func(func(shardlog.Record, error) bool)) []shardlog.Record {
	tb.Helper()
	var out []shardlog.Record
	for r, err := range seq {
		require.NoError(tb, err)
		out = append(out, r)
	}
	return out
}

// requireRecords requires got to be want, arrival times compared at
// PostgreSQL's microsecond precision.
func requireRecords(tb testing.TB, want, got []shardlog.Record) {
	tb.Helper()
	require.Len(tb, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		require.Equal(tb, w.SequenceNumber, g.SequenceNumber, "record %d", i)
		require.Equal(tb, w.PartitionKey, g.PartitionKey, "record %d", i)
		require.Equal(tb, w.Data, g.Data, "record %d", i)
		require.True(tb, w.ApproximateArrivalTimestamp.Truncate(time.Microsecond).Equal(g.ApproximateArrivalTimestamp),
			"record %d: arrival %v, want %v", i, g.ApproximateArrivalTimestamp, w.ApproximateArrivalTimestamp)
	}
}

// shardRecords reads every record the log holds of one shard.
func shardRecords(tb testing.TB, l *shardlog.Log, stream, shardID string) []shardlog.Record {
	tb.Helper()
	ctx := context.Background()
	cur, err := l.NewCursor(ctx, shardlog.NewCursorInput{StreamName: stream, ShardID: shardID,
		StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
	require.NoError(tb, err)
	var out []shardlog.Record
	for {
		b, err := cur.Next(ctx, 10000)
		require.NoError(tb, err)
		out = append(out, b.Records...)
		if b.End || len(b.Records) == 0 {
			return out
		}
	}
}

// deliverLog delivers every retained record of every shard of stream to
// a, one batch per shard: what a delivery stream does, flushing once.
func deliverLog(tb testing.TB, a *pgarchive.Archive, l *shardlog.Log, stream string) {
	tb.Helper()
	ctx := context.Background()
	for sh, err := range l.ListShardsAll(ctx, shardlog.ListShardsInput{StreamName: stream}) {
		require.NoError(tb, err)
		recs := shardRecords(tb, l, stream, sh.ShardID)
		require.NoError(tb, a.Deliver(ctx, batchOf(stream, sh, recs)))
	}
}

// Event types of the event-store tests.
type (
	opened    struct{ Owner string }
	deposited struct{ Amount int }
)

func registry(tb testing.TB) *eventstore.Registry {
	tb.Helper()
	reg := eventstore.NewRegistry()
	require.NoError(tb, eventstore.Register[opened](reg, "acct.opened"))
	require.NoError(tb, eventstore.Register[deposited](reg, "acct.deposited"))
	return reg
}
