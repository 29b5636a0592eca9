package file_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

// logFDChildEnv names the data directory of TestLogOpenFilesLowLimit's child.
const logFDChildEnv = "SHOAL_TEST_LOG_FD_CHILD_DIR"

// logManyShardsEnv sets the shard count of TestLogOpenFilesLowLimit's wide
// stream (default logManyShards, at most shardlog.MaxShardsPerStream).
const logManyShardsEnv = "SHOAL_TEST_MANY_SHARDS"

// logManyShards is the default shard count of the wide stream: the issue's
// 10,000-shard stream, which takes a few seconds here.
const logManyShards = 10000

// logReshardCycles is the number of split+merge cycles.
const logReshardCycles = 1000

// Through a whole shardlog.Log over the file engine, with RLIMIT_NOFILE at
// 64 (in a child process: the limit is the whole process's): 1,000
// split+merge cycles of one stream, a put before each reshard, every record
// read back afterwards from its shard; then a stream of 10,000 shards
// (SHOAL_TEST_MANY_SHARDS sets another count) with one record in each, put
// and read back. At the end the process holds few descriptors. Before the
// cache of open shards, each shard ever used kept its descriptors, and the
// child ran out of them after a few dozen shards.
func TestLogOpenFilesLowLimit(t *testing.T) {
	dir := os.Getenv(logFDChildEnv)
	if dir == "" {
		if runtime.GOOS != "linux" {
			t.Skip("counts descriptors in /proc/self/fd")
		}
		t.Parallel()
		base := ""
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm" // descriptors are tested here, not fdatasync
		}
		dir, err := os.MkdirTemp(base, "shoal-logfd-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		cmd := exec.Command(os.Args[0], "-test.run=^TestLogOpenFilesLowLimit$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), logFDChildEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "child:\n%s", out)
		require.Contains(t, string(out), "--- PASS: TestLogOpenFilesLowLimit", "child:\n%s", out)
		t.Logf("child:\n%s", out)
		return
	}
	many := logManyShards
	if v := os.Getenv(logManyShardsEnv); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, logManyShardsEnv)
		require.True(t, n >= 1 && n <= shardlog.MaxShardsPerStream, "%s=%d is outside 1-%d", logManyShardsEnv, n, shardlog.MaxShardsPerStream)
		many = n
	}
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	lim.Cur = fdLimit
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))

	ctx := context.Background()
	eng, err := file.Open(dir, file.WithSegmentSize(4<<10), file.WithPreallocation(false))
	require.NoError(t, err)
	l, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()

	start := time.Now()
	logReshardCycle(t, ctx, l)
	t.Logf("%d split+merge cycles, records read back: %s", logReshardCycles, time.Since(start).Round(time.Millisecond))
	fdRequireFew(t)

	start = time.Now()
	logManyShardStream(t, ctx, l, many)
	t.Logf("stream of %d shards, one record each, put and read back: %s", many, time.Since(start).Round(time.Millisecond))
	fdRequireFew(t)
}

// logShardID is the ID the Log gives the shard of index i.
func logShardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

// logReshardCycle splits the one open shard of a stream in two and merges
// the halves back, logReshardCycles times, putting a record before each
// reshard, then reads every shard from TRIM_HORIZON: each record is in
// the shard that was open when it was put, once.
func logReshardCycle(t *testing.T, ctx context.Context, l *shardlog.Log) {
	const stream = "cycles"
	require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: stream, ShardCount: 1}))
	mid := "170141183460469231731687303715884105728" // 2^127: the middle of the hash-key space
	want := map[string]string{}                      // data → shard ID
	put := func(what string, n int) {
		data := fmt.Sprintf("%s-%d", what, n)
		out, err := l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: data, Data: []byte(data)})
		require.NoError(t, err, "put %s", data)
		want[data] = out.ShardID
	}
	for i := range logReshardCycles {
		parent := logShardID(3 * i)
		put("split", i)
		require.NoError(t, l.SplitShard(ctx, shardlog.SplitShardInput{StreamName: stream, ShardToSplit: parent, NewStartingHashKey: mid}), "cycle %d", i)
		put("merge", i)
		require.NoError(t, l.MergeShards(ctx, shardlog.MergeShardsInput{StreamName: stream, ShardToMerge: logShardID(3*i + 1), AdjacentShardToMerge: logShardID(3*i + 2)}), "cycle %d", i)
	}
	got := logReadAll(t, ctx, l, stream)
	require.Len(t, got, 3*logReshardCycles+1, "shards")
	n := 0
	for id, datas := range got {
		for _, d := range datas {
			require.Equal(t, want[d], id, "record %s", d)
			n++
		}
	}
	require.Equal(t, len(want), n, "records read back")
}

// logManyShardStream creates a stream of n shards, puts one record in each
// (its explicit hash key is the shard's first) and reads every shard back.
func logManyShardStream(t *testing.T, ctx context.Context, l *shardlog.Log, n int) {
	const stream = "wide"
	require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: stream, ShardCount: n}))
	want := map[string]string{}
	for sh, err := range l.ListShardsAll(ctx, shardlog.ListShardsInput{StreamName: stream}) {
		require.NoError(t, err)
		data := "one-in-" + sh.ShardID
		out, err := l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: "k", Data: []byte(data),
			ExplicitHashKey: sh.HashKeyRange.StartingHashKey.String()})
		require.NoError(t, err, "put to %s", sh.ShardID)
		require.Equal(t, sh.ShardID, out.ShardID)
		want[sh.ShardID] = data
	}
	require.Len(t, want, n)
	got := logReadAll(t, ctx, l, stream)
	require.Len(t, got, n, "shards")
	for id, datas := range got {
		require.Equal(t, []string{want[id]}, datas, "shard %s", id)
	}
}

// logReadAll reads every shard of a stream from TRIM_HORIZON to its end
// (a closed shard's, or an open one's last record) and returns the data of
// its records by shard ID.
func logReadAll(t *testing.T, ctx context.Context, l *shardlog.Log, stream string) map[string][]string {
	out := map[string][]string{}
	for sh, err := range l.ListShardsAll(ctx, shardlog.ListShardsInput{StreamName: stream}) {
		require.NoError(t, err)
		it, err := l.GetShardIterator(ctx, shardlog.GetShardIteratorInput{StreamName: stream, ShardID: sh.ShardID, ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err, "iterator of %s", sh.ShardID)
		datas := []string{}
		for next := it.ShardIterator; next != ""; {
			res, err := l.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: next})
			require.NoError(t, err, "read %s", sh.ShardID)
			for _, r := range res.Records {
				datas = append(datas, string(r.Data))
			}
			next = res.NextShardIterator
			if len(res.Records) == 0 && !sh.Closed {
				break // the end of an open shard
			}
		}
		out[sh.ShardID] = datas
	}
	return out
}
