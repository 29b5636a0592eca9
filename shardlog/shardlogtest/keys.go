package shardlogtest

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// akStream is the stream every test of this file uses.
const akStream = "keys"

// akNew returns a harness with akStream created with n shards.
func akNew(t *testing.T, newEngine NewEngine, n int) *Harness {
	t.Helper()
	h := NewHarness(t, newEngine)
	h.CreateStream(akStream, n)
	return h
}

// akBatch returns n records "prefix-0" ... "prefix-(n-1)".
func akBatch(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s-%d", prefix, i)
	}
	return out
}

// akAppend appends data for key conditionally and requires success.
func akAppend(h *Harness, key string, expected shardlog.SequenceNumber, data [][]byte) shardlog.AppendKeyOutput {
	h.T.Helper()
	out, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: key, Data: data, ExpectedSequenceNumber: expected})
	require.NoError(h.T, err)
	return out
}

// akReadAll collects a whole ReadKey; safe off the test goroutine.
func akReadAll(ctx context.Context, l *shardlog.Log, stream, key string, after shardlog.SequenceNumber) ([]shardlog.Record, error) {
	var out []shardlog.Record
	for r, err := range l.ReadKey(ctx, stream, key, after) {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// akRead reads the key's records after after and requires success.
func akRead(h *Harness, key string, after shardlog.SequenceNumber) []shardlog.Record {
	h.T.Helper()
	recs, err := akReadAll(h.Ctx, h.Log, akStream, key, after)
	require.NoError(h.T, err)
	return recs
}

// akLast returns LastKeySequence of key.
func akLast(h *Harness, key string) shardlog.SequenceNumber {
	h.T.Helper()
	seq, err := h.Log.LastKeySequence(h.Ctx, akStream, key)
	require.NoError(h.T, err)
	return seq
}

func akDatas(recs []shardlog.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Data)
	}
	return out
}

func akStrings(data [][]byte) []string {
	out := make([]string, len(data))
	for i, d := range data {
		out[i] = string(d)
	}
	return out
}

func akSeqs(recs []shardlog.Record) []shardlog.SequenceNumber {
	out := make([]shardlog.SequenceNumber, len(recs))
	for i, r := range recs {
		out[i] = r.SequenceNumber
	}
	return out
}

// akOutSeqs lists the sequence numbers of an AppendKey batch of n records.
func akOutSeqs(out shardlog.AppendKeyOutput, n int) []shardlog.SequenceNumber {
	seqs := make([]shardlog.SequenceNumber, n)
	for i := range seqs {
		seqs[i] = out.SequenceNumber(i)
	}
	return seqs
}

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

// akRequireArg checks err is an invalid argument naming field.
func akRequireArg(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
	var ae *shardlog.ArgumentError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, field, ae.Field)
}

// akRequireContiguous checks seqs are consecutive positions of one shard.
func akRequireContiguous(t *testing.T, seqs []shardlog.SequenceNumber) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		require.Equal(t, seqs[0].ShardIndex(), seqs[i].ShardIndex(), "record %d in another shard", i)
		require.Equal(t, seqs[i-1].Position()+1, seqs[i].Position(), "record %d is not right after record %d", i, i-1)
	}
}

// akRequireIncreasing checks seqs strictly increase.
func akRequireIncreasing(t *testing.T, seqs []shardlog.SequenceNumber) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		require.Negative(t, seqs[i-1].Compare(seqs[i]), "sequence numbers %d and %d out of order", i-1, i)
	}
}

func akBig(k shardlog.HashKey) *big.Int {
	b, ok := new(big.Int).SetString(k.String(), 10)
	if !ok {
		panic("shardlogtest: bad hash key " + k.String())
	}
	return b
}

// akPow2 returns 2^n in decimal.
func akPow2(n uint) string { return new(big.Int).Lsh(big.NewInt(1), n).String() }

// akRange builds a hash-key range from decimal bounds.
func akRange(lo, hi string) shardlog.HashKeyRange {
	a, err := shardlog.ParseHashKey(lo)
	if err != nil {
		panic(err)
	}
	b, err := shardlog.ParseHashKey(hi)
	if err != nil {
		panic(err)
	}
	return shardlog.HashKeyRange{StartingHashKey: a, EndingHashKey: b}
}

