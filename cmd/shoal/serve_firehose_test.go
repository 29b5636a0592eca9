package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fhsdk "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/internal/sdktest"
)

// newFirehoseClient is a Firehose SDK client of endpoint, signing with key
// and secret.
func newFirehoseClient(endpoint, key, secret string) *fhsdk.Client {
	return fhsdk.New(fhsdk.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		Retryer:      sdktest.Retryer(),
	})
}

// TestServeFirehose: serve answers Firehose and Kinesis on one address,
// each signed for its own service; delivery streams survive a restart and
// are not Kinesis streams.
func TestServeFirehose(t *testing.T) {
	ctx := t.Context()
	data := t.TempDir()
	creds := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, os.WriteFile(creds, []byte("AKIDGOOD secretgood\n"), 0o600))
	opts := serveOptions{DataDir: data, Credentials: creds}
	addr, stop := startServe(t, opts)
	base := "http://" + addr
	kin := newClient(base, nil, "AKIDGOOD", "secretgood")
	fh := newFirehoseClient(base, "AKIDGOOD", "secretgood")

	createStream(t, ctx, kin, "clicks", 1)
	_, err := fh.CreateDeliveryStream(ctx, &fhsdk.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("direct"),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::bucket"), RoleARN: aws.String("arn:aws:iam::000000000000:role/r"),
		},
	})
	require.NoError(t, err)
	_, err = fh.CreateDeliveryStream(ctx, &fhsdk.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("archive"),
		DeliveryStreamType: fhtypes.DeliveryStreamTypeKinesisStreamAsSource,
		KinesisStreamSourceConfiguration: &fhtypes.KinesisStreamSourceConfiguration{
			KinesisStreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/clicks"), RoleARN: aws.String("arn:aws:iam::000000000000:role/r"),
		},
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::bucket"), RoleARN: aws.String("arn:aws:iam::000000000000:role/r"),
		},
	})
	require.NoError(t, err)
	// A Kinesis stream that does not exist is refused.
	_, err = fh.CreateDeliveryStream(ctx, &fhsdk.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("nothing"),
		DeliveryStreamType: fhtypes.DeliveryStreamTypeKinesisStreamAsSource,
		KinesisStreamSourceConfiguration: &fhtypes.KinesisStreamSourceConfiguration{
			KinesisStreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/nope"), RoleARN: aws.String("r"),
		},
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::bucket"), RoleARN: aws.String("r")},
	})
	require.Equal(t, "InvalidArgumentException", apiErrorCode(err), "%v", err)

	// Kinesis's ListStreams does not list delivery streams or their
	// backing streams.
	ks, err := kin.ListStreams(ctx, &sdk.ListStreamsInput{})
	require.NoError(t, err)
	require.Equal(t, []string{"clicks"}, ks.StreamNames)

	// A Firehose request signed for the kinesis service is refused.
	body := []byte(`{}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Firehose_20150804.ListDeliveryStreams")
	sum := sha256.Sum256(body)
	require.NoError(t, v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "AKIDGOOD", SecretAccessKey: "secretgood"}, req, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", time.Now()))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "InvalidSignatureException", resp.Header.Get("X-Amzn-ErrorType"))
	// And a Kinesis request signed for the firehose service.
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
	require.NoError(t, v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "AKIDGOOD", SecretAccessKey: "secretgood"}, req, hex.EncodeToString(sum[:]), "firehose", "us-east-1", time.Now()))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "InvalidSignatureException", resp.Header.Get("X-Amzn-ErrorType"))
	// A wrong secret too.
	_, err = newFirehoseClient(base, "AKIDGOOD", "wrong").ListDeliveryStreams(ctx, &fhsdk.ListDeliveryStreamsInput{})
	require.Equal(t, "InvalidSignatureException", apiErrorCode(err), "%v", err)

	code, metricsText := httpGet(t, http.DefaultClient, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, metricsText, `shoal_kinesis_requests_total{operation="Firehose.CreateDeliveryStream"} 3`+"\n")
	require.NoError(t, stop())

	// After a restart the delivery streams are back.
	addr, stop = startServe(t, opts)
	fh = newFirehoseClient("http://"+addr, "AKIDGOOD", "secretgood")
	out, err := fh.ListDeliveryStreams(ctx, &fhsdk.ListDeliveryStreamsInput{})
	require.NoError(t, err)
	require.Equal(t, []string{"archive", "direct"}, out.DeliveryStreamNames)
	d, err := fh.DescribeDeliveryStream(ctx, &fhsdk.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("archive")})
	require.NoError(t, err)
	require.Equal(t, "arn:aws:kinesis:us-east-1:000000000000:stream/clicks", aws.ToString(d.DeliveryStreamDescription.Source.KinesisStreamSourceDescription.KinesisStreamARN))
	require.FileExists(t, filepath.Join(data, "firehose", "streams.json"))
	require.NoError(t, stop())
}

func TestServeThrottleType(t *testing.T) {
	for target, want := range map[string]string{
		"Firehose_20150804.PutRecordBatch":       "ServiceUnavailableException",
		"Firehose_20150804.PutRecord":            "ServiceUnavailableException",
		"Firehose_20150804.CreateDeliveryStream": "LimitExceededException",
		"Kinesis_20131202.PutRecords":            "ProvisionedThroughputExceededException",
		"Kinesis_20131202.CreateStream":          "LimitExceededException",
	} {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Header.Set("X-Amz-Target", target)
		require.Equal(t, want, throttleType(req), target)
	}
}

func TestServeFirehoseFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := runServeCommand(context.Background(), []string{"--data", t.TempDir(), "--firehose-stream-limit", "-1"}, &stdout, &stderr)
	require.Equal(t, 2, code)
	require.Contains(t, stderr.String(), "--firehose-stream-limit")
	stderr.Reset()
	require.Equal(t, 0, runServeCommand(context.Background(), []string{"--help"}, &stdout, &stderr))
	for _, flag := range []string{"-s3-endpoint", "-archive-postgres", "SHOAL_ARCHIVE_POSTGRES", "Firehose"} {
		require.Contains(t, stderr.String(), flag)
	}
}

// TestServeFirehoseThrottled: a Firehose put refused by admission control
// is a 503 ServiceUnavailableException; a Kinesis put's refusal stays 400.
func TestServeFirehoseThrottled(t *testing.T) {
	refuse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		typ := throttleType(r)
		w.Header().Set("X-Amzn-ErrorType", typ)
		w.WriteHeader(http.StatusBadRequest)
	})
	h := firehoseThrottleStatus(refuse)
	for target, want := range map[string]int{
		"Firehose_20150804.PutRecordBatch":      http.StatusServiceUnavailable,
		"Firehose_20150804.ListDeliveryStreams": http.StatusBadRequest,
		"Kinesis_20131202.PutRecords":           http.StatusBadRequest,
	} {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Header.Set("X-Amz-Target", target)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, want, rec.Code, target)
	}
}
