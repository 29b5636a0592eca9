package firehose_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/internal/sdktest"
	"github.com/shoal-dev/shoal/server/firehose"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// fakeRuntime stands in for delivery.Stream: it keeps what is put, and
// runs until its context ends.
type fakeRuntime struct {
	cfg delivery.Config

	mu       sync.Mutex
	records  [][]byte
	throttle map[int]bool // PutRecordBatch indexes answered ServiceUnavailableException
	stopped  bool
}

func (f *fakeRuntime) Run(ctx context.Context) error {
	<-ctx.Done()
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	return nil
}

func (f *fakeRuntime) PutRecord(ctx context.Context, data []byte) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, data)
	return "rec-" + strconv.Itoa(len(f.records)), nil
}

func (f *fakeRuntime) PutRecordBatch(ctx context.Context, records [][]byte) (*delivery.PutRecordBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &delivery.PutRecordBatchOutput{}
	for i, r := range records {
		if f.throttle[i] {
			out.FailedPutCount++
			out.RequestResponses = append(out.RequestResponses, delivery.PutRecordBatchResult{ErrorCode: "ServiceUnavailableException", ErrorMessage: "slow down"})
			continue
		}
		f.records = append(f.records, r)
		out.RequestResponses = append(out.RequestResponses, delivery.PutRecordBatchResult{RecordID: "rec-" + strconv.Itoa(len(f.records))})
	}
	return out, nil
}

// fakes records the runtimes a Manager built, by delivery stream.
type fakes struct {
	mu  sync.Mutex
	all map[string][]*fakeRuntime
}

func (fs *fakes) build(cfg delivery.Config) (firehose.Runtime, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := &fakeRuntime{cfg: cfg}
	fs.all[cfg.Name] = append(fs.all[cfg.Name], f)
	return f, nil
}

// last is the newest runtime of a delivery stream.
func (fs *fakes) last(t *testing.T, name string) *fakeRuntime {
	t.Helper()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	rs := fs.all[name]
	require.NotEmpty(t, rs, "no runtime for %s", name)
	return rs[len(rs)-1]
}

// env is a Firehose server on a Manager with fake runtimes (or the real
// one), a Kinesis log, and an SDK client.
type env struct {
	ctx     context.Context
	dir     string
	kinesis *shardlog.Log
	mgr     *firehose.Manager
	fakes   *fakes
	client  *sdk.Client
	opts    firehose.ManagerOptions
	// inProcess serves the client without a network (for synctest
	// bubbles, whose clock stops at a goroutine blocked on a socket).
	inProcess bool
}

type envOption func(*firehose.ManagerOptions)

// newEnv starts a server with fake runtimes.
func newEnv(t *testing.T, opts ...envOption) *env {
	return startEnv(t, t.TempDir(), true, opts...)
}

func startEnv(t *testing.T, dir string, fake bool, opts ...envOption) *env {
	return startEnvIn(t, dir, fake, false, opts...)
}

func startEnvIn(t *testing.T, dir string, fake, inProcess bool, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	kin, err := shardlog.Open(ctx, memory.New(), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = kin.Close() })
	e := &env{ctx: ctx, dir: dir, kinesis: kin, fakes: &fakes{all: map[string][]*fakeRuntime{}}, inProcess: inProcess}
	e.opts = firehose.ManagerOptions{Dir: dir, Kinesis: kin}
	if fake {
		firehose.SetRuntime(&e.opts, e.fakes.build)
	}
	for _, o := range opts {
		o(&e.opts)
	}
	e.open(t)
	return e
}

// open (re)opens the Manager and the server.
func (e *env) open(t *testing.T) {
	t.Helper()
	mgr, err := firehose.OpenManager(e.ctx, e.opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = mgr.Close() })
	e.mgr = mgr
	o := sdk.Options{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:     sdktest.Retryer(),
	}
	if e.inProcess {
		o.BaseEndpoint = aws.String("http://firehose.test")
		o.HTTPClient = inProcessClient{firehose.Handler(mgr)}
	} else {
		srv := httptest.NewServer(firehose.Handler(mgr))
		t.Cleanup(srv.Close)
		o.BaseEndpoint = aws.String(srv.URL)
	}
	e.client = sdk.New(o)
}

