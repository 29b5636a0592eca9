package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// The error codes of records a transform failed (FailedRecord.ErrorCode).
const (
	// CodeInvocationFailed: the Transform returned an error (or panicked)
	// on every attempt.
	CodeInvocationFailed = "Transform.InvocationFailed"
	// CodeMissingRecordID: the response lacked a record's ID.
	CodeMissingRecordID = "Transform.MissingRecordId"
	// CodeDuplicateRecordID: the response had a record ID twice.
	CodeDuplicateRecordID = "Transform.DuplicateRecordId"
	// CodeUnknownRecordID: the response had a record ID that was not in
	// the request.
	CodeUnknownRecordID = "Transform.UnknownRecordId"
	// CodeInvalidResult: a response record's Result was not Ok, Dropped
	// or ProcessingFailed.
	CodeInvalidResult = "Transform.InvalidResult"
	// CodeProcessingFailed: the transform answered ProcessingFailed for
	// the record.
	CodeProcessingFailed = "Transform.ProcessingFailed"
)

// transformError is a failed attempt: an invocation error or a response
// that broke the contract.
type transformError struct {
	code string
	err  error
}

func (e *transformError) Error() string { return e.code + ": " + e.err.Error() }

func (e *transformError) Unwrap() error { return e.err }

// runTransform runs t over b.Records with Firehose's contract: Ok records
// keep their place (and position fields) with the returned data, Dropped
// ones leave the batch, ProcessingFailed ones are returned as failed
// records for the error output, with their original data. b.Records and
// b.Bytes are updated; First and Last are not (they still cover the
// records that left).
//
// An attempt fails when t returns an error or panics, or when its
// response breaks the contract (a record ID missing, duplicated or
// unknown, or an invalid Result): as Firehose counts a mismatch as a
// transformation failure, such a response is retried like an invocation
// error. A failed attempt is retried up to retries times (negative: none)
// after backoff(n) for retry n (1-based; nil: at once); when every
// attempt failed, every record of the batch is returned as failed with
// the last attempt's error code. The error is only ctx's: when ctx ends
// the batch is left as it was.
func runTransform(ctx context.Context, t Transform, retries int, b *Batch, backoff func(attempt int) time.Duration) (failed []FailedRecord, err error) {
	if len(b.Records) == 0 {
		return nil, ctx.Err()
	}
	retries = max(retries, 0)
	in := transformInput(b)
	var (
		out     []TransformedRecord
		attempt int
		lastErr *transformError
	)
	for attempt = 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var results []int
		out, lastErr = invokeTransform(ctx, t, in)
		if lastErr == nil {
			results, lastErr = matchResponse(in, out)
		}
		if lastErr == nil {
			return applyTransform(b, in, out, results, attempt), nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if attempt > retries {
			break
		}
		if backoff != nil {
			if d := backoff(attempt); d > 0 {
				timer := time.NewTimer(d)
				select {
				case <-ctx.Done():
					timer.Stop()
					return nil, ctx.Err()
				case <-timer.C:
				}
			}
		}
	}
	now := time.Now()
	failed = make([]FailedRecord, len(b.Records))
	for i, r := range b.Records {
		failed[i] = failedRecord(b, r, attempt, lastErr.code, lastErr.err.Error(), now)
	}
	b.Records = nil
	b.Bytes = 0
	return failed, nil
}

// transformInput builds the transform's request. Record IDs are
// "<shard ID>:<sequence number>", unique within a batch (which holds one
// shard); a duplicate sequence number (impossible from a log) gets its
// index appended.
func transformInput(b *Batch) []TransformRecord {
	size := 0
	for _, r := range b.Records {
		size += len(r.Data)
	}
	// One copy of the data, so that a transform that writes into its
	// input cannot change the original kept for the error output.
	buf := make([]byte, 0, size)
	in := make([]TransformRecord, len(b.Records))
	seen := make(map[string]struct{}, len(b.Records))
	for i, r := range b.Records {
		seq := r.SequenceNumber.String()
		id := b.Shard.ShardID + ":" + seq
		if _, dup := seen[id]; dup {
			id = fmt.Sprintf("%s#%d", id, i)
		}
		seen[id] = struct{}{}
		start := len(buf)
		buf = append(buf, r.Data...)
		in[i] = TransformRecord{
			RecordID:                    id,
			ApproximateArrivalTimestamp: r.ApproximateArrivalTimestamp,
			Data:                        buf[start:len(buf):len(buf)],
			ShardID:                     b.Shard.ShardID,
			SequenceNumber:              seq,
			PartitionKey:                r.PartitionKey,
		}
	}
	return in
}

