package eventstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/archivetest"
	"github.com/stretchr/testify/require"
)

// asOfEnv is a log with a fake clock and a stream "acct" of n events
// appended one a minute (with a split after event split and a merge after
// event merge, when not 0).
type asOfEnv struct {
	*env
	clk *fakeClock
	s   *eventstore.Store
	evs []eventstore.Event // by version-1
}

func newAsOfEnv(t *testing.T, kind string, n, split, merge int, opts ...eventstore.Option) *asOfEnv {
	t.Helper()
	clk := newFakeClock()
	x := &asOfEnv{env: newEnv(t, kind, withClock(clk)), clk: clk}
	x.s = x.store(opts...)
	var parent string
	for i := 1; i <= n; i++ {
		clk.Advance(time.Minute)
		_, err := x.s.Append(x.ctx, "acct", eventstore.Exact(uint64(i-1)), deposited{Amount: i})
		require.NoError(t, err)
		if i == split {
			parent = x.splitOwner("acct")
		}
		if i == merge {
			x.mergeChildren(parent)
		}
	}
	x.evs = mustReadAll(t, x.s.Read(x.ctx, "acct", 0))
	require.Equal(t, span(1, uint64(n)), versions(x.evs))
	return x
}

// requirePrefix requires evs to be the stream's first n events.
func (x *asOfEnv) requirePrefix(t *testing.T, evs []eventstore.Event, n int) {
	t.Helper()
	require.Equal(t, ids(x.evs[:n]), ids(evs))
	require.Equal(t, versions(x.evs[:n]), versions(evs))
}

// requireAsOf checks every read of the store as of at against the first n
// events.
func (x *asOfEnv) requireAsOf(t *testing.T, s *eventstore.Store, at eventstore.Point, n int) {
	t.Helper()
	x.requirePrefix(t, mustReadAll(t, s.ReadAsOf(x.ctx, "acct", 0, at)), n)
	back := mustReadAll(t, s.ReadBackwardAsOf(x.ctx, "acct", at))
	require.Equal(t, span(uint64(n), 1), versions(back), "%s", at)
	ld, err := s.LoadAsOf(x.ctx, "acct", at, nil)
	require.NoError(t, err)
	evs := mustReadAll(t, ld.Events)
	from := 0
	if ld.Snapshot != nil {
		from = int(ld.Snapshot.Version)
	}
	require.Equal(t, versions(x.evs[from:n]), versions(evs), "%s", at)
}

func TestReadAsOf(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newAsOfEnv(t, kind, 5, 0, 0)
		ctx := x.ctx
		for n := 1; n <= 5; n++ {
			ev := x.evs[n-1]
			x.requireAsOf(t, x.s, eventstore.AtVersion(uint64(n)), n)
			// Exactly at an event's time includes it; between two events
			// is the earlier state.
			x.requireAsOf(t, x.s, eventstore.AtTime(ev.RecordedAt), n)
			x.requireAsOf(t, x.s, eventstore.AtTime(ev.RecordedAt.Add(30*time.Second)), n)
			if n > 1 { // before the first event: not found (TestReadAsOfErrors)
				x.requireAsOf(t, x.s, eventstore.AtTime(ev.RecordedAt.Add(-time.Nanosecond)), n-1)
			}
		}
		// from and a point.
		require.Equal(t, []uint64{3, 4}, versions(mustReadAll(t, x.s.ReadAsOf(ctx, "acct", 3, eventstore.AtVersion(4)))))
		require.Equal(t, []uint64{3}, versions(mustReadAll(t, x.s.ReadAsOf(ctx, "acct", 3, eventstore.AtTime(x.evs[2].RecordedAt)))))
		require.Empty(t, mustReadAll(t, x.s.ReadAsOf(ctx, "acct", 5, eventstore.AtVersion(4))))
		// A time after the last event is the whole stream.
		x.requirePrefix(t, mustReadAll(t, x.s.ReadAsOf(ctx, "acct", 0, eventstore.AtTime(x.clk.Now().Add(time.Hour)))), 5)

		// A read stops at the point: the caller may stop earlier too.
		for ev, err := range x.s.ReadAsOf(ctx, "acct", 0, eventstore.AtVersion(4)) {
			require.NoError(t, err)
			require.Equal(t, uint64(1), ev.Version)
			break
		}
	})
}