// inProcessClient answers the SDK's requests by calling the handler.
type inProcessClient struct{ h http.Handler }

func (c inProcessClient) Do(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// restart closes the Manager and opens a new one on the same directory.
func (e *env) restart(t *testing.T) {
	t.Helper()
	require.NoError(t, e.mgr.Close())
	e.open(t)
}

// s3Config is an extended S3 destination of bucket.
func s3Config(bucket string) *types.ExtendedS3DestinationConfiguration {
	return &types.ExtendedS3DestinationConfiguration{
		BucketARN: aws.String("arn:aws:s3:::" + bucket),
		RoleARN:   aws.String("arn:aws:iam::000000000000:role/firehose"),
	}
}

// createDirect creates a DirectPut stream to bucket.
func (e *env) createDirect(t *testing.T, name, bucket string) string {
	t.Helper()
	out, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName:                 aws.String(name),
		ExtendedS3DestinationConfiguration: s3Config(bucket),
	})
	require.NoError(t, err)
	return aws.ToString(out.DeliveryStreamARN)
}

// createKinesisStream creates a stream on the Kinesis log and returns its
// ARN.
func (e *env) createKinesisStream(t *testing.T, name string, shards int) string {
	t.Helper()
	require.NoError(t, e.kinesis.CreateStream(e.ctx, shardlog.CreateStreamInput{StreamName: name, ShardCount: shards}))
	return e.kinesis.StreamARN(name)
}

// createFromKinesis creates a KinesisStreamAsSource stream reading arn.
func (e *env) createFromKinesis(t *testing.T, name, arn, bucket string) {
	t.Helper()
	_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String(name),
		DeliveryStreamType: types.DeliveryStreamTypeKinesisStreamAsSource,
		KinesisStreamSourceConfiguration: &types.KinesisStreamSourceConfiguration{
			KinesisStreamARN: aws.String(arn), RoleARN: aws.String("arn:aws:iam::000000000000:role/r"),
		},
		ExtendedS3DestinationConfiguration: s3Config(bucket),
	})
	require.NoError(t, err)
}

func (e *env) describe(t *testing.T, name string) *types.DeliveryStreamDescription {
	t.Helper()
	out, err := e.client.DescribeDeliveryStream(e.ctx, &sdk.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(name)})
	require.NoError(t, err)
	return out.DeliveryStreamDescription
}

// requireAPIError asserts err is the SDK's typed error T (nil: any), with
// the given code, a 4xx (or, for ServiceUnavailableException, 503)
// status, and returns its message.
func requireAPIError(t *testing.T, err error, code string) string {
	t.Helper()
	require.Error(t, err)
	var api smithy.APIError
	require.True(t, errors.As(err, &api), "not an API error: %T %v", err, err)
	require.Equal(t, code, api.ErrorCode(), "message: %s", api.ErrorMessage())
	var re *awshttp.ResponseError
	require.True(t, errors.As(err, &re))
	status := re.HTTPStatusCode()
	if code == "ServiceUnavailableException" {
		require.Equal(t, 503, status)
	} else {
		require.True(t, status >= 400 && status < 500, "status %d for %s", status, code)
	}
	// The SDK's typed error for each of Firehose's exceptions.
	switch code {
	case "ResourceNotFoundException":
		require.True(t, errorsAs[*types.ResourceNotFoundException](err))
	case "ResourceInUseException":
		require.True(t, errorsAs[*types.ResourceInUseException](err))
	case "InvalidArgumentException":
		require.True(t, errorsAs[*types.InvalidArgumentException](err))
	case "LimitExceededException":
		require.True(t, errorsAs[*types.LimitExceededException](err))
	case "InvalidSourceException":
		require.True(t, errorsAs[*types.InvalidSourceException](err))
	case "ServiceUnavailableException":
		require.True(t, errorsAs[*types.ServiceUnavailableException](err))
	case "ConcurrentModificationException":
		require.True(t, errorsAs[*types.ConcurrentModificationException](err))
	default:
		panic(fmt.Sprintf("no typed error for %s", code))
	}
	return api.ErrorMessage()
}

func errorsAs[T error](err error) bool {
	var typed T
	return errors.As(err, &typed)
}
