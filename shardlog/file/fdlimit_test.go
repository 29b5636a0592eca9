package file_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/file/faultfs"
	"github.com/stretchr/testify/require"
)

// fdChildEnv names the data directory of the low-RLIMIT_NOFILE child.
const fdChildEnv = "SHOAL_TEST_FD_CHILD_DIR"

// fdLimit is the child's RLIMIT_NOFILE: far fewer descriptors than the
// shards it uses.
const fdLimit = 64

// The engine runs with RLIMIT_NOFILE at 64 (in a child process: the limit
// is the whole process's) and uses 500 shards over 10 streams, appending to
// and reading each, then reading them all back, then a chain of 1,000
// shards each written once and sealed, as resharding leaves them, and one
// shard of 300 segments. With one descriptor per segment of every shard
// ever opened, it runs out of descriptors after 18 shards; with the cache
// of open shards, which keeps at most half the limit open, and full
// segments read by opening them, every call succeeds.
func TestOpenFilesLowLimit(t *testing.T) {
	dir := os.Getenv(fdChildEnv)
	if dir == "" {
		if runtime.GOOS != "linux" {
			t.Skip("counts descriptors in /proc/self/fd")
		}
		t.Parallel()
		// In memory when it can be: descriptors are tested here, not the
		// disk's fdatasync (the child creates 2,000 segment files).
		base := ""
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm"
		}
		dir, err := os.MkdirTemp(base, "shoal-fd-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		cmd := exec.Command(os.Args[0], "-test.run=^TestOpenFilesLowLimit$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), fdChildEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "child:\n%s", out)
		require.Contains(t, string(out), "--- PASS: TestOpenFilesLowLimit", "child:\n%s", out)
		return
	}
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	lim.Cur = fdLimit
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))

	eng, err := file.Open(dir, file.WithSegmentSize(4<<10), file.WithSync(file.SyncNever))
	require.NoError(t, err)
	defer func() { require.NoError(t, eng.Close()) }()

	const streams, perStream = 10, 50
	ref := func(i int) shardlog.ShardRef {
		n := i % perStream
		return shardlog.ShardRef{Stream: fmt.Sprintf("fd-%02d", i/perStream), ID: fmt.Sprintf("shardId-%012d", n), Index: uint32(n)}
	}
	data := func(i, j int) []byte { return bytes.Repeat([]byte{byte(i), byte(j)}, 700) }
	// Each shard gets 3 batches of 2 records of 1,400 bytes: two segments.
	for i := range streams * perStream {
		for j := range 3 {
			_, _, err := eng.Append(rtCtx, ref(i), time.Now(), []shardlog.Entry{
				{PartitionKey: strconv.Itoa(i), Data: data(i, 2*j)},
				{PartitionKey: strconv.Itoa(i), Data: data(i, 2*j+1)},
			}, nil)
			require.NoError(t, err, "append to shard %d", i)
		}
		recs, err := eng.Read(rtCtx, ref(i), shardlog.SequenceNumber{}, 100, 1<<20)
		require.NoError(t, err, "read shard %d", i)
		require.Len(t, recs, 6, "shard %d", i)
	}
	for i := range streams * perStream {
		recs, err := eng.Read(rtCtx, ref(i), shardlog.SequenceNumber{}, 100, 1<<20)
		require.NoError(t, err, "read shard %d again", i)
		require.Len(t, recs, 6, "shard %d", i)
		for j, r := range recs {
			require.Equal(t, data(i, j), r.Data, "shard %d record %d", i, j)
		}
		last, ok, err := eng.LastKey(rtCtx, ref(i), strconv.Itoa(i))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, recs[5].SequenceNumber, last.SequenceNumber)
	}
	fdRequireFew(t)

	// One shard of 300 segments: its full segments hold no descriptor.
	long := shardlog.ShardRef{Stream: "long", ID: "shardId-000000000000"}
	for i := range 600 {
		_, _, err := eng.Append(rtCtx, long, time.Now(), []shardlog.Entry{{PartitionKey: strconv.Itoa(i % 5), Data: data(i, 0)}}, nil)
		require.NoError(t, err, "append %d to the long shard", i)
	}
	recs, err := eng.Read(rtCtx, long, shardlog.SequenceNumber{}, 1000, 1<<30)
	require.NoError(t, err)
	require.Len(t, recs, 600)
	for i, r := range recs {
		require.Equal(t, data(i, 0), r.Data, "long shard record %d", i)
	}
	byKey, err := eng.ReadKey(rtCtx, long, "3", shardlog.SequenceNumber{}, 1000)
	require.NoError(t, err)
	require.Len(t, byKey, 120)
	fdRequireFew(t)

	// Resharding: each shard written once and sealed, its child next.
	chain := func(i int) shardlog.ShardRef {
		return shardlog.ShardRef{Stream: "chain", ID: fmt.Sprintf("shardId-%012d", i), Index: uint32(i)}
	}
	for i := range 1000 {
		_, _, err := eng.Append(rtCtx, chain(i), time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: data(i, 0)}}, nil)
		require.NoError(t, err, "append to chain shard %d", i)
		_, err = eng.Seal(rtCtx, chain(i))
		require.NoError(t, err, "seal chain shard %d", i)
	}
	for _, i := range []int{0, 1, 500, 999} {
		b, err := eng.Bounds(rtCtx, chain(i))
		require.NoError(t, err)
		require.True(t, b.Sealed, "chain shard %d keeps its seal when it is closed and reopened", i)
		require.EqualValues(t, 1, b.Count)
		_, _, err = eng.Append(rtCtx, chain(i), time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte("x")}}, nil)
		require.ErrorIs(t, err, shardlog.ErrShardSealed)
	}
	fdRequireFew(t)
}

