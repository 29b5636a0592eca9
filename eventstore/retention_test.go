package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/stretchr/testify/require"
)

// retention is the test stream's retention period (the shardlog default).
const retention = shardlog.DefaultRetentionHours * time.Hour

// expiredEnv is a log whose stream "acct" holds versions 1-4 written at
// t0 (past retention at the end), 5-6 written at t0+12h, and an archive of
// all six captured before anything expired. The clock ends at t0+25h.
type expiredEnv struct {
	*env
	clk     *fakeClock
	arch    *mapArchive
	ids     []uuid.UUID                    // by version-1
	results []eventstore.AppendResult      // the three appends
	pos     map[uint64]eventstore.Position // by version
}

func newExpiredEnv(t *testing.T, kind string) *expiredEnv {
	clk := newFakeClock()
	x := &expiredEnv{env: newEnv(t, kind, withClock(clk)), clk: clk, arch: newMapArchive(), pos: map[uint64]eventstore.Position{}}
	s := x.store()
	ctx := x.ctx
	for _, b := range [][]any{{opened{Owner: "ann"}, deposited{Amount: 1}, deposited{Amount: 2}}, {withdrawn{Amount: 1}}} {
		res, err := s.Append(ctx, "acct", eventstore.Any, b...)
		require.NoError(t, err)
		x.results = append(x.results, res)
	}
	clk.Advance(12 * time.Hour)
	res, err := s.Append(ctx, "acct", eventstore.Exact(4), deposited{Amount: 5}, deposited{Amount: 6})
	require.NoError(t, err)
	x.results = append(x.results, res)
	for _, ev := range mustReadAll(t, s.Read(ctx, "acct", 0)) {
		x.ids = append(x.ids, ev.ID)
		x.pos[ev.Version] = ev.Position
	}
	require.Len(t, x.ids, 6)
	x.arch.capture(t, x.env, "acct", nil)
	// t0+25h: the first four are past retention, the rest 13 hours old.
	clk.Advance(retention + time.Hour - 12*time.Hour)
	return x
}

// requireEvents requires evs to be the stream's versions want, with the
// IDs and positions they were written with.
func (x *expiredEnv) requireEvents(t *testing.T, evs []eventstore.Event, want ...uint64) {
	t.Helper()
	require.Equal(t, want, versions(evs))
	for _, ev := range evs {
		require.Equal(t, x.ids[ev.Version-1], ev.ID, "v%d", ev.Version)
		require.Equal(t, x.pos[ev.Version], ev.Position, "v%d", ev.Version)
		_, err := ev.Data()
		require.NoError(t, err)
	}
}

