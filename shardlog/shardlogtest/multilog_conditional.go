package shardlogtest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func testMultiLogConditional(t *testing.T, newShared NewSharedEngines) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d Logs append to one key expecting the same number: one wins", n), func(t *testing.T) {
			t.Parallel()
			m := mlOpen(t, newShared, n)
			require.NoError(t, m.Logs[0].CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: akStream, ShardCount: 2}))
			m.Lag[n-1].Pause() // one Log hears of nothing through the change feed
			const key, rounds = "order-1", 25
			expected := shardlog.SequenceNumber{} // the first round: the key has no records
			var wantData []string
			var wantSeqs []shardlog.SequenceNumber
			for round := range rounds {
				outs := make([]*shardlog.AppendKeyOutput, n)
				errs := make([]error, n)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i, l := range m.Logs {
					wg.Go(func() {
						<-start
						outs[i], errs[i] = l.AppendKey(m.Ctx, shardlog.AppendKeyInput{
							StreamName: akStream, PartitionKey: key, ExpectedSequenceNumber: expected,
							Data: akBatch(fmt.Sprintf("r%d-l%d", round, i), 1+i%2),
						})
					})
				}
				close(start)
				wg.Wait()
				winner := -1
				for i, err := range errs {
					if err == nil {
						require.Equal(t, -1, winner, "round %d: Logs %d and %d both won expecting %v", round, winner, i, expected)
						winner = i
					}
				}
				require.NotEqual(t, -1, winner, "round %d: no Log won: %v", round, errs)
				for i, err := range errs {
					if i != winner {
						var ce *shardlog.ConflictError
						require.ErrorAs(t, err, &ce, "round %d, Log %d", round, i)
						akRequireConflict(t, err, key, expected, outs[winner].Last)
					}
				}
				size := 1 + winner%2
				wantData = append(wantData, akStrings(akBatch(fmt.Sprintf("r%d-l%d", round, winner), size))...)
				wantSeqs = append(wantSeqs, akOutSeqs(*outs[winner], size)...)
				expected = outs[winner].Last
			}
			for i := range m.Logs {
				recs := akRead(m.H(i), key, shardlog.SequenceNumber{})
				require.Equal(t, wantData, akDatas(recs), "Log %d reads exactly the winners", i)
				require.Equal(t, wantSeqs, akSeqs(recs), "Log %d", i)
				require.Equal(t, expected, akLast(m.H(i), key))
			}
		})
	}
}

