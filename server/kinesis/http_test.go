package kinesis_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/shardlog"
)

type rawResponse struct {
	status int
	body   map[string]any
	raw    string
}

func (r rawResponse) errorType() string { s, _ := r.body["__type"].(string); return s }
func (r rawResponse) message() string   { s, _ := r.body["message"].(string); return s }

// post sends a raw JSON 1.1 request.
func (e *env) post(t *testing.T, target, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/x-amz-json-1.1", resp.Header.Get("Content-Type"))
	out := rawResponse{status: resp.StatusCode, raw: string(b)}
	require.NoError(t, json.Unmarshal(b, &out.body), "body %s", b)
	return out
}

func TestRawUnknownOperation(t *testing.T) {
	e := newEnv(t, false)
	for _, target := range []string{"Kinesis_20131202.Nope", "Kinesis_20131202.", "Firehose_20150804.PutRecord", "ListStreams", ""} {
		r := e.post(t, target, "{}")
		require.Equal(t, 400, r.status, target)
		require.Equal(t, "UnknownOperationException", r.errorType(), target)
	}
}

func TestRawSerializationErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	for _, c := range []struct{ target, body string }{
		{"ListStreams", `{`},
		{"ListStreams", `{"Limit": 1} trailing`},
		{"ListStreams", `[]`},
		{"ListStreams", `"x"`},
		{"ListStreams", `{"Limit": "10"}`},
		{"ListStreams", `{"Limit": 1.5}`},
		{"ListStreams", `{"Limit": 99999999999999999999}`},
		{"CreateStream", `{"StreamName": 5, "ShardCount": 1}`},
		{"CreateStream", `{"StreamName": "x", "ShardCount": 1, "Tags": ["a"]}`},
		{"CreateStream", `{"StreamName": "x", "StreamModeDetails": "ON_DEMAND"}`},
		{"PutRecord", `{"StreamName": "s", "PartitionKey": "k", "Data": "not base64!"}`},
		{"PutRecord", `{"StreamName": "s", "PartitionKey": "k", "Data": 12}`},
		{"PutRecords", `{"StreamName": "s", "Records": {"Data": ""}}`},
		{"PutRecords", `{"StreamName": "s", "Records": [5]}`},
		{"GetShardIterator", `{"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": "yesterday"}`},
		{"GetShardIterator", `{"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 1e300}`},
		{"ListShards", `{"StreamName": "s", "ShardFilter": {"Type": "AT_TIMESTAMP", "Timestamp": true}}`},
		{"DeleteStream", `{"StreamName": "s", "EnforceConsumerDeletion": "yes"}`},
		{"RemoveTagsFromStream", `{"StreamName": "s", "TagKeys": "a"}`},
	} {
		r := e.post(t, "Kinesis_20131202."+c.target, c.body)
		require.Equal(t, 400, r.status, "%s %s: %s", c.target, c.body, r.raw)
		require.Equal(t, "SerializationException", r.errorType(), "%s %s: %s", c.target, c.body, r.raw)
	}
}

