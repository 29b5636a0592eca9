package filesnapshot

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/eventstore/snapshottest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func TestConformance(t *testing.T) {
	snapshottest.Run(t, func(t *testing.T) eventstore.SnapshotStore {
		s, err := Open(t.TempDir())
		require.NoError(t, err)
		return s
	})
}

// testSnapshot is a snapshot of stream at version v.
func testSnapshot(stream string, v uint64) eventstore.Snapshot {
	return eventstore.Snapshot{
		StreamID: stream,
		Version:  v,
		Position: eventstore.Position{
			ShardID:        "shardId-000000000001",
			SequenceNumber: shardlog.MakeSequenceNumber(1_000_000+v, 1),
		},
		Type:          "order",
		SchemaVersion: 2,
		Data:          fmt.Appendf(nil, `{"version":%d}`, v),
		TakenAt:       time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
	}
}

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	require.NoError(t, err)
	return s
}

func mustSave(t *testing.T, s *Store, snap eventstore.Snapshot) {
	t.Helper()
	require.NoError(t, s.SaveSnapshot(context.Background(), snap))
}

func mustLoad(t *testing.T, s *Store, stream string) eventstore.Snapshot {
	t.Helper()
	snap, ok, err := s.LoadSnapshot(context.Background(), stream)
	require.NoError(t, err)
	require.True(t, ok, "stream %q has no snapshot", stream)
	return snap
}

func TestOpenCreatesLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := openStore(t, dir)
	require.Equal(t, dir, s.Dir())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 256)
	for i, e := range entries {
		require.True(t, e.IsDir())
		require.Equal(t, fmt.Sprintf("%02x", i), e.Name())
	}

	// Opening again changes nothing and keeps the snapshots.
	mustSave(t, s, testSnapshot("order-1", 3))
	again := openStore(t, dir)
	require.Equal(t, testSnapshot("order-1", 3), mustLoad(t, again, "order-1"))
}

func TestOpenErrors(t *testing.T) {
	_, err := Open("")
	require.Error(t, err)

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	_, err = Open(file)
	require.ErrorContains(t, err, "not a directory")
}

func TestFileNaming(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	for _, id := range []string{"..", "../../etc/passwd", "a/b", "nul\x00byte", "\xff\xfe not UTF-8", strings.Repeat("🦈", 1000), ""} {
		mustSave(t, s, testSnapshot(id, 1))
		require.Equal(t, testSnapshot(id, 1), mustLoad(t, s, id))
		_, path := s.file(id)
		rel, err := filepath.Rel(dir, path)
		require.NoError(t, err)
		require.Regexp(t, `^[0-9a-f]{2}/[0-9a-f]{64}\.snap$`, filepath.ToSlash(rel))
		require.Equal(t, filepath.Base(path)[:2], filepath.Base(filepath.Dir(path)))
	}
}

// TestRoundTripNanoseconds: the file keeps TakenAt to the nanosecond, in
// UTC, and the zero time as the zero time.
func TestRoundTripNanoseconds(t *testing.T) {
	s := openStore(t, t.TempDir())
	for i, at := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", -7*3600)),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		{},
	} {
		snap := testSnapshot("t", uint64(i+1))
		snap.TakenAt = at
		mustSave(t, s, snap)
		got := mustLoad(t, s, "t")
		require.True(t, at.Equal(got.TakenAt), "got %v, want %v", got.TakenAt, at)
		require.Equal(t, time.UTC, got.TakenAt.Location())
		require.Equal(t, at.IsZero(), got.TakenAt == time.Time{})
	}
}