func testMultiLogLinearizability(t *testing.T, newShared NewSharedEngines) {
	t.Run("a Log that has not heard of a reshard reads and appends a key past it", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 2)
		a, b := m.Logs[0], m.Logs[1]
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: akStream, ShardCount: 1}))
		const key = "k"
		first := akAppend(m.H(0), key, shardlog.SequenceNumber{}, akBatch("a", 1))
		require.Equal(t, first.Last, akLast(m.H(1), key))
		m.Lag[1].Pause() // b knows the stream, and hears of no change to it
		want := []shardlog.SequenceNumber{first.Last}
		// A read that finds the reshard may have b reload the stream, so
		// the first read after each reshard is the one that meets it.
		requireStale := func(when string, lastKeyFirst bool) {
			t.Helper()
			if lastKeyFirst {
				require.Equal(t, want[len(want)-1], akLast(m.H(1), key), "LastKey through b %s", when)
			}
			require.Equal(t, want, akSeqs(akRead(m.H(1), key, shardlog.SequenceNumber{})), "ReadKey through b %s", when)
			require.Equal(t, want[1:], akSeqs(akRead(m.H(1), key, want[0])), "ReadKey after the first record through b %s", when)
			require.Equal(t, want[len(want)-1], akLast(m.H(1), key), "LastKey through b %s", when)
		}

		p, err := akSplitOwner(m.Ctx, a, akStream, key)
		require.NoError(t, err)
		want = append(want, akAppend(m.H(0), key, want[len(want)-1], akBatch("b", 1)).Last)
		requireStale("after a split through a", true)

		require.NoError(t, akMergeChildren(m.Ctx, a, akStream, p.ShardID))
		want = append(want, akAppend(m.H(0), key, want[len(want)-1], akBatch("c", 1)).Last)
		requireStale("after a merge through a", false)

		// b's conditional appends are judged by the key's latest record.
		_, err = b.AppendKey(m.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: akBatch("stale", 1), ExpectedSequenceNumber: want[1]})
		akRequireConflict(t, err, key, want[1], want[len(want)-1])
		p, err = akSplitOwner(m.Ctx, a, akStream, key) // and once more unheard of
		require.NoError(t, err)
		out, err := b.AppendKey(m.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: akBatch("d", 1), ExpectedSequenceNumber: want[len(want)-1]})
		require.NoError(t, err)
		owner, err := akOwner(m.Ctx, a, akStream, key)
		require.NoError(t, err)
		require.Equal(t, owner.ShardID, out.ShardID, "b appended to a shard that no longer takes the key")
		want = append(want, out.Last)
		require.Equal(t, want, akSeqs(akRead(m.H(0), key, shardlog.SequenceNumber{})))
		require.Equal(t, []string{"a-0", "b-0", "c-0", "d-0"}, akDatas(akRead(m.H(1), key, shardlog.SequenceNumber{})))
	})

	t.Run("AppendKey, ReadKey and LastKey across three Logs with splits and merges", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 3)
		require.NoError(t, m.Logs[0].CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: akStream, ShardCount: 1}))
		// Log 2 knows the stream but hears of no reshard through the
		// change feed: its reads must find the key's records in shards it
		// does not know of yet.
		_, err := m.Logs[2].DescribeStream(m.Ctx, shardlog.DescribeStreamInput{StreamName: akStream})
		require.NoError(t, err)
		m.Lag[2].Pause()
		keys := []string{"register-a", "register-b"}
		const perKey, ops = 3, 40 // clients per key, one on each Log
		start := time.Now()
		clock := func() int64 { return int64(time.Since(start)) } // monotonic
		type client struct {
			key  int
			log  int
			hist []porcupine.Operation
			err  error
		}
		var clients []*client
		for k := range keys {
			for l := range perKey {
				clients = append(clients, &client{key: k, log: l})
			}
		}
		var wg sync.WaitGroup
		for id, c := range clients {
			every := 0
			var reshard func() error
			if id == 0 {
				// One client, on Log 0, splits its key's shard and merges
				// the halves back between its operations.
				every = 6
				reshard = func() error { return akReshardCycle(m.Ctx, m.Logs[0], akStream, keys[c.key]) }
			}
			wg.Go(func() {
				c.hist, c.err = akLinClient(m.Ctx, m.Logs[c.log], id, ops, keys[c.key], clock, every, reshard)
			})
		}
		wg.Wait()
		for id, c := range clients {
			require.NoError(t, c.err, "client %d (Log %d, key %s)", id, c.log, keys[c.key])
		}
		for k, key := range keys {
			var history []porcupine.Operation
			appended := 0
			for _, c := range clients {
				if c.key != k {
					continue
				}
				history = append(history, c.hist...)
				for _, op := range c.hist {
					if out := op.Output.(akLinOutput); out.OK {
						appended += op.Input.(akLinInput).N
					}
				}
			}
			require.Len(t, history, perKey*ops)
			res, _ := porcupine.CheckOperationsVerbose(akLinModel, history, 20*time.Second)
			require.Equal(t, porcupine.Ok, res, "the history of key %s across Logs is not linearizable", key)
			for i := range m.Logs {
				require.Len(t, akRead(m.H(i), key, shardlog.SequenceNumber{}), appended, "Log %d reads every successful append of %s", i, key)
			}
		}
		d, err := mlDescribe(m.Ctx, m.Logs[0], akStream)
		require.NoError(t, err)
		require.Greater(t, len(d.Shards), 1, "the run resharded")
	})
}
