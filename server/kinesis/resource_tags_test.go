package kinesis_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"
)

// TestResourceTags: TagResource, UntagResource and ListTagsForResource
// address a stream by ARN; consumer ARNs are refused.
func TestResourceTags(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	arn := e.log.StreamARN("s")
	_, err := e.client.TagResource(e.ctx, &sdk.TagResourceInput{ResourceARN: aws.String(arn), Tags: map[string]string{"team": "orders", "env": "dev"}})
	require.NoError(t, err)
	for i := range 45 { // more than one page of ListTagsForStream
		_, err = e.client.TagResource(e.ctx, &sdk.TagResourceInput{ResourceARN: aws.String(arn), Tags: map[string]string{fmt.Sprintf("k%02d", i): "v"}})
		require.NoError(t, err)
	}
	out, err := e.client.ListTagsForResource(e.ctx, &sdk.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
	require.NoError(t, err)
	require.Len(t, out.Tags, 47)
	_, err = e.client.UntagResource(e.ctx, &sdk.UntagResourceInput{ResourceARN: aws.String(arn), TagKeys: []string{"env", "missing"}})
	require.NoError(t, err)
	byName, err := e.client.ListTagsForStream(e.ctx, &sdk.ListTagsForStreamInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, "k00", aws.ToString(byName.Tags[0].Key), "the same tags as the stream's")

	_, err = e.client.TagResource(e.ctx, &sdk.TagResourceInput{ResourceARN: aws.String(arn + "-nope"), Tags: map[string]string{"a": "b"}})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.client.TagResource(e.ctx, &sdk.TagResourceInput{ResourceARN: aws.String("not-an-arn"), Tags: map[string]string{"a": "b"}})
	requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")
	_, err = e.client.ListTagsForResource(e.ctx, &sdk.ListTagsForResourceInput{ResourceARN: aws.String(arn + "/consumer/c:1")})
	requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")
}
