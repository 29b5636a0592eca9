//go:build unix

package projection_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/vmihailenco/msgpack/v5"
)

// The replay benchmarks: how fast a Runner with CatchUpOnly replays a whole
// store, against bare msgpack decoding of the same payloads. Their NATS
// peer is bench/natspeer; bench/projection.sh runs both side by side and
// prints the ratios.
//
//   - BenchmarkReplayLazy/{file,memory}: each op is a full CatchUpOnly
//     replay of all N events through a new Runner (MemoryStore checkpoints,
//     BatchSize replayBatchSize()) into a typed handler that reads only
//     ev.Version: the envelope, never the payload.
//   - BenchmarkReplayDecode/file: the same, with the handler decoding every
//     payload (ev.Data()).
//   - BenchmarkBareDecode/{1goroutine,4goroutines}: the same N payloads,
//     copied out of the store into a [][]byte beforehand, decoded with
//     msgpack.Unmarshal into the event struct: on one goroutine (the
//     floor), and split among as many goroutines as the store has shards,
//     as the runner splits its work.
//
// The store has replayBenchShards shards and N events (SHOAL_BENCH_EVENTS,
// default 200,000) in streams of replayStreamLen events, each stream one
// Append of 10 events, by replayWriters concurrent writers. The file
// engine's log is written with SyncNever (reads do not depend on the sync
// policy), then closed and reopened with the default options, as after a
// restart, and each shard is opened with a first read. Each engine's
// store is built once per process, by the first benchmark that needs it,
// before its timer starts, and is removed by TestMain. Plain `go test`
// builds nothing.
//
// Every benchmark reports events/s (N × ops ÷ the timed wall time) and
// cpu-ns/event: the process's CPU time (user + system, every thread, the
// garbage collector's included) over the timed sections, per event. The
// file is for unix only, for getrusage. Run with
//
//	SHOAL_BENCH_EVENTS=1000000 go test -run '^$' -bench 'ReplayLazy|ReplayDecode|BareDecode' -benchtime 2x ./projection
const (
	replayEventsEnv     = "SHOAL_BENCH_EVENTS"
	replayEventsDefault = 200_000
	replayBatchEnv      = "SHOAL_BENCH_BATCH"
	replayBatchDefault  = 1000
	replayBenchStream   = "events"
	replayBenchShards   = 4
	replayStreamLen     = 10 // events per stream, appended in one Append
	replayWriters       = 8  // concurrent writers building the store
	replayEventType     = "FundsDeposited"
)

// replayDeposited is the benchmarks' event, eventstore's benchDeposited:
// 5 strings, 3 ints and a time, about 200 bytes of msgpack as the store
// encodes it (a map keyed by the json names). The msgpack tags repeat the
// json names so that plain msgpack.Unmarshal (BenchmarkBareDecode) reads
// the store's encoding.
type replayDeposited struct {
	AccountID   string    `json:"account_id" msgpack:"account_id"`
	Amount      int64     `json:"amount" msgpack:"amount"`
	Currency    string    `json:"currency" msgpack:"currency"`
	Reference   string    `json:"reference" msgpack:"reference"`
	Description string    `json:"description" msgpack:"description"`
	Teller      string    `json:"teller" msgpack:"teller"`
	Balance     int64     `json:"balance" msgpack:"balance"`
	Sequence    int       `json:"sequence" msgpack:"sequence"`
	At          time.Time `json:"at" msgpack:"at"`
}

// replayEvent returns event i (1-based: its version) of stream id.
func replayEvent(id string, i int) replayDeposited {
	return replayDeposited{
		AccountID:   id,
		Amount:      int64(1000 + i%9000),
		Currency:    "EUR",
		Reference:   fmt.Sprintf("INV-2026-%08d", i),
		Description: "monthly transfer from savings account, standing order",
		Teller:      "branch-0042/web",
		Balance:     int64(250_000 + i*1000),
		Sequence:    i,
		At:          time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
	}
}

