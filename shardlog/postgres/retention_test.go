package postgres

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// TestTrimDropsPartitions: Trim drops whole partitions once every shard
// that has records in them trimmed past them, and reads exclude what is
// trimmed at once, partition dropped or not.
func TestTrimDropsPartitions(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	e := openEngine(t, pool, schema, func(o *Options) { o.PartitionSpan = time.Minute })
	ctx := t.Context()
	_, refs := newStream(t, e, "s", 1, 2)
	_, gone := newStream(t, e, "gone", 2, 1)
	minute := func(m float64) time.Time { return epoch.Add(time.Duration(m * float64(time.Minute))) }
	part := func(m float64) int64 { return e.partitionOf(minute(m).UnixMicro()) }

	// Shard 0 gets a batch of 10 every minute for 10 minutes; shard 1 one
	// batch at minute 0; the stream that is dropped one at minute 1.
	for m := range 10 {
		_, _, err := e.Append(ctx, refs[0], minute(float64(m)), entries("k", 10), nil)
		require.NoError(t, err)
	}
	_, _, err := e.Append(ctx, refs[0], minute(10.5), entries("late", 1), nil)
	require.NoError(t, err)
	_, _, err = e.Append(ctx, refs[1], minute(0), entries("k", 10), nil)
	require.NoError(t, err)
	_, _, err = e.Append(ctx, gone[0], minute(1), entries("k", 10), nil)
	require.NoError(t, err)
	require.NoError(t, e.DropStream(ctx, "gone"))
	e.background.Wait() // the next partition, created ahead, is there

	parts, err := e.partitions(ctx)
	require.NoError(t, err)
	require.Contains(t, parts, part(0))
	require.Contains(t, parts, part(9))
	require.Contains(t, parts, part(10), "the partition after the last append's is created ahead")
	require.Contains(t, parts, part(11), "and, once an append is in the second half of its partition, the one after")

	// Shard 0 trims through minute 5: its reads start there at once, but
	// shard 1 still holds minute 0, so no partition goes (the oldest
	// first, and that one is still needed).
	require.NoError(t, e.Trim(ctx, refs[0], minute(5)))
	parts, err = e.partitions(ctx)
	require.NoError(t, err)
	require.Contains(t, parts, part(0), "shard 1's records keep the partition")
	got := readAll(t, e, refs[0])
	require.Len(t, got, 51)
	require.True(t, got[0].ApproximateArrivalTimestamp.Equal(minute(5)))

	// Shard 1 trims too: minutes 0 to 4 go, as whole partitions; the
	// dropped stream's records, reachable from no shard, held nothing back.
	require.NoError(t, e.Trim(ctx, refs[1], minute(5)))
	parts, err = e.partitions(ctx)
	require.NoError(t, err)
	for m := range 5 {
		require.NotContains(t, parts, part(float64(m)), "minute %d's partition is dropped", m)
	}
	for m := 5; m < 10; m++ {
		require.Contains(t, parts, part(float64(m)), "minute %d's partition stays", m)
	}
	var stored int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema}.Sanitize()+`.records`).Scan(&stored))
	require.Equal(t, 51, stored, "only minutes 5 to 10 are stored")
	require.Empty(t, readAll(t, e, refs[1]))

	// A horizon inside a partition: the partition stays, its older records
	// are invisible to every read.
	require.NoError(t, e.Trim(ctx, refs[0], minute(7.5)))
	parts, err = e.partitions(ctx)
	require.NoError(t, err)
	require.Contains(t, parts, part(7))
	got = readAll(t, e, refs[0])
	require.Len(t, got, 21, "minutes 8 to 10")
	require.True(t, got[0].ApproximateArrivalTimestamp.Equal(minute(8)))
	b, err := e.Bounds(ctx, refs[0])
	require.NoError(t, err)
	require.Equal(t, int64(21), b.Count)
	require.Equal(t, got[0].SequenceNumber, b.First)
	require.Equal(t, got[20].SequenceNumber, b.Last)
	seq, ok, err := e.SeekTime(ctx, refs[0], minute(0))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, got[0].SequenceNumber, seq)
	keyed, err := e.ReadKey(ctx, refs[0], "k", shardlog.SequenceNumber{}, 1000)
	require.NoError(t, err)
	require.Len(t, keyed, 20)
	last, ok, err := e.LastKey(ctx, refs[0], "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, got[19].SequenceNumber, last.SequenceNumber, "the key's last, not the shard's")

	// A conditional append sees the key's latest live record.
	_, _, err = e.Append(ctx, refs[0], minute(11), entries("k", 1), &shardlog.Condition{PartitionKey: "k", Expected: last.SequenceNumber})
	require.NoError(t, err)

	// Appends into a range whose partition was dropped recreate it.
	_, _, err = e.Append(ctx, refs[1], minute(11), entries("k", 1), nil)
	require.NoError(t, err)
	require.Len(t, readAll(t, e, refs[1]), 1)
}

// TestTrimWaitsForNoReader: a partition drop that cannot get its lock in
// time (a transaction holds the records table) is left for later; Trim
// still succeeds and reads still exclude the trimmed records.
func TestTrimSkipsDropWhenBusy(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	e := openEngine(t, pool, schema, func(o *Options) {
		o.PartitionSpan = time.Minute
		o.DropLockTimeout = 50 * time.Millisecond
	})
	ctx := t.Context()
	_, refs := newStream(t, e, "s", 1, 1)
	for m := range 3 {
		_, _, err := e.Append(ctx, refs[0], epoch.Add(time.Duration(m)*time.Minute), entries("k", 5), nil)
		require.NoError(t, err)
	}
	e.background.Wait()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema}.Sanitize()+`.records`)
	require.NoError(t, err)

	require.NoError(t, e.Trim(ctx, refs[0], epoch.Add(2*time.Minute)))
	require.Len(t, readAll(t, e, refs[0]), 5)
	parts, err := e.partitions(ctx)
	require.NoError(t, err)
	require.Contains(t, parts, e.partitionOf(epoch.UnixMicro()), "the drop waited no longer than its lock timeout")

	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, e.Trim(ctx, refs[0], epoch.Add(2*time.Minute)))
	parts, err = e.partitions(ctx)
	require.NoError(t, err)
	require.NotContains(t, parts, e.partitionOf(epoch.UnixMicro()), "the next Trim drops it")
}
