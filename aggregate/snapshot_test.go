package aggregate_test

import (
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/testlog"
	"github.com/stretchr/testify/require"
)

// incBy loads id, records n increments and saves them in one append.
func incBy(t *testing.T, e *env, repo *aggregate.Repository[Counter], id string, n int) (*Counter, eventstore.AppendResult) {
	t.Helper()
	c, err := repo.Load(e.ctx, id)
	require.NoError(t, err)
	for range n {
		require.NoError(t, c.Inc(0, int(c.Version()), 1))
	}
	res, err := repo.Save(e.ctx, c)
	require.NoError(t, err)
	return c, res
}

func TestSnapshotEveryTakesSnapshotsAtMultiples(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		snaps := newCountingSnapshots()
		e := newEnv(t, ek, withSnapshotStore(snaps))
		repo := e.repo(t, aggregate.WithSnapshotEvery(3))
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		require.Zero(t, snapshotVersion(t, snaps, "c"), "v1")

		steps := []struct {
			events   int
			snapshot uint64 // the snapshot's version after the save
		}{
			{1, 0},  // v2
			{1, 3},  // v3: a multiple
			{1, 3},  // v4
			{7, 11}, // v5-v11 cross 6 and 9: one snapshot, of the state at 11
			{1, 12}, // v12
			{1, 12}, // v13
			{2, 15}, // v14-v15
		}
		for _, st := range steps {
			c, res := incBy(t, e, repo, "c", st.events)
			require.Equal(t, st.snapshot, snapshotVersion(t, snaps, "c"), "after saving up to v%d", res.LastVersion)
			if st.snapshot != res.LastVersion {
				continue
			}
			sn, ok, err := snaps.LoadSnapshot(e.ctx, "c")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "c", sn.StreamID)
			require.Equal(t, "counter", sn.Type)
			require.Equal(t, uint32(1), sn.SchemaVersion)
			require.Equal(t, res.Last, sn.Position, "the position of the last event folded in")
			require.WithinDuration(t, time.Now(), sn.TakenAt, time.Minute)
			var state Counter
			require.NoError(t, e.store.Codec().Unmarshal(sn.Data, &state))
			require.Equal(t, c.N, state.N)
			require.Equal(t, c.Name, state.Name)
			require.Equal(t, c.Seen, state.Seen)
		}
		require.Equal(t, int64(4), snaps.saves.Load(), "a snapshot only when a multiple of 3 is crossed")
	})
}

func TestSnapshotWhenCustomPolicy(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		snaps := newCountingSnapshots()
		e := newEnv(t, ek, withSnapshotStore(snaps))
		type call struct {
			Before, After uint64
			N             int
			Stored        uint64
			Pending       int
		}
		var calls []call
		repo := e.repo(t, aggregate.WithSnapshotWhen(func(c *Counter, before, after uint64) bool {
			calls = append(calls, call{before, after, c.N, c.StoredVersion(), len(c.Pending())})
			return after-before >= 3 // big commands
		}))

		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		incBy(t, e, repo, "c", 1)
		require.Zero(t, snaps.saves.Load())
		c, _ := incBy(t, e, repo, "c", 3)
		require.Equal(t, uint64(5), snapshotVersion(t, snaps, "c"))

		// No call for a Save with nothing to save, nor for a failed one.
		_, err = repo.Save(e.ctx, c)
		require.NoError(t, err)
		stale, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		incBy(t, e, repo, "c", 1)
		require.NoError(t, stale.Inc(1, 1, 1))
		_, err = repo.Save(e.ctx, stale)
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)

		require.Equal(t, []call{
			{0, 1, 0, 1, 0},
			{1, 2, 1, 2, 0},
			{2, 5, 4, 5, 0}, // the policy sees the state as saved
			{5, 6, 5, 6, 0},
		}, calls)
		require.Equal(t, int64(1), snaps.saves.Load())
		require.Equal(t, uint64(5), snapshotVersion(t, snaps, "c"))
	})
}

func TestSnapshotEveryAndWhenCombine(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		snaps := newCountingSnapshots()
		e := newEnv(t, ek, withSnapshotStore(snaps))
		repo := e.repo(t,
			aggregate.WithSnapshotWhen(func(c *Counter, before, after uint64) bool { return after-before >= 5 }),
			aggregate.WithSnapshotEvery(10))
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		incBy(t, e, repo, "c", 5) // v2-v6: the custom policy
		require.Equal(t, uint64(6), snapshotVersion(t, snaps, "c"))
		for range 3 {
			incBy(t, e, repo, "c", 1) // v7-v9
		}
		require.Equal(t, uint64(6), snapshotVersion(t, snaps, "c"))
		incBy(t, e, repo, "c", 1) // v10: every 10
		require.Equal(t, uint64(10), snapshotVersion(t, snaps, "c"))
		incBy(t, e, repo, "c", 1)
		require.Equal(t, int64(2), snaps.saves.Load())
	})
}

