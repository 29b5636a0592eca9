// Package fakes3 serves an in-memory S3 (gofakes3) over HTTP for tests,
// and returns a real aws-sdk-go-v2 S3 client pointed at it.
package fakes3

import (
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Bucket is the bucket New creates.
const Bucket = "shoal-archive"

// New starts an in-process S3 server with Bucket created, stopped when
// the test ends, and returns an SDK client for it (path-style addressing,
// static credentials).
func New(t testing.TB) *s3.Client {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(Bucket); err != nil {
		t.Fatalf("fakes3: create bucket: %v", err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSHOALTEST", "shoal-test-secret", ""),
	})
}
