package shardlogtest

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

// recRequireIncreasing asserts seqs strictly increase.
func recRequireIncreasing(t *testing.T, seqs []shardlog.SequenceNumber) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		require.Equalf(t, 1, seqs[i].Compare(seqs[i-1]), "seq %d (%s) is not greater than seq %d (%s)", i, seqs[i], i-1, seqs[i-1])
	}
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
		out, err := h.Log.PutRecords(h.Ctx, stream, entries)
		require.NoError(t, err)
		require.Zero(t, out.FailedRecordCount)
		for _, r := range out.Records {
			seqs = append(seqs, r.SequenceNumber)
		}
		n -= batch
	}
	return seqs
}

// recSettableClock is a clock a test may move in either direction.
type recSettableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *recSettableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *recSettableClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

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
				require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1, MaxRecordSizeKiB: c.maxKiB}))
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
				out, err := h.Log.PutRecords(h.Ctx, "s", entries)
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
				out, err := h.Log.PutRecords(h.Ctx, "s", entries)
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
				out, err := h.Log.PutRecords(h.Ctx, "s", entries)
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
		out, err := h.Log.PutRecords(h.Ctx, "s", entries)
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
		_, err := h.Log.PutRecords(h.Ctx, "nope", []shardlog.PutRecordsEntry{{PartitionKey: "k", Data: []byte("x")}})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})
}