func TestLoadStartsFromTheSnapshot(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		snaps := newCountingSnapshots()
		e := newEnv(t, ek, withSnapshotStore(snaps))
		repo := e.repo(t, aggregate.WithSnapshotEvery(10))
		for _, id := range []string{"tail", "exact"} {
			_, err := repo.Create(e.ctx, id, func(c *Counter) error { return c.Open(id) })
			require.NoError(t, err)
		}
		for i := range 11 {
			_, err := repo.Update(e.ctx, "tail", func(c *Counter) error { return c.Inc(0, i, i+1) })
			require.NoError(t, err)
		}
		for i := range 9 {
			_, err := repo.Update(e.ctx, "exact", func(c *Counter) error { return c.Inc(0, i, i+1) })
			require.NoError(t, err)
		}
		require.Equal(t, uint64(10), snapshotVersion(t, snaps, "tail"))
		require.Equal(t, uint64(10), snapshotVersion(t, snaps, "exact"))

		for id, want := range map[string]struct {
			version uint64
			applied int
		}{"tail": {12, 2}, "exact": {10, 0}} {
			loads := snaps.loads.Load()
			c, err := repo.Load(e.ctx, id)
			require.NoError(t, err)
			require.Greater(t, snaps.loads.Load(), loads, "Load asks the snapshot store")
			require.Equal(t, want.applied, c.Applied(), "%s: only the events after the snapshot are applied", id)
			require.Equal(t, want.version, c.Version())
			require.Equal(t, stateOf(e.replay(t, id)), stateOf(c), "%s: the same state as a full replay", id)
		}

		// A snapshot-loaded aggregate saves with the right expected version.
		c, err := repo.Update(e.ctx, "exact", func(c *Counter) error { return c.Inc(0, 99, 1) })
		require.NoError(t, err)
		require.Equal(t, uint64(11), c.StoredVersion())
		requireDense(t, e.events(t, "exact"), 11)
	})
}

func TestSnapshotSchemaChangeReplaysFromEvents(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		snaps := newCountingSnapshots()
		e := newEnv(t, ek, withSnapshotStore(snaps))
		v1 := e.repo(t, aggregate.WithSnapshotEvery(5))
		_, err := v1.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		for i := range 5 {
			_, err := v1.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(0, i, 1) })
			require.NoError(t, err)
		}
		c, err := v1.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, 1, c.Applied(), "schema 1 uses its snapshot at v5")

		// A Type of another name ignores it.
		other, err := aggregate.NewRepository(e.store, defineCounters("counter-report"))
		require.NoError(t, err)
		c, err = other.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, 6, c.Applied(), "a snapshot of type counter is not one of counter-report")

		v2, err := aggregate.NewRepository(e.store, defineCounters("counter", aggregate.SnapshotSchema[Counter](2)), aggregate.WithSnapshotEvery(5))
		require.NoError(t, err)
		c, err = v2.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, 6, c.Applied(), "schema 2 ignores the schema 1 snapshot and replays")
		require.Equal(t, stateOf(e.replay(t, "c")), stateOf(c))

		for i := range 4 {
			_, err := v2.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(1, i, 1) })
			require.NoError(t, err)
		}
		sn, ok, err := snaps.LoadSnapshot(e.ctx, "c")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, uint32(2), sn.SchemaVersion)
		require.Equal(t, uint64(10), sn.Version)
		c, err = v2.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, 0, c.Applied())
		c, err = v1.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, 10, c.Applied(), "schema 1 now ignores the schema 2 snapshot")
		require.Equal(t, stateOf(e.replay(t, "c")), stateOf(c))
	})
}

// A snapshot of the right type and schema that does not decode is logged
// and skipped: the aggregate is replayed from its events.
func TestUndecodableSnapshotIsReplayed(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		snaps := eventstore.NewMemorySnapshots()
		e := newEnv(t, ek, withSnapshotStore(snaps))
		repo := e.repo(t, aggregate.WithSnapshotEvery(100))
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		last, err := e.store.Last(e.ctx, "c")
		require.NoError(t, err)
		require.NoError(t, snaps.SaveSnapshot(e.ctx, eventstore.Snapshot{
			StreamID: "c", Version: 1, Position: last.Position, Type: "counter", SchemaVersion: 1,
			Data: []byte{0xc1}, // never used in MessagePack
		}))
		c, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, uint64(1), c.Version())
		require.Equal(t, 1, c.Applied(), "the event was replayed, not taken from the snapshot")
		require.Equal(t, stateOf(e.replay(t, "c")), stateOf(c))
	})
}

