// Package snapshottest is the conformance suite of eventstore.SnapshotStore.
// Every store in this module runs it, and a store written elsewhere can run
// it too:
//
//	func TestConformance(t *testing.T) {
//		snapshottest.Run(t, func(t *testing.T) eventstore.SnapshotStore {
//			s, err := mystore.Open(t.TempDir())
//			require.NoError(t, err)
//			return s
//		})
//	}
package snapshottest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// NewStore returns a fresh, empty store for one subtest. It may use
// t.TempDir and t.Cleanup. Run calls it once per subtest, one subtest at a
// time.
type NewStore func(t *testing.T) eventstore.SnapshotStore

// Run checks the SnapshotStore contract on stores from newStore, one
// t.Run subtest per group:
//
//   - a stream without a snapshot loads as (zero Snapshot, false, nil);
//   - a saved snapshot loads back field by field: StreamID, Version,
//     Position (ShardID and SequenceNumber, up to the largest sequence
//     number), Type, SchemaVersion, Data and TakenAt;
//   - TakenAt comes back as the same instant to the microsecond: it may
//     lose what is below the microsecond (PostgreSQL timestamptz keeps
//     microseconds; a store may round or truncate), and its location is
//     not kept (compare with time.Time.Equal). The zero time stays zero;
//   - nil and empty Data are the same: either may load as the other;
//   - a save at a lower version than the stored one is a no-op, not an
//     error; a save at the same version replaces the stored snapshot (the
//     last writer wins), and a higher version replaces it;
//   - streams are independent, whatever their IDs: unicode (NFC and NFD
//     forms are different IDs, as are "a" and "A"), slashes, dots, "..",
//     backslashes, control characters, and 256 code points (the longest
//     partition key) of 1 to 4 bytes each;
//   - Data of a few MiB round-trips byte for byte;
//   - concurrent saves of different versions to one stream leave the
//     highest, and a concurrent reader never sees a snapshot mixed from two
//     saves, nor the version go down (run with -race);
//   - Data is never aliased: changing the slice passed to SaveSnapshot, or
//     one returned by LoadSnapshot, changes nothing stored.
//
// The suite needs Version up to math.MaxInt64 and SchemaVersion up to
// math.MaxInt32 (the ranges of PostgreSQL bigint and integer), and uses
// only stream IDs, types and shard IDs that are valid UTF-8 without NUL
// (what PostgreSQL text holds).
func Run(t *testing.T, newStore NewStore) {
	t.Run("MissingStream", func(t *testing.T) { testMissing(t, newStore) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore) })
	t.Run("TakenAtPrecision", func(t *testing.T) { testTakenAt(t, newStore) })
	t.Run("EmptyData", func(t *testing.T) { testEmptyData(t, newStore) })
	t.Run("LowerVersionIgnored", func(t *testing.T) { testLowerVersion(t, newStore) })
	t.Run("EqualVersionReplaces", func(t *testing.T) { testEqualVersion(t, newStore) })
	t.Run("HigherVersionReplaces", func(t *testing.T) { testHigherVersion(t, newStore) })
	t.Run("ManyStreams", func(t *testing.T) { testManyStreams(t, newStore) })
	t.Run("StreamIDs", func(t *testing.T) { testStreamIDs(t, newStore) })
	t.Run("LargeData", func(t *testing.T) { testLargeData(t, newStore) })
	t.Run("ConcurrentSaves", func(t *testing.T) { testConcurrentSaves(t, newStore) })
	t.Run("NoAliasing", func(t *testing.T) { testNoAliasing(t, newStore) })
}