// akMid returns a split point that halves r: greater than its start, at
// most its end.
func akMid(r shardlog.HashKeyRange) string {
	m := new(big.Int).Add(akBig(r.StartingHashKey), akBig(r.EndingHashKey))
	m.Rsh(m, 1)
	return m.Add(m, big.NewInt(1)).String()
}

// akKeyIn returns the first key "prefix-<i>" whose MD5 hash key lies in r.
func akKeyIn(t *testing.T, prefix string, r shardlog.HashKeyRange) string {
	t.Helper()
	for i := range 1 << 20 {
		k := fmt.Sprintf("%s-%d", prefix, i)
		if r.Contains(shardlog.HashPartitionKey(k)) {
			return k
		}
	}
	t.Fatalf("no key %s-<i> hashes into [%s, %s]", prefix, r.StartingHashKey, r.EndingHashKey)
	return ""
}

// akLowHalf and akHighHalf are the halves SplitShard at 2^127 makes of a
// one-shard stream.
var (
	akLowHalf  = akRange("0", new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 127), big.NewInt(1)).String())
	akHighHalf = akRange(akPow2(127), shardlog.MaxHashKey.String())
)

// akOwner returns the open shard that owns key; safe off the test goroutine.
func akOwner(ctx context.Context, l *shardlog.Log, stream, key string) (shardlog.Shard, error) {
	d, err := l.DescribeStream(ctx, stream)
	if err != nil {
		return shardlog.Shard{}, err
	}
	hk := shardlog.HashPartitionKey(key)
	for _, s := range d.Shards {
		if !s.Closed && s.HashKeyRange.Contains(hk) {
			return s, nil
		}
	}
	return shardlog.Shard{}, fmt.Errorf("no open shard owns key %q", key)
}

// akSplitOwner splits the open shard owning key in halves and returns it.
func akSplitOwner(ctx context.Context, l *shardlog.Log, stream, key string) (shardlog.Shard, error) {
	p, err := akOwner(ctx, l, stream, key)
	if err != nil {
		return p, err
	}
	return p, l.SplitShard(ctx, stream, p.ShardID, akMid(p.HashKeyRange))
}

// akMergeChildren merges back the two open children of split parentID.
func akMergeChildren(ctx context.Context, l *shardlog.Log, stream, parentID string) error {
	d, err := l.DescribeStream(ctx, stream)
	if err != nil {
		return err
	}
	var kids []shardlog.Shard
	for _, s := range d.Shards {
		if !s.Closed && s.ParentShardID == parentID && s.AdjacentParentShardID == "" {
			kids = append(kids, s)
		}
	}
	if len(kids) != 2 {
		return fmt.Errorf("shard %s has %d open split children, want 2", parentID, len(kids))
	}
	slices.SortFunc(kids, func(a, b shardlog.Shard) int {
		return a.HashKeyRange.StartingHashKey.Compare(b.HashKeyRange.StartingHashKey)
	})
	return l.MergeShards(ctx, stream, kids[0].ShardID, kids[1].ShardID)
}

// akReshardCycle splits the shard owning key and merges its halves back.
func akReshardCycle(ctx context.Context, l *shardlog.Log, stream, key string) error {
	p, err := akSplitOwner(ctx, l, stream, key)
	if err != nil {
		return err
	}
	return akMergeChildren(ctx, l, stream, p.ShardID)
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
			seqs := akOutSeqs(out, len(data))
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
		_, err = h.Log.LastKeySequence(h.Ctx, "missing", "k")
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
				require.NoError(t, h.Log.SplitShard(h.Ctx, akStream, parent.ShardID, akPow2(127)))
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
				require.NoError(t, h.Log.MergeShards(h.Ctx, akStream, lo.ShardID, hi.ShardID))
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
			_, err := h.Log.UpdateShardCount(h.Ctx, akStream, target)
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
			_, err := h.Log.LastKeySequence(h.Ctx, akStream, bad)
			akRequireArg(t, err, "PartitionKey")
		}
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

