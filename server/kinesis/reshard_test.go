package kinesis_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"
)

// half is 2^127, the boundary of a two-shard stream.
const half = "170141183460469231731687303715884105728"

// TestGetRecordsAcrossSplit reads a parent to its end: the last GetRecords
// has no NextShardIterator and names the children, whose records follow.
func TestGetRecordsAcrossSplit(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	_, before := e.put(t, "s", "k", "before")

	_, err := e.client.SplitShard(e.ctx, &sdk.SplitShardInput{
		StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(half),
	})
	require.NoError(t, err)
	shard, after := e.put(t, "s", "k", "after")
	require.Contains(t, []string{"shardId-000000000001", "shardId-000000000002"}, shard)

	it := e.iterator(t, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")
	recs, err := e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	require.NoError(t, err)
	// The parent's record, then (possibly in a later call) its end.
	for recs.ChildShards == nil {
		require.Len(t, recs.Records, 1)
		require.Equal(t, before, aws.ToString(recs.Records[0].SequenceNumber))
		require.NotNil(t, recs.NextShardIterator)
		recs, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: recs.NextShardIterator})
		require.NoError(t, err)
	}
	require.Nil(t, recs.NextShardIterator)
	require.Equal(t, []types.ChildShard{
		{ShardId: aws.String("shardId-000000000001"), ParentShards: []string{"shardId-000000000000"},
			HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String("170141183460469231731687303715884105727")}},
		{ShardId: aws.String("shardId-000000000002"), ParentShards: []string{"shardId-000000000000"},
			HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String(half), EndingHashKey: aws.String(maxHashKey)}},
	}, recs.ChildShards)

	it = e.iterator(t, "s", shard, types.ShardIteratorTypeTrimHorizon, "")
	recs, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	require.NoError(t, err)
	require.Len(t, recs.Records, 1)
	require.Equal(t, after, aws.ToString(recs.Records[0].SequenceNumber))
	require.Empty(t, recs.ChildShards)

	// The parent is CLOSED with an ending number; the children name it.
	d, err := e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Len(t, d.StreamDescription.Shards, 3)
	require.NotNil(t, d.StreamDescription.Shards[0].SequenceNumberRange.EndingSequenceNumber)
	require.Equal(t, "shardId-000000000000", aws.ToString(d.StreamDescription.Shards[1].ParentShardId))

	// A closed shard splits no more.
	_, err = e.client.SplitShard(e.ctx, &sdk.SplitShardInput{
		StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("5"),
	})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "ShardToSplit")
}

func TestSplitShardErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	split := func(shard, key string) error {
		_, err := e.client.SplitShard(e.ctx, &sdk.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shard), NewStartingHashKey: aws.String(key)})
		return err
	}
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, split("shardId-000000000000", "0"), "InvalidArgumentException"), "NewStartingHashKey")
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, split("shardId-000000000000", "x"), "InvalidArgumentException"), "NewStartingHashKey")
	requireAPIError[*types.ResourceNotFoundException](t, split("shardId-000000000007", half), "ResourceNotFoundException")

	_, err := e.client.CreateStream(e.ctx, &sdk.CreateStreamInput{StreamName: aws.String("od"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
	require.NoError(t, err)
	_, err = e.client.SplitShard(e.ctx, &sdk.SplitShardInput{StreamName: aws.String("od"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("5")})
	requireAPIError[*types.ValidationException](t, err, "ValidationException")
	_, err = e.client.MergeShards(e.ctx, &sdk.MergeShardsInput{StreamName: aws.String("od"), ShardToMerge: aws.String("shardId-000000000000"), AdjacentShardToMerge: aws.String("shardId-000000000001")})
	requireAPIError[*types.ValidationException](t, err, "ValidationException")
	_, err = e.client.UpdateShardCount(e.ctx, &sdk.UpdateShardCountInput{StreamName: aws.String("od"), TargetShardCount: aws.Int32(2), ScalingType: types.ScalingTypeUniformScaling})
	requireAPIError[*types.ValidationException](t, err, "ValidationException")
}

func TestMergeShards(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 3)
	merge := func(a, b string) error {
		_, err := e.client.MergeShards(e.ctx, &sdk.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String(a), AdjacentShardToMerge: aws.String(b)})
		return err
	}
	err := merge("shardId-000000000000", "shardId-000000000002")
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "AdjacentShardToMerge")
	requireAPIError[*types.ResourceNotFoundException](t, merge("shardId-000000000000", "shardId-000000000009"), "ResourceNotFoundException")

	require.NoError(t, merge("shardId-000000000001", "shardId-000000000002"))
	ls, err := e.client.ListShards(e.ctx, &sdk.ListShardsInput{StreamName: aws.String("s"), ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}})
	require.NoError(t, err)
	require.Len(t, ls.Shards, 2)
	child := ls.Shards[1]
	require.Equal(t, "shardId-000000000003", aws.ToString(child.ShardId))
	require.Equal(t, "shardId-000000000001", aws.ToString(child.ParentShardId))
	require.Equal(t, "shardId-000000000002", aws.ToString(child.AdjacentParentShardId))
	require.Equal(t, maxHashKey, aws.ToString(child.HashKeyRange.EndingHashKey))
}

