package eventstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/stretchr/testify/require"
)

// TestConcurrentWriters: N writers append to one aggregate, each reading
// the version and appending with Exact(v) until its events are in. The
// versions end dense, each event stored once, and every lost race is a
// *WrongExpectedVersionError.
func TestConcurrentWriters(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		s := e.store()
		ctx := e.ctx
		const writers, each = 8, 6
		type win struct {
			id      uuid.UUID
			version uint64
		}
		wins := make([][]win, writers)
		losses := make([]int, writers)
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				<-start
				for i := range each {
					p := eventstore.NewEvent(deposited{Amount: w*100 + i}, eventstore.Metadata{})
					for {
						v, err := s.Version(ctx, "agg")
						if err != nil {
							errs[w] = err
							return
						}
						runtime.Gosched() // let another writer in between
						res, err := s.Append(ctx, "agg", eventstore.Exact(v), p)
						var we *eventstore.WrongExpectedVersionError
						if errors.As(err, &we) {
							if !errors.Is(err, eventstore.ErrWrongExpectedVersion) || we.Actual <= v {
								errs[w] = fmt.Errorf("a lost race reports %v", err)
								return
							}
							losses[w]++
							continue
						}
						if err != nil {
							errs[w] = err
							return
						}
						if res.Deduplicated || res.FirstVersion != v+1 || res.LastVersion != v+1 {
							errs[w] = fmt.Errorf("Exact(%d) gave %+v", v, res)
							return
						}
						wins[w] = append(wins[w], win{p.ID, res.LastVersion})
						break
					}
				}
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		byVersion := map[uint64]uuid.UUID{}
		lost := 0
		for w := range writers {
			require.Len(t, wins[w], each)
			for i, x := range wins[w] {
				_, dup := byVersion[x.version]
				require.False(t, dup, "version %d won twice", x.version)
				byVersion[x.version] = x.id
				if i > 0 {
					require.Greater(t, x.version, wins[w][i-1].version)
				}
			}
			lost += losses[w]
		}
		t.Logf("%d appends lost a race", lost)
		evs := mustReadAll(t, s.Read(ctx, "agg", 0))
		require.Equal(t, span(1, writers*each), versions(evs))
		for _, ev := range evs {
			require.Equal(t, byVersion[ev.Version], ev.ID, "v%d", ev.Version)
		}
		require.Equal(t, writers*each, e.rawCount("agg"))
	})
}

