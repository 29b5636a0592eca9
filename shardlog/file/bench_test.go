package file_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// Shape of every benchmark: the workload issue 3 sets targets for.
const (
	benchStream     = "bench"
	benchShards     = 4
	benchRecordSize = 256                           // bytes of data per record
	benchBatch      = shardlog.MaxPutRecordsEntries // 500
	benchScanLimit  = shardlog.MaxGetRecordsLimit   // 10,000
	benchKeyPool    = 1 << 16                       // random partition keys for the put benchmarks
	benchProducers  = 64                            // SetParallelism of DurablePutRecordConcurrent
	benchPutters    = 4                             // goroutines putting batches concurrently
	benchHistBudget = 1 << 20                       // latency samples kept per benchmark run
	benchDefaultN   = 1_000_000                     // preload of Replay and ReadKey10
	benchReadKeys   = 1000                          // ReadKey10 target keys, 10 records each
	benchKeyRecords = 10                            // records per ReadKey10 target key
	benchDrain      = 30 * time.Second              // PushLatency: wait for the last records
	benchRecordsEnv = "SHOAL_BENCH_RECORDS"         // overrides benchDefaultN, e.g. 10M
	benchPushWorker = 256                           // PushLatency: goroutines issuing puts
)

// BenchmarkFile measures the file engine through a full shardlog.Log (4
// shards, 256-byte records), each sub-benchmark in its own b.TempDir():
//
//   - DurablePutRecordConcurrent: SyncAlways; 64×GOMAXPROCS goroutines
//     (b.SetParallelism(64)), each op one PutRecord with a random key.
//     Reports records/s and the ack latency p50-µs and p99-µs.
//   - DurablePutRecords500: SyncAlways; 4 goroutines, each op one
//     PutRecords of 500 records with random keys. Reports records/s.
//   - IntervalPutRecords500: the same with SyncInterval(1s).
//   - Replay: SHOAL_BENCH_RECORDS records (default 1M; "10M" works)
//     preloaded with SyncNever, the log closed and reopened
//     (clean-reopen-ms), then each op reads every shard, one after the other,
//     with GetRecords (Limit 10,000) from TRIM_HORIZON to the end.
//     Reports records/s for one reader.
//   - ReadKey10: the same preload (keys with 10 records each on average),
//     of which 10,000 records belong to 1,000 target keys, 10 each, spread
//     evenly through the log; each op reads one target key (round robin) in
//     full with Log.ReadKey. Reports p50-µs and p99-µs, plus
//     rss-MiB and heap-MiB of the test process after the preload.
//   - PushLatency/1k and /10k: SyncAlways; one enhanced fan-out consumer
//     subscribed (SubscribeToShard) to every shard, and puts issued at a
//     fixed rate, open loop, each record carrying time.Now().UnixNano() at
//     the PutRecord call. Reports put→receive p50-µs and p99-µs and the
//     put ack latency. Under SyncAlways a subscriber sees only records that
//     were fdatasync'd.
//   - GroupCommitFloor500: no engine: write(500×256 B) then fdatasync in a
//     loop, in a file in the same kind of temp dir. The physical ceiling
//     the durable benchmarks are compared with in the same run.
//
// Run with
//
//	go test -run '^$' -bench BenchmarkFile -benchtime 2s ./shardlog/file
//
// bench/peers.sh runs it next to the peer systems and prints the ratios.
func BenchmarkFile(b *testing.B) {
	b.Run("DurablePutRecordConcurrent", benchDurablePutRecordConcurrent)
	b.Run("DurablePutRecords500", func(b *testing.B) { benchPutRecords500(b, file.SyncAlways) })
	b.Run("IntervalPutRecords500", func(b *testing.B) { benchPutRecords500(b, file.SyncInterval(time.Second)) })
	b.Run("Replay", benchReplay)
	b.Run("ReadKey10", benchReadKey10)
	b.Run("PushLatency", func(b *testing.B) {
		b.Run("1k", func(b *testing.B) { benchPushLatency(b, 1000) })
		b.Run("10k", func(b *testing.B) { benchPushLatency(b, 10000) })
	})
	b.Run("GroupCommitFloor500", benchGroupCommitFloor)
}

// openLog opens a Log over a file engine in dir, without the retention
// janitor, and creates the bench stream unless it exists. The Log is closed
// when the benchmark run ends unless the caller closes it first.
func openLog(b *testing.B, dir string, policy file.SyncPolicy) *shardlog.Log {
	b.Helper()
	ctx := context.Background()
	eng, err := file.Open(dir, file.WithSync(policy))
	if err != nil {
		b.Fatalf("file.Open(%s): %v", dir, err)
	}
	l, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0))
	if err != nil {
		_ = eng.Close()
		b.Fatalf("shardlog.Open: %v", err)
	}
	b.Cleanup(func() {
		if err := l.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	err = l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: benchStream, ShardCount: benchShards})
	if err != nil && !errors.Is(err, shardlog.ErrResourceInUse) {
		b.Fatalf("CreateStream: %v", err)
	}
	return l
}