func TestCorruptFlippedByte(t *testing.T) {
	s := openStore(t, t.TempDir())
	snap := testSnapshot("order-1", 7)
	mustSave(t, s, snap)
	_, path := s.file("order-1")
	good, err := os.ReadFile(path)
	require.NoError(t, err)

	for i := range good {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := append([]byte(nil), good...)
			bad[i] ^= mask
			require.NoError(t, os.WriteFile(path, bad, 0o644))
			_, ok, err := s.LoadSnapshot(context.Background(), "order-1")
			require.ErrorIs(t, err, ErrCorrupt, "byte %d ^ %#x", i, mask)
			require.ErrorContains(t, err, path)
			require.False(t, ok)
		}
	}

	// A corrupt file is not replaced, not even by a higher version.
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	require.NoError(t, os.WriteFile(path, bad, 0o644))
	err = s.SaveSnapshot(context.Background(), testSnapshot("order-1", 8))
	require.ErrorIs(t, err, ErrCorrupt)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, bad, after)

	// Once an operator removed it, saves work again.
	require.NoError(t, os.Remove(path))
	_, ok, err := s.LoadSnapshot(context.Background(), "order-1")
	require.NoError(t, err)
	require.False(t, ok)
	mustSave(t, s, testSnapshot("order-1", 8))
	require.Equal(t, testSnapshot("order-1", 8), mustLoad(t, s, "order-1"))
}

func TestCorruptTruncatedOrExtended(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustSave(t, s, testSnapshot("order-1", 7))
	_, path := s.file("order-1")
	good, err := os.ReadFile(path)
	require.NoError(t, err)

	for n := range len(good) {
		require.NoError(t, os.WriteFile(path, good[:n], 0o644))
		_, _, err := s.LoadSnapshot(context.Background(), "order-1")
		require.ErrorIs(t, err, ErrCorrupt, "truncated to %d bytes", n)
	}
	for _, tail := range [][]byte{{0}, []byte("garbage"), make([]byte, 4096)} {
		require.NoError(t, os.WriteFile(path, append(append([]byte(nil), good...), tail...), 0o644))
		_, _, err := s.LoadSnapshot(context.Background(), "order-1")
		require.ErrorIs(t, err, ErrCorrupt, "%d bytes appended", len(tail))
	}
}

// TestCorruptBody: a body whose CRC matches but whose fields do not fit
// (a bug, or a file crafted by hand) is corrupt too.
func TestCorruptBody(t *testing.T) {
	good, err := encode(testSnapshot("order-1", 7))
	require.NoError(t, err)
	body := good[headerSize:]
	reseal := func(body []byte) []byte {
		b := append([]byte(nil), good[:headerSize]...)
		b = append(b, body...)
		le := func(off int, v uint32) {
			b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		}
		le(16, uint32(len(body)))
		le(8, crcOf(b[crcStart:]))
		return b
	}
	cases := map[string][]byte{
		"stream ID length past the end": append([]byte{0xff, 0xff, 0xff, 0x7f}, body[4:]...),
		"cut after the version":         body[:4+7+8],
		"trailing bytes":                append(append([]byte(nil), body...), 1, 2, 3),
		"empty body":                    {},
	}
	// Nanoseconds of a second and more.
	nsecAt := len(body) - 4 - len(`{"version":7}`) - 4
	bad := append([]byte(nil), body...)
	bad[nsecAt], bad[nsecAt+1], bad[nsecAt+2], bad[nsecAt+3] = 0x00, 0xca, 0x9a, 0x3b // 1e9
	cases["taken at 1e9 nanoseconds"] = bad

	for name, body := range cases {
		_, err := decode(reseal(body))
		require.ErrorIs(t, err, ErrCorrupt, name)
	}
	_, err = decode(reseal(body))
	require.NoError(t, err, "reseal itself works")
}

func TestCorruptOtherStream(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustSave(t, s, testSnapshot("a", 1))
	mustSave(t, s, testSnapshot("b", 9))
	_, pathA := s.file("a")
	_, pathB := s.file("b")
	b, err := os.ReadFile(pathB)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(pathA, b, 0o644))

	_, _, err = s.LoadSnapshot(context.Background(), "a")
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, `holds stream "b"`)
	require.ErrorIs(t, s.SaveSnapshot(context.Background(), testSnapshot("a", 10)), ErrCorrupt)
}