// epoch is a TakenAt with whole microseconds, which every store keeps
// exactly.
var epoch = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// snapshotAt returns a snapshot of stream whose every field is derived from
// v, so that a reader can tell whether what it loaded comes from one save.
func snapshotAt(stream string, v uint64) eventstore.Snapshot {
	return eventstore.Snapshot{
		StreamID: stream,
		Version:  v,
		Position: eventstore.Position{
			ShardID:        fmt.Sprintf("shardId-%012d", v%7),
			SequenceNumber: shardlog.MakeSequenceNumber(1_700_000_000_000_000+v, uint32(v%7)),
		},
		Type:          fmt.Sprintf("type-%d", v),
		SchemaVersion: uint32(v % 5),
		Data:          fmt.Appendf(nil, "state of %s at %d", stream, v),
		TakenAt:       epoch.Add(time.Duration(v) * time.Second),
	}
}

// requireSnapshot checks that got is want: TakenAt to the microsecond,
// nil and empty Data alike.
func requireSnapshot(t *testing.T, want, got eventstore.Snapshot, format string, args ...any) {
	t.Helper()
	where := fmt.Sprintf(format, args...)
	require.Equal(t, want.StreamID, got.StreamID, where)
	require.Equal(t, want.Version, got.Version, where)
	require.Equal(t, want.Position.ShardID, got.Position.ShardID, where)
	require.Equal(t, want.Position.SequenceNumber.String(), got.Position.SequenceNumber.String(), where)
	require.Equal(t, want.Type, got.Type, where)
	require.Equal(t, want.SchemaVersion, got.SchemaVersion, where)
	if len(want.Data) == 0 {
		require.Empty(t, got.Data, where)
	} else {
		require.Equal(t, want.Data, got.Data, where)
	}
	requireTakenAt(t, want.TakenAt, got.TakenAt, where)
}

// requireTakenAt checks that got is want to the microsecond.
func requireTakenAt(t *testing.T, want, got time.Time, where string) {
	t.Helper()
	if want.IsZero() {
		require.True(t, got.IsZero(), "TakenAt %v: want the zero time %s", got, where)
		return
	}
	d := got.Sub(want)
	require.True(t, d > -time.Microsecond && d < time.Microsecond,
		"TakenAt %s, want %s to the microsecond (off by %s) %s",
		got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano), d, where)
}

func save(t *testing.T, s eventstore.SnapshotStore, snap eventstore.Snapshot) {
	t.Helper()
	require.NoError(t, s.SaveSnapshot(context.Background(), snap), "SaveSnapshot(%q, version %d)", snap.StreamID, snap.Version)
}

func load(t *testing.T, s eventstore.SnapshotStore, stream string) eventstore.Snapshot {
	t.Helper()
	snap, ok, err := s.LoadSnapshot(context.Background(), stream)
	require.NoError(t, err, "LoadSnapshot(%q)", stream)
	require.True(t, ok, "LoadSnapshot(%q): want a snapshot", stream)
	return snap
}

func testMissing(t *testing.T, newStore NewStore) {
	s := newStore(t)
	snap, ok, err := s.LoadSnapshot(context.Background(), "no-such-stream")
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, eventstore.Snapshot{}, snap)

	// A snapshot of another stream changes nothing.
	save(t, s, snapshotAt("other", 3))
	_, ok, err = s.LoadSnapshot(context.Background(), "no-such-stream")
	require.NoError(t, err)
	require.False(t, ok)
}

