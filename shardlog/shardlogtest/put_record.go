package shardlogtest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func testPutRecord(t *testing.T, newEngine NewEngine) {
	t.Run("ReturnsOwningShardAndSequenceNumber", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 4)
		shards := h.OpenShards("s")
		for i := range 40 {
			key := fmt.Sprintf("key-%d", i)
			out := h.Put("s", key, []byte("v"))
			require.Equal(t, recOwner(t, shards, key), out.ShardID, key)
			require.False(t, out.SequenceNumber.IsZero())
			require.Equal(t, recShardIndex(t, out.ShardID), out.SequenceNumber.ShardIndex())
		}
	})

	t.Run("RecordReadableWithDataKeyAndArrival", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.Clock.Advance(1500 * time.Millisecond)
		data := []byte("hello, shard")
		out := h.Put("s", "pk-1", data)
		recs := h.ReadShard("s", out.ShardID)
		require.Len(t, recs, 1)
		r := recs[0]
		require.Equal(t, out.SequenceNumber, r.SequenceNumber)
		require.Equal(t, "pk-1", r.PartitionKey)
		require.Equal(t, data, r.Data)
		require.Truef(t, r.ApproximateArrivalTimestamp.Equal(h.Clock.Now()), "arrival %v, clock %v", r.ApproximateArrivalTimestamp, h.Clock.Now())
	})

	t.Run("RecordSizeLimit", func(t *testing.T) {
		t.Parallel()
		const (
			def   = shardlog.DefaultMaxRecordSizeKiB << 10
			large = shardlog.MaxMaxRecordSizeKiB << 10
		)
		long := strings.Repeat("k", shardlog.MaxPartitionKeyLength)
		cases := []struct {
			name    string
			maxKiB  int
			key     string
			dataLen int
			ok      bool
		}{
			{"DefaultExactly1MiB", 0, "k", def - 1, true},
			{"Default1ByteOver", 0, "k", def, false},
			{"DefaultLongKeyCounts", 0, long, def - len(long), true},
			{"DefaultLongKeyCounts1ByteOver", 0, long, def - len(long) + 1, false},
			{"DefaultMultibyteKeyCountsBytes", 0, "é", def - 2, true},
			{"DefaultMultibyteKeyCountsBytes1ByteOver", 0, "é", def - 1, false},
			{"Large10MiBExactly", shardlog.MaxMaxRecordSizeKiB, "k", large - 1, true},
			{"Large10MiB1ByteOver", shardlog.MaxMaxRecordSizeKiB, "k", large, false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1, MaxRecordSizeInKiB: c.maxKiB}))
				data := recData(c.dataLen, 7)
				out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: c.key, Data: data})
				if !c.ok {
					recRequireArgErr(t, err, shardlog.ErrInvalidArgument, "Data")
					require.Empty(t, h.ReadShard("s", "shardId-000000000000"))
					return
				}
				require.NoError(t, err)
				recs := h.ReadShard("s", out.ShardID)
				require.Len(t, recs, 1)
				require.Equal(t, len(c.key)+c.dataLen, recs[0].Size())
				require.True(t, bytes.Equal(data, recs[0].Data))
			})
		}
	})

	t.Run("EmptyDataAllowed", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		a := h.Put("s", "k", nil)
		b := h.Put("s", "k", []byte{})
		recs := h.ReadShard("s", a.ShardID)
		require.Len(t, recs, 2)
		require.Equal(t, a.SequenceNumber, recs[0].SequenceNumber)
		require.Equal(t, b.SequenceNumber, recs[1].SequenceNumber)
		for _, r := range recs {
			require.Empty(t, r.Data)
			require.Equal(t, "k", r.PartitionKey)
		}
	})

	t.Run("CallerBufferMutationDoesNotChangeRecord", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		buf := []byte("original")
		out := h.Put("s", "k", buf)
		copy(buf, "CHANGED!")
		recs := h.ReadShard("s", out.ShardID)
		require.Len(t, recs, 1)
		require.Equal(t, "original", string(recs[0].Data))
	})

	t.Run("SequenceNumberForOrdering", func(t *testing.T) {
		t.Parallel()
		// Stream of 2 shards; records go to shard 0 (hash 0) unless said.
		cases := []struct {
			name  string
			given func(t *testing.T, h *Harness, prev shardlog.SequenceNumber) shardlog.SequenceNumber
		}{
			{"PreviousOfSameShard", func(t *testing.T, h *Harness, prev shardlog.SequenceNumber) shardlog.SequenceNumber {
				return prev
			}},
			{"MuchLargerPositionSameShard", func(t *testing.T, h *Harness, prev shardlog.SequenceNumber) shardlog.SequenceNumber {
				return shardlog.MakeSequenceNumber(prev.Position()+1_000_000_000_000, 0)
			}},
			{"MuchLargerPositionOtherShard", func(t *testing.T, h *Harness, prev shardlog.SequenceNumber) shardlog.SequenceNumber {
				return shardlog.MakeSequenceNumber(prev.Position()+1_000_000_000_000, 1)
			}},
			{"FromFurtherAdvancedOtherShard", func(t *testing.T, h *Harness, prev shardlog.SequenceNumber) shardlog.SequenceNumber {
				seqs := recPutN(t, h, "s", recLastHash, 500, 1)
				last := seqs[len(seqs)-1]
				require.Greater(t, last.Position(), prev.Position()+100)
				return last
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", 2)
				prev, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", ExplicitHashKey: recFirstHash, Data: []byte("a")})
				require.NoError(t, err)
				given := c.given(t, h, prev.SequenceNumber)
				out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{
					StreamName: "s", PartitionKey: "k", ExplicitHashKey: recFirstHash, Data: []byte("b"),
					SequenceNumberForOrdering: given,
				})
				require.NoError(t, err)
				require.Equal(t, "shardId-000000000000", out.ShardID)
				require.Equal(t, uint32(0), out.SequenceNumber.ShardIndex())
				require.Equalf(t, 1, out.SequenceNumber.Compare(given), "%s is not greater than %s", out.SequenceNumber, given)
				cmp, err := shardlog.CompareSequenceNumbers(out.SequenceNumber.String(), given.String())
				require.NoError(t, err)
				require.Equal(t, 1, cmp)
				// The shard stays in order after the jump.
				next, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", ExplicitHashKey: recFirstHash, Data: []byte("c")})
				require.NoError(t, err)
				require.Equal(t, 1, next.SequenceNumber.Compare(out.SequenceNumber))
				recs := h.ReadShard("s", "shardId-000000000000")
				got := make([]shardlog.SequenceNumber, len(recs))
				for i, r := range recs {
					got[i] = r.SequenceNumber
				}
				require.Equal(t, []shardlog.SequenceNumber{prev.SequenceNumber, out.SequenceNumber, next.SequenceNumber}, got)
			})
		}
	})

	t.Run("MissingStream", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		_, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "nope", PartitionKey: "k", Data: []byte("x")})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})
}
