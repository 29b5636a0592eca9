package shardlogtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// The linearizability model: one partition key as a register of its latest
// sequence number and record count.
const (
	akOpAppend = iota
	akOpRead
	akOpLast
)

type akLinInput struct {
	Op       int
	Expected shardlog.SequenceNumber // akOpAppend
	N        int                     // akOpAppend: records in the batch
}

type akLinOutput struct {
	OK          bool                    // akOpAppend: appended
	First, Last shardlog.SequenceNumber // akOpAppend when OK; Last also for reads
	Actual      shardlog.SequenceNumber // akOpAppend on conflict
	Count       int                     // akOpRead: records read
}

type akLinState struct {
	Last  shardlog.SequenceNumber
	Count int
}

var akLinModel = porcupine.Model{
	Init: func() any { return akLinState{} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(akLinState), input.(akLinInput), output.(akLinOutput)
		switch in.Op {
		case akOpAppend:
			if !out.OK {
				return in.Expected != s.Last && out.Actual == s.Last, s
			}
			if in.Expected != s.Last || out.First.Compare(s.Last) <= 0 || out.Last.Compare(out.First) < 0 {
				return false, s
			}
			return true, akLinState{Last: out.Last, Count: s.Count + in.N}
		case akOpRead:
			return out.Last == s.Last && out.Count == s.Count, s
		default:
			return out.Last == s.Last, s
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(akLinInput), output.(akLinOutput)
		switch in.Op {
		case akOpAppend:
			if out.OK {
				return fmt.Sprintf("append(%v, %d) -> ok %v..%v", in.Expected, in.N, out.First, out.Last)
			}
			return fmt.Sprintf("append(%v, %d) -> conflict %v", in.Expected, in.N, out.Actual)
		case akOpRead:
			return fmt.Sprintf("read() -> %d records, last %v", out.Count, out.Last)
		default:
			return fmt.Sprintf("last() -> %v", out.Last)
		}
	},
	DescribeState: func(state any) string {
		s := state.(akLinState)
		return fmt.Sprintf("last %v, %d records", s.Last, s.Count)
	},
}

// akLinClient runs ops operations on key and returns their history; every
// reshardEvery operations (if not zero) it runs reshard between two of them.
func akLinClient(ctx context.Context, l *shardlog.Log, id, ops int, key string, clock func() int64, reshardEvery int, reshard func() error) ([]porcupine.Operation, error) {
	rng := rand.New(rand.NewPCG(uint64(id), 99))
	var hist []porcupine.Operation
	seen := shardlog.SequenceNumber{} // the latest number this client saw
	for i := range ops {
		if reshardEvery > 0 && i > 0 && i%reshardEvery == 0 {
			if err := reshard(); err != nil {
				return hist, err
			}
		}
		op := porcupine.Operation{ClientId: id}
		var in akLinInput
		var out akLinOutput
		switch p := rng.IntN(10); {
		case p < 6:
			in = akLinInput{Op: akOpAppend, Expected: seen, N: 1 + rng.IntN(2)}
			if p == 0 {
				in.Expected = shardlog.SequenceNumber{} // often stale
			}
			data := akBatch(fmt.Sprintf("c%d-op%d", id, i), in.N)
			op.Call = clock()
			res, err := l.AppendKey(ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: data, ExpectedSequenceNumber: in.Expected})
			op.Return = clock()
			var ce *shardlog.ConflictError
			switch {
			case errors.As(err, &ce):
				out = akLinOutput{Actual: ce.Actual}
				seen = ce.Actual
			case err != nil:
				return hist, err
			default:
				out = akLinOutput{OK: true, First: res.First, Last: res.Last}
				seen = res.Last
			}
		case p < 8:
			in = akLinInput{Op: akOpRead}
			op.Call = clock()
			recs, err := akReadAll(ctx, l, akStream, key, shardlog.SequenceNumber{})
			op.Return = clock()
			if err != nil {
				return hist, err
			}
			for j := 1; j < len(recs); j++ {
				if recs[j-1].SequenceNumber.Compare(recs[j].SequenceNumber) >= 0 {
					return hist, fmt.Errorf("ReadKey out of order at %d", j)
				}
			}
			out = akLinOutput{Count: len(recs)}
			if len(recs) > 0 {
				out.Last = recs[len(recs)-1].SequenceNumber
			}
			seen = out.Last
		default:
			in = akLinInput{Op: akOpLast}
			op.Call = clock()
			lk, err := l.LastKey(ctx, shardlog.LastKeyInput{StreamName: akStream, PartitionKey: key})
			op.Return = clock()
			if err != nil {
				return hist, err
			}
			last := lk.Record.SequenceNumber
			out = akLinOutput{Last: last}
			seen = last
		}
		op.Input, op.Output = in, out
		hist = append(hist, op)
	}
	return hist, nil
}