func TestNotAFile(t *testing.T) {
	s := openStore(t, t.TempDir())
	_, path := s.file("dir")
	require.NoError(t, os.Mkdir(path, 0o755))
	_, _, err := s.LoadSnapshot(context.Background(), "dir")
	require.Error(t, err)
	require.Error(t, s.SaveSnapshot(context.Background(), testSnapshot("dir", 1)))
}

// TestCrashMidWrite: a save interrupted before its rename leaves the old
// snapshot, and a .tmp file that Open and Load ignore and the next save of
// the stream replaces.
func TestCrashMidWrite(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustSave(t, s, testSnapshot("order-1", 1))
	_, path := s.file("order-1")
	tmp := strings.TrimSuffix(path, snapExt) + tmpExt

	newer, err := encode(testSnapshot("order-1", 2))
	require.NoError(t, err)
	for name, content := range map[string][]byte{
		"empty":     {},
		"half":      newer[:len(newer)/2],
		"whole":     newer, // written and fsynced, not renamed
		"garbage":   []byte("not a snapshot"),
		"zero-fill": make([]byte, len(newer)),
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(tmp, content, 0o644))
			reopened := openStore(t, dir)
			require.Equal(t, testSnapshot("order-1", 1), mustLoad(t, reopened, "order-1"))
			_, ok, err := reopened.LoadSnapshot(context.Background(), "order-2")
			require.NoError(t, err)
			require.False(t, ok)
		})
	}

	// Stray temporary files of other streams are ignored as well, and the
	// next save of the stream replaces its own.
	other := filepath.Join(filepath.Dir(path), strings.Repeat("0", 64)+tmpExt)
	require.NoError(t, os.WriteFile(other, []byte("x"), 0o644))
	reopened := openStore(t, dir)
	mustSave(t, reopened, testSnapshot("order-1", 3))
	require.Equal(t, testSnapshot("order-1", 3), mustLoad(t, reopened, "order-1"))
	_, err = os.Stat(tmp)
	require.ErrorIs(t, err, os.ErrNotExist, "the save renamed its temporary file")
}

// TestNoTempFileLeft: a successful save leaves only the .snap file.
func TestNoTempFileLeft(t *testing.T) {
	s := openStore(t, t.TempDir())
	mustSave(t, s, testSnapshot("order-1", 1))
	mustSave(t, s, testSnapshot("order-1", 2))
	mustSave(t, s, testSnapshot("order-1", 1)) // no-op
	_, path := s.file("order-1")
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, filepath.Base(path), entries[0].Name())
}

// TestStoresShareDirectory: two Stores on one directory (as two processes
// would be) serialize their saves through the directory lock, so the
// highest version wins.
func TestStoresShareDirectory(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no flock: one process at a time")
	}
	dir := t.TempDir()
	stores := []*Store{openStore(t, dir), openStore(t, dir), openStore(t, dir)}
	const versions = 60
	var wg sync.WaitGroup
	errs := make(chan error, versions)
	for i, v := range rand.Perm(versions) {
		version := uint64(v + 1)
		s := stores[i%len(stores)]
		wg.Go(func() {
			if err := s.SaveSnapshot(context.Background(), testSnapshot("shared", version)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, s := range stores {
		require.Equal(t, testSnapshot("shared", versions), mustLoad(t, s, "shared"))
	}
}

func TestContextCanceled(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.SaveSnapshot(ctx, testSnapshot("a", 1)), context.Canceled)
	_, _, err := s.LoadSnapshot(ctx, "a")
	require.ErrorIs(t, err, context.Canceled)
	_, ok, err := s.LoadSnapshot(context.Background(), "a")
	require.NoError(t, err)
	require.False(t, ok, "a canceled save wrote nothing")
}

// Snapshots and their directories are private to the owner (0600, 0700).
func TestModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	dir := filepath.Join(t.TempDir(), "snaps")
	s := openStore(t, dir)
	mustSave(t, s, testSnapshot("order-1", 3))
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		require.Zero(t, fi.Mode().Perm()&0o077, "%s has mode %s", path, fi.Mode().Perm())
		n++
		return nil
	}))
	require.Greater(t, n, 257)
}
