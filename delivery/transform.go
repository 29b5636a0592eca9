package delivery

import (
	"context"
	"time"
)

// Transform processes a batch of records with the contract of a Firehose
// data-transformation Lambda: it must return every input RecordID exactly
// once, unchanged, each with a Result and (for Ok) the new data. A
// returned error is an invocation failure and is retried
// (Config.TransformRetries); a response that breaks the contract fails
// every record of the batch as ProcessingFailed.
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
