package shardlogtest

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// akStream is the stream every test of the key groups uses.
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
	return *out
}

// akReadAll collects a whole ReadKey; safe off the test goroutine.
func akReadAll(ctx context.Context, l *shardlog.Log, stream, key string, after shardlog.SequenceNumber) ([]shardlog.Record, error) {
	var out []shardlog.Record
	for r, err := range l.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: stream, PartitionKey: key, After: after}) {
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

// akLast returns the sequence number of key's last record (zero if none).
func akLast(h *Harness, key string) shardlog.SequenceNumber {
	h.T.Helper()
	out, err := h.Log.LastKey(h.Ctx, shardlog.LastKeyInput{StreamName: akStream, PartitionKey: key})
	require.NoError(h.T, err)
	return out.Record.SequenceNumber
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
	d, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: stream})
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
	return p, l.SplitShard(ctx, shardlog.SplitShardInput{StreamName: stream, ShardToSplit: p.ShardID, NewStartingHashKey: akMid(p.HashKeyRange)})
}

// akMergeChildren merges back the two open children of split parentID.
func akMergeChildren(ctx context.Context, l *shardlog.Log, stream, parentID string) error {
	d, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: stream})
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
	return l.MergeShards(ctx, shardlog.MergeShardsInput{StreamName: stream, ShardToMerge: kids[0].ShardID, AdjacentShardToMerge: kids[1].ShardID})
}

// akReshardCycle splits the shard owning key and merges its halves back.
func akReshardCycle(ctx context.Context, l *shardlog.Log, stream, key string) error {
	p, err := akSplitOwner(ctx, l, stream, key)
	if err != nil {
		return err
	}
	return akMergeChildren(ctx, l, stream, p.ShardID)
}
