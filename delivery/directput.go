package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/shardlog"
)

// Error codes of failed PutRecordBatch records, as Firehose's.
const (
	ErrorCodeServiceUnavailable = "ServiceUnavailableException"
	ErrorCodeInternalFailure    = "InternalFailure"
)

// ensureSource creates a DirectPut stream's backing stream (one shard,
// the log's default 24 h retention) if it is missing.
func (s *Stream) ensureSource(ctx context.Context) error {
	s.ensureMu.Lock()
	defer s.ensureMu.Unlock()
	if s.ensured {
		return nil
	}
	l, name := s.cfg.Source.Log, s.cfg.Source.StreamName
	_, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: name, Limit: 1})
	if errors.Is(err, shardlog.ErrResourceNotFound) {
		err = l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: name, ShardCount: 1})
		if errors.Is(err, shardlog.ErrResourceInUse) {
			err = nil // created meanwhile
		}
		if err == nil {
			s.cfg.Logger.Info("delivery: created the backing stream", "deliveryStream", s.cfg.Name, "stream", name)
		}
	}
	if err != nil {
		return fmt.Errorf("delivery %s: backing stream %s: %w", s.cfg.Name, name, err)
	}
	s.ensured = true
	return nil
}

// PutRecord appends one record (at most MaxRecordSize bytes) to a
// DirectPut stream and returns its record ID. A throttled put returns an
// error wrapping ErrServiceUnavailable; a stream that reads a source
// stream, ErrInvalidSource.
func (s *Stream) PutRecord(ctx context.Context, data []byte) (string, error) {
	if !s.cfg.Source.DirectPut {
		return "", ErrInvalidSource
	}
	if len(data) > MaxRecordSize {
		return "", badConfig("Record.Data", "%d bytes exceed the maximum of %d", len(data), MaxRecordSize)
	}
	out, err := s.put(ctx, [][]byte{data})
	if err != nil {
		return "", err
	}
	r := out.RequestResponses[0]
	switch r.ErrorCode {
	case "":
		return r.RecordID, nil
	case ErrorCodeServiceUnavailable:
		return "", fmt.Errorf("%w: %s", ErrServiceUnavailable, r.ErrorMessage)
	}
	return "", fmt.Errorf("delivery %s: put: %s", s.cfg.Name, r.ErrorMessage)
}

// PutRecordBatch appends 1-MaxBatchRecords records, of at most
// MaxBatchBytes together and MaxRecordSize each, to a DirectPut stream.
// A batch that breaks a limit fails whole with a *shardlog.ArgumentError
// naming Records or Records[i].Data and the limit; otherwise records
// succeed or fail one by one, and the results are in input order: a
// RecordID, or ErrorCode ServiceUnavailableException (throttled: retry)
// or InternalFailure, with FailedPutCount counting the failures.
func (s *Stream) PutRecordBatch(ctx context.Context, records [][]byte) (*PutRecordBatchOutput, error) {
	if !s.cfg.Source.DirectPut {
		return nil, ErrInvalidSource
	}
	if n := len(records); n < 1 || n > MaxBatchRecords {
		return nil, badConfig("Records", "%d records is outside 1-%d", n, MaxBatchRecords)
	}
	total := 0
	for i, d := range records {
		if len(d) > MaxRecordSize {
			return nil, badConfig(fmt.Sprintf("Records[%d].Data", i), "%d bytes exceed the maximum of %d", len(d), MaxRecordSize)
		}
		total += len(d)
	}
	if total > MaxBatchBytes {
		return nil, badConfig("Records", "%d bytes of data exceed the maximum of %d per batch", total, MaxBatchBytes)
	}
	return s.put(ctx, records)
}

// put appends validated records to the backing stream.
func (s *Stream) put(ctx context.Context, records [][]byte) (*PutRecordBatchOutput, error) {
	s.add(IncomingPutRequests, 1)
	if err := s.ensureSource(ctx); err != nil {
		return nil, err
	}
	entries := make([]shardlog.PutRecordsEntry, len(records))
	for i, d := range records {
		entries[i] = shardlog.PutRecordsEntry{PartitionKey: uuid.NewString(), Data: d}
	}
	res, err := s.cfg.Source.Log.PutRecords(ctx, shardlog.PutRecordsInput{StreamName: s.cfg.Source.StreamName, Records: entries})
	if err != nil {
		if errors.Is(err, shardlog.ErrProvisionedThroughputExceeded) {
			s.add(ThrottledRecords, float64(len(records)))
			return nil, fmt.Errorf("%w: %w", ErrServiceUnavailable, err)
		}
		return nil, fmt.Errorf("delivery %s: put: %w", s.cfg.Name, err)
	}
	out := &PutRecordBatchOutput{RequestResponses: make([]PutRecordBatchResult, len(records))}
	okRecords, okBytes, throttled := 0, 0, 0
	for i, r := range res.Records {
		switch {
		case r.ErrorCode == "" && r.Err == nil:
			out.RequestResponses[i] = PutRecordBatchResult{RecordID: RecordID(r.ShardID, r.SequenceNumber)}
			okRecords++
			okBytes += len(records[i])
			continue
		case r.ErrorCode == shardlog.ErrorCodeThroughputExceeded || errors.Is(r.Err, shardlog.ErrProvisionedThroughputExceeded):
			out.RequestResponses[i] = PutRecordBatchResult{ErrorCode: ErrorCodeServiceUnavailable, ErrorMessage: "Slow down."}
			throttled++
		default:
			msg := r.ErrorMessage
			if msg == "" && r.Err != nil {
				msg = r.Err.Error()
			}
			out.RequestResponses[i] = PutRecordBatchResult{ErrorCode: ErrorCodeInternalFailure, ErrorMessage: msg}
		}
		out.FailedPutCount++
	}
	s.add(IncomingRecords, float64(okRecords))
	s.add(IncomingBytes, float64(okBytes))
	if throttled > 0 {
		s.add(ThrottledRecords, float64(throttled))
	}
	return out, nil
}

// RecordID is the record ID PutRecord and PutRecordBatch return for the
// record at sequence number seq of shard: unique within the backing
// stream, and stable (the same record always gets the same ID).
func RecordID(shardID string, seq shardlog.SequenceNumber) string {
	return shardID + ":" + seq.String()
}

// PutRecordBatchOutput is PutRecordBatch's answer.
type PutRecordBatchOutput struct {
	FailedPutCount   int
	RequestResponses []PutRecordBatchResult
}

// PutRecordBatchResult is one record's outcome: a RecordID, or an
// ErrorCode (ServiceUnavailableException, InternalFailure) and message.
type PutRecordBatchResult struct {
	RecordID     string
	ErrorCode    string
	ErrorMessage string
}
