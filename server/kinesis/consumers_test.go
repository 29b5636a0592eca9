package kinesis_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"
)

func TestConsumers(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	streamARN := aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s")

	reg, err := e.client.RegisterStreamConsumer(e.ctx, &sdk.RegisterStreamConsumerInput{StreamARN: streamARN, ConsumerName: aws.String("app")})
	require.NoError(t, err)
	c := reg.Consumer
	require.Equal(t, "app", aws.ToString(c.ConsumerName))
	require.True(t, strings.HasPrefix(aws.ToString(c.ConsumerARN), aws.ToString(streamARN)+"/consumer/app:"), aws.ToString(c.ConsumerARN))
	require.Equal(t, types.ConsumerStatusActive, c.ConsumerStatus)
	require.WithinDuration(t, time.Now(), aws.ToTime(c.ConsumerCreationTimestamp), 5*time.Second)

	_, err = e.client.RegisterStreamConsumer(e.ctx, &sdk.RegisterStreamConsumerInput{StreamARN: streamARN, ConsumerName: aws.String("app")})
	requireAPIError[*types.ResourceInUseException](t, err, "ResourceInUseException")
	_, err = e.client.RegisterStreamConsumer(e.ctx, &sdk.RegisterStreamConsumerInput{StreamARN: streamARN, ConsumerName: aws.String("bad name")})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "ConsumerName")

	// Described by ARN, and by stream ARN and name.
	byARN, err := e.client.DescribeStreamConsumer(e.ctx, &sdk.DescribeStreamConsumerInput{ConsumerARN: c.ConsumerARN})
	require.NoError(t, err)
	require.Equal(t, aws.ToString(c.ConsumerARN), aws.ToString(byARN.ConsumerDescription.ConsumerARN))
	require.Equal(t, aws.ToString(streamARN), aws.ToString(byARN.ConsumerDescription.StreamARN))
	require.Equal(t, types.ConsumerStatusActive, byARN.ConsumerDescription.ConsumerStatus)
	byName, err := e.client.DescribeStreamConsumer(e.ctx, &sdk.DescribeStreamConsumerInput{StreamARN: streamARN, ConsumerName: aws.String("app")})
	require.NoError(t, err)
	require.Equal(t, byARN.ConsumerDescription, byName.ConsumerDescription)

	_, err = e.client.DescribeStreamConsumer(e.ctx, &sdk.DescribeStreamConsumerInput{StreamARN: streamARN, ConsumerName: aws.String("nope")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.client.DescribeStreamConsumer(e.ctx, &sdk.DescribeStreamConsumerInput{ConsumerARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/app:1")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.client.DescribeStreamConsumer(e.ctx, &sdk.DescribeStreamConsumerInput{ConsumerARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:nonsense")})
	require.Error(t, err)
	_, err = e.client.DescribeStreamConsumer(e.ctx, &sdk.DescribeStreamConsumerInput{})
	require.Contains(t, requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException"), "ConsumerARN")

	// Listing pages by NextToken.
	for i := range 3 {
		_, err = e.client.RegisterStreamConsumer(e.ctx, &sdk.RegisterStreamConsumerInput{StreamARN: streamARN, ConsumerName: aws.String(fmt.Sprint("c", i))})
		require.NoError(t, err)
	}
	var names []string
	p := sdk.NewListStreamConsumersPaginator(e.client, &sdk.ListStreamConsumersInput{StreamARN: streamARN, MaxResults: aws.Int32(3)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(e.ctx)
		require.NoError(t, err)
		pages++
		for _, c := range page.Consumers {
			names = append(names, aws.ToString(c.ConsumerName))
		}
	}
	require.Equal(t, []string{"app", "c0", "c1", "c2"}, names)
	require.Equal(t, 2, pages)

	// A stream with consumers is deleted only when asked to.
	_, err = e.client.DeleteStream(e.ctx, &sdk.DeleteStreamInput{StreamName: aws.String("s")})
	requireAPIError[*types.ResourceInUseException](t, err, "ResourceInUseException")

	_, err = e.client.DeregisterStreamConsumer(e.ctx, &sdk.DeregisterStreamConsumerInput{ConsumerARN: c.ConsumerARN})
	require.NoError(t, err)
	_, err = e.client.DeregisterStreamConsumer(e.ctx, &sdk.DeregisterStreamConsumerInput{StreamARN: streamARN, ConsumerName: aws.String("c0")})
	require.NoError(t, err)
	_, err = e.client.DeregisterStreamConsumer(e.ctx, &sdk.DeregisterStreamConsumerInput{ConsumerARN: c.ConsumerARN})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	list, err := e.client.ListStreamConsumers(e.ctx, &sdk.ListStreamConsumersInput{StreamARN: streamARN})
	require.NoError(t, err)
	require.Len(t, list.Consumers, 2)
	s, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamARN: streamARN})
	require.NoError(t, err)
	require.Equal(t, int32(2), aws.ToInt32(s.StreamDescriptionSummary.ConsumerCount))

	_, err = e.client.DeleteStream(e.ctx, &sdk.DeleteStreamInput{StreamName: aws.String("s"), EnforceConsumerDeletion: aws.Bool(true)})
	require.NoError(t, err)
	_, err = e.client.ListStreamConsumers(e.ctx, &sdk.ListStreamConsumersInput{StreamARN: streamARN})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
}

func TestConsumerLimit(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	streamARN := aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s")
	for i := range 21 {
		_, err := e.client.RegisterStreamConsumer(e.ctx, &sdk.RegisterStreamConsumerInput{StreamARN: streamARN, ConsumerName: aws.String(fmt.Sprint("c", i))})
		if i < 20 {
			require.NoError(t, err)
			continue
		}
		requireAPIError[*types.LimitExceededException](t, err, "LimitExceededException")
	}
}
