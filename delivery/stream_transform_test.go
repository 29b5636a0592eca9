package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// byPrefix is a transform answering by each record's data: "ok-…" is Ok
// with its data upper-cased, "drop-…" Dropped, "fail-…" ProcessingFailed.
func byPrefix(calls *atomic.Int64) delivery.Transform {
	return func(_ context.Context, in []delivery.TransformRecord) ([]delivery.TransformedRecord, error) {
		calls.Add(1)
		out := make([]delivery.TransformedRecord, len(in))
		for i, r := range in {
			out[i].RecordID = r.RecordID
			switch d := string(r.Data); {
			case strings.HasPrefix(d, "ok-"):
				out[i].Result, out[i].Data = delivery.Ok, bytes.ToUpper(r.Data)
			case strings.HasPrefix(d, "drop-"):
				out[i].Result = delivery.Dropped
			default:
				out[i].Result = delivery.TransformProcessingFailed
			}
		}
		return out, nil
	}
}

// rtCheckpointErrOut is an ErrorOutput that records the records it gets
// and the shard's checkpoint at each call.
type rtCheckpointErrOut struct {
	rtErrOut
	cps  projection.CheckpointStore
	mu   sync.Mutex
	seen []shardlog.SequenceNumber
}

func (e *rtCheckpointErrOut) DeliverFailed(ctx context.Context, typ delivery.OutputType, records []delivery.FailedRecord) error {
	m, err := e.cps.Checkpoints(ctx, "archive")
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.seen = append(e.seen, m["shardId-000000000000"].After)
	e.mu.Unlock()
	return e.rtErrOut.DeliverFailed(ctx, typ, records)
}

// The runtime with a real transform: Ok records are delivered with the
// transform's data, Dropped ones vanish, ProcessingFailed ones reach the
// error output under processing-failed with Firehose's fields; the
// checkpoint moves past the whole batch only once it is delivered.
func TestRuntimeTransformOkDroppedProcessingFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{failN: 2}
		var calls atomic.Int64
		c := rtConfig(l, dest, 10*time.Second)
		c.Transform = byPrefix(&calls)
		m := &rtMetrics{}
		c.Metrics = m
		cps := projection.NewMemoryStore()
		c.Source.Checkpoints = cps
		eo := &rtCheckpointErrOut{cps: cps}
		c.ErrorOutput = eo
		s, err := delivery.New(c)
		require.NoError(t, err)
		var seen []shardlog.SequenceNumber
		dest.before = func(*delivery.Batch) {
			seen = append(seen, rtCheckpoints(t, cps, "archive")["shardId-000000000000"].After)
		}
		stop := rtRun(t, s)
		synctest.Wait()
		start := time.Now()
		data := []string{"ok-0", "fail-1", "drop-2", "ok-3", "fail-4", "ok-5", "drop-6"}
		in := make([][]byte, len(data))
		for i, d := range data {
			in[i] = []byte(d)
		}
		var seqs []shardlog.SequenceNumber
		for i, d := range in {
			out, err := l.PutRecord(context.Background(), shardlog.PutRecordInput{StreamName: rtSource, PartitionKey: rtKey(i), Data: d})
			require.NoError(t, err)
			seqs = append(seqs, out.SequenceNumber)
		}
		time.Sleep(time.Minute)
		synctest.Wait()

		assert.EqualValues(t, 1, calls.Load(), "the transform runs once per batch; a destination retry does not run it again")
		got := dest.got()
		require.Len(t, got, 1)
		b := got[0]
		assert.Equal(t, []string{"OK-0", "OK-3", "OK-5"}, dest.data(), "Ok records, transformed, in order")
		assert.Equal(t, len("OK-0")*3, b.Bytes)
		// First and Last cover the records that left: Last is the dropped
		// record at the end.
		require.Len(t, seqs, len(data))
		assert.Equal(t, seqs[0], b.First)
		assert.Equal(t, seqs[6], b.Last)
		assert.Equal(t, seqs[0], b.Records[0].SequenceNumber, "Ok records keep their position fields")
		assert.Equal(t, "key-3", b.Records[1].PartitionKey)

		// The checkpoint: zero at every delivery attempt (two failed, one
		// succeeded) and when the failed records were written; then Last.
		require.Len(t, seen, 3)
		for _, sq := range seen {
			assert.True(t, sq.IsZero(), "the checkpoint moved before delivery")
		}
		eo.mu.Lock()
		assert.Equal(t, []shardlog.SequenceNumber{{}}, eo.seen, "the checkpoint moved before the failed records were recorded")
		eo.mu.Unlock()
		assert.Equal(t, b.Last, rtCheckpoints(t, cps, "archive")["shardId-000000000000"].After)

		failed := eo.got(delivery.ProcessingFailed)
		require.Len(t, failed, 2)
		for j, i := range []int{1, 4} {
			f := failed[j]
			assert.Equal(t, 1, f.AttemptsMade)
			assert.Equal(t, delivery.CodeProcessingFailed, f.ErrorCode)
			assert.NotEmpty(t, f.ErrorMessage)
			assert.Equal(t, []byte(data[i]), f.RawData, "the original data")
			assert.Equal(t, seqs[i], f.SequenceNumber)
			assert.Equal(t, rtKey(i), f.PartitionKey)
			assert.Equal(t, rtSource, f.Source)
			assert.Equal(t, "shardId-000000000000", f.ShardID)
			assert.False(t, f.ArrivalTimestamp.IsZero())
			assert.False(t, f.AttemptEndingTimestamp.Before(start))
			raw, err := json.Marshal(f)
			require.NoError(t, err)
			var fields map[string]any
			require.NoError(t, json.Unmarshal(raw, &fields))
			for _, k := range []string{"attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage", "attemptEndingTimestamp", "rawData"} {
				assert.Contains(t, fields, k)
			}
		}
		assert.Empty(t, eo.got(delivery.DeliveryFailed))
		st := s.Status()
		assert.EqualValues(t, 2, st.FailedRecords)
		assert.EqualValues(t, 3, st.DeliveredRecords)
		assert.EqualValues(t, 3, m.count(delivery.SucceedProcessingRecs))
		require.NoError(t, stop())
	})
}

