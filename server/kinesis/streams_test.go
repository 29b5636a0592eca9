package kinesis_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

const maxHashKey = "340282366920938463463374607431768211455"

func TestStreamLifecycle(t *testing.T) {
	e := newEnv(t, false)
	before := time.Now().Add(-time.Second)
	_, err := e.client.CreateStream(e.ctx, &sdk.CreateStreamInput{
		StreamName: aws.String("orders"), ShardCount: aws.Int32(2),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeProvisioned},
	})
	require.NoError(t, err)

	d, err := e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{StreamName: aws.String("orders")})
	require.NoError(t, err)
	sd := d.StreamDescription
	require.Equal(t, "orders", aws.ToString(sd.StreamName))
	require.Equal(t, "arn:aws:kinesis:us-east-1:000000000000:stream/orders", aws.ToString(sd.StreamARN))
	require.Equal(t, types.StreamStatusActive, sd.StreamStatus)
	require.Equal(t, types.StreamModeProvisioned, sd.StreamModeDetails.StreamMode)
	require.Equal(t, int32(24), aws.ToInt32(sd.RetentionPeriodHours))
	require.False(t, aws.ToBool(sd.HasMoreShards))
	require.Equal(t, types.EncryptionTypeNone, sd.EncryptionType)
	require.WithinDuration(t, time.Now(), aws.ToTime(sd.StreamCreationTimestamp), 5*time.Second)
	require.True(t, aws.ToTime(sd.StreamCreationTimestamp).After(before))
	require.Len(t, sd.Shards, 2)
	require.Equal(t, "shardId-000000000000", aws.ToString(sd.Shards[0].ShardId))
	require.Equal(t, "0", aws.ToString(sd.Shards[0].HashKeyRange.StartingHashKey))
	require.Equal(t, maxHashKey, aws.ToString(sd.Shards[1].HashKeyRange.EndingHashKey))
	require.NotEmpty(t, aws.ToString(sd.Shards[0].SequenceNumberRange.StartingSequenceNumber))
	require.Nil(t, sd.Shards[0].SequenceNumberRange.EndingSequenceNumber)
	require.Nil(t, sd.Shards[0].ParentShardId)

	// DescribeStream pages shards with Limit and ExclusiveStartShardId.
	d, err = e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{StreamName: aws.String("orders"), Limit: aws.Int32(1)})
	require.NoError(t, err)
	require.Len(t, d.StreamDescription.Shards, 1)
	require.True(t, aws.ToBool(d.StreamDescription.HasMoreShards))
	d, err = e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{StreamName: aws.String("orders"), ExclusiveStartShardId: aws.String("shardId-000000000000")})
	require.NoError(t, err)
	require.Len(t, d.StreamDescription.Shards, 1)
	require.Equal(t, "shardId-000000000001", aws.ToString(d.StreamDescription.Shards[0].ShardId))
	_, err = e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{StreamName: aws.String("orders"), Limit: aws.Int32(0)})
	requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")

	s, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
	require.NoError(t, err)
	sum := s.StreamDescriptionSummary
	require.Equal(t, int32(2), aws.ToInt32(sum.OpenShardCount))
	require.Equal(t, int32(0), aws.ToInt32(sum.ConsumerCount))
	require.Equal(t, int32(1024), aws.ToInt32(sum.MaxRecordSizeInKiB))
	require.Equal(t, types.StreamStatusActive, sum.StreamStatus)
	require.Equal(t, aws.ToTime(sd.StreamCreationTimestamp), aws.ToTime(sum.StreamCreationTimestamp))

	_, err = e.client.CreateStream(e.ctx, &sdk.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(1)})
	requireAPIError[*types.ResourceInUseException](t, err, "ResourceInUseException")

	_, err = e.client.DeleteStream(e.ctx, &sdk.DeleteStreamInput{StreamName: aws.String("orders")})
	require.NoError(t, err)
	_, err = e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{StreamName: aws.String("orders")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.client.DeleteStream(e.ctx, &sdk.DeleteStreamInput{StreamName: aws.String("orders")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
}

func TestCreateStreamErrors(t *testing.T) {
	e := newEnv(t, false)
	msg := requireAPIError[*types.InvalidArgumentException](t, func() error {
		_, err := e.client.CreateStream(e.ctx, &sdk.CreateStreamInput{StreamName: aws.String("bad name!"), ShardCount: aws.Int32(1)})
		return err
	}(), "InvalidArgumentException")
	require.Contains(t, msg, "StreamName")

	_, err := e.client.CreateStream(e.ctx, &sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(0)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "ShardCount")

	_, err = e.client.CreateStream(e.ctx, &sdk.CreateStreamInput{StreamName: aws.String("s")})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "ShardCount")

	_, err = e.client.CreateStream(e.ctx, &sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1), MaxRecordSizeInKiB: aws.Int32(99)})
	require.Contains(t, requireAPIError[*types.ValidationException](t, err, "ValidationException"), "MaxRecordSizeInKiB")

	_, err = e.client.CreateStream(e.ctx, &sdk.CreateStreamInput{StreamName: aws.String("s"), StreamModeDetails: &types.StreamModeDetails{StreamMode: "SOMETIMES"}})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "StreamMode")

	// On-demand streams need no shard count; tags are stored.
	_, err = e.client.CreateStream(e.ctx, &sdk.CreateStreamInput{
		StreamName: aws.String("od"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand},
		Tags: map[string]string{"team": "core"}, MaxRecordSizeInKiB: aws.Int32(2048),
	})
	require.NoError(t, err)
	s, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("od")})
	require.NoError(t, err)
	require.Equal(t, int32(4), aws.ToInt32(s.StreamDescriptionSummary.OpenShardCount))
	require.Equal(t, types.StreamModeOnDemand, s.StreamDescriptionSummary.StreamModeDetails.StreamMode)
	require.Equal(t, int32(2048), aws.ToInt32(s.StreamDescriptionSummary.MaxRecordSizeInKiB))
	tags, err := e.client.ListTagsForStream(e.ctx, &sdk.ListTagsForStreamInput{StreamName: aws.String("od")})
	require.NoError(t, err)
	require.Equal(t, []types.Tag{{Key: aws.String("team"), Value: aws.String("core")}}, tags.Tags)
}

