package kinesis_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/internal/sdktest"
	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// subEnv is an env served by kinesis.Handler, with a count of the
// requests in flight and the HTTP version of the last SubscribeToShard.
type subEnv struct {
	*env
	inflight   atomic.Int64
	protoMajor atomic.Int64
	newClient  func() *sdk.Client
}

// newSubEnv serves kinesis.Handler over HTTP/1.1, or over h2c (HTTP/2
// without TLS, with an SDK client that speaks only h2c) if h2c is set.
func newSubEnv(t *testing.T, h2c bool, opts ...kinesis.Option) *subEnv {
	t.Helper()
	ctx := context.Background()
	c := &clock{}
	log, err := shardlog.Open(ctx, memory.New(), shardlog.WithClock(c.now), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	e := &subEnv{}
	h := kinesis.Handler(log, opts...)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.inflight.Add(1)
		defer e.inflight.Add(-1)
		if r.Header.Get("X-Amz-Target") == "Kinesis_20131202.SubscribeToShard" {
			e.protoMajor.Store(int64(r.ProtoMajor))
		}
		h.ServeHTTP(w, r)
	}))
	httpClient := &http.Client{Transport: readBody{&http.Transport{}}}
	t.Cleanup(httpClient.CloseIdleConnections)
	if h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		httpClient.Transport = tr
	}
	srv.Start()
	t.Cleanup(func() { _ = log.Close() })
	t.Cleanup(srv.Close)
	e.newClient = func() *sdk.Client {
		return sdk.New(sdk.Options{
			BaseEndpoint: aws.String(srv.URL),
			Region:       "us-east-1",
			Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
			Retryer:      sdktest.Retryer(),
			HTTPClient:   httpClient,
		})
	}
	e.env = &env{ctx: ctx, log: log, clock: c, url: srv.URL, client: e.newClient()}
	return e
}

// readBody works around a race of aws-sdk-go-v2 (smithy-go v1.28.9) with
// net/http over HTTP/1.1 that cuts streaming responses short: the SDK
// closes the request body as soon as the response headers arrive, and if
// net/http's write loop is still checking the body for extra bytes (an
// io.Copy that uses the body's WriteTo), the closed body's WriteTo returns
// io.EOF, which net/http takes for a write error and closes the
// connection, response and all. Hiding WriteTo makes the check use Read,
// whose io.EOF is the clean end. HTTP/2 reads bodies with Read already.
type readBody struct{ rt http.RoundTripper }

func (r readBody) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = struct{ io.ReadCloser }{req.Body}
	}
	return r.rt.RoundTrip(req)
}

func (r readBody) CloseIdleConnections() {
	if c, ok := r.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// consumer creates stream name of n shards and registers a consumer of
// it, returning the consumer's ARN.
func (e *subEnv) consumer(t *testing.T, name string, n int32) string {
	t.Helper()
	e.createStream(t, name, n)
	out, err := e.client.RegisterStreamConsumer(e.ctx, &sdk.RegisterStreamConsumerInput{
		StreamARN: aws.String(e.log.StreamARN(name)), ConsumerName: aws.String("efo"),
	})
	require.NoError(t, err)
	return aws.ToString(out.Consumer.ConsumerARN)
}

// subscribe calls SubscribeToShard with a client of its own: the SDK's
// clients share one event-stream decoding buffer among their calls
// (smithy-go v1.28.9 internal/eventstream Codec.payloadBuf), a data race
// when a client runs two subscriptions at once.
func (e *subEnv) subscribe(ctx context.Context, arn, shard string, pos types.StartingPosition) (*sdk.SubscribeToShardEventStream, error) {
	out, err := e.newClient().SubscribeToShard(ctx, &sdk.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String(shard), StartingPosition: &pos})
	if err != nil {
		return nil, err
	}
	return out.GetStream(), nil
}