func TestReadAsOfErrors(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newAsOfEnv(t, kind, 3, 0, 0)
		ctx, s := x.ctx, x.s
		before := eventstore.AtTime(x.evs[0].RecordedAt.Add(-time.Nanosecond))
		points := map[string]eventstore.Point{"version": eventstore.AtVersion(1), "time": eventstore.AtTime(x.clk.Now())}

		// Not found: a stream that does not exist, a time before the first event.
		notFound := func(t *testing.T, id string, at eventstore.Point) {
			t.Helper()
			evs, err := readAll(t, s.ReadAsOf(ctx, id, 0, at))
			require.Empty(t, evs)
			require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
			evs, err = readAll(t, s.ReadBackwardAsOf(ctx, id, at))
			require.Empty(t, evs)
			require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
			ld, err := s.LoadAsOf(ctx, id, at, nil)
			require.NoError(t, err)
			evs, err = readAll(t, ld.Events)
			require.Empty(t, evs)
			require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
		}
		for name, at := range points {
			t.Run("missing/"+name, func(t *testing.T) { notFound(t, "nobody", at) })
		}
		notFound(t, "acct", before)
		_, err := readAll(t, s.ReadAsOf(ctx, "acct", 0, before))
		require.Contains(t, err.Error(), `"acct" has no event recorded at or before`)

		// A version past the end: the events, then the error.
		evs, err := readAll(t, s.ReadAsOf(ctx, "acct", 0, eventstore.AtVersion(7)))
		require.Equal(t, span(1, 3), versions(evs))
		requireVersionNotFound(t, err, "acct", 7, 3)
		evs, err = readAll(t, s.ReadAsOf(ctx, "acct", 5, eventstore.AtVersion(7)))
		require.Empty(t, evs)
		requireVersionNotFound(t, err, "acct", 7, 3)
		evs, err = readAll(t, s.ReadBackwardAsOf(ctx, "acct", eventstore.AtVersion(4)))
		require.Empty(t, evs, "all or nothing")
		requireVersionNotFound(t, err, "acct", 4, 3)
		ld, err := s.LoadAsOf(ctx, "acct", eventstore.AtVersion(4), nil)
		require.NoError(t, err)
		_, err = readAll(t, ld.Events)
		requireVersionNotFound(t, err, "acct", 4, 3)

		// Bad input.
		for _, at := range []eventstore.Point{{}, eventstore.AtVersion(0), eventstore.AtTime(time.Time{})} {
			_, err := readAll(t, s.ReadAsOf(ctx, "acct", 0, at))
			requireArgument(t, err, "at")
			_, err = readAll(t, s.ReadBackwardAsOf(ctx, "acct", at))
			requireArgument(t, err, "at")
			_, err = s.LoadAsOf(ctx, "acct", at, nil)
			requireArgument(t, err, "at")
		}
		_, err = readAll(t, s.ReadAsOf(ctx, "", 0, eventstore.AtVersion(1)))
		requireArgument(t, err, "streamID")
		_, err = s.LoadAsOf(ctx, "", eventstore.AtVersion(1), nil)
		requireArgument(t, err, "streamID")
	})
}

func TestPoint(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	p := eventstore.AtTime(at)
	got, ok := p.Time()
	require.True(t, ok)
	require.True(t, got.Equal(at))
	_, ok = p.Version()
	require.False(t, ok)
	require.False(t, p.IsZero())
	require.Equal(t, "time 2030-01-02T03:04:05.000000006Z", p.String())
	v, ok := eventstore.AtVersion(3).Version()
	require.True(t, ok)
	require.Equal(t, uint64(3), v)
	require.Equal(t, "version 3", eventstore.AtVersion(3).String())
	require.True(t, eventstore.Point{}.IsZero())
	require.True(t, eventstore.AtVersion(0).IsZero())
}

