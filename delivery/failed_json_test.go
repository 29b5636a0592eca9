package delivery

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
)

func TestFailedRecordJSON(t *testing.T) {
	f := FailedRecord{
		AttemptsMade:           4,
		ArrivalTimestamp:       time.Date(2024, 3, 5, 7, 8, 9, 123456789, time.UTC),
		ErrorCode:              CodeInvocationFailed,
		ErrorMessage:           "lambda timed out",
		AttemptEndingTimestamp: time.Date(2024, 3, 5, 7, 9, 0, 0, time.FixedZone("x", 3600)),
		RawData:                []byte("hello\n"),
		Source:                 "orders",
		ShardID:                "shardId-000000000001",
		SequenceNumber:         shardlog.MakeSequenceNumber(5, 1),
		PartitionKey:           "k",
	}
	b, err := json.Marshal(f)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"attemptsMade": 4,
		"arrivalTimestamp": 1709622489123,
		"errorCode": "Transform.InvocationFailed",
		"errorMessage": "lambda timed out",
		"attemptEndingTimestamp": 1709618940000,
		"rawData": "aGVsbG8K",
		"sourceStream": "orders",
		"shardId": "shardId-000000000001",
		"sequenceNumber": "21474836481",
		"partitionKey": "k"
	}`, string(b))

	// Firehose's fields come first, in Firehose's order.
	assert.Regexp(t, `^\{"attemptsMade":4,"arrivalTimestamp":\d+,"errorCode":"[^"]+","errorMessage":"[^"]+","attemptEndingTimestamp":\d+,"rawData":"aGVsbG8K",`, string(b))

	var back FailedRecord
	require.NoError(t, json.Unmarshal(b, &back))
	want := f
	want.ArrivalTimestamp = want.ArrivalTimestamp.Truncate(time.Millisecond)
	want.AttemptEndingTimestamp = want.AttemptEndingTimestamp.UTC()
	assert.Equal(t, want, back)

	// Without Shoal's fields (a direct put record) and with no data.
	b, err = json.Marshal(FailedRecord{AttemptsMade: 1, ErrorCode: "c", ErrorMessage: "m"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"attemptsMade":1,"arrivalTimestamp":0,"errorCode":"c","errorMessage":"m","attemptEndingTimestamp":0,"rawData":""}`, string(b))

	// As a pointer and inside slices too.
	b, err = json.Marshal([]*FailedRecord{&f})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"arrivalTimestamp":1709622489123`)
}