// A transform that always fails: after its retries every record of the
// batch goes to processing-failed, the checkpoint moves past them, and the
// stream goes on.
func TestRuntimeTransformAlwaysFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		dest := &rtDest{}
		eo := &rtErrOut{}
		var calls atomic.Int64
		var broken atomic.Bool
		broken.Store(true)
		ok := byPrefix(new(atomic.Int64))
		c := rtConfig(l, dest, 0)
		c.ErrorOutput = eo
		c.Transform = func(ctx context.Context, in []delivery.TransformRecord) ([]delivery.TransformedRecord, error) {
			calls.Add(1)
			if broken.Load() {
				return nil, errors.New("transform unavailable")
			}
			return ok(ctx, in)
		}
		s, err := delivery.New(c)
		require.NoError(t, err)
		stop := rtRun(t, s)
		synctest.Wait()
		rtPutAtOnce(t, l, rtSource, rtKey, []byte("ok-a"), []byte("ok-b"), []byte("ok-c"))
		time.Sleep(time.Minute)
		synctest.Wait()

		assert.EqualValues(t, 4, calls.Load(), "one invocation and 3 retries (the default)")
		assert.Empty(t, dest.got())
		failed := eo.got(delivery.ProcessingFailed)
		require.Len(t, failed, 3)
		for i, f := range failed {
			assert.Equal(t, 4, f.AttemptsMade)
			assert.Equal(t, delivery.CodeInvocationFailed, f.ErrorCode)
			assert.Contains(t, f.ErrorMessage, "transform unavailable")
			assert.Equal(t, []byte("ok-"+string(rune('a'+i))), f.RawData)
			assert.Equal(t, rtSource, f.Source)
			assert.False(t, f.SequenceNumber.IsZero())
		}
		assert.Equal(t, failed[2].SequenceNumber, rtCheckpoints(t, s.Config().Source.Checkpoints, "archive")["shardId-000000000000"].After,
			"the checkpoint moves past records that are recorded in the error output")

		// The stream goes on.
		broken.Store(false)
		rtPut(t, l, rtSource, rtKey, []byte("ok-d"))
		synctest.Wait()
		assert.Equal(t, []string{"OK-D"}, dest.data())
		st := s.Status()
		assert.True(t, st.Running)
		assert.EqualValues(t, 3, st.FailedRecords)
		require.NoError(t, stop())
	})
}

// The runtime reports the source's retention hold: the RetentionHold.Seconds
// metric and Status.RetentionHold.
func TestRuntimeReportsTheRetentionHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := rtLog(t, 1, shardlog.WithRetentionInterval(0))
		defer l.Close()
		// The destination hangs until gate is closed.
		dest := &rtDest{}
		gate := make(chan struct{})
		m := &rtMetrics{}
		c := rtConfig(l, rtGated{dest, gate}, 0)
		c.Metrics = m
		c.RelistInterval = time.Second
		s, err := delivery.New(c)
		require.NoError(t, err)
		stop := rtRun(t, s)
		synctest.Wait()
		rtPut(t, l, rtSource, rtKey, rtStrings("r", 3)...)
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.False(t, s.Status().RetentionHold.Held, "within retention")
		assert.Zero(t, m.gauge(delivery.RetentionHoldSeconds))

		// The destination hangs for 25 hours: the records are an hour
		// past the 24 h retention, kept by the hold.
		time.Sleep(24 * time.Hour)
		require.NoError(t, l.EnforceRetention(ctx))
		time.Sleep(2 * time.Second) // the next relist updates the metric
		synctest.Wait()
		h := s.Status().RetentionHold
		require.True(t, h.Held)
		assert.Equal(t, "shardId-000000000000", h.Shard)
		behind := h.Behind
		assert.GreaterOrEqual(t, behind, time.Hour)
		assert.Less(t, behind, time.Hour+time.Minute)
		assert.InDelta(t, behind.Seconds(), m.gauge(delivery.RetentionHoldSeconds), 5)

		// Up again: delivered, the hold lets go, the metric drops to zero.
		close(gate)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, rtStrs(rtStrings("r", 3)), dest.data())
		require.NoError(t, l.EnforceRetention(ctx))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.False(t, s.Status().RetentionHold.Held)
		assert.Zero(t, m.gauge(delivery.RetentionHoldSeconds))
		require.NoError(t, stop())
	})
}

// rtGated is a Destination that waits for gate to close before delivering.
type rtGated struct {
	*rtDest
	gate chan struct{}
}

func (g rtGated) Deliver(ctx context.Context, b *delivery.Batch) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.rtDest.Deliver(ctx, b)
}