// benchData returns benchRecordSize pseudo-random bytes.
func benchData(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	d := make([]byte, benchRecordSize)
	for i := range d {
		d[i] = byte(r.Uint32())
	}
	return d
}

// benchKeys returns n random 16-hex-digit partition keys, so that records
// spread evenly over the shards.
func benchKeys(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%016x", r.Uint64())
	}
	return keys
}

// benchRecords is SHOAL_BENCH_RECORDS (a count, optionally with a k or M
// suffix), or benchDefaultN, rounded up to whole batches.
func benchRecords(b *testing.B) int {
	n := benchDefaultN
	if s := strings.TrimSpace(os.Getenv(benchRecordsEnv)); s != "" {
		mult := 1
		switch {
		case strings.HasSuffix(s, "M"):
			mult, s = 1_000_000, strings.TrimSuffix(s, "M")
		case strings.HasSuffix(s, "k"):
			mult, s = 1000, strings.TrimSuffix(s, "k")
		}
		v, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
		if err != nil || v <= 0 {
			b.Fatalf("%s=%q: want a positive count such as 1000000 or 10M", benchRecordsEnv, os.Getenv(benchRecordsEnv))
		}
		n = v * mult
	}
	return (n + benchBatch - 1) / benchBatch * benchBatch
}

// put appends entries with PutRecords and fails on any failed entry.
func put(b *testing.B, l *shardlog.Log, entries []shardlog.PutRecordsEntry) {
	out, err := l.PutRecords(context.Background(), shardlog.PutRecordsInput{StreamName: benchStream, Records: entries})
	if err != nil {
		b.Fatalf("PutRecords: %v", err)
	}
	if out.FailedRecordCount != 0 {
		for _, r := range out.Records {
			if r.ErrorCode != "" {
				b.Fatalf("PutRecords: %d failed records, first: %s %s", out.FailedRecordCount, r.ErrorCode, r.ErrorMessage)
			}
		}
	}
}

func perSecond(b *testing.B, n int, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, unit)
	}
}

// hist is a latency sample of at most cap durations: every duration until
// it is full, then a uniform reservoir sample of all of them.
type hist struct {
	d    []time.Duration
	seen int
	max  int
	r    *rand.Rand
}

func newHist(max int, seed uint64) *hist {
	return &hist{max: max, r: rand.New(rand.NewPCG(seed, 0x4157))}
}

func (h *hist) add(d time.Duration) {
	h.seen++
	if len(h.d) < h.max {
		h.d = append(h.d, d)
	} else if j := h.r.IntN(h.seen); j < h.max {
		h.d[j] = d
	}
}

// report sorts the samples of hs and reports their p50 and p99 in µs, with
// prefix before the unit ("ack-" gives ack-p50-µs).
func report(b *testing.B, prefix string, hs ...*hist) {
	var all []time.Duration
	for _, h := range hs {
		all = append(all, h.d...)
	}
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e3 }
	b.ReportMetric(q(0.50), prefix+"p50-µs")
	b.ReportMetric(q(0.99), prefix+"p99-µs")
}

// benchDurablePutRecordConcurrent: many concurrent single-record producers
// under SyncAlways, the workload of Redis XADD with appendfsync always.
func benchDurablePutRecordConcurrent(b *testing.B) {
	l := openLog(b, b.TempDir(), file.SyncAlways)
	data, keys := benchData(1), benchKeys(benchKeyPool, 2)
	producers := benchProducers
	if v, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_PRODUCERS")); err == nil && v > 0 {
		producers = v // SetParallelism; 128 gives 256 producers on 2 procs, Redis's in-flight count
	}
	goroutines := producers * runtime.GOMAXPROCS(0)
	perG := max(1024, benchHistBudget/goroutines)
	var (
		mu    sync.Mutex
		hists []*hist
		seed  atomic.Uint64
	)
	ctx := context.Background()
	b.SetParallelism(producers)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		s := seed.Add(1)
		h := newHist(perG, s)
		r := rand.New(rand.NewPCG(s, 7))
		for pb.Next() {
			t := time.Now()
			_, err := l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: benchStream, PartitionKey: keys[r.IntN(len(keys))], Data: data})
			if err != nil {
				b.Errorf("PutRecord: %v", err)
				return
			}
			h.add(time.Since(t))
		}
		mu.Lock()
		hists = append(hists, h)
		mu.Unlock()
	})
	b.StopTimer()
	perSecond(b, b.N, "records/s")
	report(b, "", hists...)
}

