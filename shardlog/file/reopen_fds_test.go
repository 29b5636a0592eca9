package file_test

import (
	"bytes"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

// countFS counts the files open through it, and the most open at once.
type countFS struct {
	file.FS
	mu        sync.Mutex
	open, max int
}

func (c *countFS) OpenFile(name string, flag int, perm fs.FileMode) (file.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.open++
	c.max = max(c.max, c.open)
	c.mu.Unlock()
	return &countFile{File: f, c: c}, nil
}

type countFile struct {
	file.File
	c    *countFS
	once sync.Once
}

func (f *countFile) Close() error {
	f.once.Do(func() {
		f.c.mu.Lock()
		f.c.open--
		f.c.mu.Unlock()
	})
	return f.File.Close()
}

// Opening a shard (at a restart, or after the cache closed it) holds one
// descriptor at a time for its full segments, however many it has: a
// shard with more segments than the process may open files must open.
func TestReopenShardOfManySegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := []file.Option{file.WithSegmentSize(1 << 10), file.WithPreallocation(false), file.WithSync(file.SyncNever)}
	e, err := file.Open(dir, opts...)
	require.NoError(t, err)
	ref := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000000"}
	for range 200 { // 200 segments
		_, _, err := e.Append(rtCtx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: bytes.Repeat([]byte("x"), 900)}}, nil)
		require.NoError(t, err)
	}
	require.NoError(t, e.Close())

	c := &countFS{FS: file.OS()}
	e, err = file.Open(dir, append(opts, file.WithFS(c))...)
	require.NoError(t, err)
	defer e.Close()
	recs, err := e.Read(rtCtx, ref, shardlog.SequenceNumber{}, 1000, 1<<30)
	require.NoError(t, err)
	require.Len(t, recs, 200)
	c.mu.Lock()
	defer c.mu.Unlock()
	require.LessOrEqual(t, c.max, 4, "files open at once while the shard opened and was read")
}
