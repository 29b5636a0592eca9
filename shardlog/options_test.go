package shardlog_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// expireShard splits a stream's only shard and lets the parent expire, so
// that EnforceRetention drops it and logs that it did.
func expireShard(t *testing.T, opts ...shardlog.Option) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	opts = append([]shardlog.Option{shardlog.WithClock(func() time.Time { return now }), shardlog.WithRetentionInterval(0)}, opts...)
	l, err := shardlog.Open(ctx, memory.New(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if err := l.SplitShard(ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: "shardId-000000000000", NewStartingHashKey: "1000"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(25 * time.Hour)
	if err := l.EnforceRetention(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWithLoggerNil: a nil logger (and a nil option) means the default,
// never a panic when the Log logs.
func TestWithLoggerNil(t *testing.T) {
	expireShard(t, shardlog.WithLogger(nil), nil)
}

// TestWithLogger: the logger given gets the Log's messages.
func TestWithLogger(t *testing.T) {
	var buf bytes.Buffer
	expireShard(t, shardlog.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	if !bytes.Contains(buf.Bytes(), []byte("shard expired")) {
		t.Fatalf("log = %q, want the expired shard", buf.String())
	}
}