// fdRequireFew checks the process holds well under fdLimit descriptors.
func fdRequireFew(t *testing.T) {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	require.Less(t, len(fds), fdLimit/2+16, "open descriptors")
}

// A call that finds the process out of descriptors (EMFILE) when it opens
// a shard gets a transient error, ErrResourceExhausted, and the shard
// works as soon as descriptors are free: nothing about the failure is
// remembered. When idle shards are open, the engine closes them and tries
// once more, so the call succeeds.
func TestOpenFilesEMFILETransient(t *testing.T) {
	t.Parallel()
	ffs, eng := fdOpenEngine(t)
	ref := func(i int) shardlog.ShardRef {
		return shardlog.ShardRef{Stream: "s", ID: fmt.Sprintf("shardId-%012d", i), Index: uint32(i)}
	}
	put := func(i int, data string) error {
		_, _, err := eng.Append(rtCtx, ref(i), time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte(data)}}, nil)
		return err
	}
	// No idle shard to close: the open fails, transiently.
	ffs.FailOpenAfter(0, syscall.EMFILE)
	err := put(0, "a")
	require.ErrorIs(t, err, file.ErrResourceExhausted)
	require.ErrorIs(t, err, syscall.EMFILE)
	require.Empty(t, eng.Health(), "running out of descriptors is not a failing write")
	require.NoError(t, put(0, "b"), "the shard works once descriptors are free")

	// An idle shard is open: it is closed to make room, and the call
	// succeeds on its second try.
	ffs.FailOpenAfter(0, syscall.EMFILE)
	require.NoError(t, put(1, "c"))
	require.Equal(t, 2, ffs.Fired())
	for i, want := range [][]string{{"b"}, {"c"}} {
		recs, err := eng.Read(rtCtx, ref(i), shardlog.SequenceNumber{}, 10, 1<<20)
		require.NoError(t, err)
		require.Len(t, recs, len(want))
		for j := range want {
			require.Equal(t, want[j], string(recs[j].Data))
		}
	}
}

