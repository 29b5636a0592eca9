package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/s3store"
	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/server/firehose"
	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/server/metrics"
	"github.com/shoal-dev/shoal/shardlog"
)

// firehoseOptions are shoal serve's flags of the Firehose API.
type firehoseOptions struct {
	// S3Endpoint, if set, is the S3-compatible service S3 destinations
	// write to (path-style), in S3Region, with S3AccessKey and S3SecretKey
	// or else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
	// AWS_SESSION_TOKEN. Unset: a filesystem store per bucket under
	// DATA/firehose/objects/BUCKET.
	S3Endpoint, S3Region     string
	S3AccessKey, S3SecretKey string
	// ArchivePostgres is the PostgreSQL connection string of Redshift
	// destinations without a ClusterJDBCURL.
	ArchivePostgres string
	// StreamLimit is the delivery stream quota (0: unlimited).
	StreamLimit int
}

// registerFirehoseFlags adds the Firehose flags to fs.
func registerFirehoseFlags(fs *flag.FlagSet, o *firehoseOptions) {
	fs.StringVar(&o.S3Endpoint, "s3-endpoint", "", "the `URL` of an S3-compatible service that Firehose S3 destinations write to (path-style requests); without it, objects go to DATA/firehose/objects/BUCKET")
	fs.StringVar(&o.S3Region, "s3-region", "", "the `region` of --s3-endpoint (default: --region)")
	fs.StringVar(&o.S3AccessKey, "s3-access-key", "", "the access key `ID` for --s3-endpoint (default: AWS_ACCESS_KEY_ID)")
	fs.StringVar(&o.S3SecretKey, "s3-secret-key", "", "the secret `key` for --s3-endpoint (default: AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&o.ArchivePostgres, "archive-postgres", os.Getenv("SHOAL_ARCHIVE_POSTGRES"), "the PostgreSQL connection `string` of Firehose Redshift destinations whose ClusterJDBCURL is empty (default: SHOAL_ARCHIVE_POSTGRES)")
	fs.IntVar(&o.StreamLimit, "firehose-stream-limit", firehose.DefaultStreamLimit, "the account's delivery stream `quota` (0: unlimited)")
}

// openFirehose opens the Firehose delivery streams' Manager in
// DATA/firehose, over the Kinesis log.
func openFirehose(ctx context.Context, opts serveOptions, log *shardlog.Log, reg *metrics.Registry, logger *slog.Logger) (*firehose.Manager, error) {
	fo := opts.Firehose
	limit := fo.StreamLimit
	if limit == 0 {
		limit = -1 // unlimited
	}
	mo := firehose.ManagerOptions{
		Dir:         filepath.Join(opts.DataDir, "firehose"),
		Kinesis:     log,
		Region:      opts.Region,
		Account:     opts.Account,
		StreamLimit: limit,
		ArchiveDSN:  fo.ArchivePostgres,
		Metrics:     reg.Firehose(),
		Logger:      logger,
	}
	if fo.S3Endpoint != "" {
		client := s3Client(fo, opts.Region)
		mo.Objects = func(ctx context.Context, bucket string) (delivery.ObjectStore, error) {
			return s3store.New(client, bucket)
		}
	}
	return firehose.OpenManager(ctx, mo)
}

// s3Client is the client of --s3-endpoint: path-style, with the static
// keys of the flags or the environment's.
func s3Client(fo firehoseOptions, region string) *s3.Client {
	if fo.S3Region != "" {
		region = fo.S3Region
	}
	key, secret, token := fo.S3AccessKey, fo.S3SecretKey, ""
	if key == "" && secret == "" {
		key, secret, token = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
	}
	o := s3.Options{
		BaseEndpoint: aws.String(fo.S3Endpoint),
		Region:       region,
		UsePathStyle: true,
	}
	if key != "" || secret != "" {
		o.Credentials = credentials.NewStaticCredentialsProvider(key, secret, token)
	} else {
		o.Credentials = aws.AnonymousCredentials{}
	}
	return s3.New(o)
}

// routeByTarget sends requests whose X-Amz-Target names Firehose to fh,
// and everything else (Kinesis, and requests naming no service) to kin.
func routeByTarget(kin, fh http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isFirehose(r) {
			fh.ServeHTTP(w, r)
			return
		}
		kin.ServeHTTP(w, r)
	})
}

// isFirehose reports whether r is addressed to the Firehose API.
func isFirehose(r *http.Request) bool {
	prefix, _, _ := strings.Cut(awsproto.Target(r), ".")
	return prefix == firehose.TargetPrefix
}

// throttleType is the exception of a request refused by admission control:
// Firehose's for Firehose requests, Kinesis's for the rest.
func throttleType(r *http.Request) string {
	if isFirehose(r) {
		return firehose.ThrottleType(r)
	}
	return kinesis.ThrottleType(r)
}

// firehoseThrottleStatus makes admission control's refusals of Firehose
// requests with ServiceUnavailableException HTTP 503, as Firehose answers
// them (admission answers 400, as Kinesis's throttling exceptions are),
// so that the SDKs retry them with backoff.
func firehoseThrottleStatus(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isFirehose(r) {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&throttleStatusWriter{ResponseWriter: w}, r)
	})
}

// throttleStatusWriter turns a 400 ServiceUnavailableException into a
// 503.
type throttleStatusWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *throttleStatusWriter) WriteHeader(status int) {
	if !w.wrote && status == http.StatusBadRequest && w.Header().Get("X-Amzn-ErrorType") == "ServiceUnavailableException" {
		status = http.StatusServiceUnavailable
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *throttleStatusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap serves http.ResponseController.
func (w *throttleStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
