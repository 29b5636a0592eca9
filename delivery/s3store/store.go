// Package s3store is a delivery.ObjectStore over Amazon S3 or any
// S3-compatible service, through aws-sdk-go-v2's service/s3 client.
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
)

// Store is a delivery.ObjectStore in one S3 bucket. S3 makes a PutObject
// atomic (readers see the old object or the new one) and durable when it
// returns, which is what delivery.ObjectStore asks. Objects of key k are
// stored at the bucket key KeyPrefix + k.
type Store struct {
	client   *s3.Client
	bucket   string
	prefix   string
	pageSize int32
}

var (
	_ delivery.ObjectStore  = (*Store)(nil)
	_ delivery.ObjectLister = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithKeyPrefix stores every object under prefix in the bucket (e.g.
// "archive/"); List and Get see keys without it.
func WithKeyPrefix(prefix string) Option { return func(s *Store) { s.prefix = prefix } }

// WithPageSize sets how many keys one ListObjectsV2 call asks for
// (1-1000; zero keeps S3's default of 1000).
func WithPageSize(n int32) Option { return func(s *Store) { s.pageSize = n } }

// New returns the store of bucket through client. The client's options
// (region, credentials, endpoint, path-style addressing) are the caller's.
func New(client *s3.Client, bucket string, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, &shardlog.ArgumentError{Field: "client", Reason: "must not be nil"}
	}
	if l := len(bucket); l < 3 || l > 63 {
		return nil, &shardlog.ArgumentError{Field: "bucket", Reason: fmt.Sprintf("length %d is not within 3-63", l)}
	}
	s := &Store{client: client, bucket: bucket}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	if s.pageSize < 0 || s.pageSize > 1000 {
		return nil, &shardlog.ArgumentError{Field: "PageSize", Reason: fmt.Sprintf("%d is not within 1-1000", s.pageSize)}
	}
	if len(s.prefix) > delivery.MaxObjectKeyLength {
		return nil, &shardlog.ArgumentError{Field: "KeyPrefix", Reason: fmt.Sprintf("length %d exceeds %d bytes", len(s.prefix), delivery.MaxObjectKeyLength)}
	}
	return s, nil
}

// checkKey refuses keys S3 cannot store.
func (s *Store) checkKey(key string) error {
	switch {
	case key == "":
		return &shardlog.ArgumentError{Field: "key", Reason: "must not be empty"}
	case len(s.prefix)+len(key) > delivery.MaxObjectKeyLength:
		return &shardlog.ArgumentError{Field: "key", Reason: fmt.Sprintf("length %d (with the key prefix) exceeds %d bytes", len(s.prefix)+len(key), delivery.MaxObjectKeyLength)}
	}
	return nil
}

// Put implements delivery.ObjectStore with PutObject.
func (s *Store) Put(ctx context.Context, key string, body []byte) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		return fmt.Errorf("s3store: put %q: %w", key, err)
	}
	return nil
}

// Get implements delivery.ObjectStore with GetObject; a missing key
// (NoSuchKey, or a bare 404) wraps delivery.ErrObjectNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%w: %q: %w", delivery.ErrObjectNotFound, key, err)
		}
		return nil, fmt.Errorf("s3store: get %q: %w", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("s3store: get %q: %w", key, err)
	}
	return b, nil
}

// notFound reports whether err says the object does not exist: NoSuchKey,
// or a 404 without an error code (a missing bucket, NoSuchBucket, is not
// "not found").
func notFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() != "" {
		return api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound"
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// List implements delivery.ObjectStore with ListObjectsV2, page by page:
// S3 returns keys in lexical (UTF-8 byte) order.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return s.ListAfter(ctx, prefix, "")
}

// ListAfter implements delivery.ObjectLister with ListObjectsV2's
// StartAfter: List's keys that sort after startAfter.
func (s *Store) ListAfter(ctx context.Context, prefix, startAfter string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		in := &s3.ListObjectsV2Input{
			Bucket: aws.String(s.bucket),
			Prefix: aws.String(s.prefix + prefix),
		}
		if startAfter != "" {
			in.StartAfter = aws.String(s.prefix + startAfter)
		}
		if s.pageSize > 0 {
			in.MaxKeys = aws.Int32(s.pageSize)
		}
		p := s3.NewListObjectsV2Paginator(s.client, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield("", fmt.Errorf("s3store: list %q: %w", prefix, err))
				return
			}
			for _, o := range page.Contents {
				if !yield(aws.ToString(o.Key)[len(s.prefix):], nil) {
					return
				}
			}
		}
	}
}

// ListPrefixes implements delivery.ObjectLister with ListObjectsV2's
// Delimiter "/": the CommonPrefixes under prefix.
func (s *Store) ListPrefixes(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		in := &s3.ListObjectsV2Input{
			Bucket:    aws.String(s.bucket),
			Prefix:    aws.String(s.prefix + prefix),
			Delimiter: aws.String("/"),
		}
		if s.pageSize > 0 {
			in.MaxKeys = aws.Int32(s.pageSize)
		}
		p := s3.NewListObjectsV2Paginator(s.client, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield("", fmt.Errorf("s3store: list %q: %w", prefix, err))
				return
			}
			for _, cp := range page.CommonPrefixes {
				if !yield(aws.ToString(cp.Prefix)[len(s.prefix):], nil) {
					return
				}
			}
		}
	}
}
