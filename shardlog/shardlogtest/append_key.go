package shardlogtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// akRequireConflict checks err is a key conflict carrying the given numbers.
func akRequireConflict(t *testing.T, err error, key string, expected, actual shardlog.SequenceNumber) {
	t.Helper()
	require.ErrorIs(t, err, shardlog.ErrKeyConflict)
	var ce *shardlog.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, key, ce.PartitionKey, "ConflictError.PartitionKey")
	require.Equal(t, expected, ce.Expected, "ConflictError.Expected must echo the expectation")
	require.Equal(t, actual, ce.Actual, "ConflictError.Actual must be the key's real latest number")
}

// akShardByID returns a described shard.
func akShardByID(h *Harness, id string) shardlog.Shard {
	h.T.Helper()
	for _, s := range h.AllShards(akStream) {
		if s.ShardID == id {
			return s
		}
	}
	h.T.Fatalf("shard %s not described", id)
	return shardlog.Shard{}
}

func testAppendKey(t *testing.T, newEngine NewEngine) {
	t.Run("expected zero on a new key appends a contiguous batch to one shard", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 4)
		const key = "order-1"
		data := akBatch("e", 7)
		out := akAppend(h, key, shardlog.SequenceNumber{}, data)

		owner, err := akOwner(h.Ctx, h.Log, akStream, key)
		require.NoError(t, err)
		require.Equal(t, owner.ShardID, out.ShardID, "the batch goes to the shard owning the key's MD5")
		require.False(t, out.First.IsZero())
		require.Equal(t, out.First, out.SequenceNumber(0))
		require.Equal(t, out.SequenceNumber(len(data)-1), out.Last)
		require.Equal(t, Epoch, out.ArrivalTimestamp.UTC())
		seqs := akOutSeqs(out, len(data))
		akRequireContiguous(t, seqs)

		got := akRead(h, key, shardlog.SequenceNumber{})
		require.Equal(t, seqs, akSeqs(got))
		require.Equal(t, akStrings(data), akDatas(got))
		for _, r := range got {
			require.Equal(t, key, r.PartitionKey)
			require.Equal(t, Epoch, r.ApproximateArrivalTimestamp.UTC())
		}
		for _, s := range h.AllShards(akStream) {
			recs := h.ReadShard(akStream, s.ShardID)
			if s.ShardID != out.ShardID {
				require.Empty(t, recs, "shard %s got records of a batch for another shard", s.ShardID)
				continue
			}
			require.Equal(t, seqs, akSeqs(recs), "GetRecords returns the batch in order")
			require.Equal(t, akStrings(data), akDatas(recs))
		}
		require.Equal(t, out.Last, akLast(h, key))
	})

	t.Run("expected latest appends next", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 2)
		const key = "k"
		var want []shardlog.SequenceNumber
		var wantData []string
		expected := shardlog.SequenceNumber{}
		for i := range 5 {
			data := akBatch(fmt.Sprintf("b%d", i), i+1)
			out := akAppend(h, key, expected, data)
			if !expected.IsZero() {
				require.Positive(t, out.First.Compare(expected), "a batch comes after the previous one")
			}
			want = append(want, akOutSeqs(out, len(data))...)
			wantData = append(wantData, akStrings(data)...)
			require.Equal(t, out.Last, akLast(h, key))
			expected = out.Last
		}
		got := akRead(h, key, shardlog.SequenceNumber{})
		require.Equal(t, want, akSeqs(got))
		require.Equal(t, wantData, akDatas(got))
	})

	t.Run("failed check conflicts and stores nothing", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name     string
			expected func(first, latest shardlog.AppendKeyOutput, other shardlog.SequenceNumber) shardlog.SequenceNumber
			batch    int
		}{
			{"zero on an existing key", func(_, _ shardlog.AppendKeyOutput, _ shardlog.SequenceNumber) shardlog.SequenceNumber {
				return shardlog.SequenceNumber{}
			}, 1},
			{"stale latest", func(first, _ shardlog.AppendKeyOutput, _ shardlog.SequenceNumber) shardlog.SequenceNumber {
				return first.Last
			}, 1},
			{"first record of the latest batch", func(_, latest shardlog.AppendKeyOutput, _ shardlog.SequenceNumber) shardlog.SequenceNumber {
				return latest.First
			}, 3},
			{"a number after the latest", func(_, latest shardlog.AppendKeyOutput, _ shardlog.SequenceNumber) shardlog.SequenceNumber {
				return latest.Last.Next()
			}, 1},
			{"another key's latest in the same shard", func(_, _ shardlog.AppendKeyOutput, other shardlog.SequenceNumber) shardlog.SequenceNumber {
				return other
			}, 1},
			{"stale latest with a full batch", func(first, _ shardlog.AppendKeyOutput, _ shardlog.SequenceNumber) shardlog.SequenceNumber {
				return first.Last
			}, shardlog.MaxPutRecordsEntries},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 1)
				const key = "k"
				first := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("a", 2))
				latest := akAppend(h, key, first.Last, akBatch("b", 2))
				other := h.Put(akStream, "other", []byte("x")).SequenceNumber
				shard := latest.ShardID
				before := h.ReadShard(akStream, shard)

				expected := tc.expected(first, latest, other)
				_, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{
					StreamName: akStream, PartitionKey: key, Data: akBatch("lost", tc.batch), ExpectedSequenceNumber: expected,
				})
				akRequireConflict(t, err, key, expected, latest.Last)

				require.Equal(t, before, h.ReadShard(akStream, shard), "a conflicting batch stores nothing")
				require.Equal(t, latest.Last, akLast(h, key))
				require.Len(t, akRead(h, key, shardlog.SequenceNumber{}), 4)
			})
		}
	})

	t.Run("unconditional appends regardless of expected", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		const key = "k"
		first := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("a", 1))
		second := akAppend(h, key, first.Last, akBatch("b", 1))
		var want []shardlog.SequenceNumber
		want = append(want, first.Last, second.Last)
		for i, expected := range []shardlog.SequenceNumber{
			{},                 // zero on an existing key
			first.Last,         // stale
			second.Last.Next(), // never assigned
			second.Last,        // matching: also fine
		} {
			data := akBatch(fmt.Sprintf("u%d", i), 3)
			out, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{
				StreamName: akStream, PartitionKey: key, Data: data, ExpectedSequenceNumber: expected, Unconditional: true,
			})
			require.NoError(t, err)
			seqs := akOutSeqs(*out, len(data))
			akRequireContiguous(t, seqs)
			require.Equal(t, out.Last, akLast(h, key))
			want = append(want, seqs...)
		}
		require.Equal(t, want, akSeqs(akRead(h, key, shardlog.SequenceNumber{})))
		// The shard holds exactly these records, each batch contiguous.
		require.Equal(t, want, akSeqs(h.ReadShard(akStream, first.ShardID)))
	})

	t.Run("other keys in the shard do not affect the check", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		for i := range 5 {
			h.Put(akStream, fmt.Sprintf("other-%d", i), []byte("x"))
		}
		a := akAppend(h, "k", shardlog.SequenceNumber{}, akBatch("a", 2))
		var lastOther shardlog.SequenceNumber
		for i := range 5 {
			lastOther = h.Put(akStream, fmt.Sprintf("other-%d", i), []byte("y")).SequenceNumber
		}
		require.Positive(t, lastOther.Compare(a.Last), "the shard's latest record is another key's")
		b := akAppend(h, "k", a.Last, akBatch("b", 2))
		require.Equal(t, a.ShardID, b.ShardID)
		// A never-written key has no records, whatever the shard holds.
		require.True(t, akLast(h, "fresh").IsZero())
		akAppend(h, "fresh", shardlog.SequenceNumber{}, akBatch("f", 1))
		// Records written by PutRecord count as the key's own.
		require.Equal(t, lastOther, akLast(h, "other-4"))
		_, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: "other-4", Data: akBatch("o", 1)})
		akRequireConflict(t, err, "other-4", shardlog.SequenceNumber{}, lastOther)
		akAppend(h, "other-4", lastOther, akBatch("o", 1))
	})

	t.Run("limits", func(t *testing.T) {
		t.Parallel()
		const mib = 1 << 20
		buf := make([]byte, mib)
		// rec returns a record of total size (data plus the key "k").
		rec := func(size int) []byte { return buf[:size-1] }
		recs := func(sizes ...int) [][]byte {
			out := make([][]byte, len(sizes))
			for i, s := range sizes {
				out[i] = rec(s)
			}
			return out
		}
		cases := []struct {
			name  string
			key   string
			data  [][]byte
			field string // empty: accepted
		}{
			{"1 record", "k", akBatch("r", 1), ""},
			{"500 records", "k", akBatch("r", 500), ""},
			{"0 records", "k", [][]byte{}, "Data"},
			{"nil data", "k", nil, "Data"},
			{"501 records", "k", akBatch("r", 501), "Data"},
			{"record of 1 MiB with its key", "k", recs(mib), ""},
			{"record 1 byte over 1 MiB", "k", recs(mib + 1), "Data.0.Data"},
			{"second record 1 byte over 1 MiB", "k", [][]byte{[]byte("ok"), append(slices.Clip(rec(mib)), 0)}, "Data.1.Data"},
			{"batch of exactly 5 MiB", "k", recs(mib, mib, mib, mib, mib), ""},
			{"batch 1 byte over 5 MiB", "k", recs(mib, mib, mib, mib, mib-1, 2), "Data"},
			{"key of 256 characters", strings.Repeat("é", 256), akBatch("r", 2), ""},
			{"empty key", "", akBatch("r", 1), "PartitionKey"},
			{"key of 257 characters", strings.Repeat("é", 257), akBatch("r", 1), "PartitionKey"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 1)
				out, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: tc.key, Data: tc.data})
				if tc.field == "" {
					require.NoError(t, err)
					require.Equal(t, out.SequenceNumber(len(tc.data)-1), out.Last)
					got := akRead(h, tc.key, shardlog.SequenceNumber{})
					require.Len(t, got, len(tc.data))
					akRequireContiguous(t, akSeqs(got))
					for i, r := range got {
						require.Equal(t, len(tc.data[i]), len(r.Data))
					}
					return
				}
				akRequireArg(t, err, tc.field)
				require.Empty(t, h.ReadShard(akStream, h.OpenShards(akStream)[0].ShardID), "a refused batch stores nothing")
			})
		}
	})

	t.Run("unknown or invalid stream", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		_, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: "missing", PartitionKey: "k", Data: akBatch("r", 1)})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		_, err = h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: "bad name!", PartitionKey: "k", Data: akBatch("r", 1)})
		akRequireArg(t, err, "StreamName")
		_, err = h.Log.LastKey(h.Ctx, shardlog.LastKeyInput{StreamName: "missing", PartitionKey: "k"})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})

	t.Run("across a split", func(t *testing.T) {
		t.Parallel()
		for _, half := range []struct {
			name string
			r    shardlog.HashKeyRange
		}{{"key in the low child", akLowHalf}, {"key in the high child", akHighHalf}} {
			t.Run(half.name, func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 1)
				key := akKeyIn(t, "split", half.r)
				parent := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("p", 3))
				require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: akStream, ShardToSplit: parent.ShardID, NewStartingHashKey: akPow2(127)}))
				require.Equal(t, parent.Last, akLast(h, key), "LastKeySequence sees the parent's history")

				_, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: akBatch("x", 1)})
				akRequireConflict(t, err, key, shardlog.SequenceNumber{}, parent.Last)

				child := akAppend(h, key, parent.Last, akBatch("c", 2))
				owner, err := akOwner(h.Ctx, h.Log, akStream, key)
				require.NoError(t, err)
				require.Equal(t, owner.ShardID, child.ShardID, "the append goes to the child")
				require.NotEqual(t, parent.ShardID, child.ShardID)
				require.Positive(t, child.First.Compare(parent.Last))
				require.Equal(t, child.Last, akLast(h, key))

				_, err = h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: akBatch("x", 1), ExpectedSequenceNumber: parent.Last})
				akRequireConflict(t, err, key, parent.Last, child.Last)
				require.Len(t, akRead(h, key, shardlog.SequenceNumber{}), 5)
			})
		}
	})

	t.Run("across a merge", func(t *testing.T) {
		t.Parallel()
		for _, side := range []struct {
			name string
			r    shardlog.HashKeyRange
		}{{"key in the parent", akLowHalf}, {"key in the adjacent parent", akHighHalf}} {
			t.Run(side.name, func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 2)
				key := akKeyIn(t, "merge", side.r)
				// The other parent's key must not leak into this key's check.
				otherRange := akHighHalf
				if side.r == akHighHalf {
					otherRange = akLowHalf
				}
				other := akKeyIn(t, "merge", otherRange)
				mine := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("m", 2))
				theirs := akAppend(h, other, shardlog.SequenceNumber{}, akBatch("t", 2))
				require.NotEqual(t, mine.ShardID, theirs.ShardID)
				lo, hi := h.OpenShards(akStream)[0], h.OpenShards(akStream)[1]
				if lo.HashKeyRange.StartingHashKey.Compare(hi.HashKeyRange.StartingHashKey) > 0 {
					lo, hi = hi, lo
				}
				require.NoError(t, h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: akStream, ShardToMerge: lo.ShardID, AdjacentShardToMerge: hi.ShardID}))
				require.Equal(t, mine.Last, akLast(h, key))
				require.Equal(t, theirs.Last, akLast(h, other))

				_, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: akBatch("x", 1)})
				akRequireConflict(t, err, key, shardlog.SequenceNumber{}, mine.Last)
				_, err = h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: akBatch("x", 1), ExpectedSequenceNumber: theirs.Last})
				akRequireConflict(t, err, key, theirs.Last, mine.Last)

				child := akAppend(h, key, mine.Last, akBatch("c", 1))
				require.Len(t, h.OpenShards(akStream), 1)
				require.Equal(t, h.OpenShards(akStream)[0].ShardID, child.ShardID)
				require.Equal(t, child.Last, akLast(h, key))
				require.Equal(t, theirs.Last, akLast(h, other))
				akAppend(h, other, theirs.Last, akBatch("t2", 1))
			})
		}
	})

	t.Run("across two splits with an empty middle generation", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		key := akKeyIn(t, "gen", akRange("0", akPow2(120)))
		gen0 := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("g0", 2))
		for range 2 {
			_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
			require.NoError(t, err)
		}
		require.Equal(t, gen0.Last, akLast(h, key), "history two generations up is found")
		_, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: akBatch("x", 1)})
		akRequireConflict(t, err, key, shardlog.SequenceNumber{}, gen0.Last)
		gen2 := akAppend(h, key, gen0.Last, akBatch("g2", 1))
		owner := akShardByID(h, gen2.ShardID)
		require.False(t, owner.Closed)
		require.NotEmpty(t, owner.ParentShardID)
		require.NotEqual(t, gen0.ShardID, owner.ParentShardID, "the key's shard is a grandchild")
		require.Equal(t, gen2.Last, akLast(h, key))
	})

	t.Run("across UpdateShardCount up and down", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		keys := []string{akKeyIn(t, "usc", akLowHalf), akKeyIn(t, "usc", akHighHalf)}
		latest := map[string]shardlog.SequenceNumber{}
		appendAll := func() {
			for _, k := range keys {
				out := akAppend(h, k, latest[k], akBatch(k, 2))
				latest[k] = out.Last
			}
		}
		appendAll()
		targets := []int{2, 4, 3, 2, 1}
		for _, target := range targets {
			_, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: akStream, TargetShardCount: target})
			require.NoError(t, err)
			for _, k := range keys {
				require.Equal(t, latest[k], akLast(h, k), "after scaling to %d", target)
				_, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: k, Data: akBatch("x", 1)})
				akRequireConflict(t, err, k, shardlog.SequenceNumber{}, latest[k])
			}
			appendAll()
		}
		for _, k := range keys {
			got := akRead(h, k, shardlog.SequenceNumber{})
			require.Len(t, got, 2*(1+len(targets)))
			akRequireIncreasing(t, akSeqs(got))
			require.Equal(t, latest[k], got[len(got)-1].SequenceNumber)
		}
	})

	t.Run("LastKeySequence", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 2)
		require.True(t, akLast(h, "unknown").IsZero(), "a key never written has no records")
		put := h.Put(akStream, "p", []byte("x"))
		require.Equal(t, put.SequenceNumber, akLast(h, "p"), "PutRecord records count")
		out := akAppend(h, "p", put.SequenceNumber, akBatch("a", 4))
		require.Equal(t, out.Last, akLast(h, "p"))
		require.True(t, akLast(h, "unknown").IsZero())
		for _, bad := range []string{"", strings.Repeat("a", 257)} {
			_, err := h.Log.LastKey(h.Ctx, shardlog.LastKeyInput{StreamName: akStream, PartitionKey: bad})
			akRequireArg(t, err, "PartitionKey")
		}
	})

	t.Run("LastKey", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 2)
		lk, err := h.Log.LastKey(h.Ctx, shardlog.LastKeyInput{StreamName: akStream, PartitionKey: "unknown"})
		require.NoError(t, err)
		require.False(t, lk.Found, "a key never written has no last record")
		out := akAppend(h, "k", shardlog.SequenceNumber{}, akBatch("a", 3))
		lk, err = h.Log.LastKey(h.Ctx, shardlog.LastKeyInput{StreamName: akStream, PartitionKey: "k"})
		require.NoError(t, err)
		require.True(t, lk.Found)
		r := lk.Record
		require.Equal(t, out.Last, r.SequenceNumber)
		require.Equal(t, "k", r.PartitionKey)
		require.Equal(t, "a-2", string(r.Data), "the last record of the batch")
		require.Equal(t, out.ArrivalTimestamp.UnixMilli(), r.ApproximateArrivalTimestamp.UnixMilli())
		require.Equal(t, out.ShardID, r.SequenceNumber.ShardID(), "a sequence number names its shard")
		// After a split the key's last record is still found in the parent.
		for _, sh := range h.OpenShards(akStream) {
			if sh.ShardID == out.ShardID {
				require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: akStream, ShardToSplit: sh.ShardID, NewStartingHashKey: akMid(sh.HashKeyRange)}))
			}
		}
		require.Len(t, h.OpenShards(akStream), 3)
		lk, err = h.Log.LastKey(h.Ctx, shardlog.LastKeyInput{StreamName: akStream, PartitionKey: "k"})
		require.NoError(t, err)
		require.True(t, lk.Found)
		require.Equal(t, r.SequenceNumber, lk.Record.SequenceNumber)
		_, err = h.Log.LastKey(h.Ctx, shardlog.LastKeyInput{StreamName: "missing", PartitionKey: "k"})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		_, err = h.Log.LastKey(h.Ctx, shardlog.LastKeyInput{StreamName: akStream})
		akRequireArg(t, err, "PartitionKey")
	})

	t.Run("retention", func(t *testing.T) {
		t.Parallel()
		const day = 24 * time.Hour
		cases := []struct {
			name    string
			split   bool // split the key's shard right after its first records
			enforce bool // run EnforceRetention before checking
		}{
			{"expired records", false, false},
			{"expired and trimmed records", false, true},
			{"expired records in a split parent", true, false},
			{"expired and dropped split parent", true, true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 1)
				const key = "k"
				old := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("old", 3))
				if tc.split {
					_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
					require.NoError(t, err)
				}
				h.Clock.Advance(day)
				require.Equal(t, old.Last, akLast(h, key), "a record exactly at the retention edge still counts")
				h.Clock.Advance(time.Millisecond)
				if tc.enforce {
					require.NoError(t, h.Log.EnforceRetention(h.Ctx))
				}
				require.True(t, akLast(h, key).IsZero(), "an expired key has no records")
				require.Empty(t, akRead(h, key, shardlog.SequenceNumber{}))

				_, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: akBatch("x", 1), ExpectedSequenceNumber: old.Last})
				akRequireConflict(t, err, key, old.Last, shardlog.SequenceNumber{})

				fresh := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("new", 2))
				require.Equal(t, fresh.Last, akLast(h, key))
				require.Equal(t, akOutSeqs(fresh, 2), akSeqs(akRead(h, key, shardlog.SequenceNumber{})))
			})
		}
	})

	t.Run("retention of a parent while the child is retained", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		const key = "k"
		parent := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("p", 2))
		_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
		require.NoError(t, err)
		h.Clock.Advance(12 * time.Hour)
		child := akAppend(h, key, parent.Last, akBatch("c", 2))
		h.Clock.Advance(12*time.Hour + time.Millisecond)
		require.Equal(t, child.Last, akLast(h, key))
		require.Equal(t, akOutSeqs(child, 2), akSeqs(akRead(h, key, shardlog.SequenceNumber{})))
		_, err = h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: akBatch("x", 1)})
		akRequireConflict(t, err, key, shardlog.SequenceNumber{}, child.Last)
		akAppend(h, key, child.Last, akBatch("n", 1))
	})
}
