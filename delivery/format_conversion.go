package delivery

import (
	"fmt"
	"strings"

	"github.com/shoal-dev/shoal/shardlog"
)

// ConversionError is returned by a Format's Encode when some records could
// not be converted (as Firehose's record format conversion fails them):
// ObjectDestination sends those records to its error output as
// FormatConversionFailed (ErrorCode CodeConversionFailed) and encodes the
// rest. Failures are in batch order.
type ConversionError struct {
	Failures []ConversionFailure
}

// ConversionFailure is one record a Format could not convert.
type ConversionFailure struct {
	// Index is the record's index in Batch.Records.
	Index int
	// SequenceNumber and PartitionKey identify the record.
	SequenceNumber shardlog.SequenceNumber
	PartitionKey   string
	// Err is why.
	Err error
}

// Error implements error, naming the first records that failed.
func (e *ConversionError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "delivery: %d record(s) could not be converted", len(e.Failures))
	for i, f := range e.Failures {
		if i == 3 {
			fmt.Fprintf(&sb, "; and %d more", len(e.Failures)-i)
			break
		}
		fmt.Fprintf(&sb, "; record %d (sequence number %s): %v", f.Index, f.SequenceNumber, f.Err)
	}
	return sb.String()
}

// Unwrap returns each failure's error.
func (e *ConversionError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

// CompressionChecker is implemented by a Format that constrains the
// compression of the objects it is written into (Parquet must be
// Uncompressed, as it compresses itself); object-store destinations call
// it when they are configured.
type CompressionChecker interface {
	// CheckCompression returns nil if objects of the format may be
	// compressed with c, else a *shardlog.ArgumentError naming
	// CompressionFormat.
	CheckCompression(c Compression) error
}
