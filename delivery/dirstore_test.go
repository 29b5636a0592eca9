package delivery_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/objectstoretest"
	"github.com/shoal-dev/shoal/internal/durable"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func newDirStore(t *testing.T) delivery.ObjectStore {
	t.Helper()
	s, err := delivery.NewDirStore(filepath.Join(t.TempDir(), "objects"))
	require.NoError(t, err)
	return s
}

func TestDirStoreContract(t *testing.T) {
	objectstoretest.Run(t, newDirStore)
}

func TestDirStoreUnsafeKeys(t *testing.T) {
	ctx := context.Background()
	s := newDirStore(t)
	bad := map[string]string{
		"empty":        "",
		"absolute":     "/etc/passwd",
		"dotdot":       "a/../../b",
		"leading dots": "../b",
		"dot":          "a/./b",
		"empty seg":    "a//b",
		"trailing /":   "a/b/",
		"NUL":          "a\x00b",
		"too long":     strings.Repeat("k", delivery.MaxObjectKeyLength+1),
		"temp name":    "a/.shoal-tmp-0123",
	}
	for name, key := range bad {
		t.Run(name, func(t *testing.T) {
			err := s.Put(ctx, key, []byte("x"))
			var ae *shardlog.ArgumentError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, "key", ae.Field)
			require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
			_, err = s.Get(ctx, key)
			require.ErrorAs(t, err, &ae)
		})
	}
	// The longest key is fine (as segments the filesystem accepts).
	long := strings.Repeat(strings.Repeat("k", 200)+"/", 5)
	long += strings.Repeat("k", delivery.MaxObjectKeyLength-len(long))
	require.NoError(t, s.Put(ctx, long, []byte("x")))

	for _, err := range s.List(ctx, "../") {
		var ae *shardlog.ArgumentError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "prefix", ae.Field)
	}
	for _, err := range s.(delivery.ObjectLister).ListPrefixes(ctx, "a//") {
		var ae *shardlog.ArgumentError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "prefix", ae.Field)
	}
	_, err := delivery.NewDirStore("")
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
}

func TestDirStoreFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := delivery.NewDirStore(dir)
	require.NoError(t, err)
	require.NoError(t, s.Put(ctx, "x/y/z.gz", []byte("data")))

	// The object is a plain file at its key's path, private to the owner.
	fi, err := os.Stat(filepath.Join(dir, "x", "y", "z.gz"))
	require.NoError(t, err)
	require.Equal(t, durable.FileMode, fi.Mode().Perm())
	di, err := os.Stat(filepath.Join(dir, "x", "y"))
	require.NoError(t, err)
	require.Equal(t, durable.DirMode, di.Mode().Perm())

	// A temporary file a crashed Put left behind is not an object.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x", "y", ".shoal-tmp-deadbeef"), []byte("torn"), 0o600))
	var keys []string
	for k, err := range s.List(ctx, "") {
		require.NoError(t, err)
		keys = append(keys, k)
	}
	require.Equal(t, []string{"x/y/z.gz"}, keys)

	// A key that is a directory of other keys cannot also be an object.
	err = s.Put(ctx, "x/y", []byte("no"))
	require.Error(t, err)
	_, err = s.Get(ctx, "x/y")
	require.ErrorIs(t, err, delivery.ErrObjectNotFound)

	// A canceled context stops a Put and a List.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, s.Put(cctx, "c", []byte("c")), context.Canceled)
	for _, err := range s.List(cctx, "") {
		require.True(t, errors.Is(err, context.Canceled))
	}
}
