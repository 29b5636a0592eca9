package shardlogtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	return out
}

func rdIter(h *Harness, stream, shard string, typ shardlog.IteratorType, seq shardlog.SequenceNumber, ts time.Time) string {
	h.T.Helper()
	it, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{
		StreamName: stream, ShardID: shard, ShardIteratorType: typ, StartingSequenceNumber: seq, Timestamp: ts,
	})
	require.NoError(h.T, err)
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
	require.NoError(h.T, h.Log.SplitShard(h.Ctx, stream, rdShard0, rdMidKey))
	children := rdChildren(h, stream, rdShard0)
	require.Len(h.T, children, 2)
	return children
}

// rdDone runs fn in a goroutine and returns a channel with its result.
func rdDone(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

func rdRequireBlocked(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("returned before it should (err %v)", err)
	case <-time.After(rdBlocked):
	}
}

func rdRequireReturns(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(rdWaitFor):
		t.Fatalf("did not return within %s", rdWaitFor)
		return nil
	}
}

func testIterators(t *testing.T, newEngine NewEngine) {
	t.Run("TrimHorizonReadsAll", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		puts := rdPutN(h, rdStream, 0, 5)
		recs, _ := rdDrain(h, rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), 0)
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(recs))
		for i, r := range recs {
			require.Equal(t, fmt.Sprintf("r%d", i), string(r.Data))
			require.Equal(t, "k", r.PartitionKey)
		}
	})

	t.Run("TrimHorizonOnEmptyShardReadsLaterRecords", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		puts := rdPutN(h, rdStream, 0, 2)
		recs, _ := rdDrain(h, it, 0)
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(recs))
	})

	t.Run("LatestIsPinnedAtIssue", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 4) // before: never read
		it := rdIter(h, rdStream, rdShard0, shardlog.Latest, shardlog.SequenceNumber{}, time.Time{})
		h.Clock.Advance(time.Second)
		after := rdPutN(h, rdStream, 4, 3)
		out := rdGet(h, it, 0)
		require.Equal(t, rdPutSeqs(after), rdRecSeqs(out.Records), "exactly the records put after LATEST was issued")
		require.NotEmpty(t, out.NextShardIterator)
		require.Empty(t, rdGet(h, out.NextShardIterator, 0).Records)
	})

	t.Run("LatestOnEmptyShard", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		it := rdIter(h, rdStream, rdShard0, shardlog.Latest, shardlog.SequenceNumber{}, time.Time{})
		require.Empty(t, rdGet(h, it, 0).Records)
		puts := rdPutN(h, rdStream, 0, 1)
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(rdGet(h, it, 0).Records))
	})

	t.Run("SequenceNumberTypes", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name string
			typ  shardlog.IteratorType
			at   int // index of the record given
			want []int
		}{
			{"AtIncludesRecord", shardlog.AtSequenceNumber, 2, []int{2, 3, 4}},
			{"AfterExcludesRecord", shardlog.AfterSequenceNumber, 2, []int{3, 4}},
			{"AtFirst", shardlog.AtSequenceNumber, 0, []int{0, 1, 2, 3, 4}},
			{"AfterFirst", shardlog.AfterSequenceNumber, 0, []int{1, 2, 3, 4}},
			{"AtLast", shardlog.AtSequenceNumber, 4, []int{4}},
			{"AfterLast", shardlog.AfterSequenceNumber, 4, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream(rdStream, 1)
				puts := rdPutN(h, rdStream, 0, 5)
				recs, _ := rdDrain(h, rdIter(h, rdStream, rdShard0, tc.typ, puts[tc.at].SequenceNumber, time.Time{}), 0)
				var want []string
				for _, i := range tc.want {
					want = append(want, puts[i].SequenceNumber.String())
				}
				require.Equal(t, want, rdNilIfEmpty(rdRecSeqs(recs)))
			})
		}
	})

	t.Run("AtTimestamp", func(t *testing.T) {
		t.Parallel()
		// Records r0..r3 arrive at Epoch, +1s, +2s, +3s.
		cases := []struct {
			name  string
			ts    time.Duration // from Epoch
			first int           // index of the first record read; 4 means none
		}{
			{"EqualToFirstArrival", 0, 0},
			{"EqualToAnArrival", time.Second, 1},
			{"BetweenTwoArrivals", 1500 * time.Millisecond, 2},
			{"JustAfterAnArrival", time.Second + time.Millisecond, 2},
			{"JustBeforeAnArrival", 2*time.Second - time.Millisecond, 2},
			{"EqualToLastArrival", 3 * time.Second, 3},
			{"BeforeFirstRecord", -time.Hour, 0},
			{"AfterLastRecord", 3*time.Second + time.Millisecond, 4},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream(rdStream, 1)
				var puts []shardlog.PutRecordOutput
				for i := range 4 {
					if i > 0 {
						h.Clock.Advance(time.Second)
					}
					puts = append(puts, rdPutN(h, rdStream, i, 1)...)
				}
				h.Clock.Advance(time.Second) // T = last arrival + 1ms is not in the future
				recs, _ := rdDrain(h, rdIter(h, rdStream, rdShard0, shardlog.AtTimestamp, shardlog.SequenceNumber{}, Epoch.Add(tc.ts)), 0)
				require.Equal(t, rdNilIfEmpty(rdPutSeqs(puts[tc.first:])), rdNilIfEmpty(rdRecSeqs(recs)))
				for _, r := range recs {
					require.False(t, r.ApproximateArrivalTimestamp.Before(Epoch.Add(tc.ts)), "record arrived before T")
				}
			})
		}
	})

	t.Run("AtTimestampBeforeHorizonActsAsTrimHorizon", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		h.Put(rdStream, "k", []byte("expired"))
		h.Clock.Advance(2 * time.Hour)
		kept := h.Put(rdStream, "k", []byte("kept"))
		h.Clock.Advance(23 * time.Hour) // the horizon is Epoch+1h: the first record is past retention
		for _, ts := range []time.Time{Epoch, Epoch.Add(-time.Hour), Epoch.Add(time.Hour - time.Millisecond)} {
			atTS, _ := rdDrain(h, rdIter(h, rdStream, rdShard0, shardlog.AtTimestamp, shardlog.SequenceNumber{}, ts), 0)
			trim, _ := rdDrain(h, rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), 0)
			require.Equal(t, []string{kept.SequenceNumber.String()}, rdRecSeqs(atTS), "T=%s", ts)
			require.Equal(t, rdRecSeqs(trim), rdRecSeqs(atTS), "T=%s", ts)
		}
	})

	t.Run("AtTimestampNowAcceptedFutureRefused", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		h.Clock.Advance(time.Minute)
		now := h.Clock.Now()
		it := rdIter(h, rdStream, rdShard0, shardlog.AtTimestamp, shardlog.SequenceNumber{}, now)
		puts := rdPutN(h, rdStream, 0, 1) // arrives at now: at T
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(rdGet(h, it, 0).Records))
		for _, ts := range []time.Time{now.Add(time.Millisecond), now.Add(time.Hour)} {
			_, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{
				StreamName: rdStream, ShardID: rdShard0, ShardIteratorType: shardlog.AtTimestamp, Timestamp: ts,
			})
			rdRequireArg(t, err, shardlog.ErrInvalidArgument, "Timestamp")
		}
	})

	t.Run("AtTimestampAfterLastRecordReadsNewOnes", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 2)
		h.Clock.Advance(time.Second)
		it := rdIter(h, rdStream, rdShard0, shardlog.AtTimestamp, shardlog.SequenceNumber{}, h.Clock.Now())
		out := rdGet(h, it, 0)
		require.Empty(t, out.Records)
		h.Clock.Advance(time.Second)
		puts := rdPutN(h, rdStream, 2, 2)
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(rdGet(h, it, 0).Records))
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(rdGet(h, out.NextShardIterator, 0).Records))
	})

	t.Run("Validation", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 2)
		own := rdPutAt(h, rdStream, false, "own").SequenceNumber    // shard 0
		other := rdPutAt(h, rdStream, true, "other").SequenceNumber // shard 1
		ts := h.Clock.Now()
		cases := []struct {
			name  string
			typ   shardlog.IteratorType
			seq   shardlog.SequenceNumber
			ts    time.Time
			field string
		}{
			{"TrimHorizonWithSequenceNumber", shardlog.TrimHorizon, own, time.Time{}, "StartingSequenceNumber"},
			{"LatestWithSequenceNumber", shardlog.Latest, own, time.Time{}, "StartingSequenceNumber"},
			{"AtTimestampWithSequenceNumber", shardlog.AtTimestamp, own, ts, "StartingSequenceNumber"},
			{"AtSequenceNumberWithoutOne", shardlog.AtSequenceNumber, shardlog.SequenceNumber{}, time.Time{}, "StartingSequenceNumber"},
			{"AfterSequenceNumberWithoutOne", shardlog.AfterSequenceNumber, shardlog.SequenceNumber{}, time.Time{}, "StartingSequenceNumber"},
			{"AtSequenceNumberFromAnotherShard", shardlog.AtSequenceNumber, other, time.Time{}, "StartingSequenceNumber"},
			{"AfterSequenceNumberFromAnotherShard", shardlog.AfterSequenceNumber, other, time.Time{}, "StartingSequenceNumber"},
			{"TrimHorizonWithTimestamp", shardlog.TrimHorizon, shardlog.SequenceNumber{}, ts, "Timestamp"},
			{"LatestWithTimestamp", shardlog.Latest, shardlog.SequenceNumber{}, ts, "Timestamp"},
			{"AtSequenceNumberWithTimestamp", shardlog.AtSequenceNumber, own, ts, "Timestamp"},
			{"AfterSequenceNumberWithTimestamp", shardlog.AfterSequenceNumber, own, ts, "Timestamp"},
			{"AtTimestampWithoutOne", shardlog.AtTimestamp, shardlog.SequenceNumber{}, time.Time{}, "Timestamp"},
			{"UnknownType", "FROM_THE_START", shardlog.SequenceNumber{}, time.Time{}, "ShardIteratorType"},
			{"LowerCaseType", "latest", shardlog.SequenceNumber{}, time.Time{}, "ShardIteratorType"},
			{"EmptyType", "", shardlog.SequenceNumber{}, time.Time{}, "ShardIteratorType"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				it, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{
					StreamName: rdStream, ShardID: rdShard0, ShardIteratorType: tc.typ, StartingSequenceNumber: tc.seq, Timestamp: tc.ts,
				})
				rdRequireArg(t, err, shardlog.ErrInvalidArgument, tc.field)
				require.Empty(t, it)
			})
		}
		t.Run("OwnSequenceNumberAccepted", func(t *testing.T) {
			for _, typ := range []shardlog.IteratorType{shardlog.AtSequenceNumber, shardlog.AfterSequenceNumber} {
				rdIter(h, rdStream, rdShard0, typ, own, time.Time{})
				rdIter(h, rdStream, rdShard1, typ, other, time.Time{})
			}
		})
	})

	t.Run("UnknownShardNotFound", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 2)
		for _, id := range []string{"shardId-000000000002", "shardId-999999999999", "nope"} {
			_, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: rdStream, ShardID: id, ShardIteratorType: shardlog.TrimHorizon})
			require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "shard %s", id)
		}
	})

	t.Run("UnknownStreamNotFound", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		_, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "missing", ShardID: rdShard0, ShardIteratorType: shardlog.TrimHorizon})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})

	t.Run("ExpiresAfterFiveMinutes", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		puts := rdPutN(h, rdStream, 0, 2)
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})

		h.Clock.Advance(shardlog.IteratorLifetime) // exactly 5 min old: still valid
		out := rdGet(h, it, 1)
		require.Equal(t, rdPutSeqs(puts[:1]), rdRecSeqs(out.Records))
		next := out.NextShardIterator

		h.Clock.Advance(time.Millisecond) // 5 min + 1 ms
		_, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
		require.ErrorIs(t, err, shardlog.ErrExpiredIterator)
		require.NotErrorIs(t, err, shardlog.ErrInvalidArgument)

		// The fresh iterator counts its five minutes from its own issue.
		require.Equal(t, rdPutSeqs(puts[1:]), rdRecSeqs(rdGet(h, next, 0).Records))
		h.Clock.Advance(shardlog.IteratorLifetime - time.Millisecond)
		require.Equal(t, rdPutSeqs(puts[1:]), rdRecSeqs(rdGet(h, next, 0).Records))
		h.Clock.Advance(time.Millisecond)
		_, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: next})
		require.ErrorIs(t, err, shardlog.ErrExpiredIterator)
	})

	t.Run("FreshNextIteratorEvenWhenEmpty", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		it := rdIter(h, rdStream, rdShard0, shardlog.Latest, shardlog.SequenceNumber{}, time.Time{})
		// Three empty reads four minutes apart: 12 minutes in all, so each
		// next iterator must be fresh to be accepted.
		for range 3 {
			h.Clock.Advance(4 * time.Minute)
			out := rdGet(h, it, 0)
			require.NotNil(t, out.Records)
			require.Empty(t, out.Records)
			require.Empty(t, out.ChildShards)
			require.NotEmpty(t, out.NextShardIterator)
			require.Zero(t, out.MillisBehindLatest)
			it = out.NextShardIterator
		}
		h.Clock.Advance(shardlog.IteratorLifetime)
		puts := rdPutN(h, rdStream, 0, 1)
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(rdGet(h, it, 0).Records))
	})

	t.Run("TamperedIteratorRefused", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 1)
		good := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		other := NewHarness(t, newEngine)
		other.CreateStream(rdStream, 1)
		foreign := rdIter(other, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})

		flip := func(s string, i int) string {
			c := byte('A')
			if s[i] == 'A' {
				c = 'B'
			}
			return s[:i] + string(c) + s[i+1:]
		}
		cases := map[string]string{
			"FlippedMiddle":     flip(good, len(good)/2),
			"FlippedFirst":      flip(good, 0),
			"TruncatedByOne":    good[:len(good)-1],
			"TruncatedByFour":   good[:len(good)-4],
			"TruncatedToHalf":   good[:len(good)/2],
			"Extended":          good + "AAAA",
			"Garbage":           "this is not an iterator!",
			"NotBase64":         strings.Repeat("*", 40),
			"Empty":             "",
			"TooLong":           strings.Repeat("A", 513),
			"TooLongValidStart": good + strings.Repeat("A", 513-len(good)),
			"FromAnotherLog":    foreign,
		}
		for name, it := range cases {
			t.Run(name, func(t *testing.T) {
				require.NotPanics(t, func() {
					out, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
					rdRequireArg(t, err, shardlog.ErrInvalidArgument, "ShardIterator")
					require.Nil(t, out)
				})
			})
		}
		require.Len(t, rdGet(h, good, 0).Records, 1, "the untampered iterator still works")
	})

	t.Run("StreamDeletedOrRecreatedNotFound", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 2)
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		require.NoError(t, h.Log.DeleteStream(h.Ctx, rdStream, false))
		_, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "deleted")

		h.Clock.Advance(time.Millisecond)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 2)
		_, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "deleted and recreated")
		require.Len(t, h.ReadShard(rdStream, rdShard0), 2, "new iterators read the new stream")
	})

	t.Run("ClosedShardIteratorsValid", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		var puts []shardlog.PutRecordOutput
		for i := range 3 {
			h.Clock.Advance(time.Second)
			puts = append(puts, rdPutN(h, rdStream, i, 1)...)
		}
		h.Clock.Advance(time.Second)
		children := rdSplit(h, rdStream)
		zero := shardlog.SequenceNumber{}
		cases := []struct {
			name string
			typ  shardlog.IteratorType
			seq  shardlog.SequenceNumber
			ts   time.Time
			want []shardlog.PutRecordOutput
		}{
			{"TrimHorizon", shardlog.TrimHorizon, zero, time.Time{}, puts},
			{"Latest", shardlog.Latest, zero, time.Time{}, nil},
			{"AtSequenceNumber", shardlog.AtSequenceNumber, puts[1].SequenceNumber, time.Time{}, puts[1:]},
			{"AfterSequenceNumber", shardlog.AfterSequenceNumber, puts[1].SequenceNumber, time.Time{}, puts[2:]},
			{"AfterLastSequenceNumber", shardlog.AfterSequenceNumber, puts[2].SequenceNumber, time.Time{}, nil},
			{"AtTimestamp", shardlog.AtTimestamp, zero, Epoch.Add(2 * time.Second), puts[1:]},
			{"AtTimestampAfterEnd", shardlog.AtTimestamp, zero, h.Clock.Now(), nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				recs, last := rdDrain(h, rdIter(h, rdStream, rdShard0, tc.typ, tc.seq, tc.ts), 0)
				require.Equal(t, rdNilIfEmpty(rdPutSeqs(tc.want)), rdNilIfEmpty(rdRecSeqs(recs)))
				require.Empty(t, last.NextShardIterator, "end of the closed shard")
				require.ElementsMatch(t, children, last.ChildShards)
			})
		}
	})
}

func rdNilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func testGetRecords(t *testing.T, newEngine NewEngine) {
	t.Run("Limit", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			limit int
			ok    bool
			want  int // records returned of 3
		}{
			{0, true, 3}, // default: MaxGetRecordsLimit
			{1, true, 1},
			{2, true, 2},
			{shardlog.MaxGetRecordsLimit, true, 3},
			{shardlog.MaxGetRecordsLimit + 1, false, 0},
			{-1, false, 0},
			{-shardlog.MaxGetRecordsLimit, false, 0},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream(rdStream, 1)
				rdPutN(h, rdStream, 0, 3)
				it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
				out, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: tc.limit})
				if !tc.ok {
					rdRequireArg(t, err, shardlog.ErrInvalidArgument, "Limit")
					require.Nil(t, out)
					return
				}
				require.NoError(t, err)
				require.Len(t, out.Records, tc.want)
			})
		}
	})

	t.Run("ReturnsAtMostLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		puts := rdPutN(h, rdStream, 0, 10)
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		var got []shardlog.Record
		for _, want := range []int{4, 4, 2, 0} {
			out := rdGet(h, it, 4)
			require.Len(t, out.Records, want)
			got = append(got, out.Records...)
			it = out.NextShardIterator
		}
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(got))
	})

	t.Run("PagesInOrderWithoutGapsOrRepeats", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		const total = 2500
		var want []string
		for b := range total / shardlog.MaxPutRecordsEntries {
			entries := make([]shardlog.PutRecordsEntry, shardlog.MaxPutRecordsEntries)
			for i := range entries {
				entries[i] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprint(i % 17), Data: fmt.Appendf(nil, "%d", b*shardlog.MaxPutRecordsEntries+i)}
			}
			out, err := h.Log.PutRecords(h.Ctx, rdStream, entries)
			require.NoError(t, err)
			require.Zero(t, out.FailedRecordCount)
			for _, r := range out.Records {
				want = append(want, r.SequenceNumber.String())
			}
			h.Clock.Advance(time.Millisecond)
		}
		recs, _ := rdDrain(h, rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), 7)
		require.Len(t, recs, total)
		require.Equal(t, want, rdRecSeqs(recs))
		for i, r := range recs {
			require.Equal(t, fmt.Sprint(i), string(r.Data))
			if i > 0 {
				require.Positive(t, r.SequenceNumber.Compare(recs[i-1].SequenceNumber), "strictly increasing")
			}
		}
	})

	t.Run("TenMiBPerCall", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		const key = "k"
		data := make([]byte, shardlog.DefaultMaxRecordSizeKiB<<10-len(key)) // a record of exactly 1 MiB
		var puts []shardlog.PutRecordOutput
		for range 12 {
			puts = append(puts, h.Put(rdStream, key, data))
		}
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		first := rdGet(h, it, 0)
		size := 0
		for i := range first.Records {
			size += first.Records[i].Size()
		}
		require.LessOrEqual(t, size, shardlog.MaxGetRecordsBytes)
		require.Len(t, first.Records, 10, "ten 1 MiB records fill exactly 10 MiB")
		second := rdGet(h, first.NextShardIterator, 0)
		require.Len(t, second.Records, 2)
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(append(first.Records, second.Records...)))
	})

	t.Run("TenMiBRecordAloneThenNext", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: rdStream, ShardCount: 1, MaxRecordSizeKiB: shardlog.MaxMaxRecordSizeKiB}))
		big := h.Put(rdStream, "k", make([]byte, shardlog.MaxGetRecordsBytes-1)) // 10 MiB with its key
		small := h.Put(rdStream, "k", []byte("x"))
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		first := rdGet(h, it, 0)
		require.Equal(t, []string{big.SequenceNumber.String()}, rdRecSeqs(first.Records), "10 MiB plus one more byte is over the cap")
		require.Len(t, first.Records[0].Data, shardlog.MaxGetRecordsBytes-1)
		second := rdGet(h, first.NextShardIterator, 0)
		require.Equal(t, []string{small.SequenceNumber.String()}, rdRecSeqs(second.Records))
	})

	t.Run("MillisBehindLatest", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 3)
		h.Clock.Advance(2 * time.Second)
		rdPutN(h, rdStream, 3, 3)
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		behind := rdGet(h, it, 1)
		require.Len(t, behind.Records, 1)
		require.GreaterOrEqual(t, behind.MillisBehindLatest, int64(2000), "the record read is 2 s older than the tip")
		rest := rdGet(h, behind.NextShardIterator, 0)
		require.Len(t, rest.Records, 5)
		require.Zero(t, rest.MillisBehindLatest, "caught up")
		tip := rdGet(h, rest.NextShardIterator, 0)
		require.Empty(t, tip.Records)
		require.Zero(t, tip.MillisBehindLatest, "empty read at the tip")
		h.Clock.Advance(time.Minute)
		require.Zero(t, rdGet(h, tip.NextShardIterator, 0).MillisBehindLatest, "at the tip however old it is")
	})

	t.Run("EndOfClosedShardAfterSplit", func(t *testing.T) {
		t.Parallel()
		for _, limit := range []int{0, 1, 2, 3} {
			t.Run(fmt.Sprintf("Limit%d", limit), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream(rdStream, 1)
				puts := rdPutN(h, rdStream, 0, 3)
				children := rdSplit(h, rdStream)
				for _, c := range children {
					require.Equal(t, []string{rdShard0}, c.ParentShards)
				}
				require.Equal(t, shardlog.MinHashKey, children[0].HashKeyRange.StartingHashKey)
				require.Equal(t, rdMidKey, children[1].HashKeyRange.StartingHashKey.String())
				require.Equal(t, shardlog.MaxHashKey, children[1].HashKeyRange.EndingHashKey)

				recs, last := rdDrain(h, rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), limit)
				require.Equal(t, rdPutSeqs(puts), rdRecSeqs(recs))
				require.Empty(t, last.NextShardIterator)
				require.ElementsMatch(t, children, last.ChildShards)
			})
		}
	})

	t.Run("EmptyClosedShardEndsAtOnce", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		children := rdSplit(h, rdStream)
		out := rdGet(h, rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), 0)
		require.Empty(t, out.Records)
		require.Empty(t, out.NextShardIterator)
		require.ElementsMatch(t, children, out.ChildShards)
	})

	t.Run("ChildShardsAbsentBeforeEnd", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 3)
		// An open shard never ends: every response has a next iterator.
		it := rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		for _, want := range []int{2, 1, 0} {
			out := rdGet(h, it, 2)
			require.Len(t, out.Records, want)
			require.Empty(t, out.ChildShards)
			require.NotEmpty(t, out.NextShardIterator)
			it = out.NextShardIterator
		}
		// A closed shard read with a Limit below its record count.
		children := rdSplit(h, rdStream)
		it = rdIter(h, rdStream, rdShard0, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{})
		for range 2 {
			out := rdGet(h, it, 1)
			require.Len(t, out.Records, 1)
			require.Empty(t, out.ChildShards, "not at the end yet")
			require.NotEmpty(t, out.NextShardIterator)
			it = out.NextShardIterator
		}
		out := rdGet(h, it, 1)
		require.Len(t, out.Records, 1)
		require.Empty(t, out.NextShardIterator)
		require.ElementsMatch(t, children, out.ChildShards)
		// Children are open: no ChildShards there.
		for _, c := range children {
			out := rdGet(h, rdIter(h, rdStream, c.ShardID, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), 0)
			require.Empty(t, out.ChildShards)
			require.NotEmpty(t, out.NextShardIterator)
		}
	})

	t.Run("ChildShardsAfterMerge", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 2)
		lo := rdPutAt(h, rdStream, false, "lo")
		hi := rdPutAt(h, rdStream, true, "hi")
		require.Equal(t, rdShard0, lo.ShardID)
		require.Equal(t, rdShard1, hi.ShardID)
		require.NoError(t, h.Log.MergeShards(h.Ctx, rdStream, rdShard0, rdShard1))
		children := rdChildren(h, rdStream, rdShard0)
		require.Len(t, children, 1)
		require.Equal(t, []string{rdShard0, rdShard1}, children[0].ParentShards)
		require.Equal(t, shardlog.HashKeyRange{StartingHashKey: shardlog.MinHashKey, EndingHashKey: shardlog.MaxHashKey}, children[0].HashKeyRange)
		for shard, put := range map[string]shardlog.PutRecordOutput{rdShard0: lo, rdShard1: hi} {
			recs, last := rdDrain(h, rdIter(h, rdStream, shard, shardlog.TrimHorizon, shardlog.SequenceNumber{}, time.Time{}), 0)
			require.Equal(t, []string{put.SequenceNumber.String()}, rdRecSeqs(recs), shard)
			require.Empty(t, last.NextShardIterator, shard)
			require.Equal(t, children, last.ChildShards, shard)
		}
	})
}

