package shardlogtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

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
				require.Nil(t, it)
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
		require.NoError(t, h.Log.DeleteStream(h.Ctx, shardlog.DeleteStreamInput{StreamName: rdStream}))
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
