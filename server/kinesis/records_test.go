package kinesis_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/shardlog"
)

func TestPutRecordAndGetRecords(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 2)
	before := time.Now().Truncate(time.Millisecond)

	// ExplicitHashKey routes: the maximum key is in the last shard.
	out, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{
		StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("first"), ExplicitHashKey: aws.String(maxHashKey),
	})
	require.NoError(t, err)
	require.Equal(t, "shardId-000000000001", aws.ToString(out.ShardId))
	first := aws.ToString(out.SequenceNumber)

	// SequenceNumberForOrdering makes the next number greater.
	out, err = e.client.PutRecord(e.ctx, &sdk.PutRecordInput{
		StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte{}, ExplicitHashKey: aws.String(maxHashKey),
		SequenceNumberForOrdering: aws.String(first),
	})
	require.NoError(t, err)
	second := aws.ToString(out.SequenceNumber)
	c, err := shardlog.CompareSequenceNumbers(first, second)
	require.NoError(t, err)
	require.Equal(t, -1, c)

	it := e.iterator(t, "s", "shardId-000000000001", types.ShardIteratorTypeTrimHorizon, "")
	recs, err := e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	require.NoError(t, err)
	require.Len(t, recs.Records, 2)
	r := recs.Records[0]
	require.Equal(t, first, aws.ToString(r.SequenceNumber))
	require.Equal(t, []byte("first"), r.Data)
	require.Equal(t, "k", aws.ToString(r.PartitionKey))
	at := aws.ToTime(r.ApproximateArrivalTimestamp)
	require.False(t, at.Before(before), "%v before %v", at, before)
	require.WithinDuration(t, time.Now(), at, 5*time.Second)
	require.Equal(t, at, at.Truncate(time.Millisecond))
	require.Empty(t, recs.Records[1].Data)
	require.Equal(t, int64(0), aws.ToInt64(recs.MillisBehindLatest))
	require.NotNil(t, recs.NextShardIterator)
	require.Empty(t, recs.ChildShards)

	// The next iterator sees nothing new.
	recs, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: recs.NextShardIterator})
	require.NoError(t, err)
	require.Empty(t, recs.Records)
	require.NotNil(t, recs.NextShardIterator)

	// AT / AFTER_SEQUENCE_NUMBER and Limit.
	it = e.iterator(t, "s", "shardId-000000000001", types.ShardIteratorTypeAtSequenceNumber, second)
	recs, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(1)})
	require.NoError(t, err)
	require.Len(t, recs.Records, 1)
	require.Equal(t, second, aws.ToString(recs.Records[0].SequenceNumber))
	it = e.iterator(t, "s", "shardId-000000000001", types.ShardIteratorTypeAfterSequenceNumber, first)
	recs, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(1)})
	require.NoError(t, err)
	require.Equal(t, second, aws.ToString(recs.Records[0].SequenceNumber))

	// LATEST sees only later puts.
	it = e.iterator(t, "s", "shardId-000000000001", types.ShardIteratorTypeLatest, "")
	_, err = e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("late"), ExplicitHashKey: aws.String(maxHashKey)})
	require.NoError(t, err)
	recs, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	require.NoError(t, err)
	require.Len(t, recs.Records, 1)
	require.Equal(t, []byte("late"), recs.Records[0].Data)

	// AT_TIMESTAMP from before the first record reads everything.
	ts, err := e.client.GetShardIterator(e.ctx, &sdk.GetShardIteratorInput{
		StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000001"),
		ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(before.Add(-time.Second)),
	})
	require.NoError(t, err)
	recs, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: ts.ShardIterator})
	require.NoError(t, err)
	require.Len(t, recs.Records, 3)
	require.Equal(t, first, aws.ToString(recs.Records[0].SequenceNumber))
}

func TestPutRecordErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	put := func(in *sdk.PutRecordInput) error {
		if in.StreamName == nil {
			in.StreamName = aws.String("s")
		}
		_, err := e.client.PutRecord(e.ctx, in)
		return err
	}
	err := put(&sdk.PutRecordInput{PartitionKey: aws.String(""), Data: []byte("x")})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "PartitionKey")
	err = put(&sdk.PutRecordInput{PartitionKey: aws.String(strings.Repeat("k", 257)), Data: []byte("x")})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "PartitionKey")
	err = put(&sdk.PutRecordInput{PartitionKey: aws.String("k"), Data: make([]byte, 1<<20)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "Data")
	err = put(&sdk.PutRecordInput{PartitionKey: aws.String("k"), Data: []byte("x"), ExplicitHashKey: aws.String("340282366920938463463374607431768211456")})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "ExplicitHashKey")
	err = put(&sdk.PutRecordInput{PartitionKey: aws.String("k"), Data: []byte("x"), SequenceNumberForOrdering: aws.String("12x")})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "SequenceNumberForOrdering")
	err = put(&sdk.PutRecordInput{StreamName: aws.String("nope"), PartitionKey: aws.String("k"), Data: []byte("x")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
}

func TestPutRecords(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 4)
	var entries []types.PutRecordsRequestEntry
	for i := range 20 {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint("key-", i)), Data: []byte(fmt.Sprint("data-", i))})
	}
	out, err := e.client.PutRecords(e.ctx, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
	require.NoError(t, err)
	require.Equal(t, int32(0), aws.ToInt32(out.FailedRecordCount))
	require.Len(t, out.Records, 20)
	got := 0
	shards := map[string]bool{}
	for _, r := range out.Records {
		require.NotEmpty(t, aws.ToString(r.SequenceNumber))
		require.Nil(t, r.ErrorCode)
		shards[aws.ToString(r.ShardId)] = true
	}
	for sh := range shards {
		it := e.iterator(t, "s", sh, types.ShardIteratorTypeTrimHorizon, "")
		recs, err := e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
		require.NoError(t, err)
		got += len(recs.Records)
	}
	require.Equal(t, 20, got)

	// A bad entry fails the whole request, naming it.
	entries[3].PartitionKey = aws.String("")
	_, err = e.client.PutRecords(e.ctx, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "Records.3.PartitionKey")

	many := make([]types.PutRecordsRequestEntry, 501)
	for i := range many {
		many[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("x")}
	}
	_, err = e.client.PutRecords(e.ctx, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: many})
	require.Error(t, err) // the SDK or the server refuses more than 500 entries
}