// next returns the next event of the stream, or nil once the stream has
// ended; it fails the test if none comes within wait.
func next(t *testing.T, s *sdk.SubscribeToShardEventStream, wait time.Duration) *types.SubscribeToShardEvent {
	t.Helper()
	select {
	case ev, ok := <-s.Events():
		if !ok {
			return nil
		}
		v, isEvent := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		require.True(t, isEvent, "unexpected event %T", ev)
		return &v.Value
	case <-time.After(wait):
		t.Fatalf("no event within %s", wait)
		return nil
	}
}

// collect reads events until n records have arrived, and returns them
// with the continuation number of the last event.
func collect(t *testing.T, s *sdk.SubscribeToShardEventStream, n int) ([]types.Record, string) {
	t.Helper()
	var recs []types.Record
	cont := ""
	for len(recs) < n {
		ev := next(t, s, 10*time.Second)
		require.NotNil(t, ev, "the stream ended after %d of %d records: %v", len(recs), n, s.Err())
		require.NotNil(t, ev.ContinuationSequenceNumber)
		require.Empty(t, ev.ChildShards)
		recs = append(recs, ev.Records...)
		cont = aws.ToString(ev.ContinuationSequenceNumber)
	}
	require.Len(t, recs, n)
	return recs, cont
}

func testSubscribePushes(t *testing.T, h2c bool) {
	e := newSubEnv(t, h2c)
	arn := e.consumer(t, "s", 1)
	shard, seq1 := e.put(t, "s", "k1", "one")
	_, seq2 := e.put(t, "s", "k2", "two")

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	s, err := e.subscribe(ctx, arn, shard, types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	defer s.Close()
	recs, cont := collect(t, s, 2)
	require.Equal(t, seq1, aws.ToString(recs[0].SequenceNumber))
	require.Equal(t, "one", string(recs[0].Data))
	require.Equal(t, "k1", aws.ToString(recs[0].PartitionKey))
	require.NotNil(t, recs[0].ApproximateArrivalTimestamp)
	require.WithinDuration(t, time.Now(), *recs[0].ApproximateArrivalTimestamp, time.Minute)
	require.Equal(t, seq2, aws.ToString(recs[1].SequenceNumber))
	require.Equal(t, seq2, cont)

	// A record put now is pushed at once, well before the 5 s heartbeat.
	start := time.Now()
	_, seq3 := e.put(t, "s", "k3", "three")
	recs, cont = collect(t, s, 1)
	require.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, seq3, aws.ToString(recs[0].SequenceNumber))
	require.Equal(t, "three", string(recs[0].Data))
	require.Equal(t, seq3, cont)
	if h2c {
		require.EqualValues(t, 2, e.protoMajor.Load())
	} else {
		require.EqualValues(t, 1, e.protoMajor.Load())
	}

	// Resubscribing from the continuation number (after the guard) picks
	// up with no repeat; the new subscription takes over the old one.
	e.clock.advance(shardlog.ResubscribeGuard)
	s2, err := e.subscribe(ctx, arn, shard, types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(cont)})
	require.NoError(t, err)
	defer s2.Close()
	_, seq4 := e.put(t, "s", "k4", "four")
	recs, _ = collect(t, s2, 1)
	require.Equal(t, seq4, aws.ToString(recs[0].SequenceNumber))

	for ev := next(t, s, 10*time.Second); ev != nil; ev = next(t, s, 10*time.Second) {
	}
	requireAPIError[*types.ResourceInUseException](t, s.Err(), "ResourceInUseException")
}

func TestSubscribeToShardHTTP1(t *testing.T) { testSubscribePushes(t, false) }

func TestSubscribeToShardH2C(t *testing.T) { testSubscribePushes(t, true) }

