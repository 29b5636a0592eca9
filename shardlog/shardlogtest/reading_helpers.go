package shardlogtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// Helpers of the reading groups (Iterators, GetRecords, Cursor). Their names
// start with rd so they do not collide with the other groups' helpers.

const (
	rdStream = "reading"
	rdShard0 = "shardId-000000000000"
	rdShard1 = "shardId-000000000001"
	// rdMidKey is 2^128/2, the boundary between the two shards of a
	// two-shard stream and the split point used to halve a single shard.
	rdMidKey = "170141183460469231731687303715884105728"
	// rdWaitFor bounds how long a test waits for a blocked call to return.
	rdWaitFor = time.Second
	// rdBlocked is how long a test watches a call to see it does not return.
	rdBlocked = 20 * time.Millisecond
)

// rdRequireArg asserts that err wraps sentinel through an *ArgumentError
// naming field.
func rdRequireArg(t *testing.T, err error, sentinel error, field string) {
	t.Helper()
	require.ErrorIs(t, err, sentinel)
	var ae *shardlog.ArgumentError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, field, ae.Field, "ArgumentError.Field (%v)", err)
}

// rdPutN puts n records with keys and data "r<i>" (offset by first) to the
// stream and returns their results in order.
func rdPutN(h *Harness, stream string, first, n int) []shardlog.PutRecordOutput {
	h.T.Helper()
	out := make([]shardlog.PutRecordOutput, n)
	for i := range n {
		out[i] = h.Put(stream, "k", fmt.Appendf(nil, "r%d", first+i))
	}
	return out
}

// rdPutAt puts one record to shard 0 or 1 of a two-shard stream by explicit
// hash key (hi selects shard 1).
func rdPutAt(h *Harness, stream string, hi bool, data string) shardlog.PutRecordOutput {
	h.T.Helper()
	key := "0"
	if hi {
		key = shardlog.MaxHashKey.String()
	}
	out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: "k", Data: []byte(data), ExplicitHashKey: key})
	require.NoError(h.T, err)
	return *out
}

func rdIter(h *Harness, stream, shard string, typ shardlog.IteratorType, seq shardlog.SequenceNumber, ts time.Time) string {
	h.T.Helper()
	itOut, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{
		StreamName: stream, ShardID: shard, ShardIteratorType: typ, StartingSequenceNumber: seq, Timestamp: ts,
	})
	require.NoError(h.T, err)
	it := itOut.ShardIterator
	require.NotEmpty(h.T, it)
	return it
}

func rdGet(h *Harness, it string, limit int) *shardlog.GetRecordsOutput {
	h.T.Helper()
	out, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: limit})
	require.NoError(h.T, err)
	return out
}

// rdDrain reads from it with limit until caught up (an empty batch at the
// tip) or the end of a closed shard. It returns the records and the last
// response, and checks that no response but the end carries ChildShards.
func rdDrain(h *Harness, it string, limit int) ([]shardlog.Record, *shardlog.GetRecordsOutput) {
	h.T.Helper()
	var recs []shardlog.Record
	for range 100000 {
		out := rdGet(h, it, limit)
		if limit > 0 {
			require.LessOrEqual(h.T, len(out.Records), limit)
		}
		recs = append(recs, out.Records...)
		if out.NextShardIterator == "" {
			return recs, out
		}
		require.Empty(h.T, out.ChildShards, "ChildShards before the end of the shard")
		if len(out.Records) == 0 && out.MillisBehindLatest == 0 {
			return recs, out
		}
		it = out.NextShardIterator
	}
	h.T.Fatal("rdDrain: shard never caught up")
	return nil, nil
}

func rdSeqs[T any](xs []T, seq func(T) shardlog.SequenceNumber) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = seq(x).String()
	}
	return out
}

func rdRecSeqs(recs []shardlog.Record) []string {
	return rdSeqs(recs, func(r shardlog.Record) shardlog.SequenceNumber { return r.SequenceNumber })
}

func rdPutSeqs(puts []shardlog.PutRecordOutput) []string {
	return rdSeqs(puts, func(p shardlog.PutRecordOutput) shardlog.SequenceNumber { return p.SequenceNumber })
}

// rdChildren returns what ChildShards should list for a closed parent,
// according to DescribeStream.
func rdChildren(h *Harness, stream, parent string) []shardlog.ChildShard {
	h.T.Helper()
	var out []shardlog.ChildShard
	for _, s := range h.AllShards(stream) {
		if s.ParentShardID == parent || s.AdjacentParentShardID == parent {
			ps := []string{s.ParentShardID}
			if s.AdjacentParentShardID != "" {
				ps = append(ps, s.AdjacentParentShardID)
			}
			out = append(out, shardlog.ChildShard{ShardID: s.ShardID, ParentShards: ps, HashKeyRange: s.HashKeyRange})
		}
	}
	return out
}

// rdSplit splits the single shard of a one-shard stream in half and returns
// the expected ChildShards of the parent.
func rdSplit(h *Harness, stream string) []shardlog.ChildShard {
	h.T.Helper()
	require.NoError(h.T, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: stream, ShardToSplit: rdShard0, NewStartingHashKey: rdMidKey}))
	children := rdChildren(h, stream, rdShard0)
	require.Len(h.T, children, 2)
	return children
}