// invokeTransform calls t, turning a panic into an invocation error.
func invokeTransform(ctx context.Context, t Transform, in []TransformRecord) (out []TransformedRecord, terr *transformError) {
	defer func() {
		if p := recover(); p != nil {
			out = nil
			terr = &transformError{code: CodeInvocationFailed, err: fmt.Errorf("transform panicked: %v", p)}
		}
	}()
	out, err := t(ctx, in)
	if err != nil {
		return nil, &transformError{code: CodeInvocationFailed, err: err}
	}
	return out, nil
}

// matchResponse checks the response against the request: every record ID
// exactly once, every Result valid. results[i] is the index in out of
// in[i]'s answer.
func matchResponse(in []TransformRecord, out []TransformedRecord) ([]int, *transformError) {
	index := make(map[string]int, len(in))
	for i, r := range in {
		index[r.RecordID] = i
	}
	results := make([]int, len(in))
	for i := range results {
		results[i] = -1
	}
	for j, o := range out {
		i, ok := index[o.RecordID]
		if !ok {
			return nil, &transformError{code: CodeUnknownRecordID, err: fmt.Errorf("response record %d has record ID %q, which is not in the request", j, clipText(o.RecordID, 100))}
		}
		if results[i] >= 0 {
			return nil, &transformError{code: CodeDuplicateRecordID, err: fmt.Errorf("response records %d and %d have the same record ID %q", results[i], j, o.RecordID)}
		}
		switch o.Result {
		case Ok, Dropped, TransformProcessingFailed:
		default:
			return nil, &transformError{code: CodeInvalidResult, err: fmt.Errorf("record %q has result %q; want Ok, Dropped or ProcessingFailed", o.RecordID, clipText(string(o.Result), 40))}
		}
		results[i] = j
	}
	for i, j := range results {
		if j < 0 {
			return nil, &transformError{code: CodeMissingRecordID, err: fmt.Errorf("the response has no record ID %q (%d of %d request records answered)", in[i].RecordID, len(out), len(in))}
		}
	}
	return results, nil
}

// applyTransform applies a valid response to b.
func applyTransform(b *Batch, in []TransformRecord, out []TransformedRecord, results []int, attempts int) []FailedRecord {
	var failed []FailedRecord
	var now time.Time
	kept := make([]shardlog.Record, 0, len(b.Records))
	bytes := 0
	for i, r := range b.Records {
		o := out[results[i]]
		switch o.Result {
		case Ok:
			r.Data = o.Data
			kept = append(kept, r)
			bytes += len(r.Data)
		case TransformProcessingFailed:
			if now.IsZero() {
				now = time.Now()
			}
			failed = append(failed, failedRecord(b, r, attempts, CodeProcessingFailed, "the transform returned ProcessingFailed for record "+in[i].RecordID, now))
		}
	}
	b.Records = kept
	b.Bytes = bytes
	return failed
}

func failedRecord(b *Batch, r shardlog.Record, attempts int, code, msg string, now time.Time) FailedRecord {
	return FailedRecord{
		AttemptsMade:           attempts,
		ArrivalTimestamp:       r.ApproximateArrivalTimestamp,
		ErrorCode:              code,
		ErrorMessage:           msg,
		AttemptEndingTimestamp: now,
		RawData:                r.Data,
		Source:                 b.Source,
		ShardID:                b.Shard.ShardID,
		SequenceNumber:         r.SequenceNumber,
		PartitionKey:           r.PartitionKey,
	}
}