// TestPutRecordsPartialFailure: entries over a shard's write budget fail in
// place with ProvisionedThroughputExceededException; the others commit.
func TestPutRecordsPartialFailure(t *testing.T) {
	e := newEnv(t, true, kinesis.WithProvisionedLimits(true))
	e.createStream(t, "s", 1)
	big := bytes.Repeat([]byte("x"), 400_000)
	entries := []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("a"), Data: big},
		{PartitionKey: aws.String("b"), Data: big},
		{PartitionKey: aws.String("c"), Data: big}, // over 1 MiB/s
	}
	out, err := e.client.PutRecords(e.ctx, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
	require.NoError(t, err)
	require.Equal(t, int32(1), aws.ToInt32(out.FailedRecordCount))
	require.Len(t, out.Records, 3)
	for _, r := range out.Records[:2] {
		require.Equal(t, "shardId-000000000000", aws.ToString(r.ShardId))
		require.NotEmpty(t, aws.ToString(r.SequenceNumber))
	}
	failed := out.Records[2]
	require.Equal(t, "ProvisionedThroughputExceededException", aws.ToString(failed.ErrorCode))
	require.Contains(t, aws.ToString(failed.ErrorMessage), "shardId-000000000000")
	require.Nil(t, failed.SequenceNumber)
	require.Nil(t, failed.ShardId)

	// PutRecord over the budget is an error of the call.
	_, err = e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("d"), Data: big})
	requireAPIError[*types.ProvisionedThroughputExceededException](t, err, "ProvisionedThroughputExceededException")

	// A second later the budget is back.
	e.clock.advance(time.Second)
	out, err = e.client.PutRecords(e.ctx, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: entries[2:]})
	require.NoError(t, err)
	require.Equal(t, int32(0), aws.ToInt32(out.FailedRecordCount))
}

func TestGetShardIteratorErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	_, seq := e.put(t, "s", "k", "v")
	get := func(in *sdk.GetShardIteratorInput) error {
		in.StreamName = aws.String("s")
		if in.ShardId == nil {
			in.ShardId = aws.String("shardId-000000000000")
		}
		_, err := e.client.GetShardIterator(e.ctx, in)
		return err
	}
	err := get(&sdk.GetShardIteratorInput{ShardId: aws.String("shardId-000000000009"), ShardIteratorType: types.ShardIteratorTypeLatest})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	err = get(&sdk.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "StartingSequenceNumber")
	err = get(&sdk.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeTrimHorizon, StartingSequenceNumber: aws.String(seq)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "StartingSequenceNumber")
	err = get(&sdk.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(time.Now().Add(time.Hour))})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "Timestamp")
	err = get(&sdk.GetShardIteratorInput{ShardIteratorType: "SOMEWHERE"})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "ShardIteratorType")
	err = get(&sdk.GetShardIteratorInput{ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String("abc")})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "StartingSequenceNumber")
}

func TestGetRecordsErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	it := e.iterator(t, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")

	_, err := e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "ShardIterator")
	_, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(10001)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "Limit")
	_, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(0)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "Limit")

	e.clock.advance(5*time.Minute + time.Second)
	_, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	requireAPIError[*types.ExpiredIteratorException](t, err, "ExpiredIteratorException")

	// An iterator of a deleted stream names no stream.
	it = e.iterator(t, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")
	_, err = e.client.DeleteStream(e.ctx, &sdk.DeleteStreamInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	_, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
}

// TestGetRecordsThrottled: with provisioned limits, a shard takes five
// GetRecords calls per second.
func TestGetRecordsThrottled(t *testing.T) {
	e := newEnv(t, true, kinesis.WithProvisionedLimits(true))
	e.createStream(t, "s", 1)
	it := e.iterator(t, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")
	for range 5 {
		_, err := e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
		require.NoError(t, err)
	}
	_, err := e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	requireAPIError[*types.ProvisionedThroughputExceededException](t, err, "ProvisionedThroughputExceededException")
	e.clock.advance(time.Second)
	_, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	require.NoError(t, err)
}
