package shardlogtest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// mlAck is an acknowledged put: where it was stored.
type mlAck struct {
	key   string
	data  string
	shard string
	seq   shardlog.SequenceNumber
}

// mlPutter puts records to keys "<tag>-0".."<tag>-2" through l, one at a
// time and in batches of PutRecords by turns, until more() is false and it
// has put at least min records; it returns the acknowledgements in order.
// It adds each acknowledged record to progress.
func mlPutter(m *mlHarness, l *shardlog.Log, tag string, min int, more func() bool, progress *atomic.Int64) ([]mlAck, error) {
	var acks []mlAck
	for i := 0; more() || len(acks) < min; i++ {
		if i%4 != 3 {
			key, data := fmt.Sprintf("%s-%d", tag, i%3), fmt.Sprintf("%s-put-%d", tag, i)
			out, err := l.PutRecord(m.Ctx, shardlog.PutRecordInput{StreamName: akStream, PartitionKey: key, Data: []byte(data)})
			if err != nil {
				return acks, err
			}
			acks = append(acks, mlAck{key, data, out.ShardID, out.SequenceNumber})
			progress.Add(1)
			continue
		}
		entries := make([]shardlog.PutRecordsEntry, 6)
		for j := range entries {
			entries[j] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprintf("%s-%d", tag, j%3), Data: fmt.Appendf(nil, "%s-batch-%d-%d", tag, i, j)}
		}
		res, err := l.PutRecords(m.Ctx, shardlog.PutRecordsInput{StreamName: akStream, Records: entries})
		if err == nil && res.FailedRecordCount > 0 {
			err = fmt.Errorf("PutRecords: %d of %d entries failed: %s", res.FailedRecordCount, len(entries), benchFirstFailure(res).ErrorMessage)
		}
		if err != nil {
			return acks, err
		}
		for j, r := range res.Records {
			acks = append(acks, mlAck{entries[j].PartitionKey, string(entries[j].Data), r.ShardID, r.SequenceNumber})
		}
		progress.Add(int64(len(entries)))
	}
	return acks, nil
}

// mlAwaitProgress waits until the others' puts have moved past since by
// at least n records (or a few seconds have passed), so that reshards
// interleave with the writers however fast the engine is.
func mlAwaitProgress(m *mlHarness, progress *atomic.Int64, since int64, n int64) {
	deadline := time.Now().Add(3 * time.Second)
	for progress.Load() < since+n && time.Now().Before(deadline) && m.Ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
}