// refuseStateCodec encodes events but not Counter states.
type refuseStateCodec struct{ eventstore.Codec }

var errNoState = errors.New("cannot encode state")

func (c refuseStateCodec) Marshal(v any) ([]byte, error) {
	if _, ok := v.(*Counter); ok {
		return nil, errNoState
	}
	return c.Codec.Marshal(v)
}

func TestSnapshotFailureIsLoggedAndSaveSucceeds(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		t.Run("snapshot store fails", func(t *testing.T) {
			failing := &failingSnapshots{}
			e := newEnv(t, ek, withSnapshotStore(failing))
			var logs testlog.Buffer
			repo := e.repo(t, aggregate.WithSnapshotEvery(2), aggregate.WithLogger(logs.Logger(slog.LevelDebug)))
			_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
			require.NoError(t, err)
			require.Empty(t, logs.String())

			c, err := repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(0, 1, 1) })
			require.NoError(t, err, "the events are saved although the snapshot is not")
			require.Equal(t, uint64(2), c.StoredVersion())
			require.Equal(t, int64(1), failing.saves.Load())
			out := logs.String()
			for _, want := range []string{"level=WARN", "aggregate: snapshot failed", "aggregate=counter", "id=c", "version=2", errSnapshotDisk.Error()} {
				require.Contains(t, out, want)
			}
			require.Equal(t, 1, strings.Count(out, "\n"), "one line per failed snapshot:\n%s", out)

			c, err = repo.Load(e.ctx, "c")
			require.NoError(t, err)
			require.Equal(t, 2, c.Applied())
			require.Equal(t, 1, c.N)
		})

		t.Run("state does not encode", func(t *testing.T) {
			snaps := eventstore.NewMemorySnapshots()
			eng := newEnv(t, ek)
			store, err := eventstore.Open(eng.ctx, eng.log, "other",
				eventstore.WithCodec(refuseStateCodec{eventstore.Msgpack()}),
				eventstore.WithSnapshots(snaps),
				eventstore.WithCreateIfMissing(eng.cfgCreate()))
			require.NoError(t, err)
			var logs testlog.Buffer
			repo, err := aggregate.NewRepository(store, Counters, aggregate.WithSnapshotEvery(1), aggregate.WithLogger(logs.Logger(slog.LevelDebug)))
			require.NoError(t, err)
			_, err = repo.Create(eng.ctx, "c", func(c *Counter) error { return c.Open("ann") })
			require.NoError(t, err)
			require.Contains(t, logs.String(), errNoState.Error())
			require.Zero(t, snapshotVersion(t, snaps, "c"))
			c, err := repo.Load(eng.ctx, "c")
			require.NoError(t, err)
			require.Equal(t, "ann", c.Name)
		})
	})
}

// Snapshots hold the state's exported fields only (the codec's rules):
// an unexported field is not restored by a Load that starts from a
// snapshot, and holds only what the events after the snapshot set.
func TestSnapshot_UnexportedStateFieldsAreNotSnapshotted_LoadRestoresOnlyExportedState(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		snaps := newCountingSnapshots()
		e := newEnv(t, ek, withSnapshotStore(snaps))
		repo := e.repo(t, aggregate.WithSnapshotEvery(4))
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		for i := range 4 {
			_, err := repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(0, i, 1) })
			require.NoError(t, err)
		}
		sn, ok, err := snaps.LoadSnapshot(e.ctx, "c")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, uint64(4), sn.Version)
		var fields map[string]any
		require.NoError(t, e.store.Codec().Unmarshal(sn.Data, &fields))
		keys := slices.Sorted(maps.Keys(fields))
		require.Equal(t, []string{"N", "Name", "Seen"}, keys, "no unexported field, and nothing of Base")

		loaded, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		replayed := e.replay(t, "c")
		require.Equal(t, stateOf(replayed), stateOf(loaded), "the exported state is the same")
		require.Equal(t, 5, replayed.Applied())
		require.Equal(t, 1, loaded.Applied(), "the unexported field restarts from zero at the snapshot")
	})
}

// ---------------------------------------------------------------------------
// Retention.

