package delivery

import (
	"encoding/json"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// failedRecordJSON is Firehose's error record, with Shoal's additions.
type failedRecordJSON struct {
	AttemptsMade           int                     `json:"attemptsMade"`
	ArrivalTimestamp       int64                   `json:"arrivalTimestamp"`
	ErrorCode              string                  `json:"errorCode"`
	ErrorMessage           string                  `json:"errorMessage"`
	AttemptEndingTimestamp int64                   `json:"attemptEndingTimestamp"`
	RawData                []byte                  `json:"rawData"`
	Source                 string                  `json:"sourceStream,omitempty"`
	ShardID                string                  `json:"shardId,omitempty"`
	SequenceNumber         shardlog.SequenceNumber `json:"sequenceNumber,omitzero"`
	PartitionKey           string                  `json:"partitionKey,omitempty"`
}

// MarshalJSON writes the record as Firehose writes error records:
// attemptsMade, arrivalTimestamp and attemptEndingTimestamp (milliseconds
// since the Unix epoch; 0 for a zero time), errorCode, errorMessage and
// rawData (base64), followed by Shoal's sourceStream, shardId,
// sequenceNumber (decimal) and partitionKey when known.
func (f FailedRecord) MarshalJSON() ([]byte, error) {
	raw := f.RawData
	if raw == nil {
		raw = []byte{} // "rawData": "", never null
	}
	return json.Marshal(failedRecordJSON{
		AttemptsMade:           f.AttemptsMade,
		ArrivalTimestamp:       millisOrZero(f.ArrivalTimestamp),
		ErrorCode:              f.ErrorCode,
		ErrorMessage:           f.ErrorMessage,
		AttemptEndingTimestamp: millisOrZero(f.AttemptEndingTimestamp),
		RawData:                raw,
		Source:                 f.Source,
		ShardID:                f.ShardID,
		SequenceNumber:         f.SequenceNumber,
		PartitionKey:           f.PartitionKey,
	})
}

// UnmarshalJSON reads what MarshalJSON writes (times at millisecond
// precision, in UTC).
func (f *FailedRecord) UnmarshalJSON(b []byte) error {
	var j failedRecordJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = FailedRecord{
		AttemptsMade:           j.AttemptsMade,
		ArrivalTimestamp:       timeFromMillis(j.ArrivalTimestamp),
		ErrorCode:              j.ErrorCode,
		ErrorMessage:           j.ErrorMessage,
		AttemptEndingTimestamp: timeFromMillis(j.AttemptEndingTimestamp),
		RawData:                j.RawData,
		Source:                 j.Source,
		ShardID:                j.ShardID,
		SequenceNumber:         j.SequenceNumber,
		PartitionKey:           j.PartitionKey,
	}
	return nil
}

func millisOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeFromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