func TestRetentionGap(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newExpiredEnv(t, kind)
		ctx := x.ctx
		for _, trimmed := range []bool{false, true} {
			if trimmed {
				// Reads never return expired records, trimmed or not.
				require.NoError(t, x.log.EnforceRetention(ctx))
			}
			s := x.store()
			require.Equal(t, 2, x.rawCount("acct"))

			evs, err := readAll(t, s.Read(ctx, "acct", 0))
			require.Empty(t, evs, "never silently partial")
			requireExpired(t, err, "acct", 1, 4)
			evs, err = readAll(t, s.Read(ctx, "acct", 3))
			require.Empty(t, evs)
			requireExpired(t, err, "acct", 3, 4)
			evs, err = readAll(t, s.Read(ctx, "acct", 4))
			require.Empty(t, evs)
			requireExpired(t, err, "acct", 4, 4)
			x.requireEvents(t, mustReadAll(t, s.Read(ctx, "acct", 5)), 5, 6)
			x.requireEvents(t, mustReadAll(t, s.Read(ctx, "acct", 6)), 6)

			evs, err = readAll(t, s.ReadBackward(ctx, "acct", 0))
			x.requireEvents(t, evs, 6, 5)
			requireExpired(t, err, "acct", 1, 4)
			evs, err = readAll(t, s.ReadBackward(ctx, "acct", 5))
			x.requireEvents(t, evs, 5)
			requireExpired(t, err, "acct", 1, 4)
			evs, err = readAll(t, s.ReadBackward(ctx, "acct", 3))
			require.Empty(t, evs)
			requireExpired(t, err, "acct", 1, 3)

			ld, err := s.Load(ctx, "acct", nil)
			require.NoError(t, err)
			require.Nil(t, ld.Snapshot)
			evs, err = readAll(t, ld.Events)
			require.Empty(t, evs)
			requireExpired(t, err, "acct", 1, 4)

			// The version and the latest event are retained.
			v, err := s.Version(ctx, "acct")
			require.NoError(t, err)
			require.Equal(t, uint64(6), v)
			last, err := s.Last(ctx, "acct")
			require.NoError(t, err)
			x.requireEvents(t, []eventstore.Event{last}, 6)

			// Retries of expired appends cannot be recognised: a conflict,
			// never a second copy.
			_, err = s.Append(ctx, "acct", eventstore.NoStream, eventstore.Proposed{ID: x.ids[0], Data: opened{Owner: "ann"}})
			requireWrongVersion(t, err, "acct", eventstore.NoStream, 6)
			// A retry of the retained latest append is.
			again, err := s.Append(ctx, "acct", eventstore.Exact(4), eventstore.Proposed{ID: x.ids[4], Data: deposited{}}, eventstore.Proposed{ID: x.ids[5], Data: deposited{}})
			require.NoError(t, err)
			require.True(t, again.Deduplicated)
			require.Equal(t, x.results[2].First, again.First)
			require.Equal(t, x.results[2].Last, again.Last)
			require.Equal(t, 2, x.rawCount("acct"))
		}

		// Appends go on.
		s := x.store()
		res, err := s.Append(ctx, "acct", eventstore.Exact(6), withdrawn{Amount: 7})
		require.NoError(t, err)
		require.Equal(t, uint64(7), res.LastVersion)
		evs, err := readAll(t, s.Read(ctx, "acct", 0))
		require.Empty(t, evs)
		requireExpired(t, err, "acct", 1, 4)
		require.Equal(t, []uint64{5, 6, 7}, versions(mustReadAll(t, s.Read(ctx, "acct", 5))))
	})
}

func TestRetentionSnapshot(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newExpiredEnv(t, kind)
		ctx := x.ctx
		snap := func(v uint64) eventstore.Snapshot {
			return eventstore.Snapshot{StreamID: "acct", Version: v, Position: x.pos[v], Type: "account", SchemaVersion: 1, Data: []byte{byte(v)}, TakenAt: x.clk.Now()}
		}

		// A snapshot at v4 covers the gap.
		snaps := eventstore.NewMemorySnapshots()
		require.NoError(t, snaps.SaveSnapshot(ctx, snap(4)))
		s := x.store(eventstore.WithSnapshots(snaps))
		require.Same(t, snaps, s.Snapshots())
		ld, err := s.Load(ctx, "acct", nil)
		require.NoError(t, err)
		require.NotNil(t, ld.Snapshot)
		require.Equal(t, snap(4), *ld.Snapshot)
		x.requireEvents(t, mustReadAll(t, ld.Events), 5, 6)

		// A snapshot the loader refuses is no snapshot: the gap shows.
		ld, err = s.Load(ctx, "acct", func(sn eventstore.Snapshot) bool { return sn.SchemaVersion == 2 })
		require.NoError(t, err)
		require.Nil(t, ld.Snapshot)
		evs, err := readAll(t, ld.Events)
		require.Empty(t, evs)
		requireExpired(t, err, "acct", 1, 4)

		// Read yields events, which a snapshot does not hold.
		_, err = readAll(t, s.Read(ctx, "acct", 0))
		requireExpired(t, err, "acct", 1, 4)

		// A snapshot at v3 leaves v4 uncovered.
		short := eventstore.NewMemorySnapshots()
		require.NoError(t, short.SaveSnapshot(ctx, snap(3)))
		ld, err = x.store(eventstore.WithSnapshots(short)).Load(ctx, "acct", nil)
		require.NoError(t, err)
		require.Equal(t, uint64(3), ld.Snapshot.Version)
		evs, err = readAll(t, ld.Events)
		require.Empty(t, evs)
		requireExpired(t, err, "acct", 4, 4)

		// A snapshot at v6, the latest version: nothing after it.
		latest := eventstore.NewMemorySnapshots()
		require.NoError(t, latest.SaveSnapshot(ctx, snap(6)))
		ld, err = x.store(eventstore.WithSnapshots(latest)).Load(ctx, "acct", nil)
		require.NoError(t, err)
		require.Equal(t, uint64(6), ld.Snapshot.Version)
		require.Empty(t, mustReadAll(t, ld.Events))
	})
}