// requireVersionNotFound requires err to be a *VersionNotFoundError.
func requireVersionNotFound(t *testing.T, err error, streamID string, requested, current uint64) {
	t.Helper()
	require.ErrorIs(t, err, eventstore.ErrVersionNotFound)
	var ve *eventstore.VersionNotFoundError
	require.True(t, errors.As(err, &ve), "%v is not a *VersionNotFoundError", err)
	require.Equal(t, eventstore.VersionNotFoundError{StreamID: streamID, Requested: requested, Current: current}, *ve)
}

// TestReadAsOfAcrossReshards: events of one stream before a split, in a
// child, and after a merge, read as of every version and every time.
func TestReadAsOfAcrossReshards(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newAsOfEnv(t, kind, 9, 3, 6)
		shards := map[string]bool{}
		for _, ev := range x.evs {
			shards[ev.Position.ShardID] = true
		}
		require.Len(t, shards, 3, "parent, child and merged child")
		for n := 1; n <= 9; n++ {
			x.requireAsOf(t, x.s, eventstore.AtVersion(uint64(n)), n)
			x.requireAsOf(t, x.s, eventstore.AtTime(x.evs[n-1].RecordedAt), n)
			x.requireAsOf(t, x.s, eventstore.AtTime(x.evs[n-1].RecordedAt.Add(30*time.Second)), n)
		}
	})
}

// TestAsOfClockBackwards: the clock goes back between appends. Within a
// shard the sequencer keeps arrival times from going backwards; across a
// split, the child's sequencer starts afresh and records an earlier time
// than its parent's last event. The rule still holds: as of a time, a
// stream is its longest prefix recorded at or before it.
func TestAsOfClockBackwards(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		clk := newFakeClock()
		e := newEnv(t, kind, withClock(clk))
		s := e.store()
		ctx := e.ctx
		t0 := clk.Now()
		app := func(v uint64) {
			t.Helper()
			_, err := s.Append(ctx, "acct", eventstore.Exact(v-1), deposited{Amount: int(v)})
			require.NoError(t, err)
		}
		app(1) // t0
		clk.Advance(10 * time.Minute)
		app(2) // t0+10m
		clk.Advance(-5 * time.Minute)
		app(3) // the clock reads t0+5m: the sequencer records t0+10m
		evs := mustReadAll(t, s.Read(ctx, "acct", 0))
		require.True(t, evs[0].RecordedAt.Equal(t0))
		require.True(t, evs[1].RecordedAt.Equal(t0.Add(10*time.Minute)))
		require.True(t, evs[2].RecordedAt.Equal(evs[1].RecordedAt), "never backwards within a shard: %v", evs[2].RecordedAt)

		e.splitOwner("acct")
		clk.Advance(-3 * time.Minute)
		app(4) // t0+2m, in a child shard
		evs = mustReadAll(t, s.Read(ctx, "acct", 0))
		require.NotEqual(t, evs[2].Position.ShardID, evs[3].Position.ShardID)
		child := evs[3].RecordedAt
		// The child's sequencer starts afresh: a later version with an
		// earlier time. The read stops at the first event after the point.
		require.True(t, child.Equal(t0.Add(2*time.Minute)), "the child recorded %v", child)
		for _, at := range []time.Time{child, t0.Add(5 * time.Minute)} {
			require.Equal(t, []uint64{1}, versions(mustReadAll(t, s.ReadAsOf(ctx, "acct", 0, eventstore.AtTime(at)))), "%v", at)
		}
		require.Equal(t, []uint64{1, 2, 3, 4}, versions(mustReadAll(t, s.ReadAsOf(ctx, "acct", 0, eventstore.AtTime(t0.Add(10*time.Minute))))))
		require.Equal(t, []uint64{1}, versions(mustReadAll(t, s.ReadAsOf(ctx, "acct", 0, eventstore.AtTime(t0.Add(9*time.Minute))))))
	})
}

