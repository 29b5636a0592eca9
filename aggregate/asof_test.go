package aggregate_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/archivetest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// asOfCounter writes counter "c" with n events (Opened, then Incremented
// by its version), one a minute on a fake clock, resharding after the
// events named in reshard ("split" or "merge").
func asOfCounter(t *testing.T, e *env, clk *fakeClock, repo *aggregate.Repository[Counter], n int, reshard map[int]string) []eventstore.Event {
	t.Helper()
	_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("c") })
	require.NoError(t, err)
	for v := 2; v <= n; v++ {
		if op := reshard[v-1]; op == "split" {
			e.splitShardOf(t, "c")
		} else if op == "merge" {
			e.mergeShardOf(t, "c")
		}
		clk.Advance(time.Minute)
		_, err := repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(1, v, v) })
		require.NoError(t, err)
	}
	evs := e.events(t, "c")
	requireDense(t, evs, n)
	return evs
}

// foldFirst returns counter "c" folded from its first n events, as a
// Load at version n would return it.
func foldFirst(t *testing.T, e *env, n int) counterState {
	t.Helper()
	c, err := Counters.Replay("c", e.eventData(t, "c")[:n]...)
	require.NoError(t, err)
	st := stateOf(c)
	st.StoredVersion = uint64(n)
	return st
}

func TestLoadAsOfEveryVersionAndTime(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		for name, reshard := range map[string]map[int]string{"one shard": nil, "split and merge": {3: "split", 6: "merge"}} {
			t.Run(name, func(t *testing.T) {
				clk := newFakeClock()
				e := newEnv(t, ek, withClock(clk))
				repo := e.repo(t)
				evs := asOfCounter(t, e, clk, repo, 9, reshard)
				if reshard != nil {
					require.NotEqual(t, evs[0].Position.ShardID, evs[8].Position.ShardID)
				}
				for n := 1; n <= 9; n++ {
					want := foldFirst(t, e, n)
					for _, at := range []eventstore.Point{
						eventstore.AtVersion(uint64(n)),
						eventstore.AtTime(evs[n-1].RecordedAt),                       // exactly at: included
						eventstore.AtTime(evs[n-1].RecordedAt.Add(30 * time.Second)), // between: the earlier
					} {
						c, err := repo.LoadAsOf(e.ctx, "c", at)
						require.NoError(t, err, "%s", at)
						require.Equal(t, want, stateOf(c), "%s", at)
						got, ok := c.ReadOnly()
						require.True(t, ok)
						require.Equal(t, at, got)
					}
				}
				live, err := repo.Load(e.ctx, "c")
				require.NoError(t, err)
				_, ok := live.ReadOnly()
				require.False(t, ok)
			})
		}
	})
}

func TestLoadAsOfIsReadOnly(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		clk := newFakeClock()
		e := newEnv(t, ek, withClock(clk))
		repo := e.repo(t)
		asOfCounter(t, e, clk, repo, 3, nil)
		at := eventstore.AtVersion(2)
		c, err := repo.LoadAsOf(e.ctx, "c", at)
		require.NoError(t, err)
		before := stateOf(c)

		// Record changes nothing, and Save refuses.
		require.NoError(t, c.Inc(9, 9, 9))
		require.Equal(t, before, stateOf(c))
		requireReadOnly(t, c.Err(), at, 2)
		_, err = repo.Save(e.ctx, c)
		requireReadOnly(t, err, at, 2)
		require.Contains(t, err.Error(), `aggregate counter "c" was loaded as of version 2 (at version 2) and is read-only`)
		// Even with nothing recorded.
		c2, err := repo.LoadAsOf(e.ctx, "c", eventstore.AtTime(clk.Now()))
		require.NoError(t, err)
		_, err = repo.Save(e.ctx, c2)
		requireReadOnly(t, err, eventstore.AtTime(clk.Now()), 3)
		require.Equal(t, uint64(3), e.version(t, "c"), "nothing was written")

		// The live aggregate is not affected.
		_, err = repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(1, 4, 4) })
		require.NoError(t, err)
		require.Equal(t, uint64(4), e.version(t, "c"))
	})
}

func requireReadOnly(t *testing.T, err error, at eventstore.Point, version uint64) {
	t.Helper()
	require.ErrorIs(t, err, aggregate.ErrReadOnly)
	var ro *aggregate.ReadOnlyError
	require.True(t, errors.As(err, &ro), "%v", err)
	require.Equal(t, aggregate.ReadOnlyError{Aggregate: "counter", ID: "c", At: at, Version: version}, *ro)
}