// TestRetentionAllExpired: a stream whose every event expired keeps the
// version of its snapshot.
func TestRetentionAllExpired(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newExpiredEnv(t, kind)
		ctx := x.ctx
		x.clk.Advance(12 * time.Hour) // t0+37h: all six are gone
		require.NoError(t, x.log.EnforceRetention(ctx))
		require.Zero(t, x.rawCount("acct"))

		snaps := eventstore.NewMemorySnapshots()
		require.NoError(t, snaps.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: "acct", Version: 6, Position: x.pos[6], Type: "account"}))
		s := x.store(eventstore.WithSnapshots(snaps))

		v, err := s.Version(ctx, "acct")
		require.NoError(t, err)
		require.Equal(t, uint64(6), v)
		ok, err := s.Exists(ctx, "acct")
		require.NoError(t, err)
		require.True(t, ok)
		_, err = s.Last(ctx, "acct")
		requireExpired(t, err, "acct", 6, 6)
		_, err = readAll(t, s.Read(ctx, "acct", 0))
		requireExpired(t, err, "acct", 1, 6)
		_, err = readAll(t, s.Read(ctx, "acct", 5))
		requireExpired(t, err, "acct", 5, 6)
		require.Empty(t, mustReadAll(t, s.Read(ctx, "acct", 7)))
		evs, err := readAll(t, s.ReadBackward(ctx, "acct", 0))
		require.Empty(t, evs)
		requireExpired(t, err, "acct", 1, 6)
		_, err = readAll(t, s.ReadBackward(ctx, "acct", 2))
		requireExpired(t, err, "acct", 1, 2)
		ld, err := s.Load(ctx, "acct", nil)
		require.NoError(t, err)
		require.Equal(t, uint64(6), ld.Snapshot.Version)
		require.Empty(t, mustReadAll(t, ld.Events))

		// The version holds for appends.
		for _, exp := range []eventstore.ExpectedVersion{eventstore.NoStream, eventstore.Exact(5), eventstore.Exact(7)} {
			_, err = s.Append(ctx, "acct", exp, deposited{Amount: 1})
			requireWrongVersion(t, err, "acct", exp, 6)
		}
		p := eventstore.NewEvent(deposited{Amount: 7}, eventstore.Metadata{})
		res, err := s.Append(ctx, "acct", eventstore.Exact(6), p)
		require.NoError(t, err)
		require.Equal(t, uint64(7), res.FirstVersion)
		again, err := s.Append(ctx, "acct", eventstore.Exact(6), p)
		require.NoError(t, err)
		require.True(t, again.Deduplicated)
		require.Equal(t, res.First, again.First)
		_, err = s.Append(ctx, "acct", eventstore.Exact(6), deposited{Amount: 7})
		requireWrongVersion(t, err, "acct", eventstore.Exact(6), 7)
		res, err = s.Append(ctx, "acct", eventstore.StreamExists, deposited{Amount: 8})
		require.NoError(t, err)
		require.Equal(t, uint64(8), res.LastVersion)

		ld, err = s.Load(ctx, "acct", nil)
		require.NoError(t, err)
		require.Equal(t, []uint64{7, 8}, versions(mustReadAll(t, ld.Events)))
		_, err = readAll(t, s.Read(ctx, "acct", 0))
		requireExpired(t, err, "acct", 1, 6)
		evs, err = readAll(t, s.ReadBackward(ctx, "acct", 0))
		require.Equal(t, []uint64{8, 7}, versions(evs))
		requireExpired(t, err, "acct", 1, 6)

		// Without the snapshot, the retained events still carry their
		// versions.
		plain := x.store()
		v, err = plain.Version(ctx, "acct")
		require.NoError(t, err)
		require.Equal(t, uint64(8), v)
		_, err = readAll(t, plain.Read(ctx, "acct", 0))
		requireExpired(t, err, "acct", 1, 6)
	})
}