func TestRawMissingMembers(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	for _, c := range []struct{ target, body, field string }{
		{"CreateStream", `{"ShardCount": 1}`, "StreamName"},
		{"CreateStream", `{"StreamName": "x", "StreamModeDetails": {}}`, "StreamModeDetails.StreamMode"},
		{"PutRecord", `{"StreamName": "s", "PartitionKey": "k"}`, "Data"},
		{"PutRecord", `{"StreamName": "s", "Data": ""}`, "PartitionKey"},
		{"PutRecords", `{"StreamName": "s"}`, "Records"},
		{"PutRecords", `{"StreamName": "s", "Records": [{"Data": "", "PartitionKey": "k"}, {"PartitionKey": "k"}]}`, "Records.1.Data"},
		{"PutRecords", `{"StreamName": "s", "Records": [null]}`, "Records.0.Data"},
		{"GetShardIterator", `{"StreamName": "s", "ShardIteratorType": "LATEST"}`, "ShardId"},
		{"GetShardIterator", `{"StreamName": "s", "ShardId": "shardId-000000000000"}`, "ShardIteratorType"},
		{"GetRecords", `{}`, "ShardIterator"},
		{"SplitShard", `{"StreamName": "s", "NewStartingHashKey": "5"}`, "ShardToSplit"},
		{"SplitShard", `{"StreamName": "s", "ShardToSplit": "shardId-000000000000"}`, "NewStartingHashKey"},
		{"MergeShards", `{"StreamName": "s", "ShardToMerge": "shardId-000000000000"}`, "AdjacentShardToMerge"},
		{"UpdateShardCount", `{"StreamName": "s", "ScalingType": "UNIFORM_SCALING"}`, "TargetShardCount"},
		{"UpdateShardCount", `{"StreamName": "s", "TargetShardCount": 2}`, "ScalingType"},
		{"IncreaseStreamRetentionPeriod", `{"StreamName": "s"}`, "RetentionPeriodHours"},
		{"DecreaseStreamRetentionPeriod", `{"StreamName": "s"}`, "RetentionPeriodHours"},
		{"AddTagsToStream", `{"StreamName": "s"}`, "Tags"},
		{"RemoveTagsFromStream", `{"StreamName": "s"}`, "TagKeys"},
		{"UpdateStreamMode", `{"StreamModeDetails": {"StreamMode": "ON_DEMAND"}}`, "StreamARN"},
		{"UpdateStreamMode", `{"StreamName": "s"}`, "StreamModeDetails"},
		{"UpdateMaxRecordSize", `{"MaxRecordSizeInKiB": 2048}`, "StreamARN"},
		{"UpdateMaxRecordSize", `{"StreamName": "s"}`, "MaxRecordSizeInKiB"},
		{"RegisterStreamConsumer", `{"ConsumerName": "c"}`, "StreamARN"},
		{"RegisterStreamConsumer", `{"StreamName": "s"}`, "ConsumerName"},
		{"ListStreamConsumers", `{}`, "StreamARN"},
		{"DescribeStreamConsumer", `{"StreamName": "s"}`, "ConsumerName"},
	} {
		r := e.post(t, "Kinesis_20131202."+c.target, c.body)
		require.Equal(t, 400, r.status, "%s %s: %s", c.target, c.body, r.raw)
		require.Equal(t, "ValidationException", r.errorType(), "%s %s: %s", c.target, c.body, r.raw)
		require.Contains(t, r.message(), "'"+c.field+"'", "%s %s", c.target, c.body)
	}
}

// TestRawNoServerErrors sends every operation a set of bad documents: each
// gets a 4xx (or succeeds), never a 500.
func TestRawNoServerErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 2)
	ops := make([]string, 0)
	for op := range kinesis.New(e.log).Operations {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	require.Len(t, ops, 32)
	bodies := []string{
		``, `{}`, `null`, `[]`, `0`, `"s"`, `{"StreamName": null}`, `{"StreamName": ""}`,
		`{"StreamName": "s"}`, `{"StreamARN": "s"}`, `{"StreamARN": "arn:aws:kinesis:::stream/s"}`,
		`{"StreamName": "s", "StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/t"}`,
		`{"StreamName": "` + strings.Repeat("x", 300) + `"}`,
		`{"StreamName": "s", "Limit": -1, "MaxResults": -1, "ShardCount": -1, "TargetShardCount": -5, "RetentionPeriodHours": -1}`,
		`{"StreamName": "s", "Limit": 2147483648, "MaxResults": 9223372036854775807, "ShardCount": 100000, "RetentionPeriodHours": 9223372036854775807}`,
		`{"StreamName": "s", "ShardId": "", "ShardIteratorType": "", "ShardIterator": "", "ConsumerName": "", "ConsumerARN": ""}`,
		`{"StreamName": "s", "ShardId": "shardId-999999999999", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": -1e10}`,
		`{"StreamName": "s", "ShardIterator": "` + strings.Repeat("A", 600) + `"}`,
		`{"StreamName": "s", "ShardFilter": {}, "NextToken": "x"}`,
		`{"StreamName": "s", "ShardFilter": {"Type": "AFTER_SHARD_ID", "ShardId": "garbage"}}`,
		`{"StreamName": "s", "Records": [], "Tags": {}, "TagKeys": []}`,
		`{"StreamName": "s", "Records": [{"Data": "", "PartitionKey": "k", "ExplicitHashKey": "-1"}]}`,
		`{"StreamName": "s", "PartitionKey": "k", "Data": "", "SequenceNumberForOrdering": "99999999999999999999999999999999999999999999"}`,
		`{"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "99999999999999999999999999999999999999999999"}`,
		`{"StreamName": "s", "ShardToMerge": "shardId-000000000000", "AdjacentShardToMerge": "shardId-000000000000"}`,
		`{"StreamName": "s", "StreamModeDetails": {"StreamMode": "x"}, "ScalingType": "x", "TargetShardCount": 0}`,
		`{"ConsumerARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:notanumber"}`,
		`{"ConsumerARN": "arn:aws:kinesis:us-east-1:000000000000:stream//consumer/:1"}`,
		`{"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s", "ConsumerName": "c", "Tags": {"a": "b"}}`,
	}
	seen := map[string]int{}
	for _, op := range ops {
		for _, body := range bodies {
			// Keep the stream there for every request (DeleteStream drops it).
			if _, err := e.log.DescribeStream(e.ctx, shardlog.DescribeStreamInput{StreamName: "s"}); err != nil {
				e.createStream(t, "s", 2)
			}
			r := e.post(t, "Kinesis_20131202."+op, body)
			seen[r.errorType()]++
			require.Less(t, r.status, 500, "%s %s: %s", op, body, r.raw)
			if r.status != 200 {
				require.Equal(t, 400, r.status, "%s %s: %s", op, body, r.raw)
				require.NotEmpty(t, r.errorType(), "%s %s", op, body)
			}
		}
	}
	t.Logf("outcomes: %v", seen)
}