// TestSubscribeToShardAcrossSplit follows a split: the parent's stream
// ends with an event that has no continuation number and names the
// children, whose streams continue.
func TestSubscribeToShardAcrossSplit(t *testing.T) {
	e := newSubEnv(t, false)
	arn := e.consumer(t, "s", 1)
	_, before := e.put(t, "s", "k", "before")

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	parent, err := e.subscribe(ctx, arn, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	defer parent.Close()
	recs, _ := collect(t, parent, 1)
	require.Equal(t, before, aws.ToString(recs[0].SequenceNumber))

	_, err = e.client.SplitShard(e.ctx, &sdk.SplitShardInput{
		StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(half),
	})
	require.NoError(t, err)
	child, after := e.put(t, "s", "k", "after")

	var last *types.SubscribeToShardEvent
	for ev := next(t, parent, 10*time.Second); ev != nil; ev = next(t, parent, 10*time.Second) {
		require.Nil(t, last, "an event after the shard's end")
		require.Empty(t, ev.Records)
		if ev.ChildShards != nil {
			last = ev
		}
	}
	require.NoError(t, parent.Err())
	require.NotNil(t, last)
	require.Nil(t, last.ContinuationSequenceNumber)
	require.Equal(t, []types.ChildShard{
		{ShardId: aws.String("shardId-000000000001"), ParentShards: []string{"shardId-000000000000"},
			HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String("170141183460469231731687303715884105727")}},
		{ShardId: aws.String("shardId-000000000002"), ParentShards: []string{"shardId-000000000000"},
			HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String(half), EndingHashKey: aws.String(maxHashKey)}},
	}, last.ChildShards)

	s, err := e.subscribe(ctx, arn, child, types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	defer s.Close()
	recs, _ = collect(t, s, 1)
	require.Equal(t, after, aws.ToString(recs[0].SequenceNumber))
	require.Equal(t, "after", string(recs[0].Data))
}

func TestSubscribeToShardErrors(t *testing.T) {
	e := newSubEnv(t, false)
	arn := e.consumer(t, "s", 1)
	shard, seq := e.put(t, "s", "k", "x")
	trim := types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}

	_, err := e.subscribe(e.ctx, arn+"0", shard, trim)
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.subscribe(e.ctx, e.log.StreamARN("s")+"/consumer/nope:1", shard, trim)
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	other := "arn:aws:kinesis:eu-west-1:000000000000:stream/s/consumer/efo:1"
	_, err = e.subscribe(e.ctx, other, shard, trim)
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.subscribe(e.ctx, e.log.StreamARN("nope")+"/consumer/efo:1", shard, trim)
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.subscribe(e.ctx, "not-an-arn", shard, trim)
	requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")

	_, err = e.subscribe(e.ctx, arn, "shardId-000000000009", trim)
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")

	for _, pos := range []types.StartingPosition{
		{Type: "BOGUS"},
		{Type: types.ShardIteratorTypeAtSequenceNumber},
		{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String("12x")},
		{Type: types.ShardIteratorTypeTrimHorizon, SequenceNumber: aws.String(seq)},
		{Type: types.ShardIteratorTypeAtTimestamp},
		{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(time.Now().Add(time.Hour))},
	} {
		_, err = e.subscribe(e.ctx, arn, shard, pos)
		msg := requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")
		require.Contains(t, msg, "StartingPosition.", "%+v", pos)
	}

	// A second subscription within 5 s of the first is refused.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	s, err := e.subscribe(ctx, arn, shard, trim)
	require.NoError(t, err)
	defer s.Close()
	_, err = e.subscribe(e.ctx, arn, shard, trim)
	requireAPIError[*types.ResourceInUseException](t, err, "ResourceInUseException")

	// Members the SDK would not leave out.
	for body, field := range map[string]string{
		`{"ShardId": "shardId-000000000000", "StartingPosition": {"Type": "LATEST"}}`:     "ConsumerARN",
		`{"ConsumerARN": "x", "StartingPosition": {"Type": "LATEST"}}`:                    "ShardId",
		`{"ConsumerARN": "x", "ShardId": "shardId-000000000000"}`:                         "StartingPosition",
		`{"ConsumerARN": "x", "ShardId": "shardId-000000000000", "StartingPosition": {}}`: "StartingPosition.Type",
	} {
		r := e.post(t, "Kinesis_20131202.SubscribeToShard", body)
		require.Equal(t, 400, r.status, body)
		require.Equal(t, "ValidationException", r.errorType(), body)
		require.Contains(t, r.message(), "'"+field+"'", body)
	}
	for _, body := range []string{`{`, `{"ShardId": 5}`, `{} x`} {
		r := e.post(t, "Kinesis_20131202.SubscribeToShard", body)
		require.Equal(t, 400, r.status, body)
		require.Equal(t, "SerializationException", r.errorType(), body)
	}
	// Bad documents are client errors, never server errors.
	for _, body := range []string{
		``, `null`, `[]`, `{"ConsumerARN": "", "ShardId": "", "StartingPosition": {"Type": ""}}`,
		`{"ConsumerARN": "arn:aws:kinesis:::stream/s/consumer/efo:x", "ShardId": "shardId-000000000000", "StartingPosition": {"Type": "LATEST"}}`,
		`{"ConsumerARN": "` + arn + `", "ShardId": "garbage", "StartingPosition": {"Type": "LATEST"}}`,
		`{"ConsumerARN": "` + arn + `", "ShardId": "shardId-000000000000", "StartingPosition": {"Type": "AT_TIMESTAMP", "Timestamp": -1e10}}`,
		`{"ConsumerARN": "` + arn + `", "ShardId": "shardId-000000000000", "StartingPosition": {"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": "99999999999999999999999999999999999999999999999999999999999"}}`,
	} {
		r := e.post(t, "Kinesis_20131202.SubscribeToShard", body)
		require.Less(t, r.status, 500, "%s: %s", body, r.raw)
		require.GreaterOrEqual(t, r.status, 400, "%s: %s", body, r.raw)
	}
	// Other operations still go to the JSON service.
	r := e.post(t, "Kinesis_20131202.Nope", "{}")
	require.Equal(t, "UnknownOperationException", r.errorType())
}

