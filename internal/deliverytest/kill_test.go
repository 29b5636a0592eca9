package deliverytest_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/pgarchive"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/deliverytest"
	"github.com/shoal-dev/shoal/internal/killtest"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// The kill -9 proof of a crash between upload and checkpoint.
//
// The parent writes dkFirst records to each of the two shards of a stream
// in a file-engine log (64 KiB each, partition keys a-0..a-3 on shard 0
// and b-0..b-3 on shard 1), then runs a child: this test binary again,
// which runs a delivery stream (buffer 1 MiB: 16 records a batch) to an
// ObjectDestination on a DirStore and, with SHOAL_TEST_POSTGRES, to a
// pgarchive table, with checkpoints in a projection.FileStore. Its
// destination reports each upload after both destinations returned; from
// the dkHook-th upload on it prints the batch and blocks, and the parent
// SIGKILLs it right then: the data is stored, the checkpoint is not. The
// parent checks exactly that, appends dkMore records to each shard, and
// runs the child again with a 2 MiB buffer (32 records a batch), so that
// the retried batch starts at the same First as the killed one but ends
// at a different Last; the child runs to the end of the log and exits.
// Then every record must be in the archive exactly once: through
// ObjectArchive (ReadShard, ReadKey), in the data objects read directly
// (no record in two objects: the retry replaced the killed batch's object
// by its key), and in PostgreSQL (no duplicate (stream, shard, seq), as
// many rows as records).

// Environment of the child.
const (
	dkEnvDir   = "SHOAL_DKILL_DIR"   // data directory; the child runs only if set
	dkEnvHook  = "SHOAL_DKILL_HOOK"  // block after this many uploads (0: never)
	dkEnvSize  = "SHOAL_DKILL_SIZE"  // buffer size, MiB
	dkEnvTable = "SHOAL_DKILL_TABLE" // pgarchive table ("": none)
)

const (
	dkStream     = "orders"
	dkDelivery   = "orders-archive"
	dkFirst      = 48 // records per shard before the first child
	dkMore       = 32 // records per shard appended before the second
	dkRecordSize = 64 << 10
	dkHook       = 3
	dkDataPrefix = "data/"
	dkFail       = "DKFAIL"
	dkDelivered  = "DKDELIVERED"
)

// dkShardKey is the ExplicitHashKey that puts a record on shard i of two.
func dkShardKey(i int) string {
	k := new(big.Int).Lsh(big.NewInt(int64(i)), 127)
	return k.Add(k, big.NewInt(1)).String()
}

func dkOpenLog(ctx context.Context, dir string) (*shardlog.Log, error) {
	e, err := file.Open(filepath.Join(dir, "log"))
	if err != nil {
		return nil, err
	}
	l, err := shardlog.Open(ctx, e, shardlog.WithRetentionInterval(0))
	if err != nil {
		e.Close()
		return nil, err
	}
	return l, nil
}

func dkObjectOptions() delivery.ObjectOptions {
	return delivery.ObjectOptions{Layout: delivery.KeyLayout{Prefix: dkDataPrefix, ErrorOutputPrefix: "errors/!{firehose:error-output-type}/"}}
}

// ---------------------------------------------------------------- child

// tee delivers to each destination in turn.
type tee []delivery.Destination

