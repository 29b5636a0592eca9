package projection_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/projection/projectiontest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fileSlot is one test's directory and the FileStore open on it.
type fileSlot struct {
	dir string
	mu  sync.Mutex
	cur *projection.FileStore
}

// reopen closes the slot's store and opens the directory again, so the
// new store reads everything from disk.
func (f *fileSlot) reopen(t *testing.T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil {
		require.NoError(t, f.cur.Close())
	}
	s, err := projection.OpenFileStore(f.dir)
	require.NoError(t, err)
	f.cur = s
}

func (f *fileSlot) store() *projection.FileStore {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

// reopening is a CheckpointStore that calls the slot's current FileStore:
// a store the suite got before a reopen keeps working, on the reopened
// FileStore.
type reopening struct{ slot *fileSlot }

func (r reopening) Checkpoints(ctx context.Context, p string) (map[string]projection.Progress, error) {
	return r.slot.store().Checkpoints(ctx, p)
}

func (r reopening) SaveCheckpoint(ctx context.Context, p, shard string, pr projection.Progress, token uint64) error {
	return r.slot.store().SaveCheckpoint(ctx, p, shard, pr, token)
}

func (r reopening) Park(ctx context.Context, p string, ev projection.Parked, pr projection.Progress, token uint64) error {
	return r.slot.store().Park(ctx, p, ev, pr, token)
}

func (r reopening) Parked(ctx context.Context, p string) ([]projection.Parked, error) {
	return r.slot.store().Parked(ctx, p)
}

func (r reopening) Reset(ctx context.Context, p string) error {
	return r.slot.store().Reset(ctx, p)
}

func TestFileStore(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	slots := map[*testing.T]*fileSlot{}
	projectiontest.RunCheckpointStore(t, func(t *testing.T) projection.CheckpointStore {
		mu.Lock()
		slot := slots[t]
		if slot == nil {
			slot = &fileSlot{dir: t.TempDir()}
			slots[t] = slot
			t.Cleanup(func() {
				if s := slot.store(); s != nil {
					assert.NoError(t, s.Close())
				}
			})
		}
		mu.Unlock()
		slot.reopen(t) // every call after the first is a real reopen
		return reopening{slot}
	})
}

func openFileStore(t *testing.T, dir string) *projection.FileStore {
	t.Helper()
	s, err := projection.OpenFileStore(dir)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// dataFiles lists the projection files in dir.
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	return m
}

func TestFileStoreCorruptFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := openFileStore(t, dir)
	const shard = "shardId-000000000000"
	p := projection.Progress{After: shardlog.MakeSequenceNumber(5, 0)}
	require.NoError(t, s.SaveCheckpoint(ctx, "a", shard, p, 0))
	files := dataFiles(t, dir)
	require.Len(t, files, 1)
	fileA := files[0]
	require.NoError(t, s.SaveCheckpoint(ctx, "b", shard, p, 0))
	files = dataFiles(t, dir)
	require.Len(t, files, 2)
	fileB := files[0]
	if fileB == fileA {
		fileB = files[1]
	}
	good, err := os.ReadFile(fileA)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("\x00\xffnot json")},
		{"torn", good[:len(good)/2]},
		{"empty", []byte{}},
		{"trailing", append(slices.Clone(good), "{}"...)},
		{"format", []byte(strings.Replace(string(good), `"format":1`, `"format":9`, 1))},
		{"other projection", good}, // a's file under b's name
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(fileB, tc.data, 0o644))
			s, err := projection.OpenFileStore(dir)
			require.NoError(t, err)
			defer s.Close()
			_, err = s.Checkpoints(ctx, "b")
			require.Error(t, err)
			assert.Contains(t, err.Error(), fileB, "the error names the file")
			_, err = s.Parked(ctx, "b")
			assert.ErrorContains(t, err, fileB)
			err = s.SaveCheckpoint(ctx, "b", shard, p, 0)
			assert.ErrorContains(t, err, fileB, "a write does not replace a corrupt file")
			got, err := os.ReadFile(fileB)
			require.NoError(t, err)
			assert.Equal(t, tc.data, got, "the corrupt file is left alone")

			cps, err := s.Checkpoints(ctx, "a")
			require.NoError(t, err, "other projections still work")
			assert.Equal(t, p, cps[shard])
		})
	}

	// Reset removes a corrupt file without reading it.
	s = openFileStore(t, dir)
	require.NoError(t, s.Reset(ctx, "b"))
	cps, err := s.Checkpoints(ctx, "b")
	require.NoError(t, err)
	assert.Empty(t, cps)
	assert.NoFileExists(t, fileB)
}