func testReadKey(t *testing.T, newEngine NewEngine) {
	t.Run("returns only the key's records in order", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		want := map[string][]string{}
		for i := range 10 {
			for _, k := range []string{"a", "b", "c"} {
				d := fmt.Sprintf("%s-%d", k, i)
				if i%2 == 0 {
					h.Put(akStream, k, []byte(d))
				} else {
					_, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: k, Data: [][]byte{[]byte(d)}, Unconditional: true})
					require.NoError(t, err)
				}
				want[k] = append(want[k], d)
			}
		}
		for _, k := range []string{"a", "b", "c"} {
			got := akRead(h, k, shardlog.SequenceNumber{})
			require.Equal(t, want[k], akDatas(got))
			akRequireIncreasing(t, akSeqs(got))
			for _, r := range got {
				require.Equal(t, k, r.PartitionKey)
			}
		}
		require.Empty(t, akRead(h, "unknown", shardlog.SequenceNumber{}))
	})

	t.Run("after is exclusive", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		var all []shardlog.Record
		var others []shardlog.SequenceNumber
		for i := range 6 {
			out := akAppend(h, "k", akLast(h, "k"), akBatch(fmt.Sprintf("k%d", i), 1))
			all = append(all, shardlog.Record{SequenceNumber: out.Last, Data: fmt.Appendf(nil, "k%d-0", i)})
			others = append(others, h.Put(akStream, "other", []byte("o")).SequenceNumber)
		}
		cases := []struct {
			name  string
			after shardlog.SequenceNumber
			want  []shardlog.Record
		}{
			{"zero reads all", shardlog.SequenceNumber{}, all},
			{"after the first", all[0].SequenceNumber, all[1:]},
			{"after the third", all[2].SequenceNumber, all[3:]},
			{"after another key's record between", others[2], all[3:]},
			{"after the last", all[5].SequenceNumber, nil},
			{"after a later number", others[5].Next(), nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got := akRead(h, "k", tc.after)
				require.Equal(t, akSeqs(tc.want), akSeqs(got))
				require.Equal(t, akDatas(tc.want), akDatas(got))
			})
		}
	})

	t.Run("across a split and a merge", func(t *testing.T) {
		t.Parallel()
		for _, half := range []struct {
			name string
			r    shardlog.HashKeyRange
		}{{"key in the low half", akLowHalf}, {"key in the high half", akHighHalf}} {
			t.Run(half.name, func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 1)
				key := akKeyIn(t, "rk", half.r)
				var want []string
				step := func(tag string) shardlog.AppendKeyOutput {
					data := akBatch(tag, 3)
					want = append(want, akStrings(data)...)
					h.Put(akStream, "noise-"+tag, []byte("n"))
					return akAppend(h, key, akLast(h, key), data)
				}
				gen0 := step("gen0")
				parent, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
				require.NoError(t, err)
				require.Equal(t, gen0.ShardID, parent.ShardID)
				gen1 := step("gen1")
				require.NoError(t, akMergeChildren(h.Ctx, h.Log, akStream, parent.ShardID))
				gen2 := step("gen2")
				require.NotEqual(t, gen0.ShardID, gen1.ShardID)
				require.NotEqual(t, gen1.ShardID, gen2.ShardID)

				got := akRead(h, key, shardlog.SequenceNumber{})
				require.Equal(t, want, akDatas(got), "parents' history first, then the child's")
				akRequireIncreasing(t, akSeqs(got))
				require.Equal(t, want[4:], akDatas(akRead(h, key, gen1.First)), "after a number in the split child")
				require.Equal(t, want[2:], akDatas(akRead(h, key, gen0.SequenceNumber(1))), "after a number in the first parent")
			})
		}
	})

	t.Run("across three generations of splits", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		key := akKeyIn(t, "g3", akRange("0", akPow2(120)))
		var want []string
		var outs []shardlog.AppendKeyOutput
		for gen := range 3 {
			if gen > 0 {
				_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
				require.NoError(t, err)
			}
			data := akBatch(fmt.Sprintf("gen%d", gen), 4)
			want = append(want, akStrings(data)...)
			outs = append(outs, akAppend(h, key, akLast(h, key), data))
		}
		require.Len(t, h.AllShards(akStream), 5)
		got := akRead(h, key, shardlog.SequenceNumber{})
		require.Equal(t, want, akDatas(got))
		akRequireIncreasing(t, akSeqs(got))
		require.Equal(t, want[5:], akDatas(akRead(h, key, outs[1].First)))
		require.Equal(t, want[8:], akDatas(akRead(h, key, outs[1].Last)))
	})

	t.Run("skips expired records", func(t *testing.T) {
		t.Parallel()
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("split=%v", split), func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 1)
				const key = "k"
				old := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("old", 3))
				if split {
					_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
					require.NoError(t, err)
				}
				h.Clock.Advance(12 * time.Hour)
				mid := akAppend(h, key, old.Last, akBatch("mid", 2))
				h.Clock.Advance(12 * time.Hour)
				require.Len(t, akRead(h, key, shardlog.SequenceNumber{}), 5, "at exactly 24 hours nothing expired")
				h.Clock.Advance(time.Millisecond)
				got := akRead(h, key, shardlog.SequenceNumber{})
				require.Equal(t, akOutSeqs(mid, 2), akSeqs(got))
				require.Equal(t, []string{"mid-0", "mid-1"}, akDatas(got))
				require.Equal(t, []string{"mid-1"}, akDatas(akRead(h, key, mid.First)))
				h.Clock.Advance(12 * time.Hour)
				require.Empty(t, akRead(h, key, shardlog.SequenceNumber{}))
			})
		}
	})

	t.Run("pages past 1000 records", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name    string
			n       int
			splitAt int // split the key's shard after this many records; 0: never
		}{
			{"1000 records", 1000, 0},
			{"1001 records", 1001, 0},
			{"2500 records", 2500, 0},
			{"2500 records across a split", 2500, 1500},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 1)
				const key = "big"
				var want []string
				var seqs []shardlog.SequenceNumber
				last := shardlog.SequenceNumber{}
				for len(want) < tc.n {
					if tc.splitAt > 0 && len(want) == tc.splitAt {
						_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
						require.NoError(t, err)
					}
					n := min(shardlog.MaxPutRecordsEntries, tc.n-len(want))
					data := make([][]byte, n)
					for i := range data {
						data[i] = fmt.Appendf(nil, "r%d", len(want)+i)
					}
					out := akAppend(h, key, last, data)
					last = out.Last
					want = append(want, akStrings(data)...)
					seqs = append(seqs, akOutSeqs(out, n)...)
					// Other keys' records interleave with the key's.
					noise := make([]shardlog.PutRecordsEntry, 100)
					for i := range noise {
						noise[i] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprintf("noise-%d", i), Data: []byte("n")}
					}
					res, err := h.Log.PutRecords(h.Ctx, akStream, noise)
					require.NoError(t, err)
					require.Zero(t, res.FailedRecordCount)
				}
				got := akRead(h, key, shardlog.SequenceNumber{})
				require.Equal(t, want, akDatas(got))
				require.Equal(t, seqs, akSeqs(got))
				for _, from := range []int{999, 1000, tc.n - 1} {
					if from >= tc.n {
						continue
					}
					require.Equal(t, want[from+1:], akDatas(akRead(h, key, seqs[from])), "after record %d", from)
				}
			})
		}
	})

	t.Run("many other keys interleaved", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		const keys = 10
		want := make([][]string, keys)
		for round := range 100 {
			entries := make([]shardlog.PutRecordsEntry, keys)
			for k := range keys {
				d := fmt.Sprintf("k%d-%d", k, round)
				entries[(k+round)%keys] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprintf("k%d", k), Data: []byte(d)}
				want[k] = append(want[k], d)
			}
			res, err := h.Log.PutRecords(h.Ctx, akStream, entries)
			require.NoError(t, err)
			require.Zero(t, res.FailedRecordCount)
		}
		for k := range keys {
			got := akRead(h, fmt.Sprintf("k%d", k), shardlog.SequenceNumber{})
			require.Equal(t, want[k], akDatas(got))
			akRequireIncreasing(t, akSeqs(got))
		}
	})

	t.Run("early break", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		const key = "k"
		out := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("p", 500))
		out = akAppend(h, key, out.Last, akBatch("q", 500))
		out = akAppend(h, key, out.Last, akBatch("r", 200))
		_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
		require.NoError(t, err)
		akAppend(h, key, out.Last, akBatch("c", 10))
		for _, stop := range []int{1, 999, 1000, 1001, 1200, 1205} {
			t.Run(fmt.Sprint(stop), func(t *testing.T) {
				n := 0
				for r, err := range h.Log.ReadKey(h.Ctx, akStream, key, shardlog.SequenceNumber{}) {
					require.NoError(t, err)
					require.NotEmpty(t, r.Data)
					n++
					if n == stop {
						break
					}
				}
				require.Equal(t, stop, n)
			})
		}
		require.Len(t, akRead(h, key, shardlog.SequenceNumber{}), 1210, "a full read after early breaks")
	})

	t.Run("follows a split made while reading", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		const key = "k"
		out := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("p", 3))
		var got []string
		for r, err := range h.Log.ReadKey(h.Ctx, akStream, key, shardlog.SequenceNumber{}) {
			require.NoError(t, err)
			got = append(got, string(r.Data))
			if len(got) == 1 {
				_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
				require.NoError(t, err)
				akAppend(h, key, out.Last, akBatch("c", 2))
			}
		}
		require.Equal(t, []string{"p-0", "p-1", "p-2", "c-0", "c-1"}, got)
	})

	t.Run("misses nothing appended before a split made while reading", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		const key = "k"
		out := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("p", 3))
		var got []string
		for r, err := range h.Log.ReadKey(h.Ctx, akStream, key, shardlog.SequenceNumber{}) {
			require.NoError(t, err)
			got = append(got, string(r.Data))
			if len(got) == 3 {
				// The reader has had the open shard's records; one more
				// lands there before a split, then one in the child.
				late := akAppend(h, key, out.Last, akBatch("late", 1))
				_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
				require.NoError(t, err)
				akAppend(h, key, late.Last, akBatch("c", 1))
			}
		}
		require.Equal(t, []string{"p-0", "p-1", "p-2", "late-0", "c-0"}, got, "no gap in the key's history")
	})

	t.Run("bad key yields an error", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		for _, key := range []string{"", strings.Repeat("é", 257)} {
			n := 0
			var got error
			for r, err := range h.Log.ReadKey(h.Ctx, akStream, key, shardlog.SequenceNumber{}) {
				n++
				require.Zero(t, r.SequenceNumber)
				got = err
			}
			require.Equal(t, 1, n, "one yield, carrying the error")
			akRequireArg(t, got, "PartitionKey")
		}
	})

	t.Run("unknown stream yields ErrResourceNotFound", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		n := 0
		for _, err := range h.Log.ReadKey(h.Ctx, "missing", "k", shardlog.SequenceNumber{}) {
			n++
			require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		}
		require.Equal(t, 1, n)
	})
}

// akSuccess is one successful conditional append of a concurrent test.
type akSuccess struct {
	key      string
	expected shardlog.SequenceNumber
	out      shardlog.AppendKeyOutput
	data     [][]byte
}

// akWriter loops {LastKeySequence; AppendKey expected=that} on key until it
// has want successes and more() is false; it returns its successes.
func akWriter(ctx context.Context, l *shardlog.Log, key, tag string, want int, more func() bool, seed uint64) ([]akSuccess, error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	var wins []akSuccess
	for attempt := 0; len(wins) < want || more(); attempt++ {
		exp, err := l.LastKeySequence(ctx, akStream, key)
		if err != nil {
			return wins, err
		}
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
		seqs := akOutSeqs(w.out, len(w.data))
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
					res, err := h.Log.PutRecords(h.Ctx, akStream, entries)
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
					_, err := h.Log.UpdateShardCount(h.Ctx, akStream, n)
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
			last, err := l.LastKeySequence(ctx, akStream, key)
			op.Return = clock()
			if err != nil {
				return hist, err
			}
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
					_, err := h.Log.UpdateShardCount(h.Ctx, akStream, n)
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
