package tieredtest_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/pgarchive"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/deliverytest"
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
	cfg delivery.Config
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
	return &deliveryRig{cfg: cfg}, holder
}

// catchUp runs a new delivery stream on the configuration (and so the
// checkpoints) until every shard of its source is delivered through the
// last record the log holds (closed shards: to their end), then stops it
// gracefully.
func (r *deliveryRig) catchUp(ctx context.Context) error {
	s, err := delivery.New(r.cfg)
	if err != nil {
		return err
	}
	return deliverytest.RunUntilCaughtUp(ctx, s, 30*time.Second)
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
