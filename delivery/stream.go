package delivery

import (
	"context"
	"errors"
)

// Firehose's put limits.
const (
	MaxRecordSize   = 1000 * 1024 // bytes of one record's data
	MaxBatchRecords = 500         // records in one PutRecordBatch
	MaxBatchBytes   = 4 << 20     // bytes of one PutRecordBatch's data
)

// Errors of the delivery stream.
var (
	// ErrInvalidSource: PutRecord or PutRecordBatch on a delivery stream
	// that reads a stream instead of taking direct puts (Firehose's
	// InvalidSourceException).
	ErrInvalidSource = errors.New("delivery: the delivery stream does not take direct puts")
	// ErrServiceUnavailable: the put was throttled or the stream is
	// stopping; retry it (Firehose's ServiceUnavailableException).
	ErrServiceUnavailable = errors.New("delivery: service unavailable")
)

// Stream is a delivery stream. TODO(runtime): everything below.
type Stream struct {
	cfg Config
}

// New validates cfg and returns a stream that delivers once Run is called.
func New(cfg Config) (*Stream, error) { return &Stream{cfg: cfg}, nil }

// Run reads, buffers and delivers until ctx is done, then delivers what is
// buffered (graceful stop) and returns.
func (s *Stream) Run(ctx context.Context) error { return errors.New("delivery: not built yet") }

// PutRecord appends one record to a DirectPut stream and returns its
// record ID.
func (s *Stream) PutRecord(ctx context.Context, data []byte) (string, error) {
	return "", errors.New("delivery: not built yet")
}

// PutRecordBatch appends records to a DirectPut stream; results are in
// input order.
func (s *Stream) PutRecordBatch(ctx context.Context, records [][]byte) (*PutRecordBatchOutput, error) {
	return nil, errors.New("delivery: not built yet")
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