// TestLoadAsOfSnapshots: a snapshot after the point is ignored (the
// events are replayed), one at or before it is used.
func TestLoadAsOfSnapshots(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		clk := newFakeClock()
		snaps := eventstore.NewMemorySnapshots()
		e := newEnv(t, ek, withClock(clk), withSnapshotStore(snaps))
		repo := e.repo(t, aggregate.WithSnapshotEvery(6))
		evs := asOfCounter(t, e, clk, repo, 8, nil)
		require.Equal(t, uint64(6), snapshotVersion(t, snaps, "c"))
		for n := 1; n <= 8; n++ {
			want := foldFirst(t, e, n)
			applied := n // replayed from version 1
			if n >= 6 {
				applied = n - 6 // after the snapshot
			}
			for _, at := range []eventstore.Point{eventstore.AtVersion(uint64(n)), eventstore.AtTime(evs[n-1].RecordedAt)} {
				c, err := repo.LoadAsOf(e.ctx, "c", at)
				require.NoError(t, err)
				require.Equal(t, want, stateOf(c), "%s", at)
				require.Equal(t, applied, c.Applied(), "%s: events applied", at)
			}
		}
	})
}

func TestLoadAsOfErrors(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		clk := newFakeClock()
		e := newEnv(t, ek, withClock(clk))
		repo := e.repo(t)
		evs := asOfCounter(t, e, clk, repo, 3, nil)
		ctx := e.ctx

		for _, at := range []eventstore.Point{eventstore.AtVersion(1), eventstore.AtTime(clk.Now())} {
			_, err := repo.LoadAsOf(ctx, "nobody", at)
			require.ErrorIs(t, err, eventstore.ErrStreamNotFound, "%s", at)
		}
		_, err := repo.LoadAsOf(ctx, "c", eventstore.AtTime(evs[0].RecordedAt.Add(-time.Second)))
		require.ErrorIs(t, err, eventstore.ErrStreamNotFound)

		_, err = repo.LoadAsOf(ctx, "c", eventstore.AtVersion(4))
		require.ErrorIs(t, err, eventstore.ErrVersionNotFound)
		var vnf *eventstore.VersionNotFoundError
		require.True(t, errors.As(err, &vnf))
		require.Equal(t, eventstore.VersionNotFoundError{StreamID: "c", Requested: 4, Current: 3}, *vnf)

		for _, at := range []eventstore.Point{{}, eventstore.AtTime(time.Time{})} {
			_, err = repo.LoadAsOf(ctx, "c", at)
			var ae *shardlog.ArgumentError
			require.True(t, errors.As(err, &ae), "%v", err)
			require.Equal(t, "at", ae.Field)
		}
	})
}

// TestLoadAsOfPastRetention: events past the log's retention come from
// the archive; without one, an *ExpiredError, never partial state.
func TestLoadAsOfPastRetention(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		clk := newFakeClock()
		e := newEnv(t, ek, withClock(clk))
		repo := e.repo(t)
		evs := asOfCounter(t, e, clk, repo, 4, nil)
		wants := make([]counterState, 5)
		for n := 1; n <= 4; n++ {
			wants[n] = foldFirst(t, e, n)
		}
		arch := archivetest.New()
		require.NoError(t, arch.CatchUp(e.ctx, e.log, streamName))
		// Versions 1 and 2 expire.
		clk.Advance(shardlog.DefaultRetentionHours*time.Hour - 90*time.Second)
		require.NoError(t, e.log.EnforceRetention(e.ctx))

		tiered, err := eventstore.Open(e.ctx, e.log, streamName, eventstore.WithRegistry(e.store.Registry()), eventstore.WithArchive(arch))
		require.NoError(t, err)
		trepo, err := aggregate.NewRepository(tiered, Counters)
		require.NoError(t, err)
		for n := 1; n <= 4; n++ {
			want := wants[n]
			for _, at := range []eventstore.Point{eventstore.AtVersion(uint64(n)), eventstore.AtTime(evs[n-1].RecordedAt)} {
				c, err := trepo.LoadAsOf(e.ctx, "c", at)
				require.NoError(t, err, "%s", at)
				require.Equal(t, want, stateOf(c), "%s", at)
			}
			for _, at := range []eventstore.Point{eventstore.AtVersion(uint64(n)), eventstore.AtTime(evs[n-1].RecordedAt)} {
				c, err := repo.LoadAsOf(e.ctx, "c", at)
				require.Nil(t, c)
				require.ErrorIs(t, err, eventstore.ErrEventsExpired, "%s", at)
				var xe *eventstore.ExpiredError
				require.True(t, errors.As(err, &xe))
				require.Equal(t, eventstore.ExpiredError{StreamID: "c", From: 1, To: 2}, *xe)
			}
		}
	})
}