func (t tee) Deliver(ctx context.Context, b *delivery.Batch) error {
	for _, d := range t {
		if err := d.Deliver(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// hooked prints each upload from the hook-th on, and then blocks: the
// parent kills the child before the runtime can checkpoint.
type hooked struct {
	inner delivery.Destination
	out   *killtest.Out
	hook  int
	n     atomic.Int64
}

func (h *hooked) Deliver(ctx context.Context, b *delivery.Batch) error {
	if err := h.inner.Deliver(ctx, b); err != nil {
		return err
	}
	if n := h.n.Add(1); h.hook > 0 && n >= int64(h.hook) {
		h.out.WriteString(fmt.Sprintf("%s %s %s %s %d\n", dkDelivered, b.Shard.ShardID, b.First, b.Last, len(b.Records)))
		time.Sleep(time.Hour)
	}
	return nil
}

func dkChildMain(dir string) {
	out := killtest.NewOut(dkFail)
	hook, size := out.Int(dkEnvHook), out.Int(dkEnvSize)
	ctx := context.Background()
	l, err := dkOpenLog(ctx, dir)
	if err != nil {
		out.Fail("open log: %v", err)
	}
	cps, err := projection.OpenFileStore(filepath.Join(dir, "checkpoints"))
	if err != nil {
		out.Fail("OpenFileStore: %v", err)
	}
	store, err := delivery.NewDirStore(filepath.Join(dir, "objects"))
	if err != nil {
		out.Fail("NewDirStore: %v", err)
	}
	objects, err := delivery.NewObjectDestination(store, dkObjectOptions())
	if err != nil {
		out.Fail("NewObjectDestination: %v", err)
	}
	dests := tee{objects}
	if table := os.Getenv(dkEnvTable); table != "" {
		pool, err := pgxpool.New(ctx, os.Getenv(pgtest.Env))
		if err != nil {
			out.Fail("pgxpool: %v", err)
		}
		a, err := pgarchive.New(ctx, pool, pgarchive.Options{Table: table, NoCreate: true})
		if err != nil {
			out.Fail("pgarchive: %v", err)
		}
		dests = append(dests, a)
	}
	s, err := delivery.New(delivery.Config{
		Name:        dkDelivery,
		Source:      delivery.Source{Log: l, StreamName: dkStream, Checkpoints: cps},
		Buffering:   delivery.BufferingHints{SizeMiB: size, Interval: 0, IntervalSet: true},
		Destination: &hooked{inner: dests, out: out, hook: hook},
		ErrorOutput: objects,
		Retry:       delivery.RetryPolicy{Duration: 10 * time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, OnExhausted: delivery.Stop},
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		out.Fail("delivery.New: %v", err)
	}
	if err := deliverytest.RunUntilCaughtUp(ctx, s, time.Minute); err != nil {
		out.Fail("run: %v", err)
	}
	if err := cps.Close(); err != nil {
		out.Fail("close checkpoints: %v", err)
	}
	if err := l.Close(); err != nil {
		out.Fail("close log: %v", err)
	}
	out.WriteString("DKDONE\n")
	os.Exit(0)
}

// ---------------------------------------------------------------- parent

func TestKill9BetweenUploadAndCheckpoint(t *testing.T) {
	if dir := os.Getenv(dkEnvDir); dir != "" {
		dkChildMain(dir) // never returns
		return
	}
	killtest.SkipUnlessSIGKILL(t)
	ctx := context.Background()
	dir := killtest.Dir(t, "SHOAL_KILL_KEEP", "dkill-")

	var pool *pgxpool.Pool
	table := ""
	if os.Getenv(pgtest.Env) != "" {
		pool = pgtest.Pool(t)
		table = pgtest.UniqueName("shoal_dkill_")
		pgtest.DropTables(t, pool, table, table+"_shards", table+"_errors")
		_, err := pgarchive.New(ctx, pool, pgarchive.Options{Table: table})
		require.NoError(t, err)
	} else {
		t.Logf("%s is not set: the PostgreSQL half is skipped", pgtest.Env)
	}

	// The log, with dkFirst records per shard.
	l, err := dkOpenLog(ctx, dir)
	require.NoError(t, err)
	require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: dkStream, ShardCount: 2}))
	n := 0
	put := func(perShard int) {
		for range perShard {
			for sh, p := range []string{"a", "b"} {
				data := bytes.Repeat([]byte{byte('a' + n%26)}, dkRecordSize)
				copy(data, fmt.Sprintf("record %06d|", n))
				_, err := l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: dkStream, PartitionKey: fmt.Sprintf("%s-%d", p, n%4), ExplicitHashKey: dkShardKey(sh), Data: data})
				require.NoError(t, err)
				n++
			}
		}
	}
	put(dkFirst)
	require.NoError(t, l.Close())

	env := func(hook, size int) []string {
		return []string{dkEnvDir + "=" + dir, dkEnvHook + "=" + strconv.Itoa(hook), dkEnvSize + "=" + strconv.Itoa(size), dkEnvTable + "=" + table}
	}

	// 1. Killed after an upload, before its checkpoint.
	c := killtest.Start(t, killtest.Config{Test: "TestKill9BetweenUploadAndCheckpoint", Env: env(dkHook, 1), Fail: dkFail, Marks: []string{dkDelivered}})
	c.Await(t, dkDelivered, "an upload")
	lines := c.Kill(t)
	var killedShard string
	var killedFirst, killedLast shardlog.SequenceNumber
	var killedCount int
	for _, line := range lines {
		if f := strings.Fields(line); len(f) == 5 && f[0] == dkDelivered {
			killedShard = f[1]
			killedFirst, err = shardlog.ParseSequenceNumber("first", f[2])
			require.NoError(t, err)
			killedLast, err = shardlog.ParseSequenceNumber("last", f[3])
			require.NoError(t, err)
			killedCount, _ = strconv.Atoi(f[4])
			break
		}
	}
	require.NotEmpty(t, killedShard, "the child's lines: %q", lines)
	t.Logf("killed after uploading %s %s-%s (%d records)", killedShard, killedFirst, killedLast, killedCount)
	assert.Equal(t, 16, killedCount, "a 1 MiB buffer holds 16 records of 64 KiB")

	// The upload is stored; the checkpoint is before it.
	cps, err := projection.OpenFileStore(filepath.Join(dir, "checkpoints"))
	require.NoError(t, err, "the dead child's lock is released")
	progress, err := cps.Checkpoints(ctx, dkDelivery)
	require.NoError(t, err)
	require.NoError(t, cps.Close())
	assert.Less(t, progress[killedShard].After.Compare(killedFirst), 0, "the checkpoint did not move past the killed batch")
	store, err := delivery.NewDirStore(filepath.Join(dir, "objects"))
	require.NoError(t, err)
	killedRecords := dkDecodeObjects(t, store)[killedShard]
	assert.Contains(t, killedRecords, killedFirst.String(), "the killed batch was uploaded")
	assert.Contains(t, killedRecords, killedLast.String(), "the killed batch was uploaded")
	if pool != nil {
		var rows int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()+" WHERE shard = $1 AND seq BETWEEN $2::numeric AND $3::numeric",
			killedShard, killedFirst.String(), killedLast.String()).Scan(&rows))
		assert.Equal(t, killedCount, rows, "the killed batch is in PostgreSQL")
	}

	// 2. More records, a bigger buffer: the retry from the same First ends
	// at another Last. The child runs to the end.
	l, err = dkOpenLog(ctx, dir)
	require.NoError(t, err)
	put(dkMore)
	require.NoError(t, l.Close())
	c = killtest.Start(t, killtest.Config{Test: "TestKill9BetweenUploadAndCheckpoint", Env: env(0, 2), Fail: dkFail, Marks: []string{"DKDONE"}})
	c.Await(t, "DKDONE", "the end of the log")
	<-c.Exited()
	if c.Err() != nil {
		c.FatalExit(t, "failed")
	}
	c.CheckClean(t)

	// 3. Every record exactly once.
	l, err = dkOpenLog(ctx, dir)
	require.NoError(t, err)
	defer l.Close()
	want := map[string][]shardlog.Record{} // by shard
	byKey := map[string][]shardlog.Record{}
	total := 0
	for _, id := range []string{shardlog.MakeSequenceNumber(1, 0).ShardID(), shardlog.MakeSequenceNumber(1, 1).ShardID()} {
		cur, err := l.NewCursor(ctx, shardlog.NewCursorInput{StreamName: dkStream, ShardID: id, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		require.NoError(t, err)
		for {
			b, err := cur.Next(ctx, 0)
			require.NoError(t, err)
			if len(b.Records) == 0 {
				break
			}
			for _, r := range b.Records {
				want[id] = append(want[id], r)
				byKey[r.PartitionKey] = append(byKey[r.PartitionKey], r)
				total++
			}
		}
		require.Len(t, want[id], dkFirst+dkMore)
	}
	require.Equal(t, n, total)

	// Through the index: ObjectArchive.
	archive, err := delivery.NewObjectArchive(store, dkObjectOptions())
	require.NoError(t, err)
	for id, recs := range want {
		var got []shardlog.Record
		for r, err := range archive.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: dkStream, ShardID: id}) {
			require.NoError(t, err)
			got = append(got, r)
		}
		dkRequireSame(t, recs, got, "ReadShard "+id)
	}
	for key, recs := range byKey {
		var got []shardlog.Record
		for r, err := range archive.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: dkStream, PartitionKey: key}) {
			require.NoError(t, err)
			got = append(got, r)
		}
		dkRequireSame(t, recs, got, "ReadKey "+key)
	}

	// Directly: every data object decoded, no record in two objects.
	objects := dkDecodeObjects(t, store)
	for id, recs := range want {
		seen := objects[id]
		require.Len(t, seen, len(recs), "shard %s: the data objects hold each record once", id)
		for _, r := range recs {
			require.Equal(t, 1, seen[r.SequenceNumber.String()], "shard %s record %s is in %d data objects", id, r.SequenceNumber, seen[r.SequenceNumber.String()])
		}
	}
	for k, err := range store.List(ctx, "errors/") {
		require.NoError(t, err)
		t.Errorf("unexpected error output %s", k)
	}

	// The retry replaced the killed batch's object: same First, another Last.
	var sc struct {
		First, Last shardlog.SequenceNumber
		Records     int
	}
	raw, err := store.Get(ctx, fmt.Sprintf("%s%s/%s/%039s.json", delivery.DefaultIndexPrefix, dkStream, killedShard, killedFirst.String()))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &sc))
	assert.Equal(t, killedFirst, sc.First)
	assert.Greater(t, sc.Last.Compare(killedLast), 0, "the retried batch ends after the killed one")
	assert.Greater(t, sc.Records, killedCount)
	t.Logf("retried as %s-%s (%d records); %d records archived once each", sc.First, sc.Last, sc.Records, total)

	// PostgreSQL: no duplicate row, one row per record.
	if pool != nil {
		tbl := pgx.Identifier{table}.Sanitize()
		rows, err := pool.Query(ctx, "SELECT stream, shard, seq::text, count(*) FROM "+tbl+" GROUP BY stream, shard, seq HAVING count(*) > 1")
		require.NoError(t, err)
		dups, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			Stream, Shard, Seq string
			N                  int64
		}])
		require.NoError(t, err)
		assert.Empty(t, dups)
		var count int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+tbl).Scan(&count))
		assert.Equal(t, total, count)
		var distinct int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(DISTINCT (shard, seq)) FROM "+tbl+" WHERE stream = $1", dkStream).Scan(&distinct))
		assert.Equal(t, total, distinct)
	}
}