// TestRetentionArchive: reads fill the gap from the archive, with no event
// repeated or skipped where the archive hands over to the log.
func TestRetentionArchive(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newExpiredEnv(t, kind)
		ctx := x.ctx
		s := x.store(eventstore.WithArchive(x.arch))

		x.requireEvents(t, mustReadAll(t, s.Read(ctx, "acct", 0)), 1, 2, 3, 4, 5, 6)
		x.requireEvents(t, mustReadAll(t, s.Read(ctx, "acct", 3)), 3, 4, 5, 6)
		x.requireEvents(t, mustReadAll(t, s.Read(ctx, "acct", 5)), 5, 6)
		x.requireEvents(t, mustReadAll(t, s.ReadBackward(ctx, "acct", 0)), 6, 5, 4, 3, 2, 1)
		x.requireEvents(t, mustReadAll(t, s.ReadBackward(ctx, "acct", 5)), 5, 4, 3, 2, 1)
		x.requireEvents(t, mustReadAll(t, s.ReadBackward(ctx, "acct", 3)), 3, 2, 1)
		ld, err := s.Load(ctx, "acct", nil)
		require.NoError(t, err)
		x.requireEvents(t, mustReadAll(t, ld.Events), 1, 2, 3, 4, 5, 6)

		// Reads of retained events do not ask the archive.
		x.arch.mu.Lock()
		x.arch.reads = 0
		x.arch.mu.Unlock()
		x.requireEvents(t, mustReadAll(t, s.Read(ctx, "acct", 5)), 5, 6)
		_, err = s.Last(ctx, "acct")
		require.NoError(t, err)
		require.Zero(t, x.arch.reads)

		// Appends after the gap.
		_, err = s.Append(ctx, "acct", eventstore.Exact(6), withdrawn{Amount: 7})
		require.NoError(t, err)
		evs := mustReadAll(t, s.Read(ctx, "acct", 0))
		require.Equal(t, span(1, 7), versions(evs))
		x.requireEvents(t, evs[:6], 1, 2, 3, 4, 5, 6)
		require.Equal(t, span(7, 1), versions(mustReadAll(t, s.ReadBackward(ctx, "acct", 0))))

		// With a snapshot as well: Load reads after it.
		snaps := eventstore.NewMemorySnapshots()
		require.NoError(t, snaps.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: "acct", Version: 2, Position: x.pos[2]}))
		ld, err = x.store(eventstore.WithArchive(x.arch), eventstore.WithSnapshots(snaps)).Load(ctx, "acct", nil)
		require.NoError(t, err)
		require.Equal(t, span(3, 7), versions(mustReadAll(t, ld.Events)))

		// An archive failure is not a gap.
		boom := errors.New("archive down")
		_, err = readAll(t, x.store(eventstore.WithArchive(failingArchive{boom})).Read(ctx, "acct", 0))
		require.ErrorIs(t, err, boom)
		require.NotErrorIs(t, err, eventstore.ErrEventsExpired)
		_, err = readAll(t, x.store(eventstore.WithArchive(failingArchive{boom})).ReadBackward(ctx, "acct", 0))
		require.ErrorIs(t, err, boom)
	})
}

