package shardlogtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func testPutRecords(t *testing.T, newEngine NewEngine) {
	t.Run("EntryCount", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			n  int
			ok bool
		}{{1, true}, {shardlog.MaxPutRecordsEntries, true}, {0, false}, {shardlog.MaxPutRecordsEntries + 1, false}}
		for _, c := range cases {
			t.Run(fmt.Sprint(c.n), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", 1)
				entries := make([]shardlog.PutRecordsEntry, c.n)
				for i := range entries {
					entries[i] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprint("k", i), Data: []byte{byte(i)}}
				}
				out, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: entries})
				if !c.ok {
					recRequireArgErr(t, err, shardlog.ErrInvalidArgument, "Records")
					require.Nil(t, out)
					require.Empty(t, h.ReadShard("s", "shardId-000000000000"))
					return
				}
				require.NoError(t, err)
				require.Zero(t, out.FailedRecordCount)
				require.Len(t, out.Records, c.n)
				require.Len(t, h.ReadShard("s", "shardId-000000000000"), c.n)
			})
		}
	})

	t.Run("RequestSize", func(t *testing.T) {
		t.Parallel()
		// Five entries of exactly 1 MiB each (data plus key) make exactly
		// 5 MiB; one more entry of 1 byte (empty data, 1-byte key) is over.
		data := recData(recMiB-1, 3)
		cases := []struct {
			name  string
			extra bool
			ok    bool
		}{{"Exactly5MiB", false, true}, {"5MiBPlus1Byte", true, false}}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", 1)
				var entries []shardlog.PutRecordsEntry
				total := 0
				for range 5 {
					entries = append(entries, shardlog.PutRecordsEntry{PartitionKey: "k", Data: data})
					total += len(data) + 1
				}
				if c.extra {
					entries = append(entries, shardlog.PutRecordsEntry{PartitionKey: "x"})
					total++
				}
				require.Equal(t, shardlog.MaxPutRecordsRequestSize+len(entries)-5, total)
				out, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: entries})
				if !c.ok {
					recRequireArgErr(t, err, shardlog.ErrInvalidArgument, "Records")
					require.Empty(t, h.ReadShard("s", "shardId-000000000000"))
					return
				}
				require.NoError(t, err)
				require.Zero(t, out.FailedRecordCount)
				require.Len(t, h.ReadShard("s", "shardId-000000000000"), 5)
			})
		}
	})

	t.Run("BadEntryFailsWholeRequest", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name  string
			i     int
			entry shardlog.PutRecordsEntry
			field string
		}{
			{"OversizeFirst", 0, shardlog.PutRecordsEntry{PartitionKey: "k", Data: make([]byte, recMiB)}, "Records.0.Data"},
			{"OversizeMiddle", 3, shardlog.PutRecordsEntry{PartitionKey: "k", Data: make([]byte, recMiB)}, "Records.3.Data"},
			{"EmptyKey", 2, shardlog.PutRecordsEntry{PartitionKey: "", Data: []byte("x")}, "Records.2.PartitionKey"},
			{"KeyTooLong", 4, shardlog.PutRecordsEntry{PartitionKey: strings.Repeat("é", shardlog.MaxPartitionKeyLength+1), Data: []byte("x")}, "Records.4.PartitionKey"},
			{"BadExplicitHashKey", 1, shardlog.PutRecordsEntry{PartitionKey: "k", ExplicitHashKey: "-1", Data: []byte("x")}, "Records.1.ExplicitHashKey"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", 1)
				entries := make([]shardlog.PutRecordsEntry, 5)
				for i := range entries {
					entries[i] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprint("k", i), Data: []byte("ok")}
				}
				entries[c.i] = c.entry
				out, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: entries})
				recRequireArgErr(t, err, shardlog.ErrInvalidArgument, c.field)
				require.Nil(t, out)
				require.Empty(t, h.ReadShard("s", "shardId-000000000000"))
			})
		}
	})

	t.Run("ResultsInRequestOrderAcrossShards", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 4)
		shards := h.OpenShards("s")
		require.Len(t, shards, 4)
		entries := make([]shardlog.PutRecordsEntry, 400)
		for i := range entries {
			entries[i] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprintf("key-%d", i%97), Data: []byte(fmt.Sprint("v", i))}
		}
		out, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: entries})
		require.NoError(t, err)
		require.Zero(t, out.FailedRecordCount)
		require.Len(t, out.Records, len(entries))

		want := map[string][]shardlog.Record{}
		seen := map[shardlog.SequenceNumber]bool{}
		for i, r := range out.Records {
			require.Empty(t, r.ErrorCode, i)
			require.Empty(t, r.ErrorMessage, i)
			require.NoError(t, r.Err, i)
			require.Equal(t, recOwner(t, shards, entries[i].PartitionKey), r.ShardID, i)
			require.Equal(t, recShardIndex(t, r.ShardID), r.SequenceNumber.ShardIndex(), i)
			require.False(t, seen[r.SequenceNumber], "duplicate sequence number %s", r.SequenceNumber)
			seen[r.SequenceNumber] = true
			want[r.ShardID] = append(want[r.ShardID], shardlog.Record{SequenceNumber: r.SequenceNumber, PartitionKey: entries[i].PartitionKey, Data: entries[i].Data})
		}
		require.Len(t, want, 4, "400 records over 97 keys should reach all 4 shards")

		// Each shard holds its entries in request order, under the
		// returned sequence numbers.
		for _, s := range shards {
			recs := h.ReadShard("s", s.ShardID)
			require.Len(t, recs, len(want[s.ShardID]), s.ShardID)
			for j, r := range recs {
				w := want[s.ShardID][j]
				require.Equal(t, w.SequenceNumber, r.SequenceNumber)
				require.Equal(t, w.PartitionKey, r.PartitionKey)
				require.Equal(t, w.Data, r.Data)
				require.True(t, r.ApproximateArrivalTimestamp.Equal(h.Clock.Now()))
			}
		}
	})

	t.Run("MissingStream", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		_, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "nope", Records: []shardlog.PutRecordsEntry{{PartitionKey: "k", Data: []byte("x")}}})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})
}
