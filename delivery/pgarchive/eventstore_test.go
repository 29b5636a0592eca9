package pgarchive_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/delivery/pgarchive"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
	"github.com/stretchr/testify/require"
)

// openLog opens a memory-engine log on clock (nil: the real one) with
// stream created with shards shards.
func openLog(tb testing.TB, clock *shardlogtest.Clock, stream string, shards int) *shardlog.Log {
	tb.Helper()
	ctx := context.Background()
	var opts []shardlog.Option
	if clock != nil {
		opts = append(opts, shardlog.WithClock(clock.Now), shardlog.WithRetentionInterval(0))
	}
	l, err := shardlog.Open(ctx, memory.New(), opts...)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, l.Close()) })
	require.NoError(tb, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: stream, ShardCount: shards}))
	return l
}

// TestEventColumns: with Options.Events the event columns hold the
// decoded envelope; a record that is no event leaves them NULL.
func TestEventColumns(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, nil, "acct", 1)
	store, err := eventstore.Open(ctx, l, "acct", eventstore.WithRegistry(registry(t)))
	require.NoError(t, err)
	_, err = store.Append(ctx, "acct-1", eventstore.Any, opened{Owner: "ann"}, deposited{Amount: 5})
	require.NoError(t, err)
	_, err = l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "acct", PartitionKey: "raw", Data: []byte("not an event")})
	require.NoError(t, err)
	_, err = store.Append(ctx, "acct-1", eventstore.Exact(2), deposited{Amount: 7})
	require.NoError(t, err)
	events := collectEvents(t, store.Read(ctx, "acct-1", 0))
	require.Len(t, events, 3)

	a, pool := newArchive(t, pgarchive.Options{Events: store})
	deliverLog(t, a, l, "acct")

	type row struct {
		PartitionKey string
		StreamID     *string
		Version      *int64
		Type         *string
		EventID      *string
	}
	rows, err := pool.Query(ctx, `SELECT partition_key, stream_id, version, type, event_id::text FROM `+
		pgx.Identifier{a.Table()}.Sanitize()+` ORDER BY seq`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	require.NoError(t, err)
	require.Len(t, got, 4)
	var evRows []row
	for _, r := range got {
		if r.PartitionKey == "raw" {
			require.Nil(t, r.StreamID)
			require.Nil(t, r.Version)
			require.Nil(t, r.Type)
			require.Nil(t, r.EventID)
			continue
		}
		evRows = append(evRows, r)
	}
	require.Len(t, evRows, 3)
	for i, ev := range events {
		r := evRows[i]
		require.Equal(t, "acct-1", *r.StreamID)
		require.Equal(t, int64(ev.Version), *r.Version)
		require.Equal(t, ev.Type, *r.Type)
		require.Equal(t, ev.ID.String(), *r.EventID)
	}

	// Without Events the columns stay NULL.
	plain, pool := newArchive(t, pgarchive.Options{})
	deliverLog(t, plain, l, "acct")
	var decoded int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(stream_id) FROM `+pgx.Identifier{plain.Table()}.Sanitize()).Scan(&decoded))
	require.Zero(t, decoded)
}

func collectEvents(tb testing.TB, seq func(func(eventstore.Event, error) bool)) []eventstore.Event {
	tb.Helper()
	var out []eventstore.Event
	for ev, err := range seq {
		require.NoError(tb, err)
		out = append(out, ev)
	}
	return out
}

// TestReadKeyAcrossSplit: a key's records come back in the log's order
// across a split, the parent's before the child's, whatever order the
// shards were delivered in; the catalog keeps the lineage.
func TestReadKeyAcrossSplit(t *testing.T) {
	ctx := context.Background()
	clock := shardlogtest.NewClockAt(t0)
	l := openLog(t, clock, "s", 1)
	put := func(key string, n int) {
		for range n {
			_, err := l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: key, Data: []byte(key)})
			require.NoError(t, err)
			clock.Advance(time.Second)
		}
	}
	put("k", 3)
	put("other", 2)
	require.NoError(t, l.SplitShard(ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: "shardId-000000000000",
		NewStartingHashKey: "170141183460469231731687303715884105728"})) // 2^127
	put("k", 3)
	put("other", 2)
	want := collect(t, l.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "k"}))
	require.Len(t, want, 6)
	require.NotEqual(t, want[0].SequenceNumber.ShardID(), want[5].SequenceNumber.ShardID(), "the key moved to a child")

	a, _ := newArchive(t, pgarchive.Options{})
	var shards []shardlog.Shard
	for sh, err := range l.ListShardsAll(ctx, shardlog.ListShardsInput{StreamName: "s"}) {
		require.NoError(t, err)
		shards = append(shards, sh)
	}
	require.Len(t, shards, 3)
	for i := len(shards) - 1; i >= 0; i-- { // children first
		require.NoError(t, a.Deliver(ctx, batchOf("s", shards[i], shardRecords(t, l, "s", shards[i].ShardID))))
	}
	requireRecords(t, want, collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "k"})))
	requireRecords(t, want[2:], collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "k", After: want[1].SequenceNumber})))
	requireRecords(t, want[4:], collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "k", After: want[3].SequenceNumber})))

	archived, err := a.ArchivedShards(ctx, "s")
	require.NoError(t, err)
	require.Equal(t, shards, archived)
	require.True(t, archived[0].Closed)
	require.Equal(t, "shardId-000000000000", archived[1].ParentShardID)
	require.Equal(t, "shardId-000000000000", archived[2].ParentShardID)
}

// TestTieredLoad: an eventstore.Store with the archive loads an aggregate
// whose early events only the archive holds, each event once and in
// order, across a split; without the archive the load reports the gap.
func TestTieredLoad(t *testing.T) {
	ctx := context.Background()
	clock := shardlogtest.NewClockAt(t0)
	l := openLog(t, clock, "acct", 1)
	reg := registry(t)
	store, err := eventstore.Open(ctx, l, "acct", eventstore.WithRegistry(reg))
	require.NoError(t, err)
	a, _ := newArchive(t, pgarchive.Options{Events: store})

	amount := 0
	appendDay := func(n int) {
		for range n {
			for _, id := range []string{"acct-1", "acct-2"} {
				amount++
				_, err := store.Append(ctx, id, eventstore.Any, deposited{Amount: amount})
				require.NoError(t, err)
			}
			clock.Advance(time.Hour)
		}
	}
	// Day 1, delivered at its end (a delivery stream's flush).
	appendDay(12)
	deliverLog(t, a, l, "acct")
	clock.Advance(12 * time.Hour)
	// Day 2: a split, and more events on both sides of it.
	appendDay(6)
	require.NoError(t, l.SplitShard(ctx, shardlog.SplitShardInput{StreamName: "acct", ShardToSplit: "shardId-000000000000",
		NewStartingHashKey: "170141183460469231731687303715884105728"}))
	appendDay(6)
	deliverLog(t, a, l, "acct") // day 1's records again too: no duplicates
	clock.Advance(12 * time.Hour)
	// Day 3: the live log only.
	appendDay(6)
	require.NoError(t, l.EnforceRetention(ctx))

	// Day 1's events are gone from the log.
	bare, err := eventstore.Open(ctx, l, "acct", eventstore.WithRegistry(reg))
	require.NoError(t, err)
	ld, err := bare.Load(ctx, "acct-1", nil)
	require.NoError(t, err)
	var expired *eventstore.ExpiredError
	for _, err := range ld.Events {
		if err != nil {
			require.ErrorAs(t, err, &expired)
			break
		}
	}
	require.NotNil(t, expired, "day 1 expired from the log")

	tiered, err := eventstore.Open(ctx, l, "acct", eventstore.WithRegistry(reg), eventstore.WithArchive(a))
	require.NoError(t, err)
	for k, id := range []string{"acct-1", "acct-2"} {
		ld, err := tiered.Load(ctx, id, nil)
		require.NoError(t, err)
		evs := collectEvents(t, ld.Events)
		require.Len(t, evs, 30, id)
		seen := map[string]bool{}
		for i, ev := range evs {
			require.Equal(t, uint64(i+1), ev.Version, id)
			require.False(t, seen[ev.ID.String()], "%s v%d twice", id, ev.Version)
			seen[ev.ID.String()] = true
			data, err := ev.Data()
			require.NoError(t, err)
			require.Equal(t, deposited{Amount: 2*i + k + 1}, data, "%s v%d", id, ev.Version)
		}
	}
}
