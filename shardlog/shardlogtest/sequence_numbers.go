package shardlogtest

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// recRequireIncreasing asserts seqs strictly increase.
func recRequireIncreasing(t *testing.T, seqs []shardlog.SequenceNumber) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		require.Equalf(t, 1, seqs[i].Compare(seqs[i-1]), "seq %d (%s) is not greater than seq %d (%s)", i, seqs[i], i-1, seqs[i-1])
	}
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

func testSequenceNumbers(t *testing.T, newEngine NewEngine) {
	// putMixed appends to shard 0 of "s" through PutRecord, PutRecords and
	// AppendKey, and returns the sequence numbers in call order.
	putMixed := func(t *testing.T, h *Harness, round int) []shardlog.SequenceNumber {
		t.Helper()
		var seqs []shardlog.SequenceNumber
		out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte(fmt.Sprint(round))})
		require.NoError(t, err)
		seqs = append(seqs, out.SequenceNumber)
		batch, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: []shardlog.PutRecordsEntry{{PartitionKey: "a", Data: []byte("1")}, {PartitionKey: "b", Data: []byte("2")}, {PartitionKey: "c", Data: []byte("3")}}})
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
			out, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: entries})
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
		require.NoError(t, h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: "s", ShardToSplit: "shardId-000000000000", NewStartingHashKey: "170141183460469231731687303715884105728"}))
		last := parent[len(parent)-1]
		for _, hash := range []string{recFirstHash, recLastHash} {
			out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", ExplicitHashKey: hash, Data: []byte("c")})
			require.NoError(t, err)
			require.NotEqual(t, "shardId-000000000000", out.ShardID)
			require.Equalf(t, 1, out.SequenceNumber.Compare(last), "child %s seq %s is not above parent's last %s", out.ShardID, out.SequenceNumber, last)
		}
	})
}