func TestListStreams(t *testing.T) {
	e := newEnv(t, false)
	out, err := e.client.ListStreams(e.ctx, &sdk.ListStreamsInput{})
	require.NoError(t, err)
	require.Empty(t, out.StreamNames)
	require.False(t, aws.ToBool(out.HasMoreStreams))
	for _, n := range []string{"c", "a", "b"} {
		e.createStream(t, n, 1)
	}
	out, err = e.client.ListStreams(e.ctx, &sdk.ListStreamsInput{Limit: aws.Int32(2)})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, out.StreamNames)
	require.True(t, aws.ToBool(out.HasMoreStreams))
	require.Len(t, out.StreamSummaries, 2)
	require.Equal(t, "arn:aws:kinesis:us-east-1:000000000000:stream/a", aws.ToString(out.StreamSummaries[0].StreamARN))
	require.Equal(t, types.StreamStatusActive, out.StreamSummaries[0].StreamStatus)
	require.Equal(t, types.StreamModeProvisioned, out.StreamSummaries[0].StreamModeDetails.StreamMode)
	require.NotNil(t, out.NextToken)

	next, err := e.client.ListStreams(e.ctx, &sdk.ListStreamsInput{NextToken: out.NextToken})
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, next.StreamNames)
	require.False(t, aws.ToBool(next.HasMoreStreams))
	require.Nil(t, next.NextToken)

	next, err = e.client.ListStreams(e.ctx, &sdk.ListStreamsInput{ExclusiveStartStreamName: aws.String("a")})
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c"}, next.StreamNames)

	// The SDK's paginator walks every page.
	var all []string
	p := sdk.NewListStreamsPaginator(e.client, &sdk.ListStreamsInput{Limit: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(e.ctx)
		require.NoError(t, err)
		all = append(all, page.StreamNames...)
	}
	require.Equal(t, []string{"a", "b", "c"}, all)

	_, err = e.client.ListStreams(e.ctx, &sdk.ListStreamsInput{NextToken: aws.String("garbage")})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "NextToken")
	_, err = e.client.ListStreams(e.ctx, &sdk.ListStreamsInput{Limit: aws.Int32(0)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "Limit")

	e.clock.advance(6 * time.Minute)
	_, err = e.client.ListStreams(e.ctx, &sdk.ListStreamsInput{NextToken: out.NextToken})
	requireAPIError[*types.ExpiredNextTokenException](t, err, "ExpiredNextTokenException")
}