func TestRetentionWithoutSnapshotLoadFailsWithEventsExpired(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		clock := newFakeClock()
		e := newEnv(t, ek, withClock(clock))
		repo := e.repo(t)
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		for i := range 2 {
			_, err := repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(0, i, 1) })
			require.NoError(t, err)
		}
		clock.Advance(20 * time.Hour)
		for i := range 2 {
			_, err := repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(1, i, 1) })
			require.NoError(t, err)
		}
		c, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, uint64(5), c.Version())

		clock.Advance(5 * time.Hour) // v1-v3 are 25 hours old: past the default 24
		require.NoError(t, e.log.EnforceRetention(e.ctx))
		c, err = repo.Load(e.ctx, "c")
		require.ErrorIs(t, err, eventstore.ErrEventsExpired)
		require.Nil(t, c, "never partial state")
		var expired *eventstore.ExpiredError
		require.ErrorAs(t, err, &expired)
		require.Equal(t, eventstore.ExpiredError{StreamID: "c", From: 1, To: 3}, *expired)

		ran := false
		_, err = repo.Update(e.ctx, "c", func(c *Counter) error { ran = true; return nil })
		require.ErrorIs(t, err, eventstore.ErrEventsExpired)
		require.False(t, ran)

		// Once every event expired, nothing in the log says the stream
		// existed: Load reports it missing (still no partial state).
		clock.Advance(24 * time.Hour)
		_, err = repo.Load(e.ctx, "c")
		require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
	})
}

func TestRetentionWithSnapshotLoadsAndUpdates(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		clock := newFakeClock()
		snaps := newCountingSnapshots()
		e := newEnv(t, ek, withClock(clock), withSnapshotStore(snaps))
		repo := e.repo(t, aggregate.WithSnapshotEvery(3))
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		for i := range 2 {
			_, err := repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(0, i, 1) })
			require.NoError(t, err)
		}
		require.Equal(t, uint64(3), snapshotVersion(t, snaps, "c"))
		clock.Advance(20 * time.Hour)
		for i := range 2 {
			_, err := repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(1, i, 10) })
			require.NoError(t, err)
		}
		require.Equal(t, uint64(3), snapshotVersion(t, snaps, "c"))

		// v1-v3 expire; the snapshot at v3 covers them.
		clock.Advance(5 * time.Hour)
		require.NoError(t, e.log.EnforceRetention(e.ctx))
		c, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, counterState{ID: "c", Version: 5, StoredVersion: 5, Name: "ann", N: 22,
			Seen: map[string]int{"0/0": 1, "0/1": 1, "1/0": 1, "1/1": 1}}, stateOf(c))
		require.Equal(t, 2, c.Applied())

		c, err = repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(2, 0, 100) })
		require.NoError(t, err)
		require.Equal(t, uint64(6), c.StoredVersion())
		require.Equal(t, uint64(6), snapshotVersion(t, snaps, "c"))

		// Every event expires; the snapshot at v6 carries the version.
		clock.Advance(25 * time.Hour)
		require.NoError(t, e.log.EnforceRetention(e.ctx))
		require.Equal(t, uint64(6), e.version(t, "c"))
		c, err = repo.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, uint64(6), c.Version())
		require.Equal(t, 122, c.N)
		require.Equal(t, 0, c.Applied())

		_, err = repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("imposter") })
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion, "the stream still exists")

		c, err = repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(3, 0, 1000) })
		require.NoError(t, err, "the expected version comes from the snapshot")
		require.Equal(t, uint64(7), c.StoredVersion())
		c, err = repo.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, uint64(7), c.Version())
		require.Equal(t, 1122, c.N)
		require.Equal(t, 1, c.Applied())

		// A stale writer that loaded before the last Update still conflicts.
		stale, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		_, err = repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(3, 1, 1) })
		require.NoError(t, err)
		require.NoError(t, stale.Inc(4, 0, 1))
		_, err = repo.Save(e.ctx, stale)
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
	})
}

// A snapshot from another history (the log's stream was deleted and made
// again under the same name) is contradicted by the log: Load replays the
// events instead of skipping them.
func TestSnapshotFromAnotherHistoryIsReplayed(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		snaps := eventstore.NewMemorySnapshots()
		e := newEnv(t, ek, withSnapshotStore(snaps))
		repo := e.repo(t)
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		for i := range 3 {
			_, err = repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(0, i, 1) })
			require.NoError(t, err)
		}
		// A stale snapshot at version 10 whose position is before every
		// event of the current history.
		stale := eventstore.Snapshot{StreamID: "c", Version: 10, Type: "counter", SchemaVersion: 1, Data: []byte{0x80}}
		require.NoError(t, snaps.SaveSnapshot(e.ctx, stale))
		c, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, uint64(4), c.Version(), "the log's history, not the snapshot's")
		require.Equal(t, 4, c.Applied())
		require.Equal(t, stateOf(e.replay(t, "c")), stateOf(c))

		ld, err := e.store.Load(e.ctx, "c", nil)
		require.NoError(t, err)
		require.NotNil(t, ld.Snapshot)
		var loadErr error
		for _, err := range ld.Events {
			if err != nil {
				loadErr = err
			}
		}
		require.ErrorIs(t, loadErr, eventstore.ErrCorruptSnapshot)
	})
}