// dkRequireSame checks got is want, record by record.
func dkRequireSame(t *testing.T, want, got []shardlog.Record, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		require.Equal(t, want[i].SequenceNumber, got[i].SequenceNumber, "%s: record %d", what, i)
		require.Equal(t, want[i].PartitionKey, got[i].PartitionKey, "%s: record %d", what, i)
		require.True(t, bytes.Equal(want[i].Data, got[i].Data), "%s: record %d data", what, i)
	}
}

// dkDecodeObjects reads every data object of the store, bypassing the
// index, and counts per shard how many objects hold each sequence number.
func dkDecodeObjects(t *testing.T, store *delivery.DirStore) map[string]map[string]int {
	t.Helper()
	ctx := context.Background()
	out := map[string]map[string]int{}
	for key, err := range store.List(ctx, dkDataPrefix) {
		require.NoError(t, err)
		require.True(t, strings.HasSuffix(key, ".json.gz"), key)
		raw, err := store.Get(ctx, key)
		require.NoError(t, err)
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		require.NoError(t, err)
		plain, err := io.ReadAll(zr)
		require.NoError(t, err)
		sc := bufio.NewScanner(bytes.NewReader(plain))
		sc.Buffer(nil, 1<<20)
		inObject := map[string]bool{}
		for sc.Scan() {
			var line struct {
				ShardID        string `json:"shardId"`
				SequenceNumber string `json:"sequenceNumber"`
				Data           []byte `json:"data"`
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &line), key)
			require.Len(t, line.Data, dkRecordSize)
			require.False(t, inObject[line.SequenceNumber], "%s holds %s twice", key, line.SequenceNumber)
			inObject[line.SequenceNumber] = true
			if out[line.ShardID] == nil {
				out[line.ShardID] = map[string]int{}
			}
			out[line.ShardID][line.SequenceNumber]++
		}
		require.NoError(t, sc.Err())
	}
	return out
}
