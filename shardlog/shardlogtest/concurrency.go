package shardlogtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// akSuccess is one successful conditional append of a concurrent test.
type akSuccess struct {
	key      string
	expected shardlog.SequenceNumber
	out      *shardlog.AppendKeyOutput
	data     [][]byte
}

// akWriter loops {LastKeySequence; AppendKey expected=that} on key until it
// has want successes and more() is false; it returns its successes.
func akWriter(ctx context.Context, l *shardlog.Log, key, tag string, want int, more func() bool, seed uint64) ([]akSuccess, error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	var wins []akSuccess
	for attempt := 0; len(wins) < want || more(); attempt++ {
		lk, err := l.LastKey(ctx, shardlog.LastKeyInput{StreamName: akStream, PartitionKey: key})
		if err != nil {
			return wins, err
		}
		exp := lk.Record.SequenceNumber
		data := akBatch(fmt.Sprintf("%s-%d", tag, attempt), 1+rng.IntN(3))
		out, err := l.AppendKey(ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: data, ExpectedSequenceNumber: exp})
		var ce *shardlog.ConflictError
		switch {
		case errors.As(err, &ce):
			if ce.Expected != exp || ce.Actual == exp || ce.PartitionKey != key {
				return wins, fmt.Errorf("conflict %v does not match expected %v", ce, exp)
			}
		case err != nil:
			return wins, err
		default:
			wins = append(wins, akSuccess{key: key, expected: exp, out: out, data: data})
		}
	}
	return wins, nil
}

// akCheckChain checks a key's successful appends form one chain (each
// expected the previous one's last record, the first expected none), that
// no expectation won twice, and that ReadKey returns exactly their records,
// batch by batch, contiguous.
func akCheckChain(t *testing.T, h *Harness, key string, wins []akSuccess) {
	t.Helper()
	slices.SortFunc(wins, func(a, b akSuccess) int { return a.out.First.Compare(b.out.First) })
	seen := map[shardlog.SequenceNumber]bool{}
	prev := shardlog.SequenceNumber{}
	var wantSeqs []shardlog.SequenceNumber
	var wantData []string
	for i, w := range wins {
		require.False(t, seen[w.expected], "two appends succeeded expecting %v", w.expected)
		seen[w.expected] = true
		require.Equal(t, prev, w.expected, "success %d did not expect its predecessor's last record", i)
		seqs := akOutSeqs(*w.out, len(w.data))
		require.Equal(t, w.out.Last, seqs[len(seqs)-1])
		akRequireContiguous(t, seqs)
		wantSeqs = append(wantSeqs, seqs...)
		wantData = append(wantData, akStrings(w.data)...)
		prev = w.out.Last
	}
	got := akRead(h, key, shardlog.SequenceNumber{})
	require.Equal(t, wantSeqs, akSeqs(got), "ReadKey returns exactly the successful appends")
	require.Equal(t, wantData, akDatas(got))
	require.Equal(t, prev, akLast(h, key))
}

