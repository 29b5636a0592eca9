package kinesis_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"
)

func TestTags(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	_, err := e.client.AddTagsToStream(e.ctx, &sdk.AddTagsToStreamInput{StreamName: aws.String("s"), Tags: map[string]string{"b": "2", "a": "1", "c": "3"}})
	require.NoError(t, err)
	_, err = e.client.AddTagsToStream(e.ctx, &sdk.AddTagsToStreamInput{
		StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s"), Tags: map[string]string{"a": "one"},
	})
	require.NoError(t, err)

	out, err := e.client.ListTagsForStream(e.ctx, &sdk.ListTagsForStreamInput{StreamName: aws.String("s"), Limit: aws.Int32(2)})
	require.NoError(t, err)
	require.Equal(t, []types.Tag{{Key: aws.String("a"), Value: aws.String("one")}, {Key: aws.String("b"), Value: aws.String("2")}}, out.Tags)
	require.True(t, aws.ToBool(out.HasMoreTags))
	out, err = e.client.ListTagsForStream(e.ctx, &sdk.ListTagsForStreamInput{StreamName: aws.String("s"), ExclusiveStartTagKey: aws.String("b")})
	require.NoError(t, err)
	require.Equal(t, []types.Tag{{Key: aws.String("c"), Value: aws.String("3")}}, out.Tags)
	require.False(t, aws.ToBool(out.HasMoreTags))

	_, err = e.client.RemoveTagsFromStream(e.ctx, &sdk.RemoveTagsFromStreamInput{StreamName: aws.String("s"), TagKeys: []string{"a", "zzz"}})
	require.NoError(t, err)
	out, err = e.client.ListTagsForStream(e.ctx, &sdk.ListTagsForStreamInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Len(t, out.Tags, 2)

	// Limits: 10 per call, 50 per stream, key length.
	eleven := map[string]string{}
	for i := range 11 {
		eleven[fmt.Sprint("k", i)] = "v"
	}
	_, err = e.client.AddTagsToStream(e.ctx, &sdk.AddTagsToStreamInput{StreamName: aws.String("s"), Tags: eleven})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "Tags")
	for i := range 5 {
		batch := map[string]string{}
		for j := range 10 {
			batch[fmt.Sprint("t", i, "-", j)] = "v"
		}
		_, err = e.client.AddTagsToStream(e.ctx, &sdk.AddTagsToStreamInput{StreamName: aws.String("s"), Tags: batch})
		if i < 4 {
			require.NoError(t, err)
		}
	}
	requireAPIError[*types.LimitExceededException](t, err, "LimitExceededException")
	_, err = e.client.AddTagsToStream(e.ctx, &sdk.AddTagsToStreamInput{StreamName: aws.String("s"), Tags: map[string]string{"": "v"}})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "Tags")
	_, err = e.client.ListTagsForStream(e.ctx, &sdk.ListTagsForStreamInput{StreamName: aws.String("s"), Limit: aws.Int32(51)})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "Limit")
	_, err = e.client.ListTagsForStream(e.ctx, &sdk.ListTagsForStreamInput{StreamName: aws.String("nope")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
}