// TestLoadAsOfSnapshots: a snapshot newer than the point is ignored, one
// at or before it is used, for version and time points.
func TestLoadAsOfSnapshots(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		snaps := eventstore.NewMemorySnapshots()
		x := newAsOfEnv(t, kind, 6, 0, 0, eventstore.WithSnapshots(snaps))
		ctx := x.ctx
		v4 := x.evs[3]
		require.NoError(t, snaps.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: "acct", Version: 4, Position: v4.Position, Type: "acct", Data: []byte("four")}))

		check := func(at eventstore.Point, snap uint64, want ...uint64) {
			t.Helper()
			ld, err := x.s.LoadAsOf(ctx, "acct", at, nil)
			require.NoError(t, err)
			if snap == 0 {
				require.Nil(t, ld.Snapshot, "%s", at)
			} else {
				require.NotNil(t, ld.Snapshot, "%s", at)
				require.Equal(t, snap, ld.Snapshot.Version)
				require.Equal(t, []byte("four"), ld.Snapshot.Data)
			}
			evs := mustReadAll(t, ld.Events)
			if len(want) == 0 {
				require.Empty(t, evs, "%s", at)
			} else {
				require.Equal(t, want, versions(evs), "%s", at)
			}
		}
		// Newer than the point: ignored, replayed from version 1.
		check(eventstore.AtVersion(3), 0, 1, 2, 3)
		check(eventstore.AtTime(x.evs[2].RecordedAt.Add(time.Second)), 0, 1, 2, 3)
		check(eventstore.AtTime(v4.RecordedAt.Add(-time.Nanosecond)), 0, 1, 2, 3)
		// At the point: the snapshot alone.
		check(eventstore.AtVersion(4), 4)
		check(eventstore.AtTime(v4.RecordedAt), 4)
		// Older: used, then the events up to the point.
		check(eventstore.AtVersion(5), 4, 5)
		check(eventstore.AtTime(x.evs[4].RecordedAt), 4, 5)
		check(eventstore.AtVersion(6), 4, 5, 6)
		check(eventstore.AtTime(x.clk.Now()), 4, 5, 6)
		// Refused by accept: replayed.
		ld, err := x.s.LoadAsOf(ctx, "acct", eventstore.AtVersion(5), func(eventstore.Snapshot) bool { return false })
		require.NoError(t, err)
		require.Nil(t, ld.Snapshot)
		require.Equal(t, span(1, 5), versions(mustReadAll(t, ld.Events)))
		// A version past the end after a snapshot.
		ld, err = x.s.LoadAsOf(ctx, "acct", eventstore.AtVersion(9), nil)
		require.NoError(t, err)
		require.NotNil(t, ld.Snapshot)
		_, err = readAll(t, ld.Events)
		requireVersionNotFound(t, err, "acct", 9, 6)

		// A snapshot whose position is not its event's cannot tell its
		// time: a time point replays instead.
		require.NoError(t, snaps.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: "acct", Version: 4, Position: x.evs[1].Position, Data: []byte("four")}))
		check(eventstore.AtTime(x.clk.Now()), 0, 1, 2, 3, 4, 5, 6)
	})
}

