package kinesis_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"
)

func TestEnhancedMonitoring(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	arn := e.log.StreamARN("s")

	on, err := e.client.EnableEnhancedMonitoring(e.ctx, &sdk.EnableEnhancedMonitoringInput{
		StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingRecords, types.MetricsNameIncomingBytes},
	})
	require.NoError(t, err)
	require.Equal(t, "s", aws.ToString(on.StreamName))
	require.Equal(t, arn, aws.ToString(on.StreamARN))
	require.Equal(t, []types.MetricsName{}, on.CurrentShardLevelMetrics)
	require.Equal(t, []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameIncomingRecords}, on.DesiredShardLevelMetrics)

	// By ARN; enabling again is a no-op.
	on, err = e.client.EnableEnhancedMonitoring(e.ctx, &sdk.EnableEnhancedMonitoringInput{
		StreamARN: aws.String(arn), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameIteratorAgeMilliseconds},
	})
	require.NoError(t, err)
	require.Equal(t, []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameIncomingRecords}, on.CurrentShardLevelMetrics)
	require.Equal(t, []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameIncomingRecords, types.MetricsNameIteratorAgeMilliseconds}, on.DesiredShardLevelMetrics)

	off, err := e.client.DisableEnhancedMonitoring(e.ctx, &sdk.DisableEnhancedMonitoringInput{
		StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingRecords, types.MetricsNameOutgoingBytes},
	})
	require.NoError(t, err)
	require.Equal(t, arn, aws.ToString(off.StreamARN))
	require.Equal(t, []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameIncomingRecords, types.MetricsNameIteratorAgeMilliseconds}, off.CurrentShardLevelMetrics)
	require.Equal(t, []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameIteratorAgeMilliseconds}, off.DesiredShardLevelMetrics)

	// DescribeStream and DescribeStreamSummary report the setting.
	sum, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Len(t, sum.StreamDescriptionSummary.EnhancedMonitoring, 1)
	require.Equal(t, off.DesiredShardLevelMetrics, sum.StreamDescriptionSummary.EnhancedMonitoring[0].ShardLevelMetrics)
	desc, err := e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, off.DesiredShardLevelMetrics, desc.StreamDescription.EnhancedMonitoring[0].ShardLevelMetrics)

	// ALL turns every metric on, and off.
	all := []types.MetricsName{
		types.MetricsNameIncomingBytes, types.MetricsNameIncomingRecords, types.MetricsNameOutgoingBytes, types.MetricsNameOutgoingRecords,
		types.MetricsNameWriteProvisionedThroughputExceeded, types.MetricsNameReadProvisionedThroughputExceeded, types.MetricsNameIteratorAgeMilliseconds,
	}
	on, err = e.client.EnableEnhancedMonitoring(e.ctx, &sdk.EnableEnhancedMonitoringInput{StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}})
	require.NoError(t, err)
	require.Equal(t, all, on.DesiredShardLevelMetrics)
	off, err = e.client.DisableEnhancedMonitoring(e.ctx, &sdk.DisableEnhancedMonitoringInput{StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}})
	require.NoError(t, err)
	require.Equal(t, all, off.CurrentShardLevelMetrics)
	require.Equal(t, []types.MetricsName{}, off.DesiredShardLevelMetrics)

	// A stream deleted and created again starts with no metrics.
	_, err = e.client.EnableEnhancedMonitoring(e.ctx, &sdk.EnableEnhancedMonitoringInput{StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}})
	require.NoError(t, err)
	_, err = e.client.DeleteStream(e.ctx, &sdk.DeleteStreamInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	e.clock.advance(2e9) // a new creation time
	e.createStream(t, "s", 1)
	on, err = e.client.EnableEnhancedMonitoring(e.ctx, &sdk.EnableEnhancedMonitoringInput{StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameOutgoingRecords}})
	require.NoError(t, err)
	require.Equal(t, []types.MetricsName{}, on.CurrentShardLevelMetrics)
	require.Equal(t, []types.MetricsName{types.MetricsNameOutgoingRecords}, on.DesiredShardLevelMetrics)
}

func TestEnhancedMonitoringErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)

	_, err := e.client.EnableEnhancedMonitoring(e.ctx, &sdk.EnableEnhancedMonitoringInput{StreamName: aws.String("nope"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.client.DisableEnhancedMonitoring(e.ctx, &sdk.DisableEnhancedMonitoringInput{StreamARN: aws.String(e.log.StreamARN("nope")), ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")

	for _, metrics := range [][]types.MetricsName{
		{"Bogus"},
		{types.MetricsNameIncomingBytes, "incomingrecords"},
		{},
		{"ALL", "ALL", "ALL", "ALL", "ALL", "ALL", "ALL", "ALL"},
	} {
		_, err = e.client.EnableEnhancedMonitoring(e.ctx, &sdk.EnableEnhancedMonitoringInput{StreamName: aws.String("s"), ShardLevelMetrics: metrics})
		msg := requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")
		require.Contains(t, msg, "ShardLevelMetrics", "%v", metrics)
		_, err = e.client.DisableEnhancedMonitoring(e.ctx, &sdk.DisableEnhancedMonitoringInput{StreamName: aws.String("s"), ShardLevelMetrics: metrics})
		requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")
	}

	r := e.post(t, "Kinesis_20131202.EnableEnhancedMonitoring", `{"StreamName": "s"}`)
	require.Equal(t, "ValidationException", r.errorType())
	require.Contains(t, r.message(), "'ShardLevelMetrics'")
	r = e.post(t, "Kinesis_20131202.DisableEnhancedMonitoring", `{"ShardLevelMetrics": ["ALL"]}`)
	require.Equal(t, "InvalidArgumentException", r.errorType())
	r = e.post(t, "Kinesis_20131202.EnableEnhancedMonitoring", `{"StreamName": "s", "ShardLevelMetrics": "ALL"}`)
	require.Equal(t, "SerializationException", r.errorType())
}
