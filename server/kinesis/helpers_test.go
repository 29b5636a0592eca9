package kinesis_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/internal/sdktest"
	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// clock is the Log's clock: real time shifted by offset, or frozen.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen
	}
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	if !c.frozen.IsZero() {
		c.frozen = c.frozen.Add(d)
	}
}

// env is a Kinesis server on a memory-engine log, and an SDK client of it.
type env struct {
	ctx    context.Context
	log    *shardlog.Log
	clock  *clock
	url    string
	client *sdk.Client
}

func newEnv(t *testing.T, frozen bool, opts ...kinesis.Option) *env {
	t.Helper()
	ctx := context.Background()
	c := &clock{}
	if frozen {
		c.frozen = time.Now().Truncate(time.Millisecond)
	}
	log, err := shardlog.Open(ctx, memory.New(), shardlog.WithClock(c.now), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = log.Close() })
	srv := httptest.NewServer(kinesis.New(log, opts...))
	t.Cleanup(srv.Close)
	client := sdk.New(sdk.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:      sdktest.Retryer(),
	})
	return &env{ctx: ctx, log: log, clock: c, url: srv.URL, client: client}
}

// createStream creates a provisioned stream of n shards.
func (e *env) createStream(t *testing.T, name string, n int32) {
	t.Helper()
	_, err := e.client.CreateStream(e.ctx, &sdk.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(n)})
	require.NoError(t, err)
}

// put puts one record and returns its shard and sequence number.
func (e *env) put(t *testing.T, stream, key, data string) (string, string) {
	t.Helper()
	out, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(key), Data: []byte(data)})
	require.NoError(t, err)
	return aws.ToString(out.ShardId), aws.ToString(out.SequenceNumber)
}

// iterator returns a shard iterator.
func (e *env) iterator(t *testing.T, stream, shard string, typ types.ShardIteratorType, seq string) string {
	t.Helper()
	in := &sdk.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: typ}
	if seq != "" {
		in.StartingSequenceNumber = aws.String(seq)
	}
	out, err := e.client.GetShardIterator(e.ctx, in)
	require.NoError(t, err)
	require.NotEmpty(t, aws.ToString(out.ShardIterator))
	return aws.ToString(out.ShardIterator)
}

// requireAPIError asserts err is the SDK's typed error T with the given
// code, and returns its message.
func requireAPIError[T error](t *testing.T, err error, code string) string {
	t.Helper()
	require.Error(t, err)
	var typed T
	require.True(t, errors.As(err, &typed), "want %T, got %T: %v", typed, err, err)
	var api smithy.APIError
	require.True(t, errors.As(err, &api))
	require.Equal(t, code, api.ErrorCode())
	return api.ErrorMessage()
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
