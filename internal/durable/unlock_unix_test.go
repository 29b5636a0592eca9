//go:build unix

package durable_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/shoal-dev/shoal/internal/durable"
	"github.com/stretchr/testify/require"
)

// TestUnlockSharedOpenFile: a copy of the locked file's descriptor (what a
// child forked by another goroutine holds until it execs) does not keep
// the lock past Unlock, as it does past a plain Close.
func TestUnlockSharedOpenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "LOCK")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		require.NoError(t, err)
		return f
	}

	// A plain Close leaves the lock with the copy.
	f := open()
	require.NoError(t, durable.Lock(f, false))
	dup, err := syscall.Dup(int(f.Fd()))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	g := open()
	require.ErrorIs(t, durable.Lock(g, false), durable.ErrLocked)
	require.NoError(t, g.Close())
	require.NoError(t, syscall.Close(dup))

	// Unlock releases it for the copy too.
	f = open()
	require.NoError(t, durable.Lock(f, false))
	dup, err = syscall.Dup(int(f.Fd()))
	require.NoError(t, err)
	defer syscall.Close(dup)
	require.NoError(t, durable.Unlock(f))
	g = open()
	require.NoError(t, durable.Lock(g, false))
	require.NoError(t, durable.Unlock(g))
}
