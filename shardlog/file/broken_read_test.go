package file_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/file/faultfs"
	"github.com/stretchr/testify/require"
)

// After a failed fdatasync a shard refuses appends until the engine is
// reopened, but the records it showed before stay readable, also once the
// cache of open shards needs room for other shards: closing it would leave
// nothing to read them from but a reopening, which a failed sync forbids.
func TestSyncFailedShardStaysReadable(t *testing.T) {
	t.Parallel()
	ffs := faultfs.New(file.OS())
	e, err := file.Open(t.TempDir(), file.WithFS(ffs), file.WithMaxOpenFiles(1), file.WithPreallocation(false))
	require.NoError(t, err)
	defer e.Close()
	ref := func(i int) shardlog.ShardRef {
		return shardlog.ShardRef{Stream: "s", ID: fmt.Sprintf("shardId-%012d", i), Index: uint32(i)}
	}
	put := func(i int, d string) error {
		_, _, err := e.Append(rtCtx, ref(i), time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte(d)}}, nil)
		return err
	}
	require.NoError(t, put(0, "before"))
	ffs.OnlyPaths(func(p string) bool { return strings.Contains(p, ref(0).ID) && strings.HasSuffix(p, ".seg") })
	ffs.FailSyncAfter(0, syscall.EIO)
	require.ErrorIs(t, put(0, "failed"), syscall.EIO)
	for i := 1; i <= 3; i++ { // the cache wants room
		require.NoError(t, put(i, "other"))
	}
	recs, err := e.Read(rtCtx, ref(0), shardlog.SequenceNumber{}, 10, 1<<20)
	require.NoError(t, err, "reading what was visible before the failed sync")
	require.Len(t, recs, 1)
	require.Equal(t, "before", string(recs[0].Data))
	require.ErrorIs(t, put(0, "after"), syscall.EIO, "appends stay refused")
}