// replayEvents is SHOAL_BENCH_EVENTS rounded up to whole streams, or the
// default.
func replayEvents() int {
	n := replayEventsDefault
	if v, err := strconv.Atoi(os.Getenv(replayEventsEnv)); err == nil && v > 0 {
		n = v
	}
	return (n + replayStreamLen - 1) / replayStreamLen * replayStreamLen
}

// replayBatchSize is SHOAL_BENCH_BATCH or replayBatchDefault.
func replayBatchSize() int {
	if v, err := strconv.Atoi(os.Getenv(replayBatchEnv)); err == nil && v > 0 {
		return v
	}
	return replayBatchDefault
}

// replayFixture is a store holding n events.
type replayFixture struct {
	s *eventstore.Store
	n int
}

var (
	replayMu       sync.Mutex
	replayFixtures = map[string]*replayFixture{} // by engine
	replayCleanups []func() error
)

// TestMain closes and removes the benchmarks' stores, which outlive any
// one benchmark.
func TestMain(m *testing.M) {
	code := m.Run()
	replayMu.Lock()
	for i := len(replayCleanups) - 1; i >= 0; i-- {
		if err := replayCleanups[i](); err != nil {
			fmt.Fprintf(os.Stderr, "projection benchmarks: cleanup: %v\n", err)
			code = max(code, 1)
		}
	}
	replayMu.Unlock()
	os.Exit(code)
}

// replayRegistry registers the benchmarks' event.
func replayRegistry(b *testing.B) *eventstore.Registry {
	reg := eventstore.NewRegistry()
	if err := eventstore.Register[replayDeposited](reg, replayEventType); err != nil {
		b.Fatal(err)
	}
	return reg
}

// replayStore returns the engine's store ("file" or "memory"), building it
// on first use. Call it before the benchmark's timer starts.
func replayStore(b *testing.B, engine string) *replayFixture {
	b.Helper()
	replayMu.Lock()
	defer replayMu.Unlock()
	if fx := replayFixtures[engine]; fx != nil {
		return fx
	}
	start := time.Now()
	fx := buildReplayStore(b, engine)
	b.Logf("built the %s store: %d events in %d streams, %d shards, in %.1fs", engine, fx.n, fx.n/replayStreamLen, replayBenchShards, time.Since(start).Seconds())
	replayFixtures[engine] = fx
	return fx
}