func testRoundTrip(t *testing.T, newStore NewStore) {
	s := newStore(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	cases := []eventstore.Snapshot{
		{
			StreamID: "order-1",
			Version:  42,
			Position: eventstore.Position{
				ShardID:        "shardId-000000000003",
				SequenceNumber: shardlog.MakeSequenceNumber(1_741_964_966_535_897, 3),
			},
			Type:          "order",
			SchemaVersion: 7,
			Data:          []byte(`{"status":"paid","total":1250}`),
			TakenAt:       epoch,
		},
		{
			// Every byte value, in a snapshot at the edges of each range.
			StreamID: "edges",
			Version:  math.MaxInt64,
			Position: eventstore.Position{
				ShardID:        "shardId-004294967295",
				SequenceNumber: shardlog.MakeSequenceNumber(math.MaxUint64, math.MaxUint32),
			},
			Type:          strings.Repeat("t", 1000) + " ünïcödé",
			SchemaVersion: math.MaxInt32,
			Data:          all,
			TakenAt:       time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		},
		{
			// The smallest of everything: version 1 of nothing, at the zero
			// position and the zero time.
			StreamID: "zero",
			Version:  1,
		},
		{
			StreamID:      "zero-version",
			Version:       0,
			Type:          "t",
			SchemaVersion: 1,
			Data:          []byte{0},
			TakenAt:       time.Date(1969, 7, 20, 20, 17, 40, 123456000, time.UTC),
		},
	}
	for _, c := range cases {
		save(t, s, c)
	}
	for _, c := range cases {
		got := load(t, s, c.StreamID)
		requireSnapshot(t, c, got, "stream %q", c.StreamID)
		require.Equal(t, 0, got.Position.SequenceNumber.Compare(c.Position.SequenceNumber), "stream %q: sequence number", c.StreamID)
	}
}

func testTakenAt(t *testing.T, newStore NewStore) {
	s := newStore(t)
	times := map[string]time.Time{
		"micro":       epoch,
		"nano":        time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC),
		"nano-before": time.Date(1900, 1, 1, 0, 0, 0, 999, time.UTC),
		"zone":        time.Date(2026, 3, 14, 20, 39, 26, 535897000, time.FixedZone("IST", 5*3600+1800)),
		"local":       time.Date(2026, 7, 1, 12, 0, 0, 1000, time.Local),
		"monotonic":   time.Now(), // carries a monotonic reading
		"zero":        {},
	}
	for name, at := range times {
		snap := snapshotAt(name, 1)
		snap.TakenAt = at
		save(t, s, snap)
	}
	for name, at := range times {
		got := load(t, s, name)
		requireTakenAt(t, at, got.TakenAt, name)
	}
}

func testEmptyData(t *testing.T, newStore NewStore) {
	s := newStore(t)
	for _, d := range [][]byte{nil, {}} {
		stream := fmt.Sprintf("empty-%v", d == nil)
		snap := snapshotAt(stream, 1)
		snap.Data = d
		save(t, s, snap)
		require.Empty(t, load(t, s, stream).Data)

		// Empty data replaces data, and data replaces empty data.
		save(t, s, snapshotAt(stream, 2))
		requireSnapshot(t, snapshotAt(stream, 2), load(t, s, stream), "stream %q", stream)
		snap.Version = 3
		save(t, s, snap)
		require.Empty(t, load(t, s, stream).Data)
	}
}

func testLowerVersion(t *testing.T, newStore NewStore) {
	s := newStore(t)
	save(t, s, snapshotAt("s", 5))
	for _, v := range []uint64{4, 1, 0} {
		require.NoError(t, s.SaveSnapshot(context.Background(), snapshotAt("s", v)),
			"a lower version is a no-op, not an error")
		requireSnapshot(t, snapshotAt("s", 5), load(t, s, "s"), "after saving version %d", v)
	}
}

func testEqualVersion(t *testing.T, newStore NewStore) {
	s := newStore(t)
	first := snapshotAt("s", 5)
	save(t, s, first)

	// Same version, every other field different: the second save wins.
	second := snapshotAt("s", 5)
	second.Position.ShardID = "shardId-000000000099"
	second.Position.SequenceNumber = shardlog.MakeSequenceNumber(99, 99)
	second.Type = "other-type"
	second.SchemaVersion = 99
	second.Data = []byte("rebuilt state at 5")
	second.TakenAt = epoch.Add(time.Hour)
	save(t, s, second)
	requireSnapshot(t, second, load(t, s, "s"), "stream %q", "s")

	save(t, s, first)
	requireSnapshot(t, first, load(t, s, "s"), "stream %q", "s")
}

func testHigherVersion(t *testing.T, newStore NewStore) {
	s := newStore(t)
	for _, v := range []uint64{1, 2, 10, 11, 1000, math.MaxInt64} {
		save(t, s, snapshotAt("s", v))
		requireSnapshot(t, snapshotAt("s", v), load(t, s, "s"), "stream %q", "s")
	}
}