// TestOneWinnerPerVersion: every writer tries every version with its own
// event; exactly one wins each.
func TestOneWinnerPerVersion(t *testing.T) {
	race := func(t *testing.T, e *env, s *eventstore.Store, base uint64) {
		const writers, rounds = 6, 12
		winners := make([][]uint64, writers) // versions each writer won
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				<-start
				for v := base; v < base+rounds; v++ {
					res, err := s.Append(e.ctx, "agg", eventstore.Exact(v), eventstore.NewEvent(withdrawn{Amount: w}, eventstore.Metadata{}))
					var we *eventstore.WrongExpectedVersionError
					switch {
					case err == nil:
						winners[w] = append(winners[w], res.LastVersion)
					case errors.As(err, &we) && errors.Is(err, eventstore.ErrWrongExpectedVersion) && we.Actual > v && we.Expected == eventstore.Exact(v):
					default:
						errs[w] = fmt.Errorf("Exact(%d): %v", v, err)
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		won := map[uint64]int{}
		for _, vs := range winners {
			for _, v := range vs {
				won[v]++
			}
		}
		for v := base + 1; v <= base+rounds; v++ {
			require.Equal(t, 1, won[v], "winners of version %d", v)
		}
		require.Len(t, won, rounds)
		got, err := s.Version(e.ctx, "agg")
		require.NoError(t, err)
		require.Equal(t, base+rounds, got)
		// Each version holds its winner's event.
		evs, _ := readAll(t, s.Read(e.ctx, "agg", base+1))
		require.Equal(t, span(base+1, base+rounds), versions(evs))
		for _, ev := range evs {
			d, err := eventstore.DataAs[withdrawn](&ev)
			require.NoError(t, err)
			require.Contains(t, winners[d.Amount], ev.Version)
		}
	}
	t.Run("new stream", func(t *testing.T) {
		eachEngine(t, func(t *testing.T, kind string) {
			e := newEnv(t, kind)
			race(t, e, e.store(), 0)
		})
	})
	// After every event expired, the version comes from a snapshot and the
	// conditional append expects no retained record: still one winner.
	t.Run("all expired", func(t *testing.T) {
		eachEngine(t, func(t *testing.T, kind string) {
			clk := newFakeClock()
			e := newEnv(t, kind, withClock(clk))
			snaps := eventstore.NewMemorySnapshots()
			s := e.store(eventstore.WithSnapshots(snaps))
			res, err := s.Append(e.ctx, "agg", eventstore.NoStream, opened{Owner: "o"}, deposited{Amount: 1})
			require.NoError(t, err)
			require.NoError(t, snaps.SaveSnapshot(e.ctx, eventstore.Snapshot{StreamID: "agg", Version: 2, Position: res.Last}))
			clk.Advance(retention + time.Hour)
			require.Zero(t, e.rawCount("agg"))
			race(t, e, s, 2)
		})
	})
}

// The linearizability model: one stream as a register of its version.
type linInput struct {
	version  bool // Version(), else Append
	exact    bool // Append with Exact(expected), else Any
	expected uint64
	n        uint64 // events in the append
}

type linOutput struct {
	ok          bool   // the append stored its events
	first, last uint64 // versions of the stored events
	actual      uint64 // the version a conflict reported, or Version's result
}

var linModel = porcupine.Model{
	Init: func() any { return uint64(0) },
	Step: func(state, input, output any) (bool, any) {
		v, in, out := state.(uint64), input.(linInput), output.(linOutput)
		switch {
		case in.version:
			return out.actual == v, v
		case !out.ok:
			return in.exact && in.expected != v && out.actual == v, v
		case in.exact && in.expected != v, out.first != v+1, out.last != v+in.n:
			return false, v
		}
		return true, out.last
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		switch {
		case in.version:
			return fmt.Sprintf("Version() -> %d", out.actual)
		case !in.exact && out.ok:
			return fmt.Sprintf("Append(Any, %d) -> %d..%d", in.n, out.first, out.last)
		case out.ok:
			return fmt.Sprintf("Append(Exact(%d), %d) -> %d..%d", in.expected, in.n, out.first, out.last)
		}
		return fmt.Sprintf("Append(Exact(%d), %d) -> conflict at %d", in.expected, in.n, out.actual)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("version %d", state.(uint64)) },
}

// linClient runs ops operations on stream "lin" and returns their history.
func linClient(e *env, s *eventstore.Store, id, ops int, clock func() int64, between func(i int) error) ([]porcupine.Operation, error) {
	rng := rand.New(rand.NewPCG(uint64(id), 7))
	var hist []porcupine.Operation
	seen := uint64(0) // the latest version this client saw
	for i := range ops {
		if between != nil {
			if err := between(i); err != nil {
				return hist, err
			}
		}
		op := porcupine.Operation{ClientId: id}
		var in linInput
		var out linOutput
		switch p := rng.IntN(8); {
		case p < 6:
			in = linInput{exact: p < 4, expected: seen, n: 1 + uint64(rng.IntN(3))}
			if p == 0 && seen > 0 {
				in.expected = seen - 1 // stale
			}
			evs := make([]any, in.n)
			for j := range evs {
				evs[j] = deposited{Amount: id*1000 + i}
			}
			exp := eventstore.Any
			if in.exact {
				exp = eventstore.Exact(in.expected)
			}
			op.Call = clock()
			res, err := s.Append(e.ctx, "lin", exp, evs...)
			op.Return = clock()
			var we *eventstore.WrongExpectedVersionError
			switch {
			case in.exact && errors.As(err, &we):
				out = linOutput{actual: we.Actual}
				seen = we.Actual
			case err != nil:
				return hist, err
			case res.Deduplicated:
				return hist, fmt.Errorf("fresh events were deduplicated: %+v", res)
			default:
				out = linOutput{ok: true, first: res.FirstVersion, last: res.LastVersion}
				seen = res.LastVersion
			}
		default:
			in = linInput{version: true}
			op.Call = clock()
			v, err := s.Version(e.ctx, "lin")
			op.Return = clock()
			if err != nil {
				return hist, err
			}
			out = linOutput{actual: v}
			seen = v
		}
		op.Input, op.Output = in, out
		hist = append(hist, op)
	}
	return hist, nil
}

// TestLinearizable checks Append (Exact and Any) and Version on one stream
// with concurrent clients against a register model, also while the log
// reshards under them.
func TestLinearizable(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		for _, reshard := range []bool{false, true} {
			t.Run(fmt.Sprintf("reshard=%v", reshard), func(t *testing.T) {
				e := newEnv(t, kind, withShards(2))
				stores := []*eventstore.Store{e.store(), e.store(), e.store()} // several stores, one log
				const clients, ops = 4, 40
				start := time.Now()
				clock := func() int64 { return int64(time.Since(start)) }
				hists := make([][]porcupine.Operation, clients)
				errs := make([]error, clients)
				var wg sync.WaitGroup
				for c := range clients {
					var between func(i int) error
					if reshard && c == 0 {
						var parent string
						between = func(i int) (err error) {
							switch {
							case i%10 != 5:
							case parent == "":
								parent, err = e.trySplitOwner("lin")
							default:
								err = e.tryMergeChildren(parent)
								parent = ""
							}
							return err
						}
					}
					wg.Go(func() {
						hists[c], errs[c] = linClient(e, stores[c%len(stores)], c, ops, clock, between)
					})
				}
				wg.Wait()
				for _, err := range errs {
					require.NoError(t, err)
				}
				var history []porcupine.Operation
				var appended uint64
				for _, h := range hists {
					history = append(history, h...)
					for _, op := range h {
						if out := op.Output.(linOutput); out.ok {
							appended += op.Input.(linInput).n
						}
					}
				}
				require.Len(t, history, clients*ops)
				res, _ := porcupine.CheckOperationsVerbose(linModel, history, 10*time.Second)
				require.Equal(t, porcupine.Ok, res, "Append and Version are not linearizable")
				require.Equal(t, span(1, appended), versions(mustReadAll(t, stores[0].Read(e.ctx, "lin", 0))))
			})
		}
	})

	t.Run("the model rejects non-linearizable histories", func(t *testing.T) {
		op := func(client int, call, ret int64, in linInput, out linOutput) porcupine.Operation {
			return porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: in, Output: out}
		}
		for name, hist := range map[string][]porcupine.Operation{
			"two winners of Exact(0)": {
				op(0, 0, 10, linInput{exact: true, n: 1}, linOutput{ok: true, first: 1, last: 1}),
				op(1, 5, 15, linInput{exact: true, n: 1}, linOutput{ok: true, first: 1, last: 1}),
			},
			"Version misses a completed append": {
				op(0, 0, 10, linInput{n: 2}, linOutput{ok: true, first: 1, last: 2}),
				op(1, 20, 30, linInput{version: true}, linOutput{actual: 0}),
			},
			"a conflict reports a wrong version": {
				op(0, 0, 10, linInput{n: 1}, linOutput{ok: true, first: 1, last: 1}),
				op(1, 20, 30, linInput{exact: true, expected: 5, n: 1}, linOutput{actual: 2}),
			},
			"Any skips a version": {
				op(0, 0, 10, linInput{n: 1}, linOutput{ok: true, first: 2, last: 2}),
			},
		} {
			require.False(t, porcupine.CheckOperations(linModel, hist), name)
		}
	})
}