// TestAsOfPastRetention: a point whose events are past the log's
// retention reads them from the archive, or fails with an *ExpiredError,
// never partial state.
func TestAsOfPastRetention(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		snaps := eventstore.NewMemorySnapshots()
		x := newAsOfEnv(t, kind, 6, 0, 0)
		ctx := x.ctx
		arch := archivetest.New()
		require.NoError(t, arch.CatchUp(ctx, x.log, testStream))
		require.NoError(t, snaps.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: "acct", Version: 2, Position: x.evs[1].Position}))
		// Versions 1-4 expire; 5 and 6 are retained.
		x.clk.Advance(retention - 2*time.Minute + 30*time.Second)
		require.NoError(t, x.log.EnforceRetention(ctx))
		require.Equal(t, 2, x.rawCount("acct"))

		tiered := x.store(eventstore.WithArchive(arch))
		for n := 1; n <= 6; n++ {
			x.requireAsOf(t, tiered, eventstore.AtVersion(uint64(n)), n)
			x.requireAsOf(t, tiered, eventstore.AtTime(x.evs[n-1].RecordedAt), n)
		}
		// With a snapshot: its event's time comes from the archive.
		withSnap := x.store(eventstore.WithArchive(arch), eventstore.WithSnapshots(snaps))
		for n := 2; n <= 6; n++ {
			ld, err := withSnap.LoadAsOf(ctx, "acct", eventstore.AtTime(x.evs[n-1].RecordedAt), nil)
			require.NoError(t, err)
			require.NotNil(t, ld.Snapshot)
			evs := mustReadAll(t, ld.Events)
			if n == 2 {
				require.Empty(t, evs)
			} else {
				require.Equal(t, span(3, uint64(n)), versions(evs))
			}
		}
		ld, err := withSnap.LoadAsOf(ctx, "acct", eventstore.AtTime(x.evs[0].RecordedAt), nil)
		require.NoError(t, err)
		require.Nil(t, ld.Snapshot)
		require.Equal(t, []uint64{1}, versions(mustReadAll(t, ld.Events)))

		// No archive: an *ExpiredError, never partial state.
		plain := x.store()
		for _, at := range []eventstore.Point{eventstore.AtVersion(2), eventstore.AtVersion(5), eventstore.AtTime(x.evs[2].RecordedAt), eventstore.AtTime(x.evs[5].RecordedAt)} {
			evs, err := readAll(t, plain.ReadAsOf(ctx, "acct", 0, at))
			require.Empty(t, evs, "%s", at)
			requireExpired(t, err, "acct", 1, 4)
			evs, err = readAll(t, plain.ReadBackwardAsOf(ctx, "acct", at))
			require.Empty(t, evs, "%s", at)
			requireExpired(t, err, "acct", 1, 4)
			ld, err := plain.LoadAsOf(ctx, "acct", at, nil)
			require.NoError(t, err)
			evs, err = readAll(t, ld.Events)
			require.Empty(t, evs, "%s", at)
			requireExpired(t, err, "acct", 1, 4)
		}
		// Retained events after a point are still read.
		require.Equal(t, []uint64{5}, versions(mustReadAll(t, plain.ReadAsOf(ctx, "acct", 5, eventstore.AtVersion(5)))))
		// The snapshot's event expired with no archive to tell its time:
		// a time point cannot use it, and the replay finds the gap.
		ld, err = x.store(eventstore.WithSnapshots(snaps)).LoadAsOf(ctx, "acct", eventstore.AtTime(x.evs[5].RecordedAt), nil)
		require.NoError(t, err)
		require.Nil(t, ld.Snapshot)
		_, err = readAll(t, ld.Events)
		requireExpired(t, err, "acct", 1, 4)
		// A version point can: versions 3-4 are the gap.
		ld, err = x.store(eventstore.WithSnapshots(snaps)).LoadAsOf(ctx, "acct", eventstore.AtVersion(5), nil)
		require.NoError(t, err)
		require.NotNil(t, ld.Snapshot)
		_, err = readAll(t, ld.Events)
		requireExpired(t, err, "acct", 3, 4)

		// Every event expired: the archive alone.
		x.clk.Advance(time.Hour)
		require.NoError(t, x.log.EnforceRetention(ctx))
		require.Zero(t, x.rawCount("acct"))
		for n := 1; n <= 6; n++ {
			x.requireAsOf(t, tiered, eventstore.AtVersion(uint64(n)), n)
			x.requireAsOf(t, tiered, eventstore.AtTime(x.evs[n-1].RecordedAt), n)
		}
		evs, err := readAll(t, tiered.ReadAsOf(ctx, "acct", 0, eventstore.AtVersion(7)))
		require.Len(t, evs, 6)
		requireVersionNotFound(t, err, "acct", 7, 6)
	})
}

// TestReadAsOfFromPastTheStart: the not-found rule is for reads from the
// first version; a read from a later version yields what lies between it
// and the point, nothing when the point is before it, as the doc says.
func TestReadAsOfFromPastTheStart(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		x := newAsOfEnv(t, kind, 3, 0, 0)
		before := eventstore.AtTime(x.evs[0].RecordedAt.Add(-time.Nanosecond))
		_, err := readAll(t, x.s.ReadAsOf(x.ctx, "acct", 1, before))
		require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
		require.Empty(t, mustReadAll(t, x.s.ReadAsOf(x.ctx, "acct", 2, before)))
		require.Empty(t, mustReadAll(t, x.s.ReadAsOf(x.ctx, "acct", 3, eventstore.AtTime(x.evs[1].RecordedAt))))
	})
}
