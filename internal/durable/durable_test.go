package durable_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/shoal-dev/shoal/internal/durable"
	"github.com/stretchr/testify/require"
)

func TestWriteFileAndSyncDir(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(p, []byte("a longer stray content"), 0o644))
	require.NoError(t, durable.WriteFile(p, []byte("new")))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "new", string(b), "a stray file is truncated")
	require.NoError(t, durable.SyncDirPath(dir))
	require.Error(t, durable.SyncDirPath(filepath.Join(dir, "missing")))
}

func TestLock(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock")
	}
	p := filepath.Join(t.TempDir(), "LOCK")
	a, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, durable.Lock(a, false))
	b, err := os.Open(p)
	require.NoError(t, err)
	defer b.Close()
	require.ErrorIs(t, durable.Lock(b, false), durable.ErrLocked)
	require.NoError(t, a.Close())
	require.NoError(t, durable.Lock(b, false), "closing the holder releases it")
}

func TestReplaceFile(t *testing.T) {
	dir := t.TempDir()
	p, tmp := filepath.Join(dir, "f"), filepath.Join(dir, "f.tmp")
	require.NoError(t, os.WriteFile(p, []byte("old"), 0o644))
	require.NoError(t, os.WriteFile(tmp, []byte("stray temporary file"), 0o666))
	require.NoError(t, durable.ReplaceFile(p, tmp, []byte("new"), 0o600))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "new", string(b))
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the mode asked for, even over a stray file")
	}
	_, err = os.Stat(tmp)
	require.ErrorIs(t, err, os.ErrNotExist, "the temporary file is gone")
	require.Error(t, durable.ReplaceFile(filepath.Join(dir, "missing", "f"), filepath.Join(dir, "missing", "f.tmp"), []byte("x"), 0o600))
}

// What the package creates is private to the owner: EnsureDir's
// directories 0700, WriteFile's files 0600 (ReplaceFile takes the mode;
// the stores pass FileMode).
func TestModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	require.NoError(t, durable.EnsureDir(dir))
	require.NoError(t, durable.WriteFile(filepath.Join(dir, "f"), []byte("x")))
	require.NoError(t, durable.ReplaceFile(filepath.Join(dir, "g"), filepath.Join(dir, "g.tmp"), []byte("y"), durable.FileMode))
	for _, p := range []string{filepath.Dir(dir), dir, filepath.Join(dir, "f"), filepath.Join(dir, "g")} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		require.Zero(t, fi.Mode().Perm()&0o077, "%s has mode %s", p, fi.Mode().Perm())
	}
}
