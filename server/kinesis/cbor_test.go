package kinesis_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"
)

// cborResponse is a decoded CBOR 1.1 answer.
type cborResponse struct {
	status int
	header http.Header
	body   map[string]any
}

func (r cborResponse) errorType() string { s, _ := r.body["__type"].(string); return s }

// postCBOR sends v, encoded as CBOR the way the AWS Java SDK does (a map
// with text keys, blobs as byte strings, timestamps as integers of epoch
// milliseconds), as a CBOR 1.1 request of operation op.
func (e *env) postCBOR(t *testing.T, op string, v any) cborResponse {
	t.Helper()
	body, err := cbor.Marshal(v)
	require.NoError(t, err)
	return e.postCBORBytes(t, op, body)
}

func (e *env) postCBORBytes(t *testing.T, op string, body []byte) cborResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-cbor-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/x-amz-cbor-1.1", resp.Header.Get("Content-Type"), "body %q", b)
	out := cborResponse{status: resp.StatusCode, header: resp.Header}
	require.NoError(t, cbor.Unmarshal(b, &out.body), "body % x", b)
	return out
}

// ok asserts a 200 and returns the body.
func (r cborResponse) ok(t *testing.T) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "body %v", r.body)
	return r.body
}

// requireMillis asserts v is a CBOR integer of epoch milliseconds within
// tolerance of want.
func requireMillis(t *testing.T, v any, want time.Time, tolerance time.Duration) {
	t.Helper()
	ms, ok := v.(uint64)
	require.True(t, ok, "timestamp %v (%T) is an unsigned CBOR integer", v, v)
	got := time.UnixMilli(int64(ms))
	require.WithinDuration(t, want, got, tolerance, "timestamp %d ms", ms)
}

func TestCBOREndToEnd(t *testing.T) {
	e := newEnv(t, false)
	before := time.Now()

	e.postCBOR(t, "CreateStream", map[string]any{"StreamName": "s", "ShardCount": 1}).ok(t)

	sum := e.postCBOR(t, "DescribeStreamSummary", map[string]any{"StreamName": "s"}).ok(t)
	summary := sum["StreamDescriptionSummary"].(map[any]any)
	require.Equal(t, "s", summary["StreamName"])
	requireMillis(t, summary["StreamCreationTimestamp"], before, 5*time.Second)

	desc := e.postCBOR(t, "DescribeStream", map[string]any{"StreamName": "s"}).ok(t)
	description := desc["StreamDescription"].(map[any]any)
	requireMillis(t, description["StreamCreationTimestamp"], before, 5*time.Second)
	shards := description["Shards"].([]any)
	require.Len(t, shards, 1)
	shardID := shards[0].(map[any]any)["ShardId"].(string)

	data := []byte{0x00, 0xff, 'h', 'i', 0x80}
	put := e.postCBOR(t, "PutRecord", map[string]any{"StreamName": "s", "PartitionKey": "k", "Data": data}).ok(t)
	require.Equal(t, shardID, put["ShardId"])
	seq, ok := put["SequenceNumber"].(string)
	require.True(t, ok, "SequenceNumber is a text string: %v", put)

	puts := e.postCBOR(t, "PutRecords", map[string]any{"StreamName": "s", "Records": []any{
		map[string]any{"PartitionKey": "a", "Data": []byte("one")},
		map[string]any{"PartitionKey": "b", "Data": []byte{}},
	}}).ok(t)
	require.EqualValues(t, 0, puts["FailedRecordCount"])
	require.Len(t, puts["Records"].([]any), 2)

	it := e.postCBOR(t, "GetShardIterator", map[string]any{"StreamName": "s", "ShardId": shardID, "ShardIteratorType": "TRIM_HORIZON"}).ok(t)
	iterator, ok := it["ShardIterator"].(string)
	require.True(t, ok)

	got := e.postCBOR(t, "GetRecords", map[string]any{"ShardIterator": iterator}).ok(t)
	records := got["Records"].([]any)
	require.Len(t, records, 3)
	r0 := records[0].(map[any]any)
	require.Equal(t, data, r0["Data"], "Data is a byte string equal to what was put")
	require.Equal(t, seq, r0["SequenceNumber"])
	require.Equal(t, "k", r0["PartitionKey"])
	requireMillis(t, r0["ApproximateArrivalTimestamp"], time.Now(), 5*time.Second)
	require.Equal(t, []byte("one"), records[1].(map[any]any)["Data"])
	require.Equal(t, []byte{}, records[2].(map[any]any)["Data"])
	_, ok = got["NextShardIterator"].(string)
	require.True(t, ok)
	require.EqualValues(t, 0, got["MillisBehindLatest"])

	// JSON clients see the same stream.
	r := e.post(t, "Kinesis_20131202.DescribeStreamSummary", `{"StreamName":"s"}`)
	require.Equal(t, 200, r.status)
	require.IsType(t, float64(0), r.body["StreamDescriptionSummary"].(map[string]any)["StreamCreationTimestamp"])
}

// TestCBORIndefiniteLengthRequest sends a map the way Jackson's
// CBORGenerator writes it: indefinite length, 0xbf … 0xff.
func TestCBORIndefiniteLengthRequest(t *testing.T) {
	e := newEnv(t, false)
	var body []byte
	body = append(body, 0xbf)
	for _, kv := range []any{"StreamName", "s", "ShardCount", 2} {
		b, err := cbor.Marshal(kv)
		require.NoError(t, err)
		body = append(body, b...)
	}
	body = append(body, 0xff)
	e.postCBORBytes(t, "CreateStream", body).ok(t)
	out := e.postCBOR(t, "ListShards", map[string]any{"StreamName": "s"}).ok(t)
	require.Len(t, out["Shards"].([]any), 2)
}

