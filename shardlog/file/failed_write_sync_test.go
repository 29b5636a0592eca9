package file_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/file/faultfs"
	"github.com/stretchr/testify/require"
)

// Under SyncInterval (and SyncNever) a put is acknowledged before its
// fdatasync. When a later write of the shard fails, the engine closes the
// shard to reopen it; closing it must still fdatasync what was written
// before the failure: the interval syncer no longer sees a closed shard,
// and nothing else would sync those acknowledged records until some call
// reopened the shard (Close of the engine included).
func TestFailedWriteSyncsAcknowledged(t *testing.T) {
	t.Parallel()
	ffs := faultfs.New(file.OS())
	ffs.OnlyPaths(func(p string) bool { return strings.HasSuffix(p, ".seg") })
	e, err := file.Open(t.TempDir(), file.WithFS(ffs), file.WithSync(file.SyncInterval(time.Hour)), file.WithPreallocation(false))
	require.NoError(t, err)
	ref := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000000"}
	_, _, err = e.Append(rtCtx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte("acknowledged")}}, nil)
	require.NoError(t, err)
	syncs := ffs.Syncs()
	ffs.FailWriteAfter(0, syscall.ENOSPC)
	_, _, err = e.Append(rtCtx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte("failed")}}, nil)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NoError(t, e.Close())
	require.Greater(t, ffs.Syncs(), syncs, "the acknowledged record was never fdatasync'd")
}