func testSequenceNumbers(t *testing.T, newEngine NewEngine) {
	// putMixed appends to shard 0 of "s" through PutRecord, PutRecords and
	// AppendKey, and returns the sequence numbers in call order.
	putMixed := func(t *testing.T, h *Harness, round int) []shardlog.SequenceNumber {
		t.Helper()
		var seqs []shardlog.SequenceNumber
		out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte(fmt.Sprint(round))})
		require.NoError(t, err)
		seqs = append(seqs, out.SequenceNumber)
		batch, err := h.Log.PutRecords(h.Ctx, "s", []shardlog.PutRecordsEntry{{PartitionKey: "a", Data: []byte("1")}, {PartitionKey: "b", Data: []byte("2")}, {PartitionKey: "c", Data: []byte("3")}})
		require.NoError(t, err)
		require.Zero(t, batch.FailedRecordCount)
		for _, r := range batch.Records {
			seqs = append(seqs, r.SequenceNumber)
		}
		ak, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: "s", PartitionKey: "ak", Data: [][]byte{[]byte("x"), []byte("y")}, Unconditional: true})
		require.NoError(t, err)
		seqs = append(seqs, ak.SequenceNumber(0), ak.SequenceNumber(1))
		require.Equal(t, ak.Last, ak.SequenceNumber(1))
		return seqs
	}

	// checkShard requires the shard to hold exactly seqs, in that order,
	// with arrivals that never decrease.
	checkShard := func(t *testing.T, h *Harness, seqs []shardlog.SequenceNumber) {
		t.Helper()
		recRequireIncreasing(t, seqs)
		recs := h.ReadShard("s", "shardId-000000000000")
		require.Len(t, recs, len(seqs))
		for i, r := range recs {
			require.Equal(t, seqs[i], r.SequenceNumber)
			if i > 0 {
				require.False(t, r.ApproximateArrivalTimestamp.Before(recs[i-1].ApproximateArrivalTimestamp),
					"arrival of record %d (%v) is before that of record %d (%v)", i, r.ApproximateArrivalTimestamp, i-1, recs[i-1].ApproximateArrivalTimestamp)
			}
		}
	}

	t.Run("IncreasingAtOneInstant", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		var seqs []shardlog.SequenceNumber
		for round := range 5 {
			seqs = append(seqs, putMixed(t, h, round)...)
		}
		checkShard(t, h, seqs)
	})

	t.Run("IncreasingAsClockAdvances", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		var seqs []shardlog.SequenceNumber
		for round := range 5 {
			seqs = append(seqs, putMixed(t, h, round)...)
			h.Clock.Advance(time.Duration(round+1) * 337 * time.Microsecond)
		}
		checkShard(t, h, seqs)
	})

	t.Run("IncreasingWhenClockGoesBackwards", func(t *testing.T) {
		t.Parallel()
		clock := &recSettableClock{now: Epoch}
		// A later WithClock overrides the Harness's forward-only clock.
		h := NewHarness(t, newEngine, shardlog.WithClock(clock.Now))
		h.CreateStream("s", 1)
		var seqs []shardlog.SequenceNumber
		steps := []time.Duration{time.Hour, -time.Second, -time.Hour, time.Millisecond, -time.Microsecond, 0, -30 * time.Minute}
		at := Epoch
		for round, d := range steps {
			at = at.Add(d)
			clock.Set(at)
			seqs = append(seqs, putMixed(t, h, round)...)
		}
		checkShard(t, h, seqs)
	})

	t.Run("UniqueAcrossStream", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 4)
		entries := make([]shardlog.PutRecordsEntry, 200)
		for i := range entries {
			entries[i] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprint("key-", i), Data: []byte("x")}
		}
		for range 3 {
			out, err := h.Log.PutRecords(h.Ctx, "s", entries)
			require.NoError(t, err)
			require.Zero(t, out.FailedRecordCount)
			h.Put("s", "single", []byte("y"))
		}
		seen := map[shardlog.SequenceNumber]string{}
		strs := map[string]bool{}
		total := 0
		for _, s := range h.OpenShards("s") {
			recs := h.ReadShard("s", s.ShardID)
			require.NotEmpty(t, recs, s.ShardID)
			for _, r := range recs {
				prev, dup := seen[r.SequenceNumber]
				require.Falsef(t, dup, "%s in %s and %s", r.SequenceNumber, prev, s.ShardID)
				seen[r.SequenceNumber] = s.ShardID
				require.False(t, strs[r.SequenceNumber.String()])
				strs[r.SequenceNumber.String()] = true
				total++
			}
		}
		require.Equal(t, 3*(len(entries)+1), total)
	})

	t.Run("DecimalFormAndCompare", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 4)
		var seqs []shardlog.SequenceNumber
		for i := range 40 {
			seqs = append(seqs, h.Put("s", fmt.Sprint("k", i), []byte("x")).SequenceNumber)
			if i%10 == 0 {
				h.Clock.Advance(time.Second)
			}
		}
		seqs = append(seqs, shardlog.SequenceNumber{}, shardlog.MakeSequenceNumber(1<<63, 1<<31))
		pattern := regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
		for _, s := range seqs {
			str := s.String()
			require.LessOrEqual(t, len(str), 129, str)
			require.Regexp(t, pattern, str)
			back, err := shardlog.ParseSequenceNumber("SequenceNumber", str)
			require.NoError(t, err)
			require.Equal(t, s, back)
			text, err := s.MarshalText()
			require.NoError(t, err)
			require.Equal(t, str, string(text))
			var u shardlog.SequenceNumber
			require.NoError(t, u.UnmarshalText(text))
			require.Equal(t, s, u)
		}
		for _, a := range seqs {
			for _, b := range seqs {
				c, err := shardlog.CompareSequenceNumbers(a.String(), b.String())
				require.NoError(t, err)
				require.Equalf(t, a.Compare(b), c, "%s vs %s", a, b)
				require.Equal(t, -c, b.Compare(a))
			}
		}
		_, err := shardlog.CompareSequenceNumbers("01", "1")
		require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
		_, err = shardlog.CompareSequenceNumbers("1", "x")
		require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
	})

	t.Run("ParseRejects", func(t *testing.T) {
		t.Parallel()
		cases := map[string]string{
			"Empty":            "",
			"LeadingZero":      "01",
			"Negative":         "-1",
			"Fraction":         "1.5",
			"Space":            " 1",
			"Letters":          "12a",
			"130Digits":        "1" + strings.Repeat("0", 129),
			"Over128Bits":      "340282366920938463463374607431768211456",
			"NotOfThisLog2^96": "79228162514264337593543950336",
		}
		for name, in := range cases {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				_, err := shardlog.ParseSequenceNumber("StartingSequenceNumber", in)
				recRequireArgErr(t, err, shardlog.ErrInvalidArgument, "StartingSequenceNumber")
				var u shardlog.SequenceNumber
				require.ErrorIs(t, u.UnmarshalText([]byte(in)), shardlog.ErrInvalidArgument)
			})
		}
	})

	t.Run("ChildAfterSplitAboveParent", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		parent := recPutN(t, h, "s", recLastHash, 300, 1)
		// The clock stands still: only the floor can order the children.
		require.NoError(t, h.Log.SplitShard(h.Ctx, "s", "shardId-000000000000", "170141183460469231731687303715884105728"))
		last := parent[len(parent)-1]
		for _, hash := range []string{recFirstHash, recLastHash} {
			out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", ExplicitHashKey: hash, Data: []byte("c")})
			require.NoError(t, err)
			require.NotEqual(t, "shardId-000000000000", out.ShardID)
			require.Equalf(t, 1, out.SequenceNumber.Compare(last), "child %s seq %s is not above parent's last %s", out.ShardID, out.SequenceNumber, last)
		}
	})
}