// TestCBORTimestampInputs reads AT_TIMESTAMP iterators whose Timestamp
// is written in each accepted form: with the log's clock frozen at T, a
// record put at T is read from T and not from T+1ms.
func TestCBORTimestampInputs(t *testing.T) {
	e := newEnv(t, true)
	e.postCBOR(t, "CreateStream", map[string]any{"StreamName": "s", "ShardCount": 1}).ok(t)
	put := e.postCBOR(t, "PutRecord", map[string]any{"StreamName": "s", "PartitionKey": "k", "Data": []byte("x")}).ok(t)
	shardID := put["ShardId"].(string)
	ms := e.clock.now().UnixMilli()
	e.clock.advance(time.Second) // T+1ms is not in the future

	count := func(ts any) int {
		t.Helper()
		it := e.postCBOR(t, "GetShardIterator", map[string]any{
			"StreamName": "s", "ShardId": shardID, "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": ts,
		}).ok(t)
		got := e.postCBOR(t, "GetRecords", map[string]any{"ShardIterator": it["ShardIterator"]}).ok(t)
		return len(got["Records"].([]any))
	}
	for name, c := range map[string]struct{ at, after any }{
		"integer ms":          {ms, ms + 1},
		"tag 1 ms (Java SDK)": {cbor.Tag{Number: 1, Content: ms}, cbor.Tag{Number: 1, Content: ms + 1}},
		"float seconds":       {float64(ms) / 1000, float64(ms+1) / 1000},
		"tag 1 float seconds": {cbor.Tag{Number: 1, Content: float64(ms) / 1000}, cbor.Tag{Number: 1, Content: float64(ms+1) / 1000}},
		"float ms":            {float64(ms), float64(ms + 1)},
	} {
		require.Equal(t, 1, count(c.at), name)
		require.Equal(t, 0, count(c.after), name)
	}

	// A null Timestamp is absent: AT_TIMESTAMP then requires one.
	r := e.postCBOR(t, "GetShardIterator", map[string]any{
		"StreamName": "s", "ShardId": shardID, "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": nil,
	})
	require.Equal(t, 400, r.status)
	require.NotEqual(t, "SerializationException", r.errorType())

	for name, ts := range map[string]any{
		"text":         "2024-01-01T00:00:00Z",
		"tag 0":        cbor.Tag{Number: 0, Content: "2024-01-01T00:00:00Z"},
		"tag 2":        cbor.Tag{Number: 2, Content: []byte{1}},
		"bool":         true,
		"out of range": uint64(1) << 62,
		"negative big": -(int64(1) << 62),
		"huge float":   1e300,
		"bytes":        []byte{1, 2},
	} {
		r := e.postCBOR(t, "GetShardIterator", map[string]any{
			"StreamName": "s", "ShardId": shardID, "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": ts,
		})
		require.Equal(t, 400, r.status, name)
		require.Equal(t, "SerializationException", r.errorType(), name)
	}
}

func TestCBORErrors(t *testing.T) {
	e := newEnv(t, false)
	e.postCBOR(t, "CreateStream", map[string]any{"StreamName": "s", "ShardCount": 1}).ok(t)

	for _, c := range []struct {
		op   string
		body any
		typ  string
	}{
		{"DescribeStreamSummary", map[string]any{"StreamName": "nope"}, "ResourceNotFoundException"},
		{"CreateStream", map[string]any{"StreamName": "s", "ShardCount": 1}, "ResourceInUseException"},
		{"PutRecord", map[string]any{"StreamName": "s", "Data": []byte("x")}, "ValidationException"},
		{"PutRecord", map[string]any{"StreamName": "s", "PartitionKey": "k", "Data": "not bytes"}, "SerializationException"},
		{"CreateStream", map[string]any{"StreamName": "t", "ShardCount": "one"}, "SerializationException"},
		{"ListStreams", []any{1, 2}, "SerializationException"},
		{"GetRecords", map[string]any{"ShardIterator": "garbage"}, "InvalidArgumentException"},
		{"Nope", map[string]any{}, "UnknownOperationException"},
	} {
		r := e.postCBOR(t, c.op, c.body)
		require.Equal(t, 400, r.status, "%s %v: %v", c.op, c.body, r.body)
		if c.typ == "ValidationException" {
			// Missing members are reported as the service reports them over JSON.
			j := e.post(t, "Kinesis_20131202.PutRecord", `{"StreamName":"s","Data":"eA=="}`)
			c.typ = j.errorType()
		}
		require.Equal(t, c.typ, r.errorType(), "%s %v: %v", c.op, c.body, r.body)
		require.Equal(t, c.typ, r.header.Get("X-Amzn-ErrorType"))
		msg, ok := r.body["message"].(string)
		require.True(t, ok, "message is a text string: %v", r.body)
		require.NotEmpty(t, msg)
	}

	for _, body := range [][]byte{{0xa1}, {0xff}, {0xa0, 0x00}, []byte(`{"StreamName":"s"}`)} {
		r := e.postCBORBytes(t, "DescribeStreamSummary", body)
		require.Equal(t, 400, r.status)
		require.Equal(t, "SerializationException", r.errorType())
	}
}
