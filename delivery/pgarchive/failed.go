package pgarchive

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
)

// errorColumns are the error table's columns in CopyFrom order.
var errorColumns = []string{"output_type", "attempts_made", "arrival_timestamp", "error_code", "error_message",
	"attempt_ending_timestamp", "raw_data", "source_stream", "shard_id", "seq", "partition_key"}

// DeliverFailed stores records that could not be processed or delivered
// in the error table (<table>_errors), one row each with Firehose's
// error-record fields, the output type and where the record came from. It
// implements delivery.ErrorOutput. The rows are appended: a retried call
// stores its records again (each row has its own id), as Firehose's error
// output may; readers that need each record once group by (source_stream,
// shard_id, seq).
func (a *Archive) DeliverFailed(ctx context.Context, outputType delivery.OutputType, records []delivery.FailedRecord) error {
	if outputType == "" {
		return &shardlog.ArgumentError{Field: "outputType", Reason: "must not be empty"}
	}
	for i, r := range records {
		if r.AttemptsMade < 0 || int64(r.AttemptsMade) > 1<<31-1 {
			return &shardlog.ArgumentError{Field: fmt.Sprintf("records[%d].AttemptsMade", i),
				Reason: fmt.Sprintf("%d is outside 0-%d", r.AttemptsMade, 1<<31-1)}
		}
	}
	if len(records) == 0 {
		return nil
	}
	rows := make([][]any, len(records))
	for i, r := range records {
		var seq any
		if !r.SequenceNumber.IsZero() {
			seq = numeric(r.SequenceNumber)
		}
		rows[i] = []any{string(outputType), int32(r.AttemptsMade), timestamp(r.ArrivalTimestamp), r.ErrorCode, r.ErrorMessage,
			timestamp(r.AttemptEndingTimestamp), nonNil(r.RawData), r.Source, r.ShardID, seq, r.PartitionKey}
	}
	if _, err := a.pool.CopyFrom(ctx, a.errIdent, errorColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("pgarchive: store %d %s records in %s_errors: %w", len(records), outputType, a.name, err)
	}
	return nil
}

// timestamp is t, or NULL for the zero time.
func timestamp(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}