func testProvisionedLimits(t *testing.T, newEngine NewEngine) {
	// Each enabler creates stream "s" with n shards and limits on, either at
	// creation or afterwards.
	type enabler struct {
		name   string
		create func(t *testing.T, h *Harness, n int)
	}
	enablers := []enabler{
		{"AtCreate", func(t *testing.T, h *Harness, n int) {
			require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: n, ProvisionedLimits: true}))
		}},
		{"SetProvisionedLimits", func(t *testing.T, h *Harness, n int) {
			h.CreateStream("s", n)
			require.NoError(t, h.Log.SetProvisionedLimits(h.Ctx, "s", true))
		}},
	}
	put := func(h *Harness, hash string, size int) (shardlog.PutRecordOutput, error) {
		return h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", ExplicitHashKey: hash, Data: make([]byte, size-1)})
	}
	iterator := func(t *testing.T, h *Harness, shard string) string {
		t.Helper()
		it, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: shard, ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)
		return it
	}
	const shard0, shard1 = "shardId-000000000000", "shardId-000000000001"

	t.Run("OffByDefault", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		d, err := h.Log.DescribeStream(h.Ctx, "s")
		require.NoError(t, err)
		require.False(t, d.ProvisionedLimits)
		recPutN(t, h, "s", recFirstHash, 2*shardlog.ShardWriteRecordsPerSecond, 10)
		for range 3 { // 3 MiB at one instant
			_, err := put(h, recFirstHash, recMiB)
			require.NoError(t, err)
		}
		it := iterator(t, h, shard0)
		for i := range 3 * shardlog.ShardReadCallsPerSecond {
			res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: 1})
			require.NoError(t, err, "read %d", i)
			it = res.NextShardIterator
		}
	})

	t.Run("WriteRecordsPerSecond", func(t *testing.T) {
		t.Parallel()
		for _, e := range enablers {
			t.Run(e.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				e.create(t, h, 2)
				d, err := h.Log.DescribeStream(h.Ctx, "s")
				require.NoError(t, err)
				require.True(t, d.ProvisionedLimits)
				for i := range shardlog.ShardWriteRecordsPerSecond {
					_, err := put(h, recFirstHash, 1)
					require.NoError(t, err, "put %d", i)
				}
				_, err = put(h, recFirstHash, 1)
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				// Another shard has its own budget.
				out, err := put(h, recLastHash, 1)
				require.NoError(t, err)
				require.Equal(t, shard1, out.ShardID)
				// The throttled put stored nothing.
				require.Len(t, h.ReadShard("s", shard0), shardlog.ShardWriteRecordsPerSecond)
				// A second later the budget is back.
				h.Clock.Advance(time.Second)
				_, err = put(h, recFirstHash, 1)
				require.NoError(t, err)
			})
		}
	})

	t.Run("WriteBytesPerSecond", func(t *testing.T) {
		t.Parallel()
		for _, e := range enablers {
			t.Run(e.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				e.create(t, h, 2)
				for range 4 { // 4 × 256 KiB = 1 MiB
					_, err := put(h, recFirstHash, recMiB/4)
					require.NoError(t, err)
				}
				_, err := put(h, recFirstHash, 1)
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				_, err = put(h, recLastHash, recMiB)
				require.NoError(t, err, "another shard has its own budget")
				// Half a second refills half a MiB, not a byte more.
				h.Clock.Advance(500 * time.Millisecond)
				_, err = put(h, recFirstHash, recMiB/2+1)
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				_, err = put(h, recFirstHash, recMiB/2)
				require.NoError(t, err)
				_, err = put(h, recFirstHash, 1)
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				h.Clock.Advance(time.Second)
				_, err = put(h, recFirstHash, recMiB)
				require.NoError(t, err)
			})
		}
	})

	t.Run("TurnedOffAgain", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1, ProvisionedLimits: true}))
		_, err := put(h, recFirstHash, recMiB)
		require.NoError(t, err)
		_, err = put(h, recFirstHash, 1)
		require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
		require.NoError(t, h.Log.SetProvisionedLimits(h.Ctx, "s", false))
		_, err = put(h, recFirstHash, recMiB)
		require.NoError(t, err)
	})

	t.Run("PutRecordsMarksOnlyThrottledEntries", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 2, ProvisionedLimits: true}))
		const pre = shardlog.ShardWriteRecordsPerSecond - 50
		recPutN(t, h, "s", recFirstHash, pre, 1)
		// 200 entries alternating shards: shard 0 has room for 50 of its
		// 100, shard 1 for all of its 100.
		entries := make([]shardlog.PutRecordsEntry, 200)
		for i := range entries {
			hash := recFirstHash
			if i%2 == 1 {
				hash = recLastHash
			}
			entries[i] = shardlog.PutRecordsEntry{PartitionKey: "k", ExplicitHashKey: hash, Data: []byte(fmt.Sprint(i))}
		}
		out, err := h.Log.PutRecords(h.Ctx, "s", entries)
		require.NoError(t, err)
		require.Len(t, out.Records, len(entries))
		failed := 0
		committed := map[string][]shardlog.PutRecordsResultEntry{}
		committedData := map[string][][]byte{}
		for i, r := range out.Records {
			if r.ErrorCode != "" {
				failed++
				require.Equal(t, 0, i%2, "only shard 0 is throttled (entry %d)", i)
				require.Equal(t, shardlog.ErrorCodeThroughputExceeded, r.ErrorCode)
				require.Equal(t, "ProvisionedThroughputExceededException", r.ErrorCode)
				require.NotEmpty(t, r.ErrorMessage)
				require.True(t, r.SequenceNumber.IsZero())
				require.Empty(t, r.ShardID)
				require.ErrorIs(t, r.Err, shardlog.ErrProvisionedThroughputExceeded)
				continue
			}
			require.Empty(t, r.ErrorMessage)
			require.NoError(t, r.Err)
			require.False(t, r.SequenceNumber.IsZero())
			committed[r.ShardID] = append(committed[r.ShardID], r)
			committedData[r.ShardID] = append(committedData[r.ShardID], entries[i].Data)
		}
		require.Equal(t, 50, failed)
		require.Equal(t, failed, out.FailedRecordCount)
		require.Len(t, committed[shard0], 50)
		require.Len(t, committed[shard1], 100)

		require.NoError(t, h.Log.SetProvisionedLimits(h.Ctx, "s", false)) // read back freely
		recs0 := h.ReadShard("s", shard0)
		require.Len(t, recs0, pre+50)
		recs1 := h.ReadShard("s", shard1)
		for shard, recs := range map[string][]shardlog.Record{shard0: recs0[pre:], shard1: recs1} {
			require.Len(t, recs, len(committed[shard]))
			for j, r := range recs {
				require.Equal(t, committed[shard][j].SequenceNumber, r.SequenceNumber)
				require.Equal(t, committedData[shard][j], r.Data)
			}
		}
	})

	t.Run("PutRecordsBytes", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1, ProvisionedLimits: true}))
		quarter := make([]byte, recMiB/4-1)
		entries := []shardlog.PutRecordsEntry{
			{PartitionKey: "k", Data: quarter}, {PartitionKey: "k", Data: quarter},
			{PartitionKey: "k", Data: quarter}, {PartitionKey: "k", Data: quarter},
			{PartitionKey: "k", Data: nil}, // 1 byte past 1 MiB
		}
		out, err := h.Log.PutRecords(h.Ctx, "s", entries)
		require.NoError(t, err)
		require.Equal(t, 1, out.FailedRecordCount)
		for i := range 4 {
			require.Empty(t, out.Records[i].ErrorCode, i)
		}
		require.Equal(t, shardlog.ErrorCodeThroughputExceeded, out.Records[4].ErrorCode)
		require.ErrorIs(t, out.Records[4].Err, shardlog.ErrProvisionedThroughputExceeded)
	})

	t.Run("ReadCallsPerSecond", func(t *testing.T) {
		t.Parallel()
		for _, e := range enablers {
			t.Run(e.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				e.create(t, h, 2)
				_, err := put(h, recFirstHash, 10)
				require.NoError(t, err)
				it := iterator(t, h, shard0)
				for i := range shardlog.ShardReadCallsPerSecond {
					res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
					require.NoError(t, err, "read %d", i)
					require.NotEmpty(t, res.NextShardIterator)
					it = res.NextShardIterator
				}
				_, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				// Another shard has its own budget.
				_, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: iterator(t, h, shard1)})
				require.NoError(t, err)
				// A fifth of a second refills one call.
				h.Clock.Advance(200 * time.Millisecond)
				res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
				require.NoError(t, err)
				_, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: res.NextShardIterator})
				require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
				h.Clock.Advance(time.Second)
				for i := range shardlog.ShardReadCallsPerSecond {
					_, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: res.NextShardIterator})
					require.NoError(t, err, "read %d after a second", i)
				}
			})
		}
	})

	t.Run("ReadBytesPerSecond", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		for range 4 {
			_, err := put(h, recFirstHash, recMiB)
			require.NoError(t, err)
		}
		require.NoError(t, h.Log.SetProvisionedLimits(h.Ctx, "s", true))
		it := iterator(t, h, shard0)
		// 2 MiB at one instant: two 1 MiB reads, then the budget is spent.
		for i := range 2 {
			res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: 1})
			require.NoError(t, err, "read %d", i)
			require.Len(t, res.Records, 1)
			it = res.NextShardIterator
		}
		_, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: 1})
		require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded)
		h.Clock.Advance(time.Second)
		res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: 1})
		require.NoError(t, err)
		require.Len(t, res.Records, 1)
	})

	t.Run("PenaltyAfter10MiBRead", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		// Ten records of exactly 1 MiB, written with limits off.
		for range 10 {
			_, err := put(h, recFirstHash, recMiB)
			require.NoError(t, err)
		}
		require.NoError(t, h.Log.SetProvisionedLimits(h.Ctx, "s", true))
		it := iterator(t, h, shard0)
		res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
		require.NoError(t, err)
		require.Len(t, res.Records, 10)
		size := 0
		for _, r := range res.Records {
			size += r.Size()
		}
		require.Equal(t, shardlog.MaxGetRecordsBytes, size)
		next := res.NextShardIterator
		for _, d := range []time.Duration{0, time.Second, 3 * time.Second, 999 * time.Millisecond} {
			h.Clock.Advance(d)
			_, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: next})
			require.ErrorIs(t, err, shardlog.ErrProvisionedThroughputExceeded, "after %v more", d)
		}
		h.Clock.Advance(2 * time.Millisecond) // just past 5 s after the big read
		res, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: next})
		require.NoError(t, err)
		require.Empty(t, res.Records)
	})
}
