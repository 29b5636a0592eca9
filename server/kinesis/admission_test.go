package kinesis_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/internal/sdktest"
	"github.com/shoal-dev/shoal/server/admission"
	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/shardlog"
)

// TestThrottleType: data-plane operations are throttled as Kinesis
// throttles them, the rest with LimitExceededException.
func TestThrottleType(t *testing.T) {
	for target, want := range map[string]string{
		"Kinesis_20131202.PutRecord":        "ProvisionedThroughputExceededException",
		"Kinesis_20131202.PutRecords":       "ProvisionedThroughputExceededException",
		"Kinesis_20131202.GetRecords":       "ProvisionedThroughputExceededException",
		"Kinesis_20131202.GetShardIterator": "ProvisionedThroughputExceededException",
		"Kinesis_20131202.ListStreams":      "LimitExceededException",
		"Kinesis_20131202.SubscribeToShard": "LimitExceededException",
		"Kinesis_20131202.CreateStream":     "LimitExceededException",
		"Other.PutRecord":                   "LimitExceededException",
		"":                                  "LimitExceededException",
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
		r.Header.Set("X-Amz-Target", target)
		require.Equal(t, want, kinesis.ThrottleType(r), target)
	}
}

// TestGetRecordsBoundAndBudget: GetRecords returns at most 10 MiB a call
// through the API, and its response counts against the bytes in flight of
// admission control: over the budget it is refused with
// ProvisionedThroughputExceededException, without spending the iterator.
func TestGetRecordsBoundAndBudget(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "big", 1)
	data := make([]byte, 1<<20-1) // 1 MiB with its one-byte key
	for i := range 12 {
		data[0] = byte(i)
		_, err := e.log.PutRecord(e.ctx, shardlog.PutRecordInput{StreamName: "big", PartitionKey: "k", Data: data})
		require.NoError(t, err)
	}
	it := e.iterator(t, "big", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")

	serve := func(budget int64) (*sdk.Client, *admission.Controller) {
		ctl := admission.New(admission.WithMaxBytes(budget), admission.WithThrottleType(kinesis.ThrottleType),
			admission.WithMaxBodySize(awsproto.MaxBodySize))
		srv := httptest.NewServer(ctl.Handler(kinesis.Handler(e.log)))
		t.Cleanup(srv.Close)
		return sdk.New(sdk.Options{
			BaseEndpoint: aws.String(srv.URL), Region: "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
			Retryer:     sdktest.Retryer(),
		}), ctl
	}

	// A budget below one call's bound: refused, and the iterator still works.
	small, ctl := serve(8 << 20)
	_, err := small.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	requireAPIError[*types.ProvisionedThroughputExceededException](t, err, "ProvisionedThroughputExceededException")
	require.Zero(t, ctl.Stats().Bytes)

	c, ctl := serve(64 << 20)
	out, err := c.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	require.NoError(t, err)
	total := 0
	for _, r := range out.Records {
		total += len(r.Data) + len(aws.ToString(r.PartitionKey))
	}
	require.Len(t, out.Records, 10)
	require.LessOrEqual(t, total, shardlog.MaxGetRecordsBytes)
	st := ctl.Stats()
	require.Greater(t, st.PeakBytes, int64(2*shardlog.MaxGetRecordsBytes), "the records and their encoding were counted")
	require.LessOrEqual(t, st.PeakBytes, int64(64<<20))
	require.Zero(t, st.Bytes)

	out, err = c.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: out.NextShardIterator})
	require.NoError(t, err)
	require.Len(t, out.Records, 2)
}

// TestSubscribeToShardDetaches: a SubscribeToShard stream, which lasts
// minutes, holds no admission slot once it streams: with one slot, other
// requests still get in while it is open.
func TestSubscribeToShardDetaches(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	reg, err := e.client.RegisterStreamConsumer(e.ctx, &sdk.RegisterStreamConsumerInput{
		StreamARN: aws.String(e.log.StreamARN("s")), ConsumerName: aws.String("efo"),
	})
	require.NoError(t, err)

	ctl := admission.New(admission.WithMaxRequests(1), admission.WithThrottleType(kinesis.ThrottleType))
	srv := httptest.NewUnstartedServer(ctl.Handler(kinesis.Handler(e.log)))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	client := func() *sdk.Client {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		t.Cleanup(tr.CloseIdleConnections)
		return sdk.New(sdk.Options{
			BaseEndpoint: aws.String(srv.URL), Region: "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
			Retryer:     sdktest.Retryer(), HTTPClient: &http.Client{Transport: tr},
		})
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	sub, err := client().SubscribeToShard(ctx, &sdk.SubscribeToShardInput{
		ConsumerARN: reg.Consumer.ConsumerARN, ShardId: aws.String("shardId-000000000000"),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest},
	})
	require.NoError(t, err)
	stream := sub.GetStream()
	defer stream.Close()

	_, err = client().ListStreams(ctx, &sdk.ListStreamsInput{})
	require.NoError(t, err, "a streaming subscription holds the only slot")
	require.Equal(t, int64(0), ctl.Stats().Requests)
}