func testManyStreams(t *testing.T, newStore NewStore) {
	s := newStore(t)
	const n = 100
	want := map[string]uint64{}
	for i := range n {
		stream := fmt.Sprintf("stream-%d", i)
		want[stream] = uint64(i%10 + 5)
		save(t, s, snapshotAt(stream, want[stream]))
	}
	// Move every third stream up and try to move every other stream down:
	// only the stream saved to changes, and only upwards.
	for i := range n {
		stream := fmt.Sprintf("stream-%d", i)
		switch {
		case i%3 == 0:
			want[stream] += 100
			save(t, s, snapshotAt(stream, want[stream]))
		case i%2 == 0:
			save(t, s, snapshotAt(stream, want[stream]-1))
		}
	}
	for stream, v := range want {
		requireSnapshot(t, snapshotAt(stream, v), load(t, s, stream), "stream %q", stream)
	}
	_, ok, err := s.LoadSnapshot(context.Background(), fmt.Sprintf("stream-%d", n))
	require.NoError(t, err)
	require.False(t, ok)
}

// streamIDs are stream IDs that a store naming anything after the stream
// ID (a file, a key, a URL) could confuse. Each is a distinct ID, 1 to 256
// Unicode code points long.
var streamIDs = []string{
	"a", "A", "order-1", "Order-1",
	"/", "//", "/etc/passwd", "a/b", "a/b/", "a//b", "trailing/",
	".", "..", "...", "../..", "../escape", "a/../b", "./a", ".hidden", "a.b", "a.", "~",
	`\`, `a\b`, `..\..\x`, `C:\x`, "C:", "CON", "nul", "aux.txt",
	" ", "  ", " a", "a ", "with space", "tab\tx", "new\nline", "cr\rx", "\x01", "\x7f", "del\x7fx",
	"%2F", "%2e%2e", "a%00b", "*", "?", "<>|\"':;", "$HOME", "`x`", "{a}", "[0]", "a=b&c=d", "#", "x#y",
	"é", "e\u0301", "ü", "ß", "SS", "ﬁ", "Å", "\u212b", "日本語", "한국어", "עברית", "🦈", "🦈🦈", "\ufeffbom", "\u200b",
	strings.Repeat("x", 255),
	strings.Repeat("x", 256),
	strings.Repeat("é", 256),
	strings.Repeat("日", 256),
	strings.Repeat("🦈", 256),
	strings.Repeat("/..", 85) + "/",
	strings.Repeat("a/", 128),
}

func testStreamIDs(t *testing.T, newStore NewStore) {
	s := newStore(t)
	seen := map[string]bool{}
	for i, id := range streamIDs {
		require.False(t, seen[id], "streamIDs[%d] %q is listed twice", i, id)
		seen[id] = true
		require.LessOrEqual(t, len([]rune(id)), shardlog.MaxPartitionKeyLength)
		save(t, s, snapshotAt(id, uint64(i+1)))
	}
	for i, id := range streamIDs {
		requireSnapshot(t, snapshotAt(id, uint64(i+1)), load(t, s, id), "stream %q", id)
	}
	// A save to one ID changes no other.
	for i, id := range streamIDs {
		save(t, s, snapshotAt(id, uint64(i+1000)))
	}
	for i, id := range streamIDs {
		requireSnapshot(t, snapshotAt(id, uint64(i+1000)), load(t, s, id), "stream %q", id)
	}
}

func testLargeData(t *testing.T, newStore NewStore) {
	s := newStore(t)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	for v, size := range []int{4 << 20, 3<<20 + 12345, 1 << 20, 4<<20 + 1} {
		snap := snapshotAt("big", uint64(v+1))
		snap.Data = make([]byte, size)
		_, _ = rng.Read(snap.Data)
		save(t, s, snap)
		got := load(t, s, "big")
		require.Len(t, got.Data, size)
		require.True(t, string(snap.Data) == string(got.Data), "%d bytes of data: differ", size)
		snap.Data = nil
		got.Data = nil
		requireSnapshot(t, snap, got, "%d bytes", size)
	}
}

func testConcurrentSaves(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := context.Background()
	const (
		streams = 3
		writers = 6
		per     = 20 // versions per writer and stream
		top     = writers * per
	)
	stream := func(i int) string { return fmt.Sprintf("contended-%d", i) }

	errs := make(chan error, streams*(writers+1))
	var wg sync.WaitGroup
	done := make(chan struct{})
	var readers sync.WaitGroup
	for i := range streams {
		// Writer w saves the versions w+1, w+1+writers, ... in a shuffled
		// order, so that saves of every version race with each other.
		for w := range writers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(i), uint64(w)))
				vs := make([]uint64, per)
				for k := range vs {
					vs[k] = uint64(w + 1 + k*writers)
				}
				rng.Shuffle(len(vs), func(a, b int) { vs[a], vs[b] = vs[b], vs[a] })
				for _, v := range vs {
					if err := s.SaveSnapshot(ctx, snapshotAt(stream(i), v)); err != nil {
						errs <- fmt.Errorf("SaveSnapshot(%q, %d): %w", stream(i), v, err)
						return
					}
				}
			})
		}
		// A reader loads until the writers are done: each snapshot it sees
		// is one save's, and the version never goes down.
		readers.Go(func() {
			var last uint64
			for {
				select {
				case <-done:
					return
				default:
				}
				got, ok, err := s.LoadSnapshot(ctx, stream(i))
				if err != nil {
					errs <- fmt.Errorf("LoadSnapshot(%q): %w", stream(i), err)
					return
				}
				if !ok {
					if last != 0 {
						errs <- fmt.Errorf("LoadSnapshot(%q): no snapshot after version %d", stream(i), last)
						return
					}
					continue
				}
				if err := sameSnapshot(snapshotAt(stream(i), got.Version), got); err != nil {
					errs <- fmt.Errorf("LoadSnapshot(%q) during saves: %w", stream(i), err)
					return
				}
				if got.Version < last {
					errs <- fmt.Errorf("LoadSnapshot(%q): version went down from %d to %d", stream(i), last, got.Version)
					return
				}
				last = got.Version
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i := range streams {
		requireSnapshot(t, snapshotAt(stream(i), top), load(t, s, stream(i)), "stream %q", stream(i))
	}
}

// sameSnapshot is requireSnapshot for goroutines other than the test's.
func sameSnapshot(want, got eventstore.Snapshot) error {
	d := got.TakenAt.Sub(want.TakenAt)
	if want.StreamID != got.StreamID || want.Version != got.Version ||
		want.Position.ShardID != got.Position.ShardID ||
		want.Position.SequenceNumber.Compare(got.Position.SequenceNumber) != 0 ||
		want.Type != got.Type || want.SchemaVersion != got.SchemaVersion ||
		string(want.Data) != string(got.Data) ||
		d <= -time.Microsecond || d >= time.Microsecond {
		return fmt.Errorf("got %+v, want %+v", got, want)
	}
	return nil
}

func testNoAliasing(t *testing.T, newStore NewStore) {
	s := newStore(t)
	snap := snapshotAt("s", 1)
	data := []byte("original")
	snap.Data = data
	save(t, s, snap)

	// The caller's slice, changed after SaveSnapshot returned.
	data[0] = 'X'
	require.Equal(t, []byte("original"), load(t, s, "s").Data, "SaveSnapshot must copy Data")

	// A loaded slice, changed by its caller.
	got := load(t, s, "s")
	got.Data[0] = 'Y'
	got.Data = append(got.Data[:cap(got.Data)], "more"...)
	again := load(t, s, "s")
	require.Equal(t, []byte("original"), again.Data, "LoadSnapshot must return a copy of Data")

	// Two loads do not share their slices either.
	a, b := load(t, s, "s"), load(t, s, "s")
	a.Data[1] = 'Z'
	require.Equal(t, []byte("original"), b.Data, "two LoadSnapshot calls must not share Data")
}
