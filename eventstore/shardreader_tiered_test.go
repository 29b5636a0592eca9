package eventstore_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/archivetest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
	"github.com/stretchr/testify/require"
)

// tiered is a one-shard log with a fake clock, a store with an archive
// (archivetest) and one without.
type tiered struct {
	t     *testing.T
	ctx   context.Context
	clock *shardlogtest.Clock
	log   *shardlog.Log
	arch  *archivetest.Archive
	store *eventstore.Store // with the archive
	plain *eventstore.Store
}

func newTiered(t *testing.T, shards int) *tiered {
	ctx := t.Context()
	clock := shardlogtest.NewClock()
	l, err := shardlog.Open(ctx, memory.New(), shardlog.WithClock(clock.Now), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "tiers", ShardCount: shards}))
	arch := archivetest.New()
	open := func(opts ...eventstore.Option) *eventstore.Store {
		s, err := eventstore.Open(ctx, l, "tiers", append([]eventstore.Option{eventstore.WithRegistry(newRegistry(t))}, opts...)...)
		require.NoError(t, err)
		return s
	}
	return &tiered{t: t, ctx: ctx, clock: clock, log: l, arch: arch, store: open(eventstore.WithArchive(arch)), plain: open()}
}

// deposit appends n deposits to stream "acct", one event each.
func (x *tiered) deposit(n int) {
	for range n {
		_, err := x.store.Append(x.ctx, "acct", eventstore.Any, deposited{Amount: 1})
		require.NoError(x.t, err)
	}
}

func (x *tiered) catchUp() { require.NoError(x.t, x.arch.CatchUp(x.ctx, x.log, "tiers")) }

func (x *tiered) expire(d time.Duration) {
	x.clock.Advance(d)
	require.NoError(x.t, x.log.EnforceRetention(x.ctx))
}

func (x *tiered) onlyShard() string {
	shards, err := x.plain.Shards(x.ctx)
	require.NoError(x.t, err)
	require.Len(x.t, shards, 1)
	return shards[0].ShardID
}

// drain reads the shard to its current end in batches of limit, and
// returns the versions read, and whether any batch reported an expired gap.
func drain(t *testing.T, rd *eventstore.ShardReader, limit int) (vs []uint64, gap bool, last eventstore.ShardBatch) {
	t.Helper()
	for {
		b, err := rd.Next(t.Context(), limit)
		require.NoError(t, err)
		require.LessOrEqual(t, len(b.Events), limit)
		gap = gap || b.ExpiredGap
		vs = append(vs, versions(b.Events)...)
		if b.End || len(b.Events) == 0 {
			return vs, gap, b
		}
	}
}

func TestTieredShardReaderHandsOffAtTheTrimHorizon(t *testing.T) {
	x := newTiered(t, 1)
	x.deposit(5) // v1-5 at t0
	x.catchUp()
	x.clock.Advance(12 * time.Hour)
	x.deposit(5) // v6-10 at t0+12h, not archived
	x.expire(13 * time.Hour)
	shard := x.onlyShard()

	rd, err := x.plain.ReadShard(x.ctx, shard, shardlog.SequenceNumber{})
	require.NoError(t, err)
	vs, _, _ := drain(t, rd, 3)
	require.Equal(t, span(6, 10), vs, "without an archive, the log's retained events only")

	for _, limit := range []int{1, 3, 5, 100} {
		rd, err := x.store.ReadShard(x.ctx, shard, shardlog.SequenceNumber{})
		require.NoError(t, err)
		vs, gap, _ := drain(t, rd, limit)
		require.Equal(t, span(1, 10), vs, "limit %d: archived then live, each once", limit)
		require.False(t, gap)
	}
	// From a position inside the archived range, and at its last record.
	evs := mustReadAll(t, x.store.Read(x.ctx, "acct", 0))
	for after, want := range map[int][]uint64{2: span(4, 10), 5: span(6, 10), 7: span(8, 10)} {
		rd, err := x.store.ReadShard(x.ctx, shard, evs[after-1].Position.SequenceNumber)
		require.NoError(t, err)
		vs, gap, _ := drain(t, rd, 2)
		// after=2 is v2, so the read starts at v3.
		if after == 2 {
			want = span(3, 10)
		}
		require.Equal(t, want, vs, "after v%d", after)
		require.False(t, gap)
	}
}

func TestTieredShardReaderReturnsToTheArchiveWhenTrimmingOvertakesIt(t *testing.T) {
	x := newTiered(t, 1)
	x.deposit(3) // v1-3 at t0
	x.clock.Advance(time.Hour)
	x.deposit(2) // v4-5 at t0+1h
	x.catchUp()
	x.clock.Advance(11 * time.Hour)
	x.deposit(5) // v6-10 at t0+12h
	shard := x.onlyShard()

	rd, err := x.store.ReadShard(x.ctx, shard, shardlog.SequenceNumber{})
	require.NoError(t, err)
	b, err := rd.Next(x.ctx, 3)
	require.NoError(t, err)
	require.Equal(t, span(1, 3), versions(b.Events), "all retained: the log serves them")

	// v4 and v5 expire under the reader; the archive has them.
	x.expire(14 * time.Hour)
	vs, gap, _ := drain(t, rd, 3)
	require.Equal(t, span(4, 10), vs)
	require.False(t, gap, "the archive covered what the log lost")
}

