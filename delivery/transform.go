package delivery

import (
	"context"
	"time"
)

// Transform processes a batch of records with the contract of a Firehose
// data-transformation Lambda: it must return every input RecordID exactly
// once, unchanged, each with a Result and (for Ok) the new data. A
// returned error (or a panic) is an invocation failure, and a response
// that breaks the contract (a record ID missing, repeated or unknown, or
// an invalid Result) a failed attempt too: both are retried
// (Config.TransformRetries, with the Retry backoff); when every attempt
// failed, every record of the batch goes to the error output as
// ProcessingFailed, with the last attempt's error code.
type Transform func(ctx context.Context, records []TransformRecord) ([]TransformedRecord, error)

// TransformRecord is a record handed to a Transform, as Firehose's event.
type TransformRecord struct {
	RecordID                    string
	ApproximateArrivalTimestamp time.Time
	Data                        []byte
	// Shard, sequence number and partition key of a stream source's record.
	ShardID        string
	SequenceNumber string
	PartitionKey   string
}

// TransformedRecord is a Transform's answer for one record.
type TransformedRecord struct {
	RecordID string
	Result   TransformResult
	Data     []byte
}

// TransformResult is a record's outcome in a Transform's response.
type TransformResult string

// The results Firehose defines. Ok and Dropped are successes; a
// ProcessingFailed record goes to the error output.
const (
	Ok                        TransformResult = "Ok"
	Dropped                   TransformResult = "Dropped"
	TransformProcessingFailed TransformResult = "ProcessingFailed"
)
