package pgarchive_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/pgarchive"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/deliverytest"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// A delivery stream to the archive while PostgreSQL is unreachable (every
// connection closed, no new one can be dialed), then reachable again: the
// checkpoints do not move while it is down, and afterwards every record is
// archived once.
func TestDeliveryStreamPostgreSQLDownThenUp(t *testing.T) {
	ctx := context.Background()
	var down atomic.Bool
	var refused atomic.Int64
	pool := pgtest.PoolWith(t, func(cfg *pgxpool.Config) {
		var d net.Dialer
		cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if down.Load() {
				refused.Add(1)
				return nil, errors.New("connection refused (the test's network is down)")
			}
			return d.DialContext(ctx, network, addr)
		}
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	})
	table := pgtest.UniqueName("shoal_down_")
	pgtest.DropTables(t, pool, table, table+"_shards", table+"_errors")
	a, err := pgarchive.New(ctx, pool, pgarchive.Options{Table: table})
	require.NoError(t, err)

	l, err := shardlog.Open(ctx, memory.New())
	require.NoError(t, err)
	defer l.Close()
	const stream = "down"
	require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: stream, ShardCount: 2}))
	put := func(n int, prefix string) {
		for i := range n {
			_, err := l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: prefix + string(rune('a'+i%8)), Data: []byte(prefix + "-" + string(rune('a'+i%26)))})
			require.NoError(t, err)
		}
	}

	// Down: the pool's connections are closed and none can be dialed.
	down.Store(true)
	pool.Reset()
	cps := projection.NewMemoryStore()
	s, err := delivery.New(delivery.Config{
		Name:        "pg-archive",
		Source:      delivery.Source{Log: l, StreamName: stream, Checkpoints: cps},
		Buffering:   delivery.BufferingHints{Interval: 0, IntervalSet: true},
		Destination: a,
		Retry:       delivery.RetryPolicy{Duration: time.Minute, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, OnExhausted: delivery.Stop},
		Logger:      slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	put(30, "x")
	waitFor(t, func() bool { return refused.Load() >= 10 }, "deliveries refused while PostgreSQL is down")
	put(20, "y")
	waitFor(t, func() bool { return refused.Load() >= 20 }, "more deliveries refused")
	progress, err := cps.Checkpoints(ctx, "pg-archive")
	require.NoError(t, err)
	assert.Empty(t, progress, "no checkpoint moves while the destination is down")
	assert.True(t, s.Status().Running)

	// Up: everything is delivered.
	down.Store(false)
	targets, err := deliverytest.Targets(ctx, l, stream)
	require.NoError(t, err)
	waitFor(t, func() bool { return deliverytest.CaughtUp(s.Status(), targets) }, "delivery after PostgreSQL came back")
	cancel()
	require.NoError(t, <-done)

	total := 0
	for sh, err := range l.ListShardsAll(ctx, shardlog.ListShardsInput{StreamName: stream}) {
		require.NoError(t, err)
		want := shardRecords(t, l, stream, sh.ShardID)
		got := collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: stream, ShardID: sh.ShardID}))
		requireRecords(t, want, got)
		rows, distinct := countRows(t, pool, a, stream, sh.ShardID)
		assert.Equal(t, len(want), rows)
		assert.Equal(t, len(want), distinct)
		total += len(want)
	}
	assert.Equal(t, 50, total)
	var dups int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+pgx.Identifier{table}.Sanitize()+
		` GROUP BY stream, shard, seq HAVING count(*) > 1) d`).Scan(&dups))
	assert.Zero(t, dups)
}

// waitFor polls cond until it holds, failing t after 30 s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A shard that closes while a delivery stream runs is recorded as closed
// in the catalog (CloseShard), even when its last records were delivered
// before it closed.
func TestDeliveryStreamRecordsAShardsEnd(t *testing.T) {
	ctx := context.Background()
	a, _ := newArchive(t, pgarchive.Options{})
	require.Error(t, a.CloseShard(ctx, "", shardlog.Shard{ShardID: "x"}), "bad input is refused")

	l, err := shardlog.Open(ctx, memory.New())
	require.NoError(t, err)
	defer l.Close()
	const stream = "closing"
	require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: stream, ShardCount: 1}))
	for i := range 5 {
		_, err := l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: "k", Data: []byte{byte('a' + i)}})
		require.NoError(t, err)
	}
	s, err := delivery.New(delivery.Config{
		Name:        "closing-archive",
		Source:      delivery.Source{Log: l, StreamName: stream},
		Buffering:   delivery.BufferingHints{Interval: 0, IntervalSet: true},
		Destination: a,
		Logger:      slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	const parent = "shardId-000000000000"
	waitFor(t, func() bool {
		st := s.Status()
		return len(st.Shards) == 1 && st.DeliveredRecords == 5
	}, "the first records")
	require.NoError(t, l.SplitShard(ctx, shardlog.SplitShardInput{StreamName: stream, ShardToSplit: parent, NewStartingHashKey: "170141183460469231731687303715884105728"}))
	waitFor(t, func() bool {
		for _, sh := range s.Status().Shards {
			if sh.ShardID == parent {
				return sh.Done
			}
		}
		return false
	}, "the parent done")
	cancel()
	require.NoError(t, <-done)

	d, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: stream})
	require.NoError(t, err)
	shards, err := a.ArchivedShards(ctx, stream)
	require.NoError(t, err)
	require.NotEmpty(t, shards)
	assert.Equal(t, parent, shards[0].ShardID)
	assert.True(t, shards[0].Closed)
	assert.Equal(t, d.Shards[0].EndingSequenceNumber, shards[0].EndingSequenceNumber)
}
