package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
)

var transformT0 = time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC)

func transformBatch(n int) *Batch {
	b := &Batch{
		DeliveryStream: "ds",
		Version:        1,
		Source:         "orders",
		Shard:          shardlog.Shard{ShardID: "shardId-000000000002"},
	}
	for i := range n {
		b.Records = append(b.Records, shardlog.Record{
			SequenceNumber:              shardlog.MakeSequenceNumber(uint64(1000+i), 2),
			ApproximateArrivalTimestamp: transformT0.Add(time.Duration(i) * time.Second),
			PartitionKey:                fmt.Sprintf("key-%d", i),
			Data:                        fmt.Appendf(nil, "record %d", i),
		})
		b.Bytes += len(b.Records[i].Data)
	}
	b.First, b.Last = b.Records[0].SequenceNumber, b.Records[n-1].SequenceNumber
	return b
}

// echo answers every record with result and its data upper-cased.
func echoTransform(result TransformResult) Transform {
	return func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
		out := make([]TransformedRecord, len(in))
		for i, r := range in {
			out[i] = TransformedRecord{RecordID: r.RecordID, Result: result, Data: []byte(strings.ToUpper(string(r.Data)))}
		}
		return out, nil
	}
}

func TestTransformResultsMix(t *testing.T) {
	b := transformBatch(5)
	orig := slices.Clone(b.Records)
	first, last := b.First, b.Last
	var seen []TransformRecord
	tr := func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
		seen = in
		results := []TransformResult{Ok, Dropped, TransformProcessingFailed, Ok, Ok}
		var out []TransformedRecord
		// Answer in reverse order: the batch keeps source order anyway.
		for i := len(in) - 1; i >= 0; i-- {
			data := []byte("new-" + in[i].PartitionKey)
			if i == 4 {
				data = nil
			}
			out = append(out, TransformedRecord{RecordID: in[i].RecordID, Result: results[i], Data: data})
			// A transform that scribbles on its input does not change
			// the original data kept for the error output.
			copy(in[i].Data, "XXXX")
		}
		return out, nil
	}
	failed, err := runTransform(t.Context(), tr, 3, b, nil)
	require.NoError(t, err)

	// The request: every record, with unique IDs and its position.
	require.Len(t, seen, 5)
	ids := map[string]bool{}
	for i, r := range seen {
		assert.False(t, ids[r.RecordID], "unique record IDs")
		ids[r.RecordID] = true
		assert.Equal(t, "shardId-000000000002:"+orig[i].SequenceNumber.String(), r.RecordID)
		assert.Equal(t, "shardId-000000000002", r.ShardID)
		assert.Equal(t, orig[i].SequenceNumber.String(), r.SequenceNumber)
		assert.Equal(t, orig[i].PartitionKey, r.PartitionKey)
		assert.Equal(t, orig[i].ApproximateArrivalTimestamp, r.ApproximateArrivalTimestamp)
	}

	// Ok records keep their order and positions with the new data;
	// Dropped and ProcessingFailed ones left.
	require.Len(t, b.Records, 3)
	for i, want := range []int{0, 3, 4} {
		got := b.Records[i]
		assert.Equal(t, orig[want].SequenceNumber, got.SequenceNumber)
		assert.Equal(t, orig[want].PartitionKey, got.PartitionKey)
		assert.Equal(t, orig[want].ApproximateArrivalTimestamp, got.ApproximateArrivalTimestamp)
	}
	assert.Equal(t, "new-key-0", string(b.Records[0].Data))
	assert.Equal(t, "new-key-3", string(b.Records[1].Data))
	assert.Empty(t, b.Records[2].Data)
	assert.Equal(t, len("new-key-0")+len("new-key-3"), b.Bytes)
	assert.Equal(t, first, b.First, "First still covers the records that left")
	assert.Equal(t, last, b.Last)

	// The ProcessingFailed record, with its original data.
	require.Len(t, failed, 1)
	f := failed[0]
	assert.Equal(t, 1, f.AttemptsMade)
	assert.Equal(t, CodeProcessingFailed, f.ErrorCode)
	assert.Contains(t, f.ErrorMessage, "ProcessingFailed")
	assert.Equal(t, "record 2", string(f.RawData))
	assert.Equal(t, orig[2].ApproximateArrivalTimestamp, f.ArrivalTimestamp)
	assert.False(t, f.AttemptEndingTimestamp.IsZero())
	assert.Equal(t, "orders", f.Source)
	assert.Equal(t, "shardId-000000000002", f.ShardID)
	assert.Equal(t, orig[2].SequenceNumber, f.SequenceNumber)
	assert.Equal(t, "key-2", f.PartitionKey)
}

func TestTransformAllDropped(t *testing.T) {
	b := transformBatch(3)
	failed, err := runTransform(t.Context(), echoTransform(Dropped), 3, b, nil)
	require.NoError(t, err)
	assert.Empty(t, failed)
	assert.Empty(t, b.Records)
	assert.Zero(t, b.Bytes)
}