func testConcurrency(t *testing.T, newEngine NewEngine) {
	t.Run("concurrent puts are all stored exactly once", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 4)
		const writers, singles, batches, batchSize = 8, 30, 3, 30
		type ack struct {
			shard string
			seq   shardlog.SequenceNumber
		}
		acks := make([]map[string]ack, writers)
		order := make([][]string, writers) // data in the order each writer got acks
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			acks[w] = map[string]ack{}
			wg.Go(func() {
				for i := range singles + batches {
					if i < singles {
						d := fmt.Sprintf("w%d-s%d", w, i)
						out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: akStream, PartitionKey: fmt.Sprintf("w%d-k%d", w, i%5), Data: []byte(d)})
						if err != nil {
							errs[w] = err
							return
						}
						acks[w][d] = ack{out.ShardID, out.SequenceNumber}
						order[w] = append(order[w], d)
						continue
					}
					entries := make([]shardlog.PutRecordsEntry, batchSize)
					for j := range entries {
						entries[j] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprintf("w%d-k%d", w, j%7), Data: fmt.Appendf(nil, "w%d-b%d-%d", w, i, j)}
					}
					res, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: akStream, Records: entries})
					if err == nil && res.FailedRecordCount > 0 {
						err = fmt.Errorf("%d entries failed", res.FailedRecordCount)
					}
					if err != nil {
						errs[w] = err
						return
					}
					for j, r := range res.Records {
						d := string(entries[j].Data)
						acks[w][d] = ack{r.ShardID, r.SequenceNumber}
						order[w] = append(order[w], d)
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		stored := map[string]ack{}
		for _, s := range h.AllShards(akStream) {
			recs := h.ReadShard(akStream, s.ShardID)
			akRequireIncreasing(t, akSeqs(recs))
			for _, r := range recs {
				d := string(r.Data)
				_, dup := stored[d]
				require.False(t, dup, "record %s stored twice", d)
				stored[d] = ack{s.ShardID, r.SequenceNumber}
			}
		}
		total := 0
		for w := range writers {
			lastInShard := map[string]shardlog.SequenceNumber{}
			for _, d := range order[w] {
				a := acks[w][d]
				require.Equal(t, a, stored[d], "record %s is stored where it was acknowledged", d)
				require.Positive(t, a.seq.Compare(lastInShard[a.shard]), "a writer's later record in shard %s got a smaller number", a.shard)
				lastInShard[a.shard] = a.seq
				total++
			}
		}
		require.Equal(t, writers*(singles+batches*batchSize), total)
		require.Len(t, stored, total)
	})

	t.Run("concurrent conditional appends on one key", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		const writers, want = 8, 6
		var stop atomic.Bool
		wins := make([][]akSuccess, writers)
		errs := make([]error, writers+2)
		var wg, noise sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				wins[w], errs[w] = akWriter(h.Ctx, h.Log, "k", fmt.Sprintf("w%d", w), want, func() bool { return false }, uint64(w))
			})
		}
		// Writers of other keys into the same shard, to catch batches
		// interleaved with foreign records.
		for n := range 2 {
			noise.Go(func() {
				for i := 0; !stop.Load(); i++ {
					if _, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: akStream, PartitionKey: fmt.Sprintf("noise-%d", n), Data: []byte("n")}); err != nil {
						errs[writers+n] = err
						return
					}
				}
			})
		}
		wg.Wait()
		stop.Store(true)
		noise.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		var all []akSuccess
		for _, w := range wins {
			require.Len(t, w, want)
			all = append(all, w...)
		}
		akCheckChain(t, h, "k", all)

		// In the shard, each batch's records sit next to each other.
		recs := h.ReadShard(akStream, all[0].out.ShardID)
		pos := map[shardlog.SequenceNumber]int{}
		for i, r := range recs {
			pos[r.SequenceNumber] = i
		}
		for _, w := range all {
			i, ok := pos[w.out.First]
			require.True(t, ok)
			for j := range w.data {
				require.Equal(t, string(w.data[j]), string(recs[i+j].Data), "batch interleaved with other records")
			}
		}
	})

	t.Run("concurrent conditional appends during resharding", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name    string
			reshard func(h *Harness, keys []string)
		}{
			{"SplitShard and MergeShards", func(h *Harness, keys []string) {
				for i := range 12 {
					require.NoError(h.T, akReshardCycle(h.Ctx, h.Log, akStream, keys[i%len(keys)]))
				}
			}},
			{"UpdateShardCount", func(h *Harness, _ []string) {
				for _, n := range []int{2, 4, 8, 5, 3, 2, 1, 2, 1} {
					_, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: akStream, TargetShardCount: n})
					require.NoError(h.T, err)
				}
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 1)
				keys := []string{"k", "j"}
				const perKey, want = 4, 3
				var done atomic.Bool
				more := func() bool { return !done.Load() }
				wins := make([][]akSuccess, len(keys)*perKey)
				errs := make([]error, len(wins)+1)
				type ack struct {
					shard string
					seq   shardlog.SequenceNumber
				}
				var puts []ack
				var wg sync.WaitGroup
				for i := range wins {
					wg.Go(func() {
						wins[i], errs[i] = akWriter(h.Ctx, h.Log, keys[i%len(keys)], fmt.Sprintf("w%d", i), want, more, uint64(i))
					})
				}
				wg.Go(func() { // plain puts must survive the reshards too
					for i := 0; more() || i < 10; i++ {
						out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: akStream, PartitionKey: fmt.Sprintf("p%d", i), Data: fmt.Appendf(nil, "put-%d", i)})
						if err != nil {
							errs[len(wins)] = err
							return
						}
						puts = append(puts, ack{out.ShardID, out.SequenceNumber})
					}
				})
				tc.reshard(h, keys)
				done.Store(true)
				wg.Wait()
				for _, err := range errs {
					require.NoError(t, err)
				}
				for k, key := range keys {
					var all []akSuccess
					for i := k; i < len(wins); i += len(keys) {
						require.GreaterOrEqual(t, len(wins[i]), want)
						all = append(all, wins[i]...)
					}
					akCheckChain(t, h, key, all)
				}
				stored := map[ack]string{}
				for _, s := range h.AllShards(akStream) {
					for _, r := range h.ReadShard(akStream, s.ShardID) {
						stored[ack{s.ShardID, r.SequenceNumber}] = string(r.Data)
					}
				}
				for i, p := range puts {
					require.Equal(t, fmt.Sprintf("put-%d", i), stored[p], "put %d is stored where it was acknowledged", i)
				}
			})
		}
	})
}