// TestConcurrentRetries: clients that send one append at once (a retry
// racing the original) store it once and all get its result.
func TestConcurrentRetries(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		s := e.store()
		for _, exp := range []eventstore.ExpectedVersion{eventstore.NoStream, eventstore.Any, eventstore.Exact(1), eventstore.StreamExists} {
			id := "retry-" + exp.String()
			if n, ok := exp.Version(); !ok || n > 0 {
				_, err := s.Append(e.ctx, id, eventstore.NoStream, opened{Owner: "o"})
				require.NoError(t, err)
			}
			batch := []any{
				eventstore.NewEvent(deposited{Amount: 1}, eventstore.Metadata{}),
				eventstore.NewEvent(deposited{Amount: 2}, eventstore.Metadata{}),
				eventstore.NewEvent(withdrawn{Amount: 3}, eventstore.Metadata{}),
			}
			const clients = 6
			results := make([]eventstore.AppendResult, clients)
			errs := make([]error, clients)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for c := range clients {
				wg.Go(func() {
					<-start
					results[c], errs[c] = s.Append(e.ctx, id, exp, batch...)
				})
			}
			close(start)
			wg.Wait()
			stored := 0
			for c := range clients {
				require.NoError(t, errs[c], "%s client %d", exp, c)
				if !results[c].Deduplicated {
					stored++
				}
				r, first := results[c], results[0]
				require.Equal(t, first.FirstVersion, r.FirstVersion)
				require.Equal(t, first.LastVersion, r.LastVersion)
				require.Equal(t, first.First, r.First)
				require.Equal(t, first.Last, r.Last)
				require.True(t, first.RecordedAt.Equal(r.RecordedAt))
			}
			require.Equal(t, 1, stored, "%s: the append was stored once", exp)
			n := uint64(len(batch))
			if results[0].FirstVersion == 2 {
				n++
			}
			require.Equal(t, n, results[0].LastVersion)
			require.Equal(t, int(n), e.rawCount(id))
		}
	})
}