func TestTransformEmptyBatch(t *testing.T) {
	b := &Batch{DeliveryStream: "ds"}
	called := false
	failed, err := runTransform(t.Context(), func(context.Context, []TransformRecord) ([]TransformedRecord, error) {
		called = true
		return nil, nil
	}, 3, b, nil)
	require.NoError(t, err)
	assert.Empty(t, failed)
	assert.False(t, called, "an empty batch is not sent to the transform")
}

func TestTransformContractViolations(t *testing.T) {
	tests := []struct {
		name   string
		mangle func([]TransformedRecord) []TransformedRecord
		code   string
		msg    string
	}{
		{"missing record ID", func(out []TransformedRecord) []TransformedRecord { return out[:2] }, CodeMissingRecordID, "has no record ID"},
		{"empty response", func(out []TransformedRecord) []TransformedRecord { return nil }, CodeMissingRecordID, "0 of 3"},
		{"duplicate record ID", func(out []TransformedRecord) []TransformedRecord { return append(out, out[1]) }, CodeDuplicateRecordID, "the same record ID"},
		{"duplicate replacing another", func(out []TransformedRecord) []TransformedRecord { out[2].RecordID = out[0].RecordID; return out }, CodeDuplicateRecordID, "the same record ID"},
		{"unknown record ID", func(out []TransformedRecord) []TransformedRecord { out[1].RecordID = "nope"; return out }, CodeUnknownRecordID, `"nope", which is not in the request`},
		{"extra record ID", func(out []TransformedRecord) []TransformedRecord {
			return append(out, TransformedRecord{RecordID: "extra", Result: Ok})
		}, CodeUnknownRecordID, `"extra"`},
		{"changed record ID", func(out []TransformedRecord) []TransformedRecord { out[0].RecordID += " "; return out }, CodeUnknownRecordID, "not in the request"},
		{"invalid result", func(out []TransformedRecord) []TransformedRecord { out[1].Result = "OK"; return out }, CodeInvalidResult, `result "OK"`},
		{"empty result", func(out []TransformedRecord) []TransformedRecord { out[2].Result = ""; return out }, CodeInvalidResult, `result ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := transformBatch(3)
			orig := slices.Clone(b.Records)
			calls := 0
			var backoffs []int
			tr := func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
				calls++
				out, _ := echoTransform(Ok)(ctx, in)
				return tc.mangle(out), nil
			}
			failed, err := runTransform(t.Context(), tr, 2, b, func(n int) time.Duration {
				backoffs = append(backoffs, n)
				return 0
			})
			require.NoError(t, err)
			// Retried like an invocation error, then the whole batch fails.
			assert.Equal(t, 3, calls)
			assert.Equal(t, []int{1, 2}, backoffs)
			assert.Empty(t, b.Records)
			assert.Zero(t, b.Bytes)
			require.Len(t, failed, 3)
			for i, f := range failed {
				assert.Equal(t, tc.code, f.ErrorCode)
				assert.Contains(t, f.ErrorMessage, tc.msg)
				assert.Equal(t, 3, f.AttemptsMade)
				assert.Equal(t, orig[i].Data, f.RawData, "the original data")
				assert.Equal(t, orig[i].SequenceNumber, f.SequenceNumber)
				assert.Equal(t, orig[i].PartitionKey, f.PartitionKey)
				assert.Equal(t, orig[i].ApproximateArrivalTimestamp, f.ArrivalTimestamp)
			}
		})
	}
}

func TestTransformContractViolationThenSuccess(t *testing.T) {
	b := transformBatch(3)
	calls := 0
	tr := func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
		calls++
		out, _ := echoTransform(Ok)(ctx, in)
		if calls == 1 {
			return out[:1], nil
		}
		return out, nil
	}
	failed, err := runTransform(t.Context(), tr, 3, b, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, calls)
	assert.Empty(t, failed)
	require.Len(t, b.Records, 3)
	assert.Equal(t, "RECORD 1", string(b.Records[1].Data))
}

func TestTransformInvocationErrorRetries(t *testing.T) {
	for _, retries := range []int{-1, 0, 1, 3} {
		t.Run(fmt.Sprint(retries), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := transformBatch(4)
				calls := 0
				var backoffs []int
				start := time.Now()
				tr := func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
					calls++
					return nil, errors.New("lambda timed out")
				}
				failed, err := runTransform(t.Context(), tr, retries, b, func(n int) time.Duration {
					backoffs = append(backoffs, n)
					return time.Duration(n) * time.Second
				})
				require.NoError(t, err)
				attempts := max(retries, 0) + 1
				assert.Equal(t, attempts, calls, "tried once and retried exactly %d times", max(retries, 0))
				var want []int
				wait := time.Duration(0)
				for n := 1; n < attempts; n++ {
					want = append(want, n)
					wait += time.Duration(n) * time.Second
				}
				assert.Equal(t, want, backoffs)
				assert.Equal(t, wait, time.Since(start), "waited the backoffs")
				assert.Empty(t, b.Records)
				require.Len(t, failed, 4)
				for _, f := range failed {
					assert.Equal(t, CodeInvocationFailed, f.ErrorCode)
					assert.Contains(t, f.ErrorMessage, "lambda timed out")
					assert.Equal(t, attempts, f.AttemptsMade)
					assert.Equal(t, start.Add(wait), f.AttemptEndingTimestamp)
				}
			})
		})
	}
}

func TestTransformInvocationErrorThenSuccess(t *testing.T) {
	b := transformBatch(2)
	calls := 0
	tr := func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
		calls++
		if calls < 3 {
			return nil, errors.New("throttled")
		}
		return echoTransform(Ok)(ctx, in)
	}
	failed, err := runTransform(t.Context(), tr, 3, b, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
	assert.Empty(t, failed)
	assert.Equal(t, "RECORD 0", string(b.Records[0].Data))
	assert.Equal(t, len("RECORD 0")+len("RECORD 1"), b.Bytes)
}

func TestTransformProcessingFailedAttempts(t *testing.T) {
	// A record failed by the transform after a retried invocation error
	// counts every attempt.
	b := transformBatch(2)
	calls := 0
	tr := func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
		calls++
		if calls == 1 {
			return nil, errors.New("cold start")
		}
		return echoTransform(TransformProcessingFailed)(ctx, in)
	}
	failed, err := runTransform(t.Context(), tr, 3, b, nil)
	require.NoError(t, err)
	require.Len(t, failed, 2)
	assert.Equal(t, 2, failed[0].AttemptsMade)
	assert.Equal(t, "record 1", string(failed[1].RawData))
}

func TestTransformPanic(t *testing.T) {
	b := transformBatch(2)
	calls := 0
	tr := func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
		calls++
		var m map[string]int
		m["boom"]++ // panics
		return nil, nil
	}
	failed, err := runTransform(t.Context(), tr, 1, b, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, calls, "a panic is retried like an error")
	require.Len(t, failed, 2)
	assert.Equal(t, CodeInvocationFailed, failed[0].ErrorCode)
	assert.Contains(t, failed[0].ErrorMessage, "transform panicked: assignment to entry in nil map")
}

func TestTransformContextCanceled(t *testing.T) {
	t.Run("during the call", func(t *testing.T) {
		b := transformBatch(3)
		orig := slices.Clone(b.Records)
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		tr := func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
			calls++
			cancel()
			return nil, ctx.Err()
		}
		failed, err := runTransform(ctx, tr, 3, b, nil)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Nil(t, failed)
		assert.Equal(t, 1, calls, "not retried")
		assert.Equal(t, orig, b.Records, "the batch is left as it was")
	})
	t.Run("a valid answer after cancel is not applied", func(t *testing.T) {
		b := transformBatch(3)
		orig := slices.Clone(b.Records)
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		tr := func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
			calls++
			cancel()
			return echoTransform(Ok)(ctx, in[:1])
		}
		_, err := runTransform(ctx, tr, 3, b, nil)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, orig, b.Records)
	})
	t.Run("during the backoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := transformBatch(3)
			orig := slices.Clone(b.Records)
			ctx, cancel := context.WithCancel(t.Context())
			calls := 0
			tr := func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
				calls++
				return nil, errors.New("down")
			}
			go func() {
				time.Sleep(30 * time.Second) // fake time: the backoff is an hour
				cancel()
			}()
			start := time.Now()
			failed, err := runTransform(ctx, tr, 3, b, func(int) time.Duration { return time.Hour })
			assert.ErrorIs(t, err, context.Canceled)
			assert.Nil(t, failed)
			assert.Equal(t, 1, calls)
			assert.Equal(t, 30*time.Second, time.Since(start), "the backoff ended with ctx")
			assert.Equal(t, orig, b.Records)
		})
	})
	t.Run("before the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		called := false
		_, err := runTransform(ctx, func(context.Context, []TransformRecord) ([]TransformedRecord, error) {
			called = true
			return nil, nil
		}, 3, transformBatch(1), nil)
		assert.ErrorIs(t, err, context.Canceled)
		assert.False(t, called)
	})
}

func TestTransformDuplicateSequenceNumbers(t *testing.T) {
	// Hand-made batches may repeat a sequence number: IDs stay unique.
	b := transformBatch(3)
	b.Records[1].SequenceNumber = b.Records[0].SequenceNumber
	var ids []string
	tr := func(ctx context.Context, in []TransformRecord) ([]TransformedRecord, error) {
		for _, r := range in {
			ids = append(ids, r.RecordID)
		}
		return echoTransform(Ok)(ctx, in)
	}
	failed, err := runTransform(t.Context(), tr, 0, b, nil)
	require.NoError(t, err)
	assert.Empty(t, failed)
	assert.Len(t, b.Records, 3)
	assert.NotEqual(t, ids[0], ids[1])
}