// benchPutRecords500: benchPutters goroutines each putting batches of 500
// records, one batch per op.
func benchPutRecords500(b *testing.B, policy file.SyncPolicy) {
	l := openLog(b, b.TempDir(), policy)
	data, keys := benchData(1), benchKeys(benchKeyPool, 2)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range benchPutters {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 11))
			entries := make([]shardlog.PutRecordsEntry, benchBatch)
			for next.Add(1) <= int64(b.N) {
				for i := range entries {
					entries[i] = shardlog.PutRecordsEntry{PartitionKey: keys[r.IntN(len(keys))], Data: data}
				}
				put(b, l, entries)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	perSecond(b, b.N*benchBatch, "records/s")
}

// preload appends n records (a multiple of benchBatch) from benchPutters
// goroutines, with keys drawn from n/10 random ones, so that a key has 10
// records on average (as the peers' PostgreSQL events table in bench/peers.sh: 10 events per stream). If fill is not nil it may overwrite entries of
// the batch that starts at record index at.
func preload(b *testing.B, l *shardlog.Log, n int, fill func(at int, entries []shardlog.PutRecordsEntry)) {
	b.Helper()
	data, keys := benchData(3), benchKeys(max(1, n/10), 4)
	var next atomic.Int64
	var wg sync.WaitGroup
	batches := int64(n / benchBatch)
	for g := range benchPutters {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 13))
			entries := make([]shardlog.PutRecordsEntry, benchBatch)
			for {
				i := next.Add(1) - 1
				if i >= batches {
					return
				}
				for j := range entries {
					entries[j] = shardlog.PutRecordsEntry{PartitionKey: keys[r.IntN(len(keys))], Data: data}
				}
				if fill != nil {
					fill(int(i)*benchBatch, entries)
				}
				put(b, l, entries)
			}
		})
	}
	wg.Wait()
}

// benchReplay: a full scan of all shards by one reader, the workload of the
// JetStream ordered consumer and PostgreSQL's COPY out.
func benchReplay(b *testing.B) {
	n := benchRecords(b)
	dir := b.TempDir()
	l := openLog(b, dir, file.SyncNever)
	preload(b, l, n, nil)
	if err := l.Close(); err != nil {
		b.Fatalf("Close: %v", err)
	}
	t := time.Now()
	l = openLog(b, dir, file.SyncNever)
	reopen := time.Since(t)

	ctx := context.Background()
	shards := make([]string, benchShards)
	for i := range shards {
		shards[i] = fmt.Sprintf("shardId-%012d", i)
	}
	var bytes int
	ops := 0
	for b.Loop() {
		got := 0
		for _, id := range shards {
			itOut, err := l.GetShardIterator(ctx, shardlog.GetShardIteratorInput{StreamName: benchStream, ShardID: id, ShardIteratorType: shardlog.TrimHorizon})
			if err != nil {
				b.Fatalf("GetShardIterator(%s): %v", id, err)
			}
			it := itOut.ShardIterator
			for it != "" {
				out, err := l.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: benchScanLimit})
				if err != nil {
					b.Fatalf("GetRecords(%s): %v", id, err)
				}
				if len(out.Records) == 0 {
					break
				}
				got += len(out.Records)
				for i := range out.Records {
					bytes += len(out.Records[i].Data)
				}
				it = out.NextShardIterator
			}
		}
		if got != n {
			b.Fatalf("replay read %d records, want %d", got, n)
		}
		ops++
	}
	perSecond(b, ops*n, "records/s")
	b.SetBytes(int64(bytes / max(ops, 1)))
	b.ReportMetric(float64(reopen.Microseconds())/1e3, "clean-reopen-ms")
	b.ReportMetric(float64(n), "records")
}

// benchReadKey10: one key's 10 records among n others, the workload of
// PostgreSQL's indexed read of one stream.
func benchReadKey10(b *testing.B) {
	n := benchRecords(b)
	l := openLog(b, b.TempDir(), file.SyncNever)
	targets := make([]string, benchReadKeys)
	for i := range targets {
		targets[i] = fmt.Sprintf("target-%04d", i)
	}
	// Target record k (0 ≤ k < 10,000) is version k/1000 of key k%1000 and
	// replaces record k*n/10,000 of the preload, so every key's 10 records
	// are spread over the whole log, a tenth of it apart.
	total := benchReadKeys * benchKeyRecords
	n = max(n, total) // a target record per position at least
	data := benchData(5)
	preload(b, l, n, func(at int, entries []shardlog.PutRecordsEntry) {
		// first k with k*n/total >= at
		for k := (at*total + n - 1) / n; k < total; k++ {
			pos := k * n / total
			if pos >= at+len(entries) {
				break
			}
			entries[pos-at] = shardlog.PutRecordsEntry{PartitionKey: targets[k%benchReadKeys], Data: data}
		}
	})
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss := readRSS()

	ctx := context.Background()
	h := newHist(benchHistBudget, 6)
	i := 0
	for b.Loop() {
		key := targets[i%len(targets)]
		i++
		t := time.Now()
		got := 0
		for _, err := range l.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: benchStream, PartitionKey: key}) {
			if err != nil {
				b.Fatalf("ReadKey(%s): %v", key, err)
			}
			got++
		}
		h.add(time.Since(t))
		if got != benchKeyRecords {
			b.Fatalf("ReadKey(%s): %d records, want %d", key, got, benchKeyRecords)
		}
	}
	report(b, "", h)
	b.ReportMetric(float64(n), "records")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	if rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	}
}

