package file_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

// mdRequirePrivate walks dir and fails on any file readable or writable by
// group or others, and any directory they may enter or list.
func mdRequirePrivate(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		require.Zero(t, info.Mode().Perm()&0o077, "%s has mode %s", path, info.Mode().Perm())
		n++
		return nil
	}))
	return n
}

// Everything the engine, Check's Repair and an orphan's move create is
// private to the owner: files 0600, directories 0700.
func TestFileModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	l := rtOpen(t, dir, file.WithPreallocation(true))
	rtCreate(t, l, rtStream, 1)
	rtCreate(t, l, "other", 2)
	recs := rtPutN(t, l, rtStream, 0, 2*rtPerSeg+3) // full segments, indexes, a prepared file
	rtClose(t, l)

	// A repair (quarantine) and an orphan moved aside.
	segs := rtSegs(t, dir, rtStream, rtShard0)
	off := rtLayout(recs)[3].off
	rtFlip(t, segs[0], off+5)
	rep := ckCheck(t, dir)
	require.Len(t, rep.Problems, 1)
	_, err := file.Repair(dir, rep.Problems[0])
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(dir, "streams", "s-"+rtStream, "stream.json")))
	l = rtOpen(t, dir)
	rtCreate(t, l, rtStream, 1)
	rtPutN(t, l, rtStream, 0, 3)
	rtClose(t, l)
	require.DirExists(t, filepath.Join(dir, "quarantine"))
	require.DirExists(t, filepath.Join(dir, "orphans"))

	require.Greater(t, mdRequirePrivate(t, dir), 20)
}

// A data directory created open (0755, as earlier versions did) is made
// private at Open.
func TestFileModesTightened(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	streams := filepath.Join(dir, "streams")
	require.NoError(t, os.Mkdir(streams, 0o755))
	require.NoError(t, os.Chmod(streams, 0o755))
	l := rtOpen(t, dir)
	rtClose(t, l)
	st, err := os.Stat(streams)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())
}