func buildReplayStore(b *testing.B, engine string) *replayFixture {
	ctx := context.Background()
	n := replayEvents()
	reg := replayRegistry(b)
	var (
		eng shardlog.Engine
		dir string
	)
	switch engine {
	case "memory":
		eng = memory.New()
	case "file":
		var err error
		if dir, err = os.MkdirTemp("", "shoal-projection-bench-"); err != nil {
			b.Fatal(err)
		}
		replayCleanups = append(replayCleanups, func() error { return os.RemoveAll(dir) })
		fe, err := file.Open(dir, file.WithSync(file.SyncNever))
		if err != nil {
			b.Fatalf("file.Open: %v", err)
		}
		eng = fe
	default:
		b.Fatalf("unknown engine %q", engine)
	}
	l, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0))
	if err != nil {
		b.Fatalf("shardlog.Open: %v", err)
	}
	s, err := eventstore.Open(ctx, l, replayBenchStream, eventstore.WithRegistry(reg),
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: replayBenchShards}))
	if err != nil {
		_ = l.Close()
		b.Fatalf("eventstore.Open: %v", err)
	}

	// replayWriters writers, each appending whole streams of
	// replayStreamLen events.
	streams := n / replayStreamLen
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr atomic.Value
	)
	for range replayWriters {
		wg.Go(func() {
			evs := make([]any, replayStreamLen)
			for {
				i := int(next.Add(1) - 1)
				if i >= streams || firstErr.Load() != nil {
					return
				}
				id := fmt.Sprintf("acct-%07d", i)
				for v := range evs {
					evs[v] = replayEvent(id, v+1)
				}
				if _, err := s.Append(ctx, id, eventstore.Exact(0), evs...); err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("Append(%s): %w", id, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		_ = l.Close()
		b.Fatal(err)
	}
	if engine == "file" {
		// Reopen with the default options, as a process replaying after
		// a restart would.
		if err := l.Close(); err != nil {
			b.Fatalf("Close: %v", err)
		}
		fe, err := file.Open(dir)
		if err != nil {
			b.Fatalf("file.Open (reopen): %v", err)
		}
		if l, err = shardlog.Open(ctx, fe, shardlog.WithRetentionInterval(0)); err != nil {
			b.Fatalf("shardlog.Open (reopen): %v", err)
		}
		if s, err = eventstore.Open(ctx, l, replayBenchStream, eventstore.WithRegistry(reg)); err != nil {
			_ = l.Close()
			b.Fatalf("eventstore.Open (reopen): %v", err)
		}
	}
	replayCleanups = append(replayCleanups, l.Close)
	// Open every shard (the file engine loads a shard's index and scans
	// its active segment on first use), so that no replay pays for it.
	shards, err := s.Shards(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, sh := range shards {
		rd, err := s.ReadShard(ctx, sh.ShardID, shardlog.SequenceNumber{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rd.Next(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
	return &replayFixture{s: s, n: n}
}

// replayCounter counts a shard's handled events on its own cache line.
type replayCounter struct {
	n atomic.Int64
	_ [56]byte
}

// benchReplay runs b.N full CatchUpOnly replays of fx through a
// projection whose only handler is handle, and checks that every event
// reached it.
func benchReplay(b *testing.B, fx *replayFixture, decode bool) {
	ctx := context.Background()
	batch := replayBatchSize()
	var cpu replayCPU
	var counts [replayBenchShards]replayCounter
	var bad atomic.Value
	p := projection.New("replay-bench")
	projection.On(p, func(_ context.Context, ev projection.Event[replayDeposited]) error {
		if decode {
			d, err := ev.Data()
			if err != nil {
				return err
			}
			if d.Sequence != int(ev.Version) {
				bad.CompareAndSwap(nil, fmt.Errorf("%s v%d: decoded sequence %d", ev.StreamID, ev.Version, d.Sequence))
			}
		} else if ev.Version == 0 || ev.Version > replayStreamLen {
			bad.CompareAndSwap(nil, fmt.Errorf("%s: version %d", ev.StreamID, ev.Version))
		}
		counts[ev.Position.SequenceNumber.ShardIndex()%replayBenchShards].n.Add(1)
		return nil
	})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for i := range counts {
			counts[i].n.Store(0)
		}
		r, err := projection.NewRunner(fx.s, projection.Options{
			Checkpoints: projection.NewMemoryStore(),
			CatchUpOnly: true,
			BatchSize:   batch,
			Retry:       projection.RetryPolicy{Attempts: 1},
			StopOnPark:  true,
		}, p)
		if err != nil {
			b.Fatal(err)
		}
		cpu.start()
		b.StartTimer()
		if err := r.Run(ctx); err != nil {
			b.Fatalf("Run: %v", err)
		}
		b.StopTimer()
		cpu.stop()
		var got int64
		for i := range counts {
			got += counts[i].n.Load()
		}
		if got != int64(fx.n) {
			b.Fatalf("replay handled %d events, want %d", got, fx.n)
		}
		if st := r.Stats(); len(st) != 1 || st[0].Events != int64(fx.n) || st[0].Parked != 0 {
			b.Fatalf("Stats: %+v, want %d events, none parked", st, fx.n)
		}
		if err, _ := bad.Load().(error); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	reportReplay(b, fx.n*b.N, &cpu)
	b.ReportMetric(float64(batch), "batch")
}

// replayCPU adds up the process's CPU time (user + system, all threads,
// the garbage collector's included) over the timed sections. On a shared
// machine it moves less than wall time: other work delays the benchmark
// but does not add to its CPU time.
type replayCPU struct {
	total time.Duration
	at    time.Duration
}

func replayRusage() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c *replayCPU) start() { c.at = replayRusage() }
func (c *replayCPU) stop()  { c.total += replayRusage() - c.at }

// reportReplay reports events/s of wall time and the CPU time per event.
func reportReplay(b *testing.B, events int, cpu *replayCPU) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(events)/s, "events/s")
	}
	if events > 0 {
		b.ReportMetric(float64(cpu.total.Nanoseconds())/float64(events), "cpu-ns/event")
	}
}

// BenchmarkReplayLazy replays every event without decoding a payload.
func BenchmarkReplayLazy(b *testing.B) {
	for _, engine := range []string{"file", "memory"} {
		b.Run(engine, func(b *testing.B) { benchReplay(b, replayStore(b, engine), false) })
	}
}

// BenchmarkReplayDecode replays every event and decodes its payload.
func BenchmarkReplayDecode(b *testing.B) {
	b.Run("file", func(b *testing.B) { benchReplay(b, replayStore(b, "file"), true) })
}

var (
	replayPayloadsOnce sync.Once
	replayPayloads     [replayBenchShards][][]byte // copies, by shard index
	replayPayloadsErr  error
)

// replayPayloadsOf copies every payload of fx out of the store, per
// shard.
func replayPayloadsOf(fx *replayFixture) ([replayBenchShards][][]byte, error) {
	replayPayloadsOnce.Do(func() {
		ctx := context.Background()
		shards, err := fx.s.Shards(ctx)
		if err != nil {
			replayPayloadsErr = err
			return
		}
		if len(shards) != replayBenchShards {
			replayPayloadsErr = fmt.Errorf("%d shards, want %d", len(shards), replayBenchShards)
			return
		}
		total := 0
		for i, sh := range shards {
			rd, err := fx.s.ReadShard(ctx, sh.ShardID, shardlog.SequenceNumber{})
			if err != nil {
				replayPayloadsErr = err
				return
			}
			for {
				bt, err := rd.Next(ctx, shardlog.MaxGetRecordsLimit)
				if err != nil {
					replayPayloadsErr = err
					return
				}
				for j := range bt.Events {
					replayPayloads[i] = append(replayPayloads[i], slices.Clone(bt.Events[j].Payload()))
				}
				if len(bt.Events) == 0 || bt.End {
					break
				}
			}
			total += len(replayPayloads[i])
		}
		if total != fx.n {
			replayPayloadsErr = fmt.Errorf("read %d payloads, want %d", total, fx.n)
		}
	})
	return replayPayloads, replayPayloadsErr
}

// BenchmarkBareDecode decodes the store's N payloads straight from memory
// with msgpack.Unmarshal: the floor of BenchmarkReplayDecode.
func BenchmarkBareDecode(b *testing.B) {
	for _, goroutines := range []int{1, replayBenchShards} {
		name := "1goroutine"
		if goroutines > 1 {
			name = fmt.Sprintf("%dgoroutines", goroutines)
		}
		b.Run(name, func(b *testing.B) {
			fx := replayStore(b, "file")
			parts, err := replayPayloadsOf(fx)
			if err != nil {
				b.Fatal(err)
			}
			var all [][]byte
			bytes := 0
			for _, p := range parts {
				all = append(all, p...)
				for _, x := range p {
					bytes += len(x)
				}
			}
			// 1 goroutine: all payloads in shard order; otherwise one
			// shard's payloads per goroutine.
			work := [][][]byte{all}
			if goroutines > 1 {
				work = parts[:]
			}
			decode := func(ps [][]byte) error {
				for _, p := range ps {
					var d replayDeposited
					if err := msgpack.Unmarshal(p, &d); err != nil {
						return err
					}
					if d.Sequence < 1 || d.Sequence > replayStreamLen {
						return fmt.Errorf("decoded sequence %d", d.Sequence)
					}
				}
				return nil
			}
			var cpu replayCPU
			b.ReportAllocs()
			b.ResetTimer()
			cpu.start()
			for range b.N {
				if len(work) == 1 {
					if err := decode(work[0]); err != nil {
						b.Fatal(err)
					}
					continue
				}
				errs := make([]error, len(work))
				var wg sync.WaitGroup
				for i, ps := range work {
					wg.Go(func() { errs[i] = decode(ps) })
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu.stop()
			reportReplay(b, fx.n*b.N, &cpu)
			b.ReportMetric(float64(bytes)/float64(fx.n), "payload-B")
			b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
		})
	}
}
