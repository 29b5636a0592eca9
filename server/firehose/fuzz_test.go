package firehose_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shoal-dev/shoal/server/firehose"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// fuzzOps are the operations FuzzOperations sends bodies to.
var fuzzOps = []string{
	"CreateDeliveryStream", "DeleteDeliveryStream", "DescribeDeliveryStream", "ListDeliveryStreams",
	"UpdateDestination", "PutRecord", "PutRecordBatch", "StartDeliveryStreamEncryption",
	"StopDeliveryStreamEncryption", "TagDeliveryStream", "UntagDeliveryStream", "ListTagsForDeliveryStream",
}

// FuzzOperations sends arbitrary bodies to every operation: the answer is
// a success or a typed 4xx (503 only for ServiceUnavailableException),
// never a 500 or a panic. CI runs the seeds; go test -fuzz
// FuzzOperations ./server/firehose explores.
func FuzzOperations(f *testing.F) {
	seeds := map[string][]string{
		"CreateDeliveryStream": {
			`{"DeliveryStreamName":"f1","ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::bucket","BufferingHints":{"SizeInMBs":1,"IntervalInSeconds":0}}}`,
			`{"DeliveryStreamName":"f2","S3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b","BufferingHints":{"SizeInMBs":1}}}`,
			`{"DeliveryStreamName":"f3","RedshiftDestinationConfiguration":{"ClusterJDBCURL":"jdbc:postgresql://h:5432/db","CopyCommand":{"DataTableName":"t"},"S3Configuration":{"BucketARN":"arn:aws:s3:::b","CompressionFormat":"ZIP"}}}`,
			`{"DeliveryStreamName":"f4","DeliveryStreamType":"KinesisStreamAsSource","KinesisStreamSourceConfiguration":{"KinesisStreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/src"},"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::bucket","Prefix":"!{timestamp:yyyy}/!{bad}"}}`,
			`{"DeliveryStreamName":"f5","ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::bucket","ProcessingConfiguration":{"Enabled":true,"Processors":[{"Type":"Lambda"}]}},"Tags":[{"Key":"aws:x"}]}`,
			`{"DeliveryStreamName":"f6","ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::bucket"},"DeliveryStreamEncryptionConfigurationInput":{"KeyType":"CUSTOMER_MANAGED_CMK","KeyARN":"x"}}`,
			`{"DeliveryStreamName":1}`, `[]`, `null`, `{"DeliveryStreamName":"a","HttpEndpointDestinationConfiguration":{}}`,
		},
		"DeleteDeliveryStream":   {`{"DeliveryStreamName":"direct","AllowForceDelete":true}`, `{"DeliveryStreamName":""}`},
		"DescribeDeliveryStream": {`{"DeliveryStreamName":"direct","Limit":0}`, `{"DeliveryStreamName":"direct","ExclusiveStartDestinationId":"x"}`},
		"ListDeliveryStreams":    {`{"Limit":100000}`, `{"DeliveryStreamType":"x","ExclusiveStartDeliveryStreamName":"!"}`, `{"Limit":-2147483648}`},
		"UpdateDestination": {
			`{"DeliveryStreamName":"direct","CurrentDeliveryStreamVersionId":"1","DestinationId":"destinationId-000000000001","ExtendedS3DestinationUpdate":{"BufferingHints":{"SizeInMBs":129,"IntervalInSeconds":1}}}`,
			`{"DeliveryStreamName":"direct","CurrentDeliveryStreamVersionId":"1","DestinationId":"destinationId-000000000001","RedshiftDestinationUpdate":{"S3Update":{"CompressionFormat":"Snappy"}}}`,
			`{"DeliveryStreamName":"direct","CurrentDeliveryStreamVersionId":"99999999999999999999","DestinationId":"d"}`,
		},
		"PutRecord":                     {`{"DeliveryStreamName":"direct","Record":{"Data":"eA=="}}`, `{"DeliveryStreamName":"direct","Record":{"Data":"!!"}}`, `{"DeliveryStreamName":"sourced","Record":{}}`},
		"PutRecordBatch":                {`{"DeliveryStreamName":"direct","Records":[{"Data":"eA=="},null]}`, `{"DeliveryStreamName":"direct","Records":[]}`},
		"StartDeliveryStreamEncryption": {`{"DeliveryStreamName":"direct","DeliveryStreamEncryptionConfigurationInput":{"KeyType":"x"}}`},
		"StopDeliveryStreamEncryption":  {`{"DeliveryStreamName":"sourced"}`},
		"TagDeliveryStream":             {`{"DeliveryStreamName":"direct","Tags":[{"Key":"k","Value":"\u0000"}]}`, `{"DeliveryStreamName":"direct","Tags":[{}]}`},
		"UntagDeliveryStream":           {`{"DeliveryStreamName":"direct","TagKeys":["k",""]}`},
		"ListTagsForDeliveryStream":     {`{"DeliveryStreamName":"direct","Limit":51,"ExclusiveStartTagKey":"k"}`},
	}
	for i, op := range fuzzOps {
		f.Add(uint8(i), `{}`)
		f.Add(uint8(i), `{"DeliveryStreamName":"`+string(bytes.Repeat([]byte("n"), 65))+`"}`)
		for _, s := range seeds[op] {
			f.Add(uint8(i), s)
		}
	}

	ctx := context.Background()
	kin, err := shardlog.Open(ctx, memory.New(), shardlog.WithRetentionInterval(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = kin.Close() })
	if err := kin.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "src", ShardCount: 1}); err != nil {
		f.Fatal(err)
	}
	fk := &fakes{all: map[string][]*fakeRuntime{}}
	calls := &archiveCalls{}
	opts := firehose.ManagerOptions{Dir: f.TempDir(), Kinesis: kin, StreamLimit: 20, Archive: calls.open}
	firehose.SetRuntime(&opts, fk.build)
	mgr, err := firehose.OpenManager(ctx, opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = mgr.Close() })
	h := firehose.Handler(mgr)
	send := func(op, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", firehose.TargetPrefix+"."+op)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, s := range []struct{ op, body string }{
		{"CreateDeliveryStream", `{"DeliveryStreamName":"direct","ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::bucket"}}`},
		{"CreateDeliveryStream", `{"DeliveryStreamName":"sourced","DeliveryStreamType":"KinesisStreamAsSource","KinesisStreamSourceConfiguration":{"KinesisStreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/src"},"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::bucket"}}`},
	} {
		if rec := send(s.op, s.body); rec.Code != http.StatusOK {
			f.Fatalf("%s: %d %s", s.op, rec.Code, rec.Body)
		}
	}

	f.Fuzz(func(t *testing.T, opIndex uint8, body string) {
		op := fuzzOps[int(opIndex)%len(fuzzOps)]
		rec := send(op, body)
		if rec.Code == http.StatusOK {
			return
		}
		var doc struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.Type == "" {
			t.Fatalf("%s %q: status %d, body %q is not an error document", op, body, rec.Code, rec.Body)
		}
		switch {
		case rec.Code == http.StatusServiceUnavailable && doc.Type == "ServiceUnavailableException":
		case rec.Code >= 400 && rec.Code < 500:
		default:
			t.Fatalf("%s %q: status %d %s: %s", op, body, rec.Code, doc.Type, doc.Message)
		}
	})
}