// TestRetentionPartialArchive: an archive that lacks part of the gap fills
// what it can up to the missing versions, and names them.
func TestRetentionPartialArchive(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newExpiredEnv(t, kind)
		ctx := x.ctx
		// Parts of the full archive: the archiver fell behind (v1-v2), or
		// the archive's start was lost (v3 on).
		older, newer := newMapArchive(), newMapArchive()
		older.recs["acct"] = map[shardlog.SequenceNumber]shardlog.Record{}
		newer.recs["acct"] = map[shardlog.SequenceNumber]shardlog.Record{}
		for seq, r := range x.arch.recs["acct"] {
			if seq.Compare(x.pos[2].SequenceNumber) <= 0 {
				older.recs["acct"][seq] = r
			} else {
				newer.recs["acct"][seq] = r
			}
		}
		require.Len(t, older.recs["acct"], 2)
		require.Len(t, newer.recs["acct"], 4)

		s := x.store(eventstore.WithArchive(older))
		evs, err := readAll(t, s.Read(ctx, "acct", 0))
		x.requireEvents(t, evs, 1, 2)
		requireExpired(t, err, "acct", 3, 4)
		evs, err = readAll(t, s.ReadBackward(ctx, "acct", 0))
		x.requireEvents(t, evs, 6, 5)
		requireExpired(t, err, "acct", 3, 4)
		evs, err = readAll(t, s.ReadBackward(ctx, "acct", 4))
		require.Empty(t, evs)
		requireExpired(t, err, "acct", 3, 4)
		x.requireEvents(t, mustReadAll(t, s.ReadBackward(ctx, "acct", 2)), 2, 1)

		// An archive with a hole: v2 is missing.
		holed := newMapArchive()
		holed.recs["acct"] = map[shardlog.SequenceNumber]shardlog.Record{}
		for seq, r := range x.arch.recs["acct"] {
			if seq != x.pos[2].SequenceNumber {
				holed.recs["acct"][seq] = r
			}
		}
		s = x.store(eventstore.WithArchive(holed))
		evs, err = readAll(t, s.Read(ctx, "acct", 0))
		x.requireEvents(t, evs, 1)
		requireExpired(t, err, "acct", 2, 2)
		x.requireEvents(t, mustReadAll(t, s.Read(ctx, "acct", 3)), 3, 4, 5, 6)
		evs, err = readAll(t, s.ReadBackward(ctx, "acct", 0))
		x.requireEvents(t, evs, 6, 5, 4, 3)
		requireExpired(t, err, "acct", 2, 2)
		x.requireEvents(t, mustReadAll(t, s.ReadBackward(ctx, "acct", 1)), 1)

		s = x.store(eventstore.WithArchive(newer))
		evs, err = readAll(t, s.Read(ctx, "acct", 0))
		require.Empty(t, evs)
		requireExpired(t, err, "acct", 1, 2)
		x.requireEvents(t, mustReadAll(t, s.Read(ctx, "acct", 3)), 3, 4, 5, 6)
		evs, err = readAll(t, s.ReadBackward(ctx, "acct", 0))
		x.requireEvents(t, evs, 6, 5, 4, 3)
		requireExpired(t, err, "acct", 1, 2)
	})
}

// TestRetentionAllExpiredArchive: a stream whose every event expired is
// read from the archive.
func TestRetentionAllExpiredArchive(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newExpiredEnv(t, kind)
		ctx := x.ctx
		x.clk.Advance(12 * time.Hour)
		require.Zero(t, x.rawCount("acct"))

		s := x.store(eventstore.WithArchive(x.arch))
		x.requireEvents(t, mustReadAll(t, s.Read(ctx, "acct", 0)), 1, 2, 3, 4, 5, 6)
		x.requireEvents(t, mustReadAll(t, s.Read(ctx, "acct", 4)), 4, 5, 6)
		x.requireEvents(t, mustReadAll(t, s.ReadBackward(ctx, "acct", 0)), 6, 5, 4, 3, 2, 1)
		x.requireEvents(t, mustReadAll(t, s.ReadBackward(ctx, "acct", 2)), 2, 1)
		ld, err := s.Load(ctx, "acct", nil)
		require.NoError(t, err)
		x.requireEvents(t, mustReadAll(t, ld.Events), 1, 2, 3, 4, 5, 6)

		// With a snapshot behind the archive's end, reads still go to
		// the archive's end.
		snaps := eventstore.NewMemorySnapshots()
		require.NoError(t, snaps.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: "acct", Version: 4, Position: x.pos[4]}))
		s = x.store(eventstore.WithArchive(x.arch), eventstore.WithSnapshots(snaps))
		x.requireEvents(t, mustReadAll(t, s.Read(ctx, "acct", 0)), 1, 2, 3, 4, 5, 6)
		ld, err = s.Load(ctx, "acct", nil)
		require.NoError(t, err)
		require.Equal(t, uint64(4), ld.Snapshot.Version)
		x.requireEvents(t, mustReadAll(t, ld.Events), 5, 6)
		// With a snapshot ahead of the archive's end, the rest is a gap.
		ahead := eventstore.NewMemorySnapshots()
		require.NoError(t, ahead.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: "acct", Version: 8}))
		s = x.store(eventstore.WithArchive(x.arch), eventstore.WithSnapshots(ahead))
		evs, err := readAll(t, s.Read(ctx, "acct", 0))
		x.requireEvents(t, evs, 1, 2, 3, 4, 5, 6)
		requireExpired(t, err, "acct", 7, 8)
		last, err := s.Last(ctx, "acct")
		requireExpired(t, err, "acct", 8, 8)
		require.Zero(t, last.Version)
	})
}

// A snapshot store that fails.
type failingSnapshots struct{ err error }

func (f failingSnapshots) LoadSnapshot(context.Context, string) (eventstore.Snapshot, bool, error) {
	return eventstore.Snapshot{}, false, f.err
}
func (f failingSnapshots) SaveSnapshot(context.Context, eventstore.Snapshot) error { return f.err }