func TestUpdateShardCount(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 2)
	out, err := e.client.UpdateShardCount(e.ctx, &sdk.UpdateShardCountInput{
		StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s"), TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling,
	})
	require.NoError(t, err)
	require.Equal(t, int32(2), aws.ToInt32(out.CurrentShardCount))
	require.Equal(t, int32(4), aws.ToInt32(out.TargetShardCount))
	require.Equal(t, "s", aws.ToString(out.StreamName))
	require.Equal(t, "arn:aws:kinesis:us-east-1:000000000000:stream/s", aws.ToString(out.StreamARN))
	s, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, int32(4), aws.ToInt32(s.StreamDescriptionSummary.OpenShardCount))

	_, err = e.client.UpdateShardCount(e.ctx, &sdk.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(9), ScalingType: types.ScalingTypeUniformScaling})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "TargetShardCount")
	_, err = e.client.UpdateShardCount(e.ctx, &sdk.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(4), ScalingType: "RANDOM"})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "ScalingType")

	// At most ten scaling operations per 24 hours.
	target := int32(4)
	for i := range 9 {
		target = map[bool]int32{true: 3, false: 4}[i%2 == 0]
		_, err = e.client.UpdateShardCount(e.ctx, &sdk.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(target), ScalingType: types.ScalingTypeUniformScaling})
		require.NoError(t, err, fmt.Sprint("scaling ", i+2))
	}
	_, err = e.client.UpdateShardCount(e.ctx, &sdk.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(target + 1), ScalingType: types.ScalingTypeUniformScaling})
	requireAPIError[*types.LimitExceededException](t, err, "LimitExceededException")
}

func TestListShards(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 5)
	first, err := e.client.ListShards(e.ctx, &sdk.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(2)})
	require.NoError(t, err)
	require.Len(t, first.Shards, 2)
	require.NotNil(t, first.NextToken)

	var ids []string
	for _, s := range first.Shards {
		ids = append(ids, aws.ToString(s.ShardId))
	}
	token := first.NextToken
	for token != nil {
		page, err := e.client.ListShards(e.ctx, &sdk.ListShardsInput{NextToken: token, MaxResults: aws.Int32(2)})
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Shards), 2)
		for _, s := range page.Shards {
			ids = append(ids, aws.ToString(s.ShardId))
		}
		token = page.NextToken
	}
	require.Equal(t, []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003", "shardId-000000000004"}, ids)

	// A token with the stream's ARN (as ARN-routing clients send) works.
	_, err = e.client.ListShards(e.ctx, &sdk.ListShardsInput{NextToken: first.NextToken, StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s")})
	require.NoError(t, err)
	// A token with StreamName does not.
	_, err = e.client.ListShards(e.ctx, &sdk.ListShardsInput{NextToken: first.NextToken, StreamName: aws.String("s")})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "NextToken")

	after, err := e.client.ListShards(e.ctx, &sdk.ListShardsInput{StreamName: aws.String("s"), ExclusiveStartShardId: aws.String("shardId-000000000003")})
	require.NoError(t, err)
	require.Len(t, after.Shards, 1)
	require.Nil(t, after.NextToken)

	filtered, err := e.client.ListShards(e.ctx, &sdk.ListShardsInput{StreamName: aws.String("s"),
		ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String("shardId-000000000002")}})
	require.NoError(t, err)
	require.Len(t, filtered.Shards, 2)

	_, err = e.client.ListShards(e.ctx, &sdk.ListShardsInput{StreamName: aws.String("s"), ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp}})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "ShardFilter.Timestamp")
	_, err = e.client.ListShards(e.ctx, &sdk.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(10001)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "MaxResults")
	_, err = e.client.ListShards(e.ctx, &sdk.ListShardsInput{StreamName: aws.String("nope")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.client.ListShards(e.ctx, &sdk.ListShardsInput{})
	requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")
}
