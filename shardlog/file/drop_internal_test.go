package file

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// gateFS blocks the first call of Rename or RemoveAll whose target matches
// until release is closed, after telling entered.
type gateFS struct {
	FS
	match   func(op, name string) bool
	entered chan struct{}
	release chan struct{}
	fired   bool
}

func (g *gateFS) gate(op, name string) {
	if !g.fired && g.match(op, name) {
		g.fired = true
		close(g.entered)
		<-g.release
	}
}

func (g *gateFS) Rename(oldName, newName string) error {
	g.gate("rename", newName)
	return g.FS.Rename(oldName, newName)
}

func (g *gateFS) RemoveAll(name string) error {
	g.gate("removeall", name)
	return g.FS.RemoveAll(name)
}

// A read of a shard while its stream is being dropped must not leave that
// shard open in the cache: a stream created again under the same name has
// shards of the same IDs, and a stale open shard would serve the old
// stream's records to it and take its appends into a deleted file (lost at
// the next restart).
func TestDropStreamRacingRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	g := &gateFS{FS: OS(), entered: make(chan struct{}), release: make(chan struct{}),
		match: func(op, name string) bool { return op == "rename" && strings.Contains(name, trashDir) }}
	e, err := Open(dir, WithFS(g), WithPreallocation(false))
	require.NoError(t, err)
	ref := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000000"}
	old := shardlog.StreamMeta{Name: "s", ID: 1, Shards: []shardlog.ShardMeta{{ID: ref.ID}}}
	require.NoError(t, e.SaveStream(ctx, old))
	_, _, err = e.Append(ctx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte("old")}}, nil)
	require.NoError(t, err)

	dropped := make(chan error, 1)
	go func() { dropped <- e.DropStream(ctx, "s") }()
	<-g.entered
	// The drop has closed the shard and is moving the directory away.
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		_, _ = e.Read(ctx, ref, shardlog.SequenceNumber{}, 10, 1<<20)
	}()
	select {
	case <-readDone:
	case <-time.After(200 * time.Millisecond): // a read that waits for the drop is fine
	}
	close(g.release)
	require.NoError(t, <-dropped)
	<-readDone

	require.NoError(t, e.SaveStream(ctx, shardlog.StreamMeta{Name: "s", ID: 2, Shards: []shardlog.ShardMeta{{ID: ref.ID}}}))
	_, _, err = e.Append(ctx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte("new")}}, nil)
	require.NoError(t, err)
	datas := func(e *Engine) []string {
		recs, err := e.Read(ctx, ref, shardlog.SequenceNumber{}, 10, 1<<20)
		require.NoError(t, err)
		var out []string
		for _, r := range recs {
			out = append(out, string(r.Data))
		}
		return out
	}
	require.Equal(t, []string{"new"}, datas(e), "the new stream sees only its own records")
	require.NoError(t, e.Close())
	e, err = Open(dir, WithPreallocation(false))
	require.NoError(t, err)
	defer e.Close()
	require.Equal(t, []string{"new"}, datas(e), "the acknowledged record survives a restart")
}

// A read of a shard while it is being dropped neither leaves it open in
// the cache (over deleted files) nor brings its directory back.
func TestDropShardRacingRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	g := &gateFS{FS: OS(), entered: make(chan struct{}), release: make(chan struct{}),
		match: func(op, name string) bool {
			return op == "removeall" && strings.HasSuffix(name, "shardId-000000000000")
		}}
	e, err := Open(dir, WithFS(g), WithPreallocation(false))
	require.NoError(t, err)
	defer e.Close()
	ref := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000000"}
	require.NoError(t, e.SaveStream(ctx, shardlog.StreamMeta{Name: "s", ID: 1, Shards: []shardlog.ShardMeta{{ID: ref.ID}}}))
	_, _, err = e.Append(ctx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte("x")}}, nil)
	require.NoError(t, err)

	dropped := make(chan error, 1)
	go func() { dropped <- e.DropShard(ctx, ref) }()
	<-g.entered
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		_, _ = e.Read(ctx, ref, shardlog.SequenceNumber{}, 10, 1<<20)
	}()
	select {
	case <-readDone:
	case <-time.After(200 * time.Millisecond):
	}
	close(g.release)
	require.NoError(t, <-dropped)
	<-readDone
	e.mu.Lock()
	s := e.shards[shardKey{ref.Stream, ref.ID}]
	e.mu.Unlock()
	require.Nil(t, s, "the dropped shard is open in the cache")
	recs, err := e.Read(ctx, ref, shardlog.SequenceNumber{}, 10, 1<<20)
	require.NoError(t, err)
	require.Empty(t, recs)
	require.NoDirExists(t, e.shardDir(ref.Stream, ref.ID))
}