func TestTieredShardReaderReportsAGapTheArchiveCannotCover(t *testing.T) {
	x := newTiered(t, 1)
	x.deposit(5)
	x.clock.Advance(12 * time.Hour)
	x.deposit(5)
	shard := x.onlyShard()
	evs := mustReadAll(t, x.store.Read(x.ctx, "acct", 0))
	x.expire(13 * time.Hour) // v1-5 expire, archived nowhere

	rd, err := x.store.ReadShard(x.ctx, shard, evs[1].Position.SequenceNumber)
	require.NoError(t, err)
	vs, gap, _ := drain(t, rd, 100)
	require.Equal(t, span(6, 10), vs)
	require.True(t, gap, "v3-5 are lost: the archive has nothing after the position")

	rd, err = x.store.ReadShard(x.ctx, shard, shardlog.SequenceNumber{})
	require.NoError(t, err)
	vs, gap, _ = drain(t, rd, 100)
	require.Equal(t, span(6, 10), vs)
	require.False(t, gap, "a read from the trim horizon asked for nothing it missed")
}

func TestTieredShardsListArchiveOnlyShards(t *testing.T) {
	x := newTiered(t, 1)
	x.deposit(4) // v1-4 in the parent
	parent := x.onlyShard()
	shards, err := x.plain.Shards(x.ctx)
	require.NoError(t, err)
	lo, _ := new(big.Int).SetString(shards[0].HashKeyRange.StartingHashKey.String(), 10)
	hi, _ := new(big.Int).SetString(shards[0].HashKeyRange.EndingHashKey.String(), 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
	require.NoError(t, x.log.SplitShard(x.ctx, shardlog.SplitShardInput{StreamName: "tiers", ShardToSplit: parent, NewStartingHashKey: mid.String()}))
	x.clock.Advance(time.Hour)
	x.deposit(2) // v5-6 in a child
	x.catchUp()
	x.expire(24*time.Hour - time.Minute) // the parent's records expire, the child's not

	live, err := x.plain.Shards(x.ctx)
	require.NoError(t, err)
	require.Len(t, live, 2, "retention dropped the parent")
	all, err := x.store.Shards(x.ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.Equal(t, parent, all[0].ShardID)
	require.True(t, all[0].Closed, "an archive-only shard is closed")
	ready := shardlog.ReadyShards(all, func(string) bool { return false })
	require.Len(t, ready, 1, "the children wait for their archived parent")
	require.Equal(t, parent, ready[0].ShardID)

	rd, err := x.store.ReadShard(x.ctx, parent, shardlog.SequenceNumber{})
	require.NoError(t, err)
	require.NoError(t, rd.Wait(x.ctx), "an archived shard never blocks")
	vs, gap, end := drain(t, rd, 3)
	require.Equal(t, span(1, 4), vs)
	require.False(t, gap)
	require.True(t, end.End)
	var children []string
	for _, c := range end.ChildShards {
		children = append(children, c.ShardID)
		require.Equal(t, []string{parent}, c.ParentShards)
	}
	require.ElementsMatch(t, []string{live[0].ShardID, live[1].ShardID}, children)
	b, err := rd.Next(x.ctx, 3)
	require.NoError(t, err)
	require.True(t, b.End, "the end stays the end")
	require.Empty(t, b.Events)

	_, err = x.plain.ReadShard(x.ctx, parent, shardlog.SequenceNumber{})
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "without an archive the shard is gone")
	_, err = x.store.ReadShard(x.ctx, "shardId-000000000042", shardlog.SequenceNumber{})
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound)

	// A subscription replays it all, parents first.
	sub, err := x.store.Subscribe(eventstore.SubscribeOptions{CatchUpOnly: true})
	require.NoError(t, err)
	evs, err := readAll(t, sub.Events(x.ctx))
	require.NoError(t, err)
	require.Equal(t, span(1, 6), versions(evs))
	require.True(t, sub.Checkpoint().Shards[parent].Done)
}

func TestTieredShardReaderFollowsAShardRetentionDrops(t *testing.T) {
	x := newTiered(t, 1)
	x.deposit(4) // v1-4 in the parent
	parent := x.onlyShard()
	shards, err := x.plain.Shards(x.ctx)
	require.NoError(t, err)
	lo, _ := new(big.Int).SetString(shards[0].HashKeyRange.StartingHashKey.String(), 10)
	hi, _ := new(big.Int).SetString(shards[0].HashKeyRange.EndingHashKey.String(), 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
	require.NoError(t, x.log.SplitShard(x.ctx, shardlog.SplitShardInput{StreamName: "tiers", ShardToSplit: parent, NewStartingHashKey: mid.String()}))
	x.catchUp()

	rd, err := x.store.ReadShard(x.ctx, parent, shardlog.SequenceNumber{})
	require.NoError(t, err)
	b, err := rd.Next(x.ctx, 2)
	require.NoError(t, err)
	require.Equal(t, span(1, 2), versions(b.Events))

	// The parent expires and retention drops it under the reader.
	x.expire(25 * time.Hour)
	live, err := x.plain.Shards(x.ctx)
	require.NoError(t, err)
	require.Len(t, live, 2)
	vs, gap, end := drain(t, rd, 2)
	require.Equal(t, span(3, 4), vs, "the archive holds the rest")
	require.False(t, gap)
	require.True(t, end.End)
	require.Len(t, end.ChildShards, 2)
}