// readRSS returns the resident set size of this process in bytes, or 0.
func readRSS() int64 {
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(s)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// benchPushLatency: put → push-subscriber latency at a fixed rate, each op
// one record. Puts are issued open loop by a pool of goroutines, so a slow
// fsync delays the records behind it instead of lowering the rate.
func benchPushLatency(b *testing.B, rate int) {
	l := openLog(b, b.TempDir(), file.SyncAlways)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := l.RegisterStreamConsumer(ctx, shardlog.RegisterStreamConsumerInput{StreamName: benchStream, ConsumerName: "bench-push"})
	if err != nil {
		b.Fatalf("RegisterStreamConsumer: %v", err)
	}

	var (
		received atomic.Int64
		mu       sync.Mutex
		e2e      = newHist(benchHistBudget, 8)
		subs     sync.WaitGroup
	)
	for i := range benchShards {
		id := fmt.Sprintf("shardId-%012d", i)
		sub, err := l.SubscribeToShard(ctx, shardlog.SubscribeToShardInput{ConsumerARN: c.ConsumerARN, ShardID: id, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		if err != nil {
			b.Fatalf("SubscribeToShard(%s): %v", id, err)
		}
		subs.Go(func() {
			defer sub.Close()
			for {
				ev, err := sub.Next(ctx)
				if err != nil {
					if ctx.Err() == nil {
						b.Errorf("Subscription(%s).Next: %v", id, err)
					}
					return
				}
				now := time.Now()
				mu.Lock()
				for _, r := range ev.Records {
					e2e.add(now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(r.Data)))))
				}
				mu.Unlock()
				received.Add(int64(len(ev.Records)))
			}
		})
	}

	keys := benchKeys(benchKeyPool, 9)
	fill := benchData(10)
	jobs := make(chan string, 1<<16)
	ack := make([]*hist, benchPushWorker)
	var workers sync.WaitGroup
	for w := range benchPushWorker {
		ack[w] = newHist(max(1024, benchHistBudget/benchPushWorker), uint64(w))
		workers.Go(func() {
			for key := range jobs {
				data := make([]byte, benchRecordSize)
				copy(data[8:], fill[8:])
				t := time.Now()
				binary.BigEndian.PutUint64(data, uint64(t.UnixNano()))
				if _, err := l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: benchStream, PartitionKey: key, Data: data}); err != nil {
					b.Errorf("PutRecord: %v", err)
					continue
				}
				ack[w].add(time.Since(t))
			}
		})
	}

	interval := time.Second / time.Duration(rate)
	sent := 0
	var next time.Time
	for b.Loop() {
		if next.IsZero() {
			next = time.Now()
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		jobs <- keys[sent%len(keys)]
		sent++
	}
	close(jobs)
	workers.Wait()
	deadline := time.Now().Add(benchDrain)
	for received.Load() < int64(sent) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	subs.Wait()
	if got := received.Load(); got != int64(sent) {
		b.Errorf("subscribers received %d records of %d within %v", got, sent, benchDrain)
	}
	mu.Lock()
	report(b, "", e2e)
	mu.Unlock()
	report(b, "ack-", ack...)
	perSecond(b, sent, "records/s")
}

// benchGroupCommitFloor: the disk's ceiling for durable batches of 500
// records: one write of 500×256 bytes and one fdatasync per op, appended to
// one file, as a group commit does.
func benchGroupCommitFloor(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "gc.dat"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, benchBatch*benchRecordSize)
	copy(buf, benchData(12))
	fd := int(f.Fd())
	h := newHist(benchHistBudget, 12)
	ops := 0
	for b.Loop() {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(fd); err != nil {
			b.Fatal(err)
		}
		h.add(time.Since(t))
		ops++
	}
	perSecond(b, ops*benchBatch, "records/s")
	report(b, "commit-", h)
}