func testCursor(t *testing.T, newEngine NewEngine) {
	t.Run("PositionsLikeIterators", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name string
			pos  func(puts []shardlog.PutRecordOutput) shardlog.StartingPosition
		}{
			{"TrimHorizon", func([]shardlog.PutRecordOutput) shardlog.StartingPosition {
				return shardlog.StartingPosition{Type: shardlog.TrimHorizon}
			}},
			{"Latest", func([]shardlog.PutRecordOutput) shardlog.StartingPosition {
				return shardlog.StartingPosition{Type: shardlog.Latest}
			}},
			{"AtSequenceNumber", func(p []shardlog.PutRecordOutput) shardlog.StartingPosition {
				return shardlog.StartingPosition{Type: shardlog.AtSequenceNumber, SequenceNumber: p[2].SequenceNumber}
			}},
			{"AfterSequenceNumber", func(p []shardlog.PutRecordOutput) shardlog.StartingPosition {
				return shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: p[2].SequenceNumber}
			}},
			{"AtTimestampEqual", func([]shardlog.PutRecordOutput) shardlog.StartingPosition {
				return shardlog.StartingPosition{Type: shardlog.AtTimestamp, Timestamp: Epoch.Add(time.Second)}
			}},
			{"AtTimestampBetween", func([]shardlog.PutRecordOutput) shardlog.StartingPosition {
				return shardlog.StartingPosition{Type: shardlog.AtTimestamp, Timestamp: Epoch.Add(1500 * time.Millisecond)}
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream(rdStream, 1)
				var puts []shardlog.PutRecordOutput
				for i := range 5 {
					puts = append(puts, rdPutN(h, rdStream, i, 1)...)
					h.Clock.Advance(time.Second)
				}
				p := tc.pos(puts)
				c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, p)
				require.NoError(t, err)
				it := rdIter(h, rdStream, rdShard0, p.Type, p.SequenceNumber, p.Timestamp)
				rdPutN(h, rdStream, 5, 2) // after positioning: both read them alike
				b, err := c.Next(h.Ctx, 0)
				require.NoError(t, err)
				recs, _ := rdDrain(h, it, 0)
				require.NotEmpty(t, recs)
				require.Equal(t, rdRecSeqs(recs), rdRecSeqs(b.Records))
			})
		}
	})

	t.Run("RefusesWhatIteratorsRefuse", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 2)
		other := rdPutAt(h, rdStream, true, "other").SequenceNumber
		cases := []struct {
			name  string
			p     shardlog.StartingPosition
			field string
		}{
			{"UnknownType", shardlog.StartingPosition{Type: "NEWEST"}, "ShardIteratorType"},
			{"AtWithoutSequenceNumber", shardlog.StartingPosition{Type: shardlog.AtSequenceNumber}, "StartingSequenceNumber"},
			{"AfterFromAnotherShard", shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: other}, "StartingSequenceNumber"},
			{"TrimHorizonWithSequenceNumber", shardlog.StartingPosition{Type: shardlog.TrimHorizon, SequenceNumber: other}, "StartingSequenceNumber"},
			{"FutureTimestamp", shardlog.StartingPosition{Type: shardlog.AtTimestamp, Timestamp: h.Clock.Now().Add(time.Millisecond)}, "Timestamp"},
			{"AtTimestampWithoutOne", shardlog.StartingPosition{Type: shardlog.AtTimestamp}, "Timestamp"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, tc.p)
				rdRequireArg(t, err, shardlog.ErrInvalidArgument, tc.field)
				require.Nil(t, c)
			})
		}
		t.Run("UnknownShard", func(t *testing.T) {
			_, err := h.Log.NewCursor(h.Ctx, rdStream, "shardId-000000000007", shardlog.StartingPosition{Type: shardlog.TrimHorizon})
			require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		})
		t.Run("UnknownStream", func(t *testing.T) {
			_, err := h.Log.NewCursor(h.Ctx, "missing", rdShard0, shardlog.StartingPosition{Type: shardlog.TrimHorizon})
			require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		})
	})

	t.Run("NextPagesAndPositionAdvances", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		puts := rdPutN(h, rdStream, 0, 5)
		c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, shardlog.StartingPosition{Type: shardlog.TrimHorizon})
		require.NoError(t, err)
		require.LessOrEqual(t, c.Position().Compare(puts[0].SequenceNumber), 0, "starts at or before the first record")
		var got []shardlog.Record
		for _, want := range []int{2, 2, 1} {
			b, err := c.Next(h.Ctx, 2)
			require.NoError(t, err)
			require.Len(t, b.Records, want)
			require.False(t, b.End)
			require.Empty(t, b.ChildShards)
			got = append(got, b.Records...)
			last := len(got) - 1
			require.Positive(t, c.Position().Compare(got[last].SequenceNumber), "past the last record read")
			if last+1 < len(puts) {
				require.LessOrEqual(t, c.Position().Compare(puts[last+1].SequenceNumber), 0, "at or before the next record")
			}
		}
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(got))
		pos := c.Position()
		b, err := c.Next(h.Ctx, 2)
		require.NoError(t, err)
		require.Empty(t, b.Records)
		require.False(t, b.End)
		require.Zero(t, b.MillisBehindLatest)
		require.Equal(t, pos, c.Position(), "an empty read does not move")
		more := rdPutN(h, rdStream, 5, 1)
		b, err = c.Next(h.Ctx, 2)
		require.NoError(t, err)
		require.Equal(t, rdPutSeqs(more), rdRecSeqs(b.Records))
	})

	t.Run("NextLimit", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			limit int
			ok    bool
			want  int
		}{
			{0, true, 3},
			{1, true, 1},
			{shardlog.MaxGetRecordsLimit, true, 3},
			{shardlog.MaxGetRecordsLimit + 1, false, 0},
			{-1, false, 0},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream(rdStream, 1)
				rdPutN(h, rdStream, 0, 3)
				c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, shardlog.StartingPosition{Type: shardlog.TrimHorizon})
				require.NoError(t, err)
				pos := c.Position()
				b, err := c.Next(h.Ctx, tc.limit)
				if !tc.ok {
					rdRequireArg(t, err, shardlog.ErrInvalidArgument, "Limit")
					require.Equal(t, pos, c.Position(), "a refused Next does not move the cursor")
					return
				}
				require.NoError(t, err)
				require.Len(t, b.Records, tc.want)
			})
		}
	})

	t.Run("EndAndChildShardsAtEndOfClosedShard", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		puts := rdPutN(h, rdStream, 0, 3)
		children := rdSplit(h, rdStream)
		c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, shardlog.StartingPosition{Type: shardlog.TrimHorizon})
		require.NoError(t, err)
		b, err := c.Next(h.Ctx, 2)
		require.NoError(t, err)
		require.Equal(t, rdPutSeqs(puts[:2]), rdRecSeqs(b.Records))
		require.False(t, b.End)
		require.Empty(t, b.ChildShards)
		b, err = c.Next(h.Ctx, 2)
		require.NoError(t, err)
		require.Equal(t, rdPutSeqs(puts[2:]), rdRecSeqs(b.Records))
		require.True(t, b.End)
		require.ElementsMatch(t, children, b.ChildShards)
		for range 2 { // the end is sticky
			b, err = c.Next(h.Ctx, 0)
			require.NoError(t, err)
			require.Empty(t, b.Records)
			require.True(t, b.End)
			require.ElementsMatch(t, children, b.ChildShards)
		}
		require.NoError(t, c.Wait(h.Ctx), "Wait returns at once at the end of a closed shard")
	})

	t.Run("WaitReturnsAtOnceWhenRecordsAreThere", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 1)
		c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, shardlog.StartingPosition{Type: shardlog.TrimHorizon})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(h.Ctx, rdWaitFor)
		defer cancel()
		require.NoError(t, c.Wait(ctx))
	})

	// The subtests below watch real blocking, so they do not run in
	// parallel with the others.

	t.Run("WaitBlocksUntilAppend", func(t *testing.T) {
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 2)
		rdPutAt(h, rdStream, false, "before")
		c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, shardlog.StartingPosition{Type: shardlog.Latest})
		require.NoError(t, err)
		done := rdDone(func() error { return c.Wait(h.Ctx) })
		rdRequireBlocked(t, done)
		rdPutAt(h, rdStream, true, "other shard") // must not wake this shard's waiter for good
		rdRequireBlocked(t, done)
		put := rdPutAt(h, rdStream, false, "after")
		require.NoError(t, rdRequireReturns(t, done))
		b, err := c.Next(h.Ctx, 0)
		require.NoError(t, err)
		require.Equal(t, []string{put.SequenceNumber.String()}, rdRecSeqs(b.Records))
	})

	t.Run("WaitReturnsContextError", func(t *testing.T) {
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, shardlog.StartingPosition{Type: shardlog.Latest})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(h.Ctx)
		done := rdDone(func() error { return c.Wait(ctx) })
		rdRequireBlocked(t, done)
		cancel()
		require.ErrorIs(t, rdRequireReturns(t, done), context.Canceled)

		ctx, cancel = context.WithTimeout(h.Ctx, rdBlocked)
		defer cancel()
		require.ErrorIs(t, c.Wait(ctx), context.DeadlineExceeded)
	})

	t.Run("WaitReturnsWhenShardSplit", func(t *testing.T) {
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 1)
		c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, shardlog.StartingPosition{Type: shardlog.Latest})
		require.NoError(t, err)
		done := rdDone(func() error { return c.Wait(h.Ctx) })
		rdRequireBlocked(t, done)
		children := rdSplit(h, rdStream)
		require.NoError(t, rdRequireReturns(t, done))
		b, err := c.Next(h.Ctx, 0)
		require.NoError(t, err)
		require.Empty(t, b.Records)
		require.True(t, b.End)
		require.ElementsMatch(t, children, b.ChildShards)
	})

	t.Run("RecordsTailsConcurrentAppends", func(t *testing.T) {
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, shardlog.StartingPosition{Type: shardlog.Latest})
		require.NoError(t, err)
		const n = 100
		seqs := make(chan string, n)
		putErr := rdDone(func() error {
			for i := range n {
				out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: rdStream, PartitionKey: "k", Data: fmt.Appendf(nil, "r%d", i)})
				if err != nil {
					return err
				}
				seqs <- out.SequenceNumber.String()
			}
			return nil
		})
		ctx, cancel := context.WithCancel(h.Ctx)
		defer cancel()
		timer := time.AfterFunc(5*time.Second, cancel) // guard against a hang
		defer timer.Stop()
		var got []shardlog.Record
		var errs []error
		for r, err := range c.Records(ctx) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			got = append(got, r)
			if len(got) == n {
				cancel() // then the sequence ends, without an error
			}
		}
		require.Empty(t, errs, "Records yields no error when ctx is cancelled")
		require.NoError(t, rdRequireReturns(t, putErr))
		close(seqs)
		var want []string
		for s := range seqs {
			want = append(want, s)
		}
		require.Len(t, got, n)
		require.Equal(t, want, rdRecSeqs(got), "in append order, no gaps or repeats")
		for i, r := range got {
			require.Equal(t, fmt.Sprintf("r%d", i), string(r.Data))
		}
	})

	t.Run("RecordsEndsWhenCancelledWhileWaiting", func(t *testing.T) {
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, shardlog.StartingPosition{Type: shardlog.TrimHorizon})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(h.Ctx)
		defer cancel()
		done := rdDone(func() error {
			var errs []error
			for _, err := range c.Records(ctx) {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		})
		rdRequireBlocked(t, done)
		cancel()
		require.NoError(t, rdRequireReturns(t, done))
	})

	t.Run("RecordsEndsAtEndOfClosedShard", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		puts := rdPutN(h, rdStream, 0, 3)
		rdSplit(h, rdStream)
		rdPutN(h, rdStream, 3, 2) // go to the children
		c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, shardlog.StartingPosition{Type: shardlog.TrimHorizon})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(h.Ctx, 5*time.Second)
		defer cancel()
		var got []shardlog.Record
		for r, err := range c.Records(ctx) {
			require.NoError(t, err)
			got = append(got, r)
		}
		require.NoError(t, ctx.Err(), "the sequence ended by itself")
		require.Equal(t, rdPutSeqs(puts), rdRecSeqs(got))
	})

	t.Run("RecordsYieldsErrorWhenStreamDeleted", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		rdPutN(h, rdStream, 0, 2)
		c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, shardlog.StartingPosition{Type: shardlog.TrimHorizon})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(h.Ctx, 5*time.Second)
		defer cancel()
		var n int
		var last error
		for _, err := range c.Records(ctx) {
			if err != nil {
				last = err
				continue
			}
			n++
			if n == 2 {
				require.NoError(t, h.Log.DeleteStream(h.Ctx, rdStream, false))
			}
		}
		require.Equal(t, 2, n)
		require.ErrorIs(t, last, shardlog.ErrResourceNotFound)
		require.NoError(t, ctx.Err())
	})

	t.Run("SkipsRecordsPastRetention", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		old := h.Put(rdStream, "k", []byte("old"))
		h.Clock.Advance(23 * time.Hour)
		kept := h.Put(rdStream, "k", []byte("kept"))
		// Cursors positioned while the old record was still retained.
		positions := []shardlog.StartingPosition{
			{Type: shardlog.TrimHorizon},
			{Type: shardlog.AtSequenceNumber, SequenceNumber: old.SequenceNumber},
			{Type: shardlog.AtTimestamp, Timestamp: Epoch},
		}
		var cursors []*shardlog.Cursor
		for _, p := range positions {
			c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, p)
			require.NoError(t, err)
			cursors = append(cursors, c)
		}
		b, err := cursors[0].Next(h.Ctx, 0)
		require.NoError(t, err)
		require.Len(t, b.Records, 2, "both retained before the clock moves")
		h.Clock.Advance(time.Hour + time.Millisecond) // old is now 24h+1ms old
		c, err := h.Log.NewCursor(h.Ctx, rdStream, rdShard0, positions[0])
		require.NoError(t, err)
		for i, c := range []*shardlog.Cursor{cursors[1], cursors[2], c} {
			b, err := c.Next(h.Ctx, 0)
			require.NoError(t, err)
			require.Equal(t, []string{kept.SequenceNumber.String()}, rdRecSeqs(b.Records), "cursor %d", i)
		}
	})
}