// TestSubscribeToShardLifetime: the stream ends, cleanly, when its
// lifetime is over.
func TestSubscribeToShardLifetime(t *testing.T) {
	e := newSubEnv(t, false, kinesis.WithSubscriptionLifetime(300*time.Millisecond))
	arn := e.consumer(t, "s", 1)
	start := time.Now()
	s, err := e.subscribe(e.ctx, arn, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	require.NoError(t, err)
	defer s.Close()
	for ev := next(t, s, 5*time.Second); ev != nil; ev = next(t, s, 5*time.Second) {
	}
	require.NoError(t, s.Err())
	require.Less(t, time.Since(start), 3*time.Second)
	require.Eventually(t, func() bool { return e.inflight.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// TestSubscribeToShardClientCancel: a client that goes away releases the
// server's handler and the Log's subscription.
func TestSubscribeToShardClientCancel(t *testing.T) {
	for _, h2c := range []bool{false, true} {
		e := newSubEnv(t, h2c)
		arn := e.consumer(t, "s", 1)
		ctx, cancel := context.WithCancel(e.ctx)
		s, err := e.subscribe(ctx, arn, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeLatest})
		require.NoError(t, err)
		require.EqualValues(t, 1, e.inflight.Load())
		cancel()
		_ = s.Close()
		require.Eventually(t, func() bool { return e.inflight.Load() == 0 }, 5*time.Second, 10*time.Millisecond, "h2c %v", h2c)

		// Deregistering the consumer ends a live stream with an exception.
		e.clock.advance(shardlog.ResubscribeGuard)
		s, err = e.subscribe(e.ctx, arn, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeLatest})
		require.NoError(t, err)
		_, err = e.client.DeregisterStreamConsumer(e.ctx, &sdk.DeregisterStreamConsumerInput{ConsumerARN: aws.String(arn)})
		require.NoError(t, err)
		for ev := next(t, s, 10*time.Second); ev != nil; ev = next(t, s, 10*time.Second) {
		}
		requireAPIError[*types.ResourceNotFoundException](t, s.Err(), "ResourceNotFoundException")
		_ = s.Close()
		require.Eventually(t, func() bool { return e.inflight.Load() == 0 }, 5*time.Second, 10*time.Millisecond, "h2c %v", h2c)
	}
}

// TestSubscribeToShardHeartbeat: with nothing to push, an empty event
// still comes (after shardlog.SubscriptionHeartbeat), carrying the
// position to resume from.
func TestSubscribeToShardHeartbeat(t *testing.T) {
	t.Parallel()
	e := newSubEnv(t, false)
	arn := e.consumer(t, "s", 1)
	shard, seq := e.put(t, "s", "k", "x")
	s, err := e.subscribe(e.ctx, arn, shard, types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	require.NoError(t, err)
	defer s.Close()
	start := time.Now()
	ev := next(t, s, shardlog.SubscriptionHeartbeat+5*time.Second)
	require.NotNil(t, ev)
	require.GreaterOrEqual(t, time.Since(start), shardlog.SubscriptionHeartbeat-time.Second)
	require.NotNil(t, ev.Records)
	require.Empty(t, ev.Records)
	require.Equal(t, seq, aws.ToString(ev.ContinuationSequenceNumber))
	require.NotNil(t, ev.MillisBehindLatest)
	require.Empty(t, ev.ChildShards)
}

// TestSubscribeToShardShutdown: WithShutdown ends open streams cleanly.
func TestSubscribeToShardShutdown(t *testing.T) {
	shutdown, stop := context.WithCancel(context.Background())
	defer stop()
	e := newSubEnv(t, true, kinesis.WithShutdown(shutdown))
	arn := e.consumer(t, "s", 2)
	var streams []*sdk.SubscribeToShardEventStream
	for _, shard := range []string{"shardId-000000000000", "shardId-000000000001"} {
		s, err := e.subscribe(e.ctx, arn, shard, types.StartingPosition{Type: types.ShardIteratorTypeLatest})
		require.NoError(t, err)
		defer s.Close()
		streams = append(streams, s)
	}
	require.EqualValues(t, 2, e.inflight.Load())
	stop()
	for _, s := range streams {
		for ev := next(t, s, 5*time.Second); ev != nil; ev = next(t, s, 5*time.Second) {
		}
		require.NoError(t, s.Err())
	}
	require.Eventually(t, func() bool { return e.inflight.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// TestSubscribeToShardStalledClient: a client that sends its request and
// then reads nothing holds the handler neither past the subscription's
// lifetime nor past a shutdown: the blocked write is cut.
func TestSubscribeToShardStalledClient(t *testing.T) {
	for _, by := range []string{"lifetime", "shutdown"} {
		t.Run(by, func(t *testing.T) { testStalledClient(t, by) })
	}
}

func testStalledClient(t *testing.T, by string) {
	shutdown, stop := context.WithCancel(context.Background())
	defer stop()
	opts := []kinesis.Option{kinesis.WithShutdown(shutdown)}
	if by == "lifetime" {
		opts = append(opts, kinesis.WithSubscriptionLifetime(time.Second))
	}
	e := newSubEnv(t, false, opts...)
	arn := e.consumer(t, "s", 1)
	big := bytes.Repeat([]byte("x"), 900<<10)
	for i := range 40 {
		_, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String(fmt.Sprint(i)), Data: big})
		require.NoError(t, err)
	}
	u, err := url.Parse(e.url)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	body := fmt.Sprintf(`{"ConsumerARN":%q,"ShardId":"shardId-000000000000","StartingPosition":{"Type":"TRIM_HORIZON"}}`, arn)
	_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: Kinesis_20131202.SubscribeToShard\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: %d\r\n\r\n%s", u.Host, len(body), body)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.inflight.Load() == 1 }, 5*time.Second, 5*time.Millisecond, "the handler runs")
	if by == "shutdown" {
		time.Sleep(200 * time.Millisecond) // let the handler block in a write
		stop()
	}
	// The lifetime (1 s) or the shutdown, plus the 2 s grace, with room to
	// spare; the client never reads.
	require.Eventually(t, func() bool { return e.inflight.Load() == 0 }, 8*time.Second, 20*time.Millisecond, "the stalled handler returned")
}