func testLinearizability(t *testing.T, newEngine NewEngine) {
	cases := []struct {
		name    string
		shards  int
		noise   bool // other keys written concurrently
		reshard string
	}{
		{"one shard", 1, false, ""},
		{"four shards with other keys", 4, true, ""},
		{"split and merge midway", 1, false, "split-merge"},
		{"UpdateShardCount midway", 2, true, "update-shard-count"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := akNew(t, newEngine, tc.shards)
			const clients, ops, key = 4, 50, "register"
			start := time.Now()
			clock := func() int64 { return int64(time.Since(start)) } // monotonic
			var reshard func() error
			reshardEvery := 0
			switch tc.reshard {
			case "split-merge":
				reshardEvery = 12
				reshard = func() error { return akReshardCycle(h.Ctx, h.Log, akStream, key) }
			case "update-shard-count":
				reshardEvery = 10
				targets := []int{4, 2, 1, 2}
				reshard = func() error {
					if len(targets) == 0 {
						return nil
					}
					n := targets[0]
					targets = targets[1:]
					_, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: akStream, TargetShardCount: n})
					return err
				}
			}
			hists := make([][]porcupine.Operation, clients)
			errs := make([]error, clients+1)
			var wg, bg sync.WaitGroup
			var stop atomic.Bool
			if tc.noise {
				bg.Go(func() {
					for i := 0; !stop.Load(); i++ {
						if _, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: akStream, PartitionKey: fmt.Sprintf("noise-%d", i%16), Data: []byte("n")}); err != nil {
							errs[clients] = err
							return
						}
					}
				})
			}
			for c := range clients {
				every := 0
				if c == 0 {
					every = reshardEvery // one client reshards between its operations
				}
				wg.Go(func() {
					hists[c], errs[c] = akLinClient(h.Ctx, h.Log, c, ops, key, clock, every, reshard)
				})
			}
			wg.Wait()
			stop.Store(true)
			bg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			var history []porcupine.Operation
			appended := 0
			for _, hs := range hists {
				history = append(history, hs...)
				for _, op := range hs {
					if out := op.Output.(akLinOutput); out.OK {
						appended += op.Input.(akLinInput).N
					}
				}
			}
			require.Len(t, history, clients*ops)
			res, _ := porcupine.CheckOperationsVerbose(akLinModel, history, 20*time.Second)
			require.Equal(t, porcupine.Ok, res, "the key's history is not linearizable")
			require.Len(t, akRead(h, key, shardlog.SequenceNumber{}), appended)
		})
	}

	t.Run("model rejects non-linearizable histories", func(t *testing.T) {
		t.Parallel()
		s1, s2 := shardlog.MakeSequenceNumber(10, 0), shardlog.MakeSequenceNumber(11, 0)
		op := func(client int, call, ret int64, in akLinInput, out akLinOutput) porcupine.Operation {
			return porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: in, Output: out}
		}
		appendOK := func(client int, call, ret int64, exp, seq shardlog.SequenceNumber) porcupine.Operation {
			return op(client, call, ret, akLinInput{Op: akOpAppend, Expected: exp, N: 1}, akLinOutput{OK: true, First: seq, Last: seq})
		}
		cases := []struct {
			name string
			hist []porcupine.Operation
			want porcupine.CheckResult
		}{
			{"a read misses a completed append", []porcupine.Operation{
				appendOK(0, 0, 10, shardlog.SequenceNumber{}, s1),
				op(1, 20, 30, akLinInput{Op: akOpRead}, akLinOutput{}),
			}, porcupine.Illegal},
			{"two appends win with one expectation", []porcupine.Operation{
				appendOK(0, 0, 10, shardlog.SequenceNumber{}, s1),
				appendOK(1, 5, 15, shardlog.SequenceNumber{}, s2),
			}, porcupine.Illegal},
			{"a conflict reports a wrong actual", []porcupine.Operation{
				appendOK(0, 0, 10, shardlog.SequenceNumber{}, s1),
				op(1, 20, 30, akLinInput{Op: akOpAppend, N: 1}, akLinOutput{Actual: s2}),
			}, porcupine.Illegal},
			{"LastKeySequence goes back", []porcupine.Operation{
				appendOK(0, 0, 10, shardlog.SequenceNumber{}, s1),
				op(1, 20, 30, akLinInput{Op: akOpLast}, akLinOutput{Last: s1}),
				op(1, 40, 50, akLinInput{Op: akOpLast}, akLinOutput{}),
			}, porcupine.Illegal},
			{"concurrent read may see either state", []porcupine.Operation{
				appendOK(0, 0, 10, shardlog.SequenceNumber{}, s1),
				op(1, 5, 6, akLinInput{Op: akOpRead}, akLinOutput{}),
				op(2, 5, 6, akLinInput{Op: akOpRead}, akLinOutput{Last: s1, Count: 1}),
				appendOK(1, 20, 30, s1, s2),
			}, porcupine.Ok},
		}
		for _, tc := range cases {
			res, _ := porcupine.CheckOperationsVerbose(akLinModel, tc.hist, time.Second)
			require.Equal(t, tc.want, res, tc.name)
		}
	})
}
