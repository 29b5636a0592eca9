package shardlogtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

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
				c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: p})
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
				c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: tc.p})
				rdRequireArg(t, err, shardlog.ErrInvalidArgument, tc.field)
				require.Nil(t, c)
			})
		}
		t.Run("UnknownShard", func(t *testing.T) {
			_, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: "shardId-000000000007", StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
			require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		})
		t.Run("UnknownStream", func(t *testing.T) {
			_, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: "missing", ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
			require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		})
	})

	t.Run("NextPagesAndPositionAdvances", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream(rdStream, 1)
		puts := rdPutN(h, rdStream, 0, 5)
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
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
				c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
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
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
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
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
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
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.Latest}})
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
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.Latest}})
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
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.Latest}})
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
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.Latest}})
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
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
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
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
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
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
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
				require.NoError(t, h.Log.DeleteStream(h.Ctx, shardlog.DeleteStreamInput{StreamName: rdStream}))
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
			c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: p})
			require.NoError(t, err)
			cursors = append(cursors, c)
		}
		b, err := cursors[0].Next(h.Ctx, 0)
		require.NoError(t, err)
		require.Len(t, b.Records, 2, "both retained before the clock moves")
		h.Clock.Advance(time.Hour + time.Millisecond) // old is now 24h+1ms old
		c, err := h.Log.NewCursor(h.Ctx, shardlog.NewCursorInput{StreamName: rdStream, ShardID: rdShard0, StartingPosition: positions[0]})
		require.NoError(t, err)
		for i, c := range []*shardlog.Cursor{cursors[1], cursors[2], c} {
			b, err := c.Next(h.Ctx, 0)
			require.NoError(t, err)
			require.Equal(t, []string{kept.SequenceNumber.String()}, rdRecSeqs(b.Records), "cursor %d", i)
		}
	})
}
