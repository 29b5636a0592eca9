package delivery

import (
	"context"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// Destination stores delivered batches.
//
// Deliver must be idempotent on (b.Source, b.Shard.ShardID, b.First): when
// it returns nil the batch is durably stored, and delivering a batch again
// that starts at the same First (a retry after a crash, perhaps with a
// different Last) leaves readers seeing each record once. Object stores do
// it by naming objects from (source, shard, first) and replacing; the
// PostgreSQL archive by its key on (stream, shard, sequence number).
type Destination interface {
	Deliver(ctx context.Context, b *Batch) error
}

// ShardCloser is implemented by a Destination that keeps a catalog of the
// shards it archives (ObjectDestination, the PostgreSQL archive): once a
// source shard is closed, read to its end and delivered, the runtime calls
// CloseShard with the shard as the log describes it then (Closed, with its
// EndingSequenceNumber), before it checkpoints the shard done, so the
// catalog records the shard's end even when no batch carried it (the
// shard closed after its last records were delivered). It must be
// idempotent. A failure is retried as deliveries are; past the retry
// duration it is logged and the stream goes on (the records are archived;
// only the catalog's closed flag is missing).
type ShardCloser interface {
	CloseShard(ctx context.Context, source string, shard shardlog.Shard) error
}

// ErrorOutput stores records that could not be processed or delivered,
// as Firehose writes them under its error prefix.
type ErrorOutput interface {
	DeliverFailed(ctx context.Context, outputType OutputType, records []FailedRecord) error
}

// OutputType is what failed, as Firehose's !{firehose:error-output-type}
// evaluates.
type OutputType string

// The error output types.
const (
	// ProcessingFailed: the transform failed the record, or could not be
	// invoked after its retries.
	ProcessingFailed OutputType = "processing-failed"
	// DeliveryFailed: the destination refused the batch past the retry
	// duration (RetryPolicy.OnExhausted = ToErrorOutput).
	DeliveryFailed OutputType = "delivery-failed"
	// FormatConversionFailed: the format could not encode the record.
	FormatConversionFailed OutputType = "format-conversion-failed"
)

// FailedRecord is one record in the error output, with Firehose's
// error-record fields (JSON names as Firehose writes them).
type FailedRecord struct {
	AttemptsMade           int       `json:"attemptsMade"`
	ArrivalTimestamp       time.Time `json:"-"`
	ErrorCode              string    `json:"errorCode"`
	ErrorMessage           string    `json:"errorMessage"`
	AttemptEndingTimestamp time.Time `json:"-"`
	RawData                []byte    `json:"rawData"`
	// Shoal's additions: where the record came from.
	Source         string                  `json:"sourceStream,omitempty"`
	ShardID        string                  `json:"shardId,omitempty"`
	SequenceNumber shardlog.SequenceNumber `json:"sequenceNumber,omitzero"`
	PartitionKey   string                  `json:"partitionKey,omitempty"`
}
