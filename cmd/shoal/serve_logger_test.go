package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/internal/testlog"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// TestServeLogsTornTail: shoal serve hands its logger to the engine, so
// the warning about a torn tail truncated at recovery is not dropped.
func TestServeLogsTornTail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	eng, err := file.Open(dir, file.WithPreallocation(false))
	require.NoError(t, err)
	l, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
	for _, d := range []string{"one", "two"} {
		_, err := l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte(d)})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	segs, err := filepath.Glob(filepath.Join(dir, "streams", "s-s", "shards", "shardId-000000000000", "*.seg"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	fi, err := os.Stat(segs[0])
	require.NoError(t, err)
	require.NoError(t, os.Truncate(segs[0], fi.Size()-3)) // the last frame torn

	var logs testlog.Buffer
	addr, stop := startServe(t, serveOptions{DataDir: dir, logger: logs.Logger(slog.LevelInfo)})
	c := newClient("http://"+addr, nil, "", "")
	require.Equal(t, []string{"one"}, recordData(t, ctx, c, "s"))
	require.NoError(t, stop())
	require.Contains(t, logs.String(), "truncating torn tail")
}