// EMFILE while a shard rolls to a new segment fails that put only: the
// next one reopens the shard and goes on, and nothing acknowledged is lost.
func TestOpenFilesEMFILEAtRoll(t *testing.T) {
	t.Parallel()
	ffs, eng := fdOpenEngine(t)
	ref := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000000"}
	var acked []string
	failed := 0
	for i := range 40 {
		if i == 10 {
			ffs.OnlyPaths(func(p string) bool { return strings.HasSuffix(p, ".seg") })
			ffs.FailOpenAfter(0, syscall.EMFILE) // the next segment's creation
		}
		d := fmt.Sprintf("%03d-%s", i, bytes.Repeat([]byte("x"), 300))
		_, _, err := eng.Append(rtCtx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte(d)}}, nil)
		if err != nil {
			require.ErrorIs(t, err, syscall.EMFILE)
			failed++
			continue
		}
		acked = append(acked, d)
	}
	require.Equal(t, 1, failed)
	require.Empty(t, eng.Health())
	recs, err := eng.Read(rtCtx, ref, shardlog.SequenceNumber{}, 100, 1<<20)
	require.NoError(t, err)
	require.Len(t, recs, len(acked))
	for i := range acked {
		require.Equal(t, acked[i], string(recs[i].Data))
	}
}

// fdOpenEngine opens an engine over a faultfs.FS, with small segments.
func fdOpenEngine(t *testing.T, opts ...file.Option) (*faultfs.FS, *file.Engine) {
	t.Helper()
	ffs := faultfs.New(file.OS())
	eng, err := file.Open(t.TempDir(), append([]file.Option{file.WithFS(ffs), file.WithSegmentSize(4 << 10), file.WithPreallocation(false)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, eng.Close()) })
	return ffs, eng
}

// EMFILE when a roll opens the shard's directory to sync it (the new
// segment's entry) is no failed fdatasync: nothing written was lost, so
// that put fails, and the next one reopens the shard and goes on, instead
// of the shard being refused until a restart.
func TestOpenFilesEMFILEAtRollSyncDir(t *testing.T) {
	t.Parallel()
	ffs, eng := fdOpenEngine(t)
	ref := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000000"}
	var acked []string
	failed := 0
	for i := range 40 {
		if i == 10 {
			ffs.FailSyncDirAfter(0, syscall.EMFILE) // opening the directory to sync it
		}
		d := fmt.Sprintf("%03d-%s", i, bytes.Repeat([]byte("x"), 300))
		_, _, err := eng.Append(rtCtx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte(d)}}, nil)
		if err != nil {
			require.ErrorIs(t, err, syscall.EMFILE)
			failed++
			continue
		}
		acked = append(acked, d)
	}
	require.Equal(t, 1, failed)
	require.Empty(t, eng.Health())
	recs, err := eng.Read(rtCtx, ref, shardlog.SequenceNumber{}, 100, 1<<20)
	require.NoError(t, err)
	require.Len(t, recs, len(acked))
	for i := range acked {
		require.Equal(t, acked[i], string(recs[i].Data))
	}
}

// A read of a full segment opens its file; EMFILE there fails that read
// only, with an error wrapping ErrResourceExhausted, and the next read
// works.
func TestOpenFilesEMFILEAtRead(t *testing.T) {
	t.Parallel()
	ffs, eng := fdOpenEngine(t)
	ref := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000000"}
	for i := range 20 { // two segments or more
		_, _, err := eng.Append(rtCtx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: bytes.Repeat([]byte{byte(i)}, 300)}}, nil)
		require.NoError(t, err)
	}
	ffs.OnlyPaths(func(p string) bool { return strings.HasSuffix(p, ".seg") })
	ffs.FailOpenAfter(0, syscall.EMFILE)
	_, err := eng.Read(rtCtx, ref, shardlog.SequenceNumber{}, 100, 1<<20)
	require.ErrorIs(t, err, syscall.EMFILE)
	require.ErrorIs(t, err, file.ErrResourceExhausted)
	recs, err := eng.Read(rtCtx, ref, shardlog.SequenceNumber{}, 100, 1<<20)
	require.NoError(t, err)
	require.Len(t, recs, 20)
}