func TestSnapshotStoreFailure(t *testing.T) {
	x := newExpiredEnv(t, "memory")
	ctx := x.ctx
	boom := errors.New("snapshots down")
	s := x.store(eventstore.WithSnapshots(failingSnapshots{boom}))
	_, err := s.Load(ctx, "acct", nil)
	require.ErrorIs(t, err, boom)
	// A stream with retained events needs no snapshot for its version.
	v, err := s.Version(ctx, "acct")
	require.NoError(t, err)
	require.Equal(t, uint64(6), v)
	// A stream with none does.
	_, err = s.Version(ctx, "other")
	require.ErrorIs(t, err, boom)
	_, err = s.Append(ctx, "other", eventstore.NoStream, deposited{})
	require.ErrorIs(t, err, boom)
}

// corruptSnapshots is a SnapshotStore whose every snapshot is unreadable.
type corruptSnapshots struct{ eventstore.SnapshotStore }

func (corruptSnapshots) LoadSnapshot(ctx context.Context, id string) (eventstore.Snapshot, bool, error) {
	return eventstore.Snapshot{}, false, fmt.Errorf("snap %q: %w", id, eventstore.ErrCorruptSnapshot)
}

func TestLoadReplaysPastACorruptSnapshot(t *testing.T) {
	ctx := context.Background()
	l, err := shardlog.Open(ctx, memory.New())
	require.NoError(t, err)
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[corruptProbe](reg, "probe"))
	w, err := eventstore.Open(ctx, l, "s", eventstore.WithRegistry(reg),
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 1}))
	require.NoError(t, err)
	_, err = w.Append(ctx, "a", eventstore.NoStream, corruptProbe{1}, corruptProbe{2})
	require.NoError(t, err)
	s, err := eventstore.Open(ctx, l, "s", eventstore.WithRegistry(reg),
		eventstore.WithSnapshots(corruptSnapshots{eventstore.NewMemorySnapshots()}))
	require.NoError(t, err)
	_, err = s.Append(ctx, "new", eventstore.NoStream, corruptProbe{1})
	require.ErrorIs(t, err, eventstore.ErrCorruptSnapshot, "a stream the log does not hold may have its version only in the snapshot")
	ld, err := s.Load(ctx, "a", nil)
	require.NoError(t, err, "a corrupt snapshot is skipped, not fatal")
	require.Nil(t, ld.Snapshot)
	n := 0
	for _, err := range ld.Events {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 2, n, "every event is replayed")
}

type corruptProbe struct{ N int }

// When the log holds none of a stream's events, its version is the
// highest its snapshot or its archive knows: an archive ahead of the
// snapshot keeps Append from reusing versions and Last from going back.
func TestVersionAfterFullExpiryComesFromTheArchive(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newExpiredEnv(t, kind)
		snaps := eventstore.NewMemorySnapshots()
		require.NoError(t, snaps.SaveSnapshot(x.ctx, eventstore.Snapshot{StreamID: "acct", Version: 4, Position: x.pos[4]}))
		x.clk.Advance(retention) // now versions 5-6 have expired too
		s := x.store(eventstore.WithSnapshots(snaps), eventstore.WithArchive(x.arch))

		v, err := s.Version(x.ctx, "acct")
		require.NoError(t, err)
		require.Equal(t, uint64(6), v, "the archive holds versions past the snapshot's")
		last, err := s.Last(x.ctx, "acct")
		require.NoError(t, err)
		require.Equal(t, uint64(6), last.Version)
		require.Equal(t, x.ids[5], last.ID)

		_, err = s.Append(x.ctx, "acct", eventstore.Exact(4), deposited{Amount: 9})
		requireWrongVersion(t, err, "acct", eventstore.Exact(4), 6)
		res, err := s.Append(x.ctx, "acct", eventstore.Exact(6), deposited{Amount: 7})
		require.NoError(t, err)
		require.Equal(t, uint64(7), res.LastVersion)

		// Without a snapshot, the archive alone keeps the version.
		bare := x.store(eventstore.WithArchive(x.arch))
		_, err = bare.Append(x.ctx, "acct-2", eventstore.NoStream, deposited{Amount: 1})
		require.NoError(t, err, "a stream neither the log nor the archive knows is new")
	})
}
