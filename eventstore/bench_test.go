package eventstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// The eventstore benchmarks. Their PostgreSQL peer, with the same
// workloads on a plain events table, is in pgpeer_bench_test.go, and
// bench/eventstore.sh runs both side by side and prints the ratios.
//
//   - BenchmarkAppend/{1,10}events/{always,interval,memory}: each op is one
//     Append of 1 or 10 events to one aggregate with Exact(its version),
//     cycling through benchAppendAggregates aggregates. always and interval
//     are the file engine with SyncAlways and SyncInterval(1s), memory the
//     in-memory engine. Reports events/s and the p50/p99 of an Append.
//   - BenchmarkLoad/{10,100,1000}/{file,memory}: each op loads one aggregate
//     of 10, 100 or 1000 events with Store.Load and decodes every payload
//     (Event.Data), as aggregate.Repository.Load does. The log also holds
//     benchNoiseAggregates other aggregates with benchNoiseEvents events
//     each, appended one event at a time, round robin, with the target
//     aggregates' events spread evenly among them, so every load goes
//     through the key index and no two events of an aggregate are
//     neighbours. The file engine's log is built with SyncNever (reads do
//     not depend on the sync policy). /file-nodecode reads the same events
//     without decoding the payloads (where the time goes). Reports events/s
//     and p50/p99.
//   - BenchmarkAppendConcurrent/10k-aggregates/{always,interval,memory}:
//     b.RunParallel with b.SetParallelism(benchParallelism) goroutines per
//     GOMAXPROCS; the 10,000 aggregate IDs are split among the goroutines,
//     and each cycles through its own, appending one event with
//     Exact(version) tracked locally. Reports events/s and p50/p99.
//
// The event is benchDeposited, about 200 bytes of msgpack. Run with
//
//	go test -run '^$' -bench 'BenchmarkAppend|BenchmarkLoad' -benchtime 2s ./eventstore
const (
	benchStream           = "events"
	benchShards           = 4
	benchAppendAggregates = 1000   // BenchmarkAppend cycles through these
	benchConcAggregates   = 10_000 // BenchmarkAppendConcurrent
	benchNoiseAggregates  = 10_000 // BenchmarkLoad: other aggregates in the log
	benchNoiseEvents      = 10     // events of each other aggregate
	benchLoadTargets      = 4      // aggregates per size, loaded round robin
	benchHistMax          = 1 << 20
	benchInterval         = time.Second // SyncInterval of the "interval" runs
	benchParEnv           = "SHOAL_BENCH_PARALLELISM"
	benchParDefault       = 8 // ×GOMAXPROCS goroutines: 16 on 2 vCPUs, as the 16 PostgreSQL clients of bench/peers.sh
)

