package tieredtest_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/pgarchive"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/internal/tieredtest"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// The acceptance test with the real archives: a delivery stream writes
// them and holds the log's retention (through its checkpoints), and the
// archive reads them back.

// deliveryArchive is what RunTieredReplay needs: the archive's reads and
// the delivery stream's retention holder.
type deliveryArchive struct {
	eventstore.ShardArchive
	shardlog.RetentionHolder
}

// deliveryRig is a delivery stream's configuration over the test's log;
// catchUp runs it to the end of its source.
type deliveryRig struct {
	log    *shardlog.Log
	stream string
	cfg    delivery.Config
}

func newRig(t *testing.T, log *shardlog.Log, stream string, dest delivery.Destination) (*deliveryRig, *delivery.Stream) {
	cfg := delivery.Config{
		Name:   "tiered-archive",
		Source: delivery.Source{Log: log, StreamName: stream, Checkpoints: projection.NewMemoryStore()},
		// Deliver each read at once: catching up is then quick.
		Buffering:   delivery.BufferingHints{Interval: 0, IntervalSet: true},
		Destination: dest,
		Retry:       delivery.RetryPolicy{Duration: time.Minute, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, OnExhausted: delivery.Stop},
		// The test registers the holder itself, and keeps it registered
		// between catch-ups.
		NoRetentionHold: true,
		RelistInterval:  20 * time.Millisecond,
		Logger:          slog.New(slog.DiscardHandler),
	}
	// The holder: a stream that never runs answers from the checkpoints
	// the running ones save.
	holder, err := delivery.New(cfg)
	require.NoError(t, err)
	return &deliveryRig{log: log, stream: stream, cfg: cfg}, holder
}

// catchUp runs the delivery stream until every shard of its source is
// delivered through the last record the log holds (closed shards: to
// their end), then stops it gracefully.
func (r *deliveryRig) catchUp(ctx context.Context) error {
	targets, err := lastRecords(ctx, r.log, r.stream)
	if err != nil {
		return err
	}
	s, err := delivery.New(r.cfg)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !caughtUp(s.Status(), targets) {
		select {
		case err := <-done:
			return fmt.Errorf("the delivery stream stopped before catching up: %v", err)
		case <-deadline.C:
			return fmt.Errorf("the delivery stream did not catch up in 30 s: %+v, want %+v", s.Status().Shards, targets)
		case <-tick.C:
		}
	}
	cancel()
	return <-done
}

// target is how far a shard must be delivered.
type target struct {
	last   shardlog.SequenceNumber // zero: no record readable
	closed bool
}

// lastRecords reads every shard of stream to find its last record.
func lastRecords(ctx context.Context, log *shardlog.Log, stream string) (map[string]target, error) {
	d, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: stream})
	if err != nil {
		return nil, err
	}
	out := map[string]target{}
	for _, sh := range d.Shards {
		cur, err := log.NewCursor(ctx, shardlog.NewCursorInput{StreamName: stream, ShardID: sh.ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		if err != nil {
			return nil, err
		}
		tg := target{closed: sh.Closed}
		for {
			b, err := cur.Next(ctx, 0)
			if err != nil {
				return nil, err
			}
			if n := len(b.Records); n > 0 {
				tg.last = b.Records[n-1].SequenceNumber
			}
			if b.End || len(b.Records) == 0 {
				break
			}
		}
		out[sh.ShardID] = tg
	}
	return out, nil
}

// caughtUp reports whether st shows every target reached.
func caughtUp(st delivery.Status, targets map[string]target) bool {
	byID := map[string]delivery.ShardStatus{}
	for _, sh := range st.Shards {
		byID[sh.ShardID] = sh
	}
	for id, tg := range targets {
		sh, ok := byID[id]
		switch {
		case tg.closed && !(ok && sh.Done):
			return false
		case !tg.last.IsZero() && (!ok || sh.Checkpoint.Compare(tg.last) < 0 || sh.BufferedRecords > 0):
			return false
		}
	}
	return true
}

// eventsOf opens an event store over the test's stream that decodes its
// events, for the JSON lines format.
func eventsOf(t *testing.T, log *shardlog.Log, stream string) *eventstore.Store {
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[tieredtest.Tick](reg, "tick"))
	es, err := eventstore.Open(t.Context(), log, stream, eventstore.WithRegistry(reg))
	require.NoError(t, err)
	return es
}

func TestTieredReplayObjectArchive(t *testing.T) {
	tieredtest.RunTieredReplay(t, func(t *testing.T, log *shardlog.Log, stream string) (tieredtest.Archive, func(context.Context) error) {
		store, err := delivery.NewDirStore(t.TempDir())
		require.NoError(t, err)
		dest, err := delivery.NewObjectDestination(store, delivery.ObjectOptions{Format: delivery.JSONLines(eventsOf(t, log, stream))})
		require.NoError(t, err)
		archive, err := delivery.NewObjectArchive(store, dest.Options())
		require.NoError(t, err)
		rig, holder := newRig(t, log, stream, dest)
		return deliveryArchive{archive, holder}, rig.catchUp
	})
}

func TestTieredReplayPostgreSQL(t *testing.T) {
	pool := pgtest.Pool(t)
	tieredtest.RunTieredReplay(t, func(t *testing.T, log *shardlog.Log, stream string) (tieredtest.Archive, func(context.Context) error) {
		table := pgtest.UniqueName("shoal_tiered_")
		pgtest.DropTables(t, pool, table, table+"_shards", table+"_errors")
		archive, err := pgarchive.New(t.Context(), pool, pgarchive.Options{Table: table, Events: eventsOf(t, log, stream)})
		require.NoError(t, err)
		rig, holder := newRig(t, log, stream, archive)
		return deliveryArchive{archive, holder}, rig.catchUp
	})
}