func testMultiLogResharding(t *testing.T, newShared NewSharedEngines) {
	cases := []struct {
		name    string
		reshard func(m *mlHarness, keys []string, between func()) error
	}{
		{"SplitShard and MergeShards", func(m *mlHarness, keys []string, between func()) error {
			for i := range 8 {
				between()
				p, err := akSplitOwner(m.Ctx, m.Logs[0], akStream, keys[i%len(keys)])
				if err != nil {
					return err
				}
				between()
				if err := akMergeChildren(m.Ctx, m.Logs[0], akStream, p.ShardID); err != nil {
					return err
				}
			}
			return nil
		}},
		{"UpdateShardCount", func(m *mlHarness, _ []string, between func()) error {
			for _, n := range []int{2, 4, 2, 1, 2, 1} {
				between()
				if _, err := m.Logs[0].UpdateShardCount(m.Ctx, shardlog.UpdateShardCountInput{StreamName: akStream, TargetShardCount: n}); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" through one Log while two others put and append", func(t *testing.T) {
			t.Parallel()
			m := mlOpen(t, newShared, 3)
			require.NoError(t, m.Logs[0].CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: akStream, ShardCount: 1}))
			// Log 2 hears of no reshard through the change feed: it must
			// learn of them from the seals and sealed shards it meets.
			_, err := m.Logs[2].DescribeStream(m.Ctx, shardlog.DescribeStreamInput{StreamName: akStream})
			require.NoError(t, err)
			m.Lag[2].Pause()
			keys := []string{"k", "j"}
			const want, minPuts = 3, 10
			var done atomic.Bool
			// Writers go on until the reshards are done, each at most one
			// operation a millisecond: enough to race every reshard, few
			// enough to check quickly.
			more := func() bool {
				time.Sleep(time.Millisecond)
				return !done.Load()
			}

			// Logs 1 and 2 each run a conditional writer per key and a putter.
			writers := [][2]int{{1, 0}, {1, 1}, {2, 0}, {2, 1}} // {log, key}
			wins := make([][]akSuccess, len(writers))
			puts := make([][]mlAck, 2)
			errs := make([]error, len(writers)+len(puts))
			var wg sync.WaitGroup
			for i, w := range writers {
				wg.Go(func() {
					wins[i], errs[i] = akWriter(m.Ctx, m.Logs[w[0]], keys[w[1]], fmt.Sprintf("l%d-w%d", w[0], i), want, more, uint64(i))
				})
			}
			var progress atomic.Int64
			for i := range puts {
				wg.Go(func() {
					puts[i], errs[len(writers)+i] = mlPutter(m, m.Logs[1+i], fmt.Sprintf("l%d", 1+i), minPuts, more, &progress)
				})
			}
			reshardErr := tc.reshard(m, keys, func() { mlAwaitProgress(m, &progress, progress.Load(), 20) })
			done.Store(true)
			wg.Wait()
			require.NoError(t, reshardErr)
			for _, err := range errs {
				require.NoError(t, err)
			}

			// Every shard, read with GetRecords through the resharding Log.
			type at struct {
				shard string
				seq   shardlog.SequenceNumber
			}
			stored := map[string]at{}
			for _, s := range m.H(0).AllShards(akStream) {
				recs := m.H(0).ReadShard(akStream, s.ShardID)
				akRequireIncreasing(t, akSeqs(recs))
				if len(recs) > 0 {
					require.GreaterOrEqual(t, recs[0].SequenceNumber.Compare(s.StartingSequenceNumber), 0, "shard %s holds a record before its starting number", s.ShardID)
					if s.Closed {
						// A seal's last record is the shard's last: no append
						// slipped in after the reshard read it.
						require.Equal(t, s.EndingSequenceNumber, recs[len(recs)-1].SequenceNumber, "closed shard %s: its ending number is not its last record", s.ShardID)
					}
				}
				for _, r := range recs {
					d := string(r.Data)
					_, dup := stored[d]
					require.False(t, dup, "record %s stored twice", d)
					stored[d] = at{s.ShardID, r.SequenceNumber}
				}
			}

			// Every acknowledged put is where it was acknowledged, and each
			// key's records, read through the other writing Log, are the
			// acknowledged ones in order.
			total := 0
			for i, acks := range puts {
				byKey := map[string][]mlAck{}
				for _, a := range acks {
					require.Equal(t, at{a.shard, a.seq}, stored[a.data], "put %s is stored where it was acknowledged", a.data)
					byKey[a.key] = append(byKey[a.key], a)
				}
				total += len(acks)
				reader := m.Logs[2-i]
				for key, acks := range byKey {
					recs, err := akReadAll(m.Ctx, reader, akStream, key, shardlog.SequenceNumber{})
					require.NoError(t, err)
					require.Len(t, recs, len(acks), "key %s", key)
					for j, r := range recs {
						require.Equal(t, acks[j].data, string(r.Data), "key %s: record %d out of order", key, j)
						require.Equal(t, acks[j].seq, r.SequenceNumber, "key %s: record %d", key, j)
					}
				}
			}

			// Every successful conditional append is in the log at its
			// numbers; each key's successes form one chain, read through
			// each writing Log.
			for k, key := range keys {
				var all []akSuccess
				for i, w := range writers {
					if w[1] == k {
						require.GreaterOrEqual(t, len(wins[i]), want)
						all = append(all, wins[i]...)
					}
				}
				for _, w := range all {
					for j, d := range w.data {
						require.Equal(t, at{w.out.ShardID, w.out.SequenceNumber(j)}, stored[string(d)], "conditional append %s", d)
					}
					total += len(w.data)
				}
				akCheckChain(t, m.H(1), key, all)
				akCheckChain(t, m.H(2), key, all)
			}
			require.Len(t, stored, total, "the log holds exactly the acknowledged records")
		})
	}
}
