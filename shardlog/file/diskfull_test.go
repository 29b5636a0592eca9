package file_test

import (
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/shoal-dev/shoal/internal/testlog"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/file/faultfs"
	"github.com/stretchr/testify/require"
)

// A full disk: while segment writes fail with ENOSPC, puts fail with an
// error naming the cause, each failure is logged with the stream, shard
// and file, and Health lists the shard. Once space is free, the next put
// reopens the shard (recovering its tail) and succeeds, Health is empty,
// and every acknowledged record is there byte-exact, before and after a
// restart.
func TestDiskFullRecovers(t *testing.T) {
	t.Parallel()
	for _, policy := range []file.SyncPolicy{file.SyncAlways, file.SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			var logs testlog.Buffer
			e, acked := dfOpen(t, policy, &logs)
			for i := range 20 {
				r, err := e.put(0, i)
				require.NoError(t, err)
				acked[0] = append(acked[0], r)
			}
			for i := range 3 { // the disk stays full for three puts
				e.ffs.FailWriteAfterPartial(0, 7, syscall.ENOSPC) // a torn write
				_, err := e.put(0, 100+i)
				require.Error(t, err)
				require.ErrorIs(t, err, syscall.ENOSPC)
				require.ErrorIs(t, err, shardlog.ErrInternalFailure)
				require.Contains(t, err.Error(), "no space left on device")
				h := e.eng.Health()
				require.Len(t, h, 1)
				require.Equal(t, rtStream, h[0].Stream)
				require.Equal(t, ftShardID(0), h[0].Shard)
				require.False(t, h[0].Fatal)
				require.ErrorIs(t, h[0].Err, syscall.ENOSPC)
				require.True(t, strings.HasSuffix(h[0].File, ".seg"), h[0].File)
			}
			out := logs.String()
			require.Equal(t, 3, strings.Count(out, "shardlog/file: write failed"), out)
			require.Contains(t, out, "stream="+rtStream)
			require.Contains(t, out, "shard="+ftShardID(0))
			require.Contains(t, out, "file="+e.shardDir(0))
			require.Contains(t, out, "no space left on device")

			// Space is free again.
			for i := range 5 {
				r, err := e.put(0, 200+i)
				require.NoError(t, err, "put %d after the disk has room", i)
				acked[0] = append(acked[0], r)
			}
			require.Empty(t, e.eng.Health())
			got, err := rtReadAll(e.l, rtStream, ftShardID(0))
			require.NoError(t, err)
			rtRequireRecords(t, acked[0], got)
			require.NoError(t, e.l.Close())
			ftCheckReopened(t, e.dir, acked[0], nil, acked[1])
		})
	}
}

// A failed fdatasync stays fatal for its shard: the kernel may have
// dropped the pages it could not write, so the engine does not reopen the
// shard behind the caller's back. Health reports it as fatal; puts to it
// fail until the engine is reopened; nothing acknowledged is lost.
func TestDiskFullSyncFailureSticky(t *testing.T) {
	t.Parallel()
	var logs testlog.Buffer
	e, acked := dfOpen(t, file.SyncAlways, &logs)
	e.ffs.FailSyncAfter(0, syscall.EIO)
	failed, err := e.put(0, 1)
	require.ErrorIs(t, err, syscall.EIO)
	for i := range 3 {
		_, err := e.put(0, 2+i)
		require.ErrorIs(t, err, syscall.EIO, "put %d after the failed sync", i)
	}
	h := e.eng.Health()
	require.Len(t, h, 1)
	require.True(t, h[0].Fatal)
	require.Contains(t, h[0].String(), "sync failed")
	require.Contains(t, logs.String(), "fatal=true")
	r, err := e.put(1, 10)
	require.NoError(t, err, "shard 1 must not be affected")
	acked[1] = append(acked[1], r)
	got, err := rtReadAll(e.l, rtStream, ftShardID(0))
	require.NoError(t, err)
	rtRequireRecords(t, acked[0], got)
	require.NoError(t, e.l.Close())
	ftCheckReopened(t, e.dir, acked[0], &failed, acked[1])
}

// dfOpen is ftOpen with a logger writing to logs, the faults confined to
// shard 0's segment files.
func dfOpen(t *testing.T, policy file.SyncPolicy, logs *testlog.Buffer) (*ftEnv, [2][]rtRec) {
	t.Helper()
	dir := t.TempDir()
	ffs := faultfs.New(file.OS())
	eng, l := ftOpenLog(t, dir, file.WithFS(ffs), file.WithSync(policy), file.WithPreallocation(true),
		file.WithLogger(logs.Logger(slog.LevelInfo)))
	t.Cleanup(func() { l.Close() })
	rtCreate(t, l, rtStream, 2)
	e := &ftEnv{t: t, dir: dir, ffs: ffs, l: l, eng: eng}
	var acked [2][]rtRec
	for sh := range 2 {
		r, err := e.put(sh, 900+sh)
		require.NoError(t, err)
		acked[sh] = append(acked[sh], r)
	}
	ffs.OnlyPaths(e.segFiles(0))
	return e, acked
}