// benchDeposited is the benchmark's event: a few strings, ints and a time,
// about 200 bytes of msgpack as the store encodes it (a map keyed by the
// json names).
type benchDeposited struct {
	AccountID   string    `json:"account_id"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Reference   string    `json:"reference"`
	Description string    `json:"description"`
	Teller      string    `json:"teller"`
	Balance     int64     `json:"balance"`
	Sequence    int       `json:"sequence"`
	At          time.Time `json:"at"`
}

const benchEventType = "FundsDeposited"

// benchEvent returns the i-th event of aggregate id.
func benchEvent(id string, i int) benchDeposited {
	return benchDeposited{
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

// benchAggregateID returns the ID of aggregate i of a kind.
func benchAggregateID(kind string, i int) string { return fmt.Sprintf("%s-%06d", kind, i) }

// benchEngine is one engine setting of a benchmark.
type benchEngine struct {
	name   string
	memory bool
	sync   file.SyncPolicy
}

var (
	benchAlways         = benchEngine{name: "always", sync: file.SyncAlways}
	benchIntervalEngine = benchEngine{name: "interval", sync: file.SyncInterval(benchInterval)}
	benchMemory         = benchEngine{name: "memory", memory: true}
	benchFileNever      = benchEngine{name: "file", sync: file.SyncNever}
)

// benchOpenStore opens a store with benchDeposited registered on a fresh
// log over the engine (the file engine in a new owner.TempDir()). The log
// is closed when owner ends: b itself, or a parent benchmark whose
// sub-benchmarks share the store.
func benchOpenStore(b, owner *testing.B, e benchEngine) *eventstore.Store {
	b.Helper()
	ctx := context.Background()
	var eng shardlog.Engine
	if e.memory {
		eng = memory.New()
	} else {
		fe, err := file.Open(owner.TempDir(), file.WithSync(e.sync))
		if err != nil {
			b.Fatalf("file.Open: %v", err)
		}
		eng = fe
	}
	l, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0))
	if err != nil {
		b.Fatalf("shardlog.Open: %v", err)
	}
	owner.Cleanup(func() {
		if err := l.Close(); err != nil {
			owner.Errorf("Close: %v", err)
		}
	})
	reg := eventstore.NewRegistry()
	if err := eventstore.Register[benchDeposited](reg, benchEventType); err != nil {
		b.Fatal(err)
	}
	s, err := eventstore.Open(ctx, l, benchStream, eventstore.WithRegistry(reg),
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: benchShards}))
	if err != nil {
		b.Fatalf("eventstore.Open: %v", err)
	}
	return s
}

// benchParallelism is SHOAL_BENCH_PARALLELISM or benchParDefault.
func benchParallelism() int {
	if v, err := strconv.Atoi(os.Getenv(benchParEnv)); err == nil && v > 0 {
		return v
	}
	return benchParDefault
}

// benchHist is a latency sample of at most max durations: all of them
// until it is full, then a uniform reservoir sample.
type benchHist struct {
	d    []time.Duration
	seen int
	max  int
	r    *rand.Rand
}

func newBenchHist(max int, seed uint64) *benchHist {
	return &benchHist{max: max, r: rand.New(rand.NewPCG(seed, 0xbe7c4))}
}

func (h *benchHist) add(d time.Duration) {
	h.seen++
	if len(h.d) < h.max {
		h.d = append(h.d, d)
	} else if j := h.r.IntN(h.seen); j < h.max {
		h.d[j] = d
	}
}

// benchReport reports the p50 and p99 of hs in µs and n events per second
// of the benchmark's elapsed time.
func benchReport(b *testing.B, events int, hs ...*benchHist) {
	var all []time.Duration
	for _, h := range hs {
		all = append(all, h.d...)
	}
	if len(all) > 0 {
		slices.Sort(all)
		q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e3 }
		b.ReportMetric(q(0.50), "p50-µs")
		b.ReportMetric(q(0.99), "p99-µs")
	}
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(events)/s, "events/s")
	}
}

// BenchmarkAppend: one Append of k events per op, Exact(version).
func BenchmarkAppend(b *testing.B) {
	for _, k := range []int{1, 10} {
		b.Run(fmt.Sprintf("%devents", k), func(b *testing.B) {
			for _, e := range []benchEngine{benchAlways, benchIntervalEngine, benchMemory} {
				b.Run(e.name, func(b *testing.B) { benchAppend(b, e, k) })
			}
		})
	}
}

func benchAppend(b *testing.B, e benchEngine, k int) {
	s := benchOpenStore(b, b, e)
	ctx := context.Background()
	ids := make([]string, benchAppendAggregates)
	for i := range ids {
		ids[i] = benchAggregateID("acct", i)
	}
	versions := make([]uint64, len(ids))
	evs := make([]any, k)
	h := newBenchHist(benchHistMax, 1)
	op := 0
	for b.Loop() {
		a := op % len(ids)
		op++
		for j := range evs {
			evs[j] = benchEvent(ids[a], int(versions[a])+j+1)
		}
		t := time.Now()
		res, err := s.Append(ctx, ids[a], eventstore.Exact(versions[a]), evs...)
		h.add(time.Since(t))
		if err != nil {
			b.Fatalf("Append(%s, Exact(%d)): %v", ids[a], versions[a], err)
		}
		versions[a] = res.LastVersion
	}
	benchReport(b, op*k, h)
}

// benchLoadFixture is a log with the Load targets among the noise.
type benchLoadFixture struct {
	s       *eventstore.Store
	targets map[int][]string // events per target → target IDs
}

// benchLoadSizes are BenchmarkLoad's aggregate sizes.
var benchLoadSizes = []int{10, 100, 1000}

// benchLoadPlan returns the order of single-event appends that build the
// BenchmarkLoad log, the same for the file and memory engines and for the
// PostgreSQL peer: round robin over the noise aggregates, benchNoiseEvents
// rounds, with each target aggregate's events spread evenly through it.
// Each entry is an aggregate ID; its version is its count so far.
func benchLoadPlan() (plan []string, targets map[int][]string) {
	noise := benchNoiseAggregates * benchNoiseEvents
	type placed struct {
		at int
		id string
	}
	var ts []placed
	targets = map[int][]string{}
	for _, n := range benchLoadSizes {
		for t := range benchLoadTargets {
			id := benchAggregateID(fmt.Sprintf("load%d-t%d", n, t), 0)
			targets[n] = append(targets[n], id)
			for v := range n {
				// event v at position (v+0.5)/n of the noise, shifted per target
				ts = append(ts, placed{at: (2*v+1)*noise/(2*n) + t, id: id})
			}
		}
	}
	slices.SortStableFunc(ts, func(x, y placed) int { return x.at - y.at })
	plan = make([]string, 0, noise+len(ts))
	j := 0
	for i := range noise {
		for j < len(ts) && ts[j].at <= i {
			plan = append(plan, ts[j].id)
			j++
		}
		plan = append(plan, benchAggregateID("noise", i%benchNoiseAggregates))
	}
	for ; j < len(ts); j++ {
		plan = append(plan, ts[j].id)
	}
	return plan, targets
}

// benchBuildLoad appends the plan to a new store owned by owner, one
// single-event Append at a time (untimed).
func benchBuildLoad(b, owner *testing.B, e benchEngine) *benchLoadFixture {
	b.Helper()
	s := benchOpenStore(b, owner, e)
	plan, targets := benchLoadPlan()
	ctx := context.Background()
	versions := map[string]uint64{}
	for _, id := range plan {
		v := versions[id]
		if _, err := s.Append(ctx, id, eventstore.Exact(v), benchEvent(id, int(v)+1)); err != nil {
			b.Fatalf("preload Append(%s, Exact(%d)): %v", id, v, err)
		}
		versions[id] = v + 1
	}
	for n, ids := range targets {
		for _, id := range ids {
			if versions[id] != uint64(n) {
				b.Fatalf("preload: %s has %d events, want %d", id, versions[id], n)
			}
		}
	}
	return &benchLoadFixture{s: s, targets: targets}
}

// BenchmarkLoad: one Load of an aggregate of n events per op, decoding
// every payload.
func BenchmarkLoad(b *testing.B) {
	engines := []struct {
		name   string
		engine benchEngine
		decode bool
	}{
		{"file", benchFileNever, true},
		{"memory", benchMemory, true},
		{"file-nodecode", benchFileNever, false},
	}
	parent := b
	fixtures := map[benchEngine]*benchLoadFixture{}
	for _, n := range benchLoadSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for _, e := range engines {
				b.Run(e.name, func(b *testing.B) {
					fx := fixtures[e.engine]
					if fx == nil {
						// built once per engine, in the first sub-benchmark
						// that needs it (untimed: b.Loop starts the clock),
						// and closed when BenchmarkLoad ends
						fx = benchBuildLoad(b, parent, e.engine)
						fixtures[e.engine] = fx
					}
					benchLoad(b, fx, n, e.decode)
				})
			}
		})
	}
}

func benchLoad(b *testing.B, fx *benchLoadFixture, n int, decode bool) {
	ctx := context.Background()
	ids := fx.targets[n]
	h := newBenchHist(benchHistMax, 2)
	op := 0
	for b.Loop() {
		id := ids[op%len(ids)]
		op++
		t := time.Now()
		ld, err := fx.s.Load(ctx, id, nil)
		if err != nil {
			b.Fatalf("Load(%s): %v", id, err)
		}
		got := 0
		var last uint64
		for ev, err := range ld.Events {
			if err != nil {
				b.Fatalf("Load(%s): %v", id, err)
			}
			if decode {
				d, err := eventstore.DataAs[benchDeposited](&ev)
				if err != nil {
					b.Fatalf("Load(%s) v%d: %v", id, ev.Version, err)
				}
				if d.Sequence != int(ev.Version) {
					b.Fatalf("Load(%s) v%d: decoded event %d", id, ev.Version, d.Sequence)
				}
			}
			last = ev.Version
			got++
		}
		h.add(time.Since(t))
		if got != n || last != uint64(n) {
			b.Fatalf("Load(%s): %d events up to v%d, want %d", id, got, last, n)
		}
	}
	benchReport(b, op*n, h)
}

// BenchmarkAppendConcurrent: concurrent single-event appends to 10,000
// distinct aggregates.
func BenchmarkAppendConcurrent(b *testing.B) {
	b.Run("10k-aggregates", func(b *testing.B) {
		for _, e := range []benchEngine{benchAlways, benchIntervalEngine, benchMemory} {
			b.Run(e.name, func(b *testing.B) { benchAppendConcurrent(b, e) })
		}
	})
}

func benchAppendConcurrent(b *testing.B, e benchEngine) {
	s := benchOpenStore(b, b, e)
	ctx := context.Background()
	par := benchParallelism()
	goroutines := par * runtime.GOMAXPROCS(0)
	ids := make([]string, benchConcAggregates)
	for i := range ids {
		ids[i] = benchAggregateID("conc", i)
	}
	var (
		next  atomic.Int64
		mu    sync.Mutex
		hists []*benchHist
		total atomic.Int64
	)
	perG := max(1024, benchHistMax/goroutines)
	b.SetParallelism(par)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := int(next.Add(1) - 1)
		// goroutine g owns ids[g], ids[g+goroutines], ...
		var mine []string
		for i := g % goroutines; i < len(ids); i += goroutines {
			mine = append(mine, ids[i])
		}
		versions := make([]uint64, len(mine))
		h := newBenchHist(perG, uint64(g)+3)
		n := 0
		for i := 0; pb.Next(); i++ {
			a := i % len(mine)
			t := time.Now()
			_, err := s.Append(ctx, mine[a], eventstore.Exact(versions[a]), benchEvent(mine[a], int(versions[a])+1))
			h.add(time.Since(t))
			if err != nil {
				b.Errorf("Append(%s, Exact(%d)): %v", mine[a], versions[a], err)
				return
			}
			versions[a]++
			n++
		}
		total.Add(int64(n))
		mu.Lock()
		hists = append(hists, h)
		mu.Unlock()
	})
	b.StopTimer()
	benchReport(b, int(total.Load()), hists...)
}
