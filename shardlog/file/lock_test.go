package file_test

import (
	"testing"

	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

func TestOpenLocksDirectory(t *testing.T) {
	dir := t.TempDir()
	e1, err := file.Open(dir)
	require.NoError(t, err)
	_, err = file.Open(dir)
	require.ErrorIs(t, err, file.ErrLocked, "a second engine must not open a directory in use")
	require.NoError(t, e1.Close())
	e2, err := file.Open(dir)
	require.NoError(t, err, "closing releases the lock")
	require.NoError(t, e2.Close())
}