func TestFileStoreExclusive(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "dir")
	s, err := projection.OpenFileStore(dir)
	require.NoError(t, err, "creates the directory")
	assert.DirExists(t, dir)
	assert.Equal(t, dir, s.Dir())

	if flockOS() {
		_, err = projection.OpenFileStore(dir)
		require.Error(t, err, "a second store on the same directory")
		assert.Contains(t, err.Error(), "in use")
	}

	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice")
	_, err = s.Checkpoints(context.Background(), "p")
	assert.Error(t, err, "a closed store")

	again, err := projection.OpenFileStore(dir)
	require.NoError(t, err, "Close released the lock")
	require.NoError(t, again.Close())

	_, err = projection.OpenFileStore("")
	assert.Error(t, err)
	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o644))
	_, err = projection.OpenFileStore(notDir)
	assert.Error(t, err)
}

// flockOS reports whether the FileStore locks its directory here.
func flockOS() bool {
	switch runtime.GOOS {
	case "windows", "plan9", "js", "wasip1":
		return false
	}
	return true
}

func TestFileStoreRefusesTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := openFileStore(t, dir)
	const shard = "shardId-000000000000"
	p := projection.Progress{After: shardlog.MakeSequenceNumber(1, 0)}
	err := s.SaveCheckpoint(ctx, "p", shard, p, 1)
	assert.ErrorIs(t, err, projection.ErrLeaseLost)
	assert.ErrorContains(t, err, "no leases")
	err = s.Park(ctx, "p", projection.Parked{Shard: shard, SequenceNumber: p.After, Error: "x", ParkedAt: time.Now()}, p, 7)
	assert.ErrorIs(t, err, projection.ErrLeaseLost)
	cps, err := s.Checkpoints(ctx, "p")
	require.NoError(t, err)
	assert.Empty(t, cps)
	parked, err := s.Parked(ctx, "p")
	require.NoError(t, err)
	assert.Empty(t, parked)
	assert.Empty(t, dataFiles(t, dir), "nothing was written")
}

func TestFileStoreNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	names := []string{"", ".", "..", "../escape", "a/b", `c:\d`, "Upper", "upper", "ünïcødé ✓", "nul\x00byte", strings.Repeat("x", 120), strings.Repeat("y", 121), strings.Repeat("z", 5000)}
	s := openFileStore(t, dir)
	for i, name := range names {
		require.NoError(t, s.SaveCheckpoint(ctx, name, "shardId-000000000000", projection.Progress{After: shardlog.MakeSequenceNumber(uint64(i+1), 0)}, 0), "%q", name)
	}
	require.NoError(t, s.Close())
	assert.Len(t, dataFiles(t, dir), len(names), "one file per projection, all inside dir")

	// A stray temporary file of an interrupted write is removed on open.
	stray := filepath.Join(dir, "p-61.tmp")
	require.NoError(t, os.WriteFile(stray, []byte("half"), 0o644))
	s = openFileStore(t, dir)
	assert.NoFileExists(t, stray)
	for i, name := range names {
		cps, err := s.Checkpoints(ctx, name)
		require.NoError(t, err, "%q", name)
		assert.Equal(t, map[string]projection.Progress{"shardId-000000000000": {After: shardlog.MakeSequenceNumber(uint64(i+1), 0)}}, cps, "%q", name)
	}
}

func TestFileStoreResetIsDurable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := openFileStore(t, dir)
	require.NoError(t, s.SaveCheckpoint(ctx, "p", "shardId-000000000000", projection.Progress{Done: true}, 0))
	require.NoError(t, s.Reset(ctx, "p"))
	require.NoError(t, s.Close())
	s = openFileStore(t, dir)
	cps, err := s.Checkpoints(ctx, "p")
	require.NoError(t, err)
	assert.Empty(t, cps)
	assert.Empty(t, dataFiles(t, dir))

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, s.SaveCheckpoint(cctx, "p", "shardId-000000000000", projection.Progress{Done: true}, 0), context.Canceled)
}

// Checkpoint files, the lock and the directory are private to the owner.
func TestFileStoreModes(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	dir := filepath.Join(t.TempDir(), "cp")
	s := openFileStore(t, dir)
	require.NoError(t, s.SaveCheckpoint(context.Background(), "p", "shardId-000000000000", projection.Progress{Done: true}, 0))
	require.NotEmpty(t, dataFiles(t, dir))
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		require.Zero(t, fi.Mode().Perm()&0o077, "%s has mode %s", path, fi.Mode().Perm())
		return nil
	}))
}