// TestRawWireFormat checks the encodings the SDKs depend on: Data as
// base64, timestamps as epoch seconds with milliseconds, sequence numbers
// as strings, a null NextShardIterator at the end of a closed shard.
func TestRawWireFormat(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	r := e.post(t, "Kinesis_20131202.PutRecord", `{"StreamName": "s", "PartitionKey": "k", "Data": "aGVsbG8="}`)
	require.Equal(t, 200, r.status, r.raw)
	seq, ok := r.body["SequenceNumber"].(string)
	require.True(t, ok, r.raw)
	require.Regexp(t, `^[1-9][0-9]*$`, seq)
	require.Equal(t, "shardId-000000000000", r.body["ShardId"])

	r = e.post(t, "Kinesis_20131202.GetShardIterator", `{"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}`)
	require.Equal(t, 200, r.status, r.raw)
	it := r.body["ShardIterator"].(string)
	r = e.post(t, "Kinesis_20131202.GetRecords", `{"ShardIterator": "`+it+`"}`)
	require.Equal(t, 200, r.status, r.raw)
	require.Contains(t, r.raw, `"Data":"aGVsbG8="`)
	require.Regexp(t, regexp.MustCompile(`"ApproximateArrivalTimestamp":[0-9]{10}\.[0-9]{3}[,}]`), r.raw)
	require.Contains(t, r.raw, `"MillisBehindLatest":0`)
	require.NotContains(t, r.raw, "ChildShards")

	r = e.post(t, "Kinesis_20131202.DescribeStreamSummary", `{"StreamName": "s"}`)
	require.Regexp(t, regexp.MustCompile(`"StreamCreationTimestamp":[0-9]{10}\.[0-9]{3}[,}]`), r.raw)

	// A timestamp in, as epoch seconds with a fraction.
	r = e.post(t, "Kinesis_20131202.GetShardIterator", `{"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 1000000000.5}`)
	require.Equal(t, 200, r.status, r.raw)

	// After a split the parent's end has a null next iterator.
	r = e.post(t, "Kinesis_20131202.SplitShard", `{"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "`+half+`"}`)
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, "{}", r.raw)
	r = e.post(t, "Kinesis_20131202.GetShardIterator", `{"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": "`+seq+`"}`)
	require.Equal(t, 200, r.status, r.raw)
	r = e.post(t, "Kinesis_20131202.GetRecords", `{"ShardIterator": "`+r.body["ShardIterator"].(string)+`"}`)
	require.Equal(t, 200, r.status, r.raw)
	require.Contains(t, r.raw, `"NextShardIterator":null`)
	require.Contains(t, r.raw, `"ChildShards":[{"ShardId":"shardId-000000000001","ParentShards":["shardId-000000000000"],"HashKeyRange":{"StartingHashKey":"0",`)
}