func TestStreamARNAddressing(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	arn := "arn:aws:kinesis:us-east-1:000000000000:stream/s"

	out, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamARN: aws.String(arn)})
	require.NoError(t, err)
	require.Equal(t, "s", aws.ToString(out.StreamDescriptionSummary.StreamName))

	put, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamARN: aws.String(arn), PartitionKey: aws.String("k"), Data: []byte("v")})
	require.NoError(t, err)
	it, err := e.client.GetShardIterator(e.ctx, &sdk.GetShardIteratorInput{
		StreamARN: aws.String(arn), ShardId: put.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	require.NoError(t, err)
	recs, err := e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{StreamARN: aws.String(arn), ShardIterator: it.ShardIterator})
	require.NoError(t, err)
	require.Len(t, recs.Records, 1)

	// Both given and agreeing is fine.
	_, err = e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{StreamName: aws.String("s"), StreamARN: aws.String(arn)})
	require.NoError(t, err)

	// Another account or region names no stream here.
	_, err = e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:111111111111:stream/s")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamARN: aws.String("arn:aws:kinesis:eu-west-1:000000000000:stream/s")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamARN: aws.String("arn:aws-cn:kinesis:us-east-1:000000000000:stream/s")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/nope")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")

	_, err = e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{StreamName: aws.String("other"), StreamARN: aws.String(arn)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "StreamARN")
	_, err = e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "StreamName or StreamARN")
}

func TestMalformedStreamARN(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	refused := 0
	for _, arn := range []string{
		"arn:aws:kinesis:us-east-1:000000000000:table/s",
		"arn:aws:sqs:us-east-1:000000000000:stream/s",
		"arn:aws:kinesis:us-east-1:000000000000:stream/",
		"arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1",
		"not-an-arn",
	} {
		// The SDK validates ARNs itself before sending some of these; the
		// server refuses the rest.
		_, err := e.client.ListShards(e.ctx, &sdk.ListShardsInput{StreamARN: aws.String(arn)})
		require.Error(t, err, arn)
		var ia *types.InvalidArgumentException
		if !errorsAs(err, &ia) {
			continue
		}
		refused++
		require.Contains(t, aws.ToString(ia.Message), "StreamARN")
	}
	require.Positive(t, refused, "no malformed ARN reached the server")
}

func TestRetentionPeriod(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	_, err := e.client.IncreaseStreamRetentionPeriod(e.ctx, &sdk.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("s"), RetentionPeriodHours: aws.Int32(48)})
	require.NoError(t, err)
	s, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, int32(48), aws.ToInt32(s.StreamDescriptionSummary.RetentionPeriodHours))

	_, err = e.client.IncreaseStreamRetentionPeriod(e.ctx, &sdk.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("s"), RetentionPeriodHours: aws.Int32(24)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "RetentionPeriodHours")
	_, err = e.client.IncreaseStreamRetentionPeriod(e.ctx, &sdk.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("s"), RetentionPeriodHours: aws.Int32(8761)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "RetentionPeriodHours")

	_, err = e.client.DecreaseStreamRetentionPeriod(e.ctx, &sdk.DecreaseStreamRetentionPeriodInput{
		StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s"), RetentionPeriodHours: aws.Int32(24),
	})
	require.NoError(t, err)
	_, err = e.client.DecreaseStreamRetentionPeriod(e.ctx, &sdk.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("s"), RetentionPeriodHours: aws.Int32(23)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "RetentionPeriodHours")
	_, err = e.client.DecreaseStreamRetentionPeriod(e.ctx, &sdk.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("nope"), RetentionPeriodHours: aws.Int32(24)})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
}

