package shardlogtest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// Hash keys that route to the first and the last shard of any stream.
var (
	recFirstHash = shardlog.MinHashKey.String()
	recLastHash  = shardlog.MaxHashKey.String()
)

const recMiB = 1 << 20

// recRequireArgErr asserts err is an *shardlog.ArgumentError wrapping
// sentinel and naming field.
func recRequireArgErr(t *testing.T, err error, sentinel error, field string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, sentinel)
	var ae *shardlog.ArgumentError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, field, ae.Field)
}

// recData returns n bytes of a recognisable pattern seeded by seed.
func recData(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}

// recOwner returns the ID of the open shard owning key's hash.
func recOwner(t *testing.T, shards []shardlog.Shard, key string) string {
	t.Helper()
	hk := shardlog.HashPartitionKey(key)
	for _, s := range shards {
		if !s.Closed && s.HashKeyRange.Contains(hk) {
			return s.ShardID
		}
	}
	t.Fatalf("no open shard owns key %q", key)
	return ""
}

// recShardIndex parses "shardId-000000000007" into 7.
func recShardIndex(t *testing.T, id string) uint32 {
	t.Helper()
	n, err := strconv.ParseUint(strings.TrimPrefix(id, "shardId-"), 10, 32)
	require.NoError(t, err, id)
	return uint32(n)
}

// recPutN puts n small records to the shard owning hash with PutRecords
// (batches of at most 500) and requires every one to succeed.
func recPutN(t *testing.T, h *Harness, stream, hash string, n, size int) []shardlog.SequenceNumber {
	t.Helper()
	var seqs []shardlog.SequenceNumber
	for n > 0 {
		batch := min(n, shardlog.MaxPutRecordsEntries)
		entries := make([]shardlog.PutRecordsEntry, batch)
		for i := range entries {
			entries[i] = shardlog.PutRecordsEntry{PartitionKey: "k", Data: make([]byte, size-1), ExplicitHashKey: hash}
		}
		out, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: stream, Records: entries})
		require.NoError(t, err)
		require.Zero(t, out.FailedRecordCount)
		for _, r := range out.Records {
			seqs = append(seqs, r.SequenceNumber)
		}
		n -= batch
	}
	return seqs
}