func TestUpdateStreamMode(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 2)
	arn := aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s")
	_, err := e.client.UpdateStreamMode(e.ctx, &sdk.UpdateStreamModeInput{StreamARN: arn, StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
	require.NoError(t, err)
	s, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamARN: arn})
	require.NoError(t, err)
	require.Equal(t, types.StreamModeOnDemand, s.StreamDescriptionSummary.StreamModeDetails.StreamMode)
	require.Equal(t, int32(2), aws.ToInt32(s.StreamDescriptionSummary.OpenShardCount))

	_, err = e.client.UpdateStreamMode(e.ctx, &sdk.UpdateStreamModeInput{StreamARN: arn, StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
	requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")
	_, err = e.client.UpdateStreamMode(e.ctx, &sdk.UpdateStreamModeInput{StreamARN: arn, StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeProvisioned}})
	require.NoError(t, err)
	// The third change within 24 hours is over the limit.
	_, err = e.client.UpdateStreamMode(e.ctx, &sdk.UpdateStreamModeInput{StreamARN: arn, StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
	requireAPIError[*types.LimitExceededException](t, err, "LimitExceededException")
}

// TestDescribeLimits: DescribeLimits reports the quotas the Log enforces,
// and a request past one is a LimitExceededException worded as AWS's.
func TestDescribeLimits(t *testing.T) {
	ctx := context.Background()
	log, err := shardlog.Open(ctx, memory.New(), shardlog.WithRetentionInterval(0),
		shardlog.WithAccountLimits(shardlog.AccountLimits{Shards: 8, OnDemandStreams: 1}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = log.Close() })
	c := serveLog(t, log)
	_, err = c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String("p"), ShardCount: aws.Int32(3)})
	require.NoError(t, err)
	_, err = c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String("od"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
	require.NoError(t, err)
	out, err := c.DescribeLimits(ctx, &sdk.DescribeLimitsInput{})
	require.NoError(t, err)
	require.Equal(t, int32(8), aws.ToInt32(out.ShardLimit))
	require.Equal(t, int32(7), aws.ToInt32(out.OpenShardCount))
	require.Equal(t, int32(1), aws.ToInt32(out.OnDemandStreamCount))
	require.Equal(t, int32(1), aws.ToInt32(out.OnDemandStreamCountLimit))

	_, err = c.UpdateShardCount(ctx, &sdk.UpdateShardCountInput{StreamName: aws.String("p"), TargetShardCount: aws.Int32(5), ScalingType: types.ScalingTypeUniformScaling})
	msg := requireAPIError[*types.LimitExceededException](t, err, "LimitExceededException")
	require.Equal(t, "This request would exceed the shard limit for the account 000000000000 in us-east-1. Current shard count for the account: 7. Limit: 8. Number of additional shards that would have resulted from this request: 2.", msg)
	_, err = c.UpdateShardCount(ctx, &sdk.UpdateShardCountInput{StreamName: aws.String("p"), TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling})
	require.NoError(t, err, "up to the limit")
	_, err = c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String("q"), ShardCount: aws.Int32(1)})
	requireAPIError[*types.LimitExceededException](t, err, "LimitExceededException")
	_, err = c.UpdateStreamMode(ctx, &sdk.UpdateStreamModeInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/p"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
	msg = requireAPIError[*types.LimitExceededException](t, err, "LimitExceededException")
	require.Contains(t, msg, "on-demand stream count limit")
}

func TestUpdateMaxRecordSize(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	arn := aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s")
	big := make([]byte, 2<<20)
	_, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamARN: arn, PartitionKey: aws.String("k"), Data: big})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "Data")

	_, err = e.client.UpdateMaxRecordSize(e.ctx, &sdk.UpdateMaxRecordSizeInput{StreamARN: arn, MaxRecordSizeInKiB: aws.Int32(4096)})
	require.NoError(t, err)
	s, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamARN: arn})
	require.NoError(t, err)
	require.Equal(t, int32(4096), aws.ToInt32(s.StreamDescriptionSummary.MaxRecordSizeInKiB))
	_, err = e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamARN: arn, PartitionKey: aws.String("k"), Data: big})
	require.NoError(t, err)

	_, err = e.client.UpdateMaxRecordSize(e.ctx, &sdk.UpdateMaxRecordSizeInput{StreamARN: arn, MaxRecordSizeInKiB: aws.Int32(10241)})
	require.Contains(t, requireAPIError[*types.ValidationException](t, err, "ValidationException"), "MaxRecordSizeInKiB")
	_, err = e.client.UpdateMaxRecordSize(e.ctx, &sdk.UpdateMaxRecordSizeInput{
		StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/nope"), MaxRecordSizeInKiB: aws.Int32(2048),
	})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
}

// TestClosedLog: a closed log answers 503 ServiceUnavailableException,
// which clients retry, not a 500.
func TestClosedLog(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	require.NoError(t, e.log.Close())
	_, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	require.Error(t, err)
	var api smithy.APIError
	require.True(t, errorsAs(err, &api), "%T %v", err, err)
	require.Equal(t, "ServiceUnavailableException", api.ErrorCode())
	var re *awshttp.ResponseError
	require.True(t, errorsAs(err, &re))
	require.Equal(t, 503, re.HTTPStatusCode())
}
