package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"time"

	"github.com/shoal-dev/shoal/server/admission"
	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/server/firehose"
	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/server/metrics"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// serveOptions are the flags of shoal serve.
type serveOptions struct {
	Addr, DataDir   string
	Credentials     string
	TLSCert, TLSKey string
	ShutdownTimeout time.Duration
	Region, Account string
	Limits          shardlog.AccountLimits
	logger          *slog.Logger      // nil: slog.Default()
	ready           func(addr string) // tests: called once listening
	logf            func(format string, args ...any)

	// Admission control and SigV4's clock skew (zero: the defaults).
	MaxInflightRequests int
	MaxInflightBytes    int64
	BodyTimeout         time.Duration
	MaxClockSkew        time.Duration
	// MinBodyRate is the least average rate of a body in bytes a second
	// after BodyRateGrace; negative: no minimum.
	MinBodyRate   int64
	BodyRateGrace time.Duration // zero: the default

	// Firehose configures the Firehose API's destinations and quota.
	Firehose firehoseOptions

	// Postgres, if set, is the connection URL of the PostgreSQL server the
	// log lives on instead of the file engine in DataDir, in the schema
	// PostgresSchema (serve_postgres.go).
	Postgres, PostgresSchema string
}

func runServeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shoal serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts serveOptions
	fs.StringVar(&opts.Addr, "addr", "127.0.0.1:4567", "the `address` to listen on")
	fs.StringVar(&opts.DataDir, "data", "./data", "the file engine's data `directory` (created if needed)")
	registerPostgresFlags(fs, &opts)
	fs.StringVar(&opts.Credentials, "credentials", "", "a `file` of \"ACCESS_KEY_ID SECRET\" lines: requests must then carry a valid SigV4 signature (without it, any signature is accepted)")
	fs.StringVar(&opts.TLSCert, "tls-cert", "", "a PEM certificate `file`: serve HTTPS (with --tls-key)")
	fs.StringVar(&opts.TLSKey, "tls-key", "", "the PEM private key `file` of --tls-cert")
	fs.StringVar(&opts.Region, "region", "us-east-1", "the AWS `region` of stream and consumer ARNs (like us-east-1)")
	fs.StringVar(&opts.Account, "account-id", "000000000000", "the 12-digit AWS account `ID` of stream and consumer ARNs")
	fs.IntVar(&opts.Limits.Shards, "shard-limit", 20000, "the account's open shard `quota` (ShardLimit; 0: unlimited)")
	fs.IntVar(&opts.Limits.OnDemandStreams, "on-demand-stream-limit", 50, "the account's on-demand stream `quota` (OnDemandStreamCountLimit; 0: unlimited)")
	fs.IntVar(&opts.MaxInflightRequests, "max-inflight-requests", admission.DefaultMaxRequests, "the `number` of requests served at once; more are refused with a throttling error")
	maxBytes := byteSize(admission.DefaultMaxBytes())
	fs.Var(&maxBytes, "max-inflight-bytes", "the bytes of request bodies and GetRecords responses held at once (a `size`: bytes, or with KiB, MiB, GiB); more are refused with a throttling error. The default is a quarter of the memory, at most 1GiB")
	fs.DurationVar(&opts.BodyTimeout, "body-timeout", admission.DefaultBodyTimeout, "how long a request body may take to arrive")
	minRate := byteSize(admission.DefaultMinBodyRate)
	fs.Var(&minRate, "min-body-rate", "the least average `rate` of a request body, in bytes a second (with KiB, MiB, GiB), once --body-rate-grace has passed; a slower body is refused with RequestTimeout and its connection closed. 0: no minimum")
	fs.DurationVar(&opts.BodyRateGrace, "body-rate-grace", admission.DefaultBodyRateGrace, "how long a request body may take before --min-body-rate applies")
	fs.DurationVar(&opts.MaxClockSkew, "max-clock-skew", awsproto.DefaultMaxSkew, "with --credentials, how far a request's signing time may be from the server's clock")
	registerFirehoseFlags(fs, &opts.Firehose)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: shoal serve [--addr HOST:PORT] [--data DIR | --postgres URL [--postgres-schema S]]
                   [--credentials FILE] [--tls-cert FILE --tls-key FILE]
                   [--region REGION] [--account-id ID] [--shard-limit N] [--on-demand-stream-limit N]
                   [--max-inflight-requests N] [--max-inflight-bytes SIZE] [--body-timeout D]
                   [--min-body-rate SIZE] [--body-rate-grace D] [--max-clock-skew D]
                   [--s3-endpoint URL [--s3-region R] [--s3-access-key K --s3-secret-key S]]
                   [--archive-postgres DSN] [--firehose-stream-limit N]

Serves the Amazon Kinesis Data Streams API (AWS JSON 1.1) over the embedded
file engine, so AWS SDKs and tools can use Shoal: point them at
http://HOST:PORT (for example BaseEndpoint in the Go SDK, --endpoint-url in
the AWS CLI). Records are fdatasync'd before a put returns. The keys of
StartStreamEncryption are kept in DATA/keys/keyring.json (mode 0600): a
stream whose key is lost fails its puts and reads (KMSNotFoundException),
it never turns plaintext. The secret that signs shard iterators and
NextTokens is kept in DATA/keys/token.key (mode 0600), so they stay valid
across restarts. Account quotas (--shard-limit, --on-demand-stream-limit)
are enforced as DescribeLimits reports them. /healthz answers
200 while every shard can be written, and 503 listing the shards whose
writes are failing (a full disk, say); /metrics serves Prometheus metrics
(no signature needed). SIGINT or SIGTERM stops it gracefully.

It also serves the Amazon Data Firehose API (X-Amz-Target
Firehose_20150804.*, SigV4 service "firehose") on the same address, behind
the same admission control. Delivery streams are kept in DATA/firehose:
DirectPut streams are backed by a log of their own there (not listed by
Kinesis's ListStreams); KinesisStreamAsSource streams read this server's
Kinesis streams. S3 destinations write to DATA/firehose/objects/BUCKET/, or
to the S3-compatible service at --s3-endpoint; Redshift destinations write
to PostgreSQL (Redshift speaks its protocol): the ClusterJDBCURL
jdbc:postgresql://HOST:PORT/DB with Username and Password, or when it is
empty --archive-postgres (SHOAL_ARCHIVE_POSTGRES).

Requests past --max-inflight-requests, or whose bodies and GetRecords
responses do not fit in --max-inflight-bytes, are refused at once with
ProvisionedThroughputExceededException (PutRecord(s), GetRecords,
GetShardIterator) or LimitExceededException (the rest), which the SDKs
retry with backoff. A body that takes longer than --body-timeout to arrive,
or that arrives slower than --min-body-rate on average once
--body-rate-grace has passed, is refused with RequestTimeout and its
connection closed.

With --postgres URL (or SHOAL_POSTGRES) the log lives in PostgreSQL, in
the schema --postgres-schema ("shoal"), instead of in DATA: several
servers, and other processes, may run on one schema at once, and each
sees the streams, records and reshards of the others. A put is
acknowledged after its COMMIT, as durable as the server's
synchronous_commit makes it. The secret of shard iterators and NextTokens
is kept in the schema, so any of the servers accepts the tokens of
another. Firehose is not served (its delivery streams are kept in a local
directory, which servers sharing a log cannot share), nor is
StartStreamEncryption (its keyring is a local file too); nothing is
written to DATA. /healthz answers 503 while PostgreSQL is unreachable.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "shoal serve: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		fmt.Fprintln(stderr, "shoal serve: --tls-cert and --tls-key go together")
		fs.Usage()
		return 2
	}
	if msg := checkPostgresFlags(fs, &opts); msg != "" {
		fmt.Fprintln(stderr, "shoal serve: "+msg)
		fs.Usage()
		return 2
	}
	if opts.Postgres == "" && opts.DataDir == "" {
		fmt.Fprintln(stderr, "shoal serve: --data must name a directory")
		fs.Usage()
		return 2
	}
	if err := checkARNScope(opts.Region, opts.Account); err != nil {
		fmt.Fprintf(stderr, "shoal serve: %v\n", err)
		return 2
	}
	if opts.Firehose.StreamLimit < 0 {
		fmt.Fprintln(stderr, "shoal serve: --firehose-stream-limit must be 0 (unlimited) or more")
		return 2
	}
	if opts.Limits.Shards < 0 || opts.Limits.OnDemandStreams < 0 {
		fmt.Fprintln(stderr, "shoal serve: --shard-limit and --on-demand-stream-limit must be 0 (unlimited) or more")
		return 2
	}
	opts.logger = slog.New(slog.NewTextHandler(stderr, nil))
	opts.MaxInflightBytes = int64(maxBytes)
	opts.MinBodyRate = int64(minRate)
	if opts.MinBodyRate == 0 {
		opts.MinBodyRate = -1 // off
	}
	if msg := checkLimits(opts); msg != "" {
		fmt.Fprintln(stderr, "shoal serve: "+msg)
		fs.Usage()
		return 2
	}
	opts.logf = func(format string, args ...any) { fmt.Fprintf(stdout, format+"\n", args...) }
	if err := serve(ctx, opts); err != nil {
		fmt.Fprintf(stderr, "shoal serve: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the server until ctx is done, then shuts it down gracefully:
// requests in flight finish (within ShutdownTimeout), then the log closes.
func serve(ctx context.Context, opts serveOptions) error {
	var verifier, fhVerifier *awsproto.Verifier
	if opts.Credentials != "" {
		creds, err := awsproto.LoadCredentials(opts.Credentials)
		if err != nil {
			return err
		}
		verifier = &awsproto.Verifier{Credentials: creds, Service: "kinesis", MaxSkew: opts.MaxClockSkew}
		fhVerifier = &awsproto.Verifier{Credentials: creds, Service: firehose.SigningName, MaxSkew: opts.MaxClockSkew}
	}
	logger := opts.logger
	if logger == nil {
		logger = slog.Default()
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "000000000000"
	}
	if err := checkARNScope(opts.Region, opts.Account); err != nil {
		return err
	}
	open := openFileStorage
	if opts.Postgres != "" {
		open = openPostgresStorage
	}
	st, err := open(ctx, opts, logger)
	if err != nil {
		return err
	}
	defer st.close()
	log := st.log

	reg := metrics.New()
	var api http.Handler = kinesis.Handler(log, kinesis.WithShutdown(ctx), kinesis.WithRecorder(reg), kinesis.WithKeyring(st.keys), kinesis.WithLogger(logger))
	if st.kinesisFilter != nil {
		api = st.kinesisFilter(api)
	}
	var fhAPI http.Handler
	fhStreams := 0
	if st.noFirehose != "" {
		fhAPI = firehoseUnavailable(st.noFirehose)
	} else {
		// Firehose's delivery streams stop (delivering what they
		// buffered) before the Kinesis log they may read closes.
		fh, err := openFirehose(ctx, opts, log, reg, logger)
		if err != nil {
			return err
		}
		defer fh.Close()
		fhAPI = firehose.Handler(fh, firehose.WithLogger(logger))
		fhStreams = fh.Len()
	}
	if verifier != nil {
		api = verifier.Wrap(api)
		fhAPI = fhVerifier.Wrap(fhAPI)
	}
	api = routeByTarget(api, fhAPI)
	// Admission control before the signature check reads a body.
	ctl := admission.New(admission.WithMaxRequests(opts.MaxInflightRequests), admission.WithMaxBytes(opts.MaxInflightBytes),
		admission.WithBodyTimeout(opts.BodyTimeout), admission.WithMaxBodySize(awsproto.MaxBodySize),
		admission.WithMinBodyRate(minBodyRate(opts.MinBodyRate), cmp.Or(opts.BodyRateGrace, -1)),
		admission.WithThrottleType(throttleType))
	api = firehoseThrottleStatus(ctl.Handler(api))
	api = reg.Observe(api) // counts signature errors and refusals too
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg) // unsigned, like /healthz: for scrapers
	mux.Handle("GET /healthz", st.health)
	mux.Handle("/", api)

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	srv.Protocols.SetUnencryptedHTTP2(true) // h2c: SubscribeToShard over HTTP/2 without TLS
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if opts.TLSCert != "" {
		scheme = "https"
	}
	if opts.logf != nil {
		auth := "any signature accepted"
		if verifier != nil {
			auth = fmt.Sprintf("SigV4 required (%d keys)", len(verifier.Credentials))
		}
		opts.logf("shoal serve: Kinesis Data Streams API at %s://%s, %s, %s", scheme, ln.Addr(), st.where, auth)
		if st.noFirehose != "" {
			opts.logf("shoal serve: Firehose API not served: %s", st.noFirehose)
		} else {
			opts.logf("shoal serve: Firehose API at the same address, %d delivery streams in %s", fhStreams, filepath.Join(opts.DataDir, "firehose"))
		}
	}
	if opts.logf != nil {
		rate, grace := ctl.MinBodyRate()
		bodies := fmt.Sprintf("bodies within %s", ctl.BodyTimeout())
		if rate > 0 {
			bodies += fmt.Sprintf(", at %s/s or more after %s", byteSize(rate), grace)
		}
		opts.logf("shoal serve: at most %d requests and %d MiB in flight, %s", ctl.MaxRequests(), ctl.MaxBytes()>>20, bodies)
	}
	if opts.ready != nil {
		opts.ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() {
		if opts.TLSCert != "" {
			errc <- srv.ServeTLS(ln, opts.TLSCert, opts.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	timeout := opts.ShutdownTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if opts.logf != nil {
		opts.logf("shoal serve: stopped")
	}
	return nil
}

// minBodyRate maps serveOptions.MinBodyRate to admission.WithMinBodyRate's
// rate: zero is the default, negative is off.
func minBodyRate(r int64) int64 {
	switch {
	case r == 0:
		return admission.DefaultMinBodyRate
	case r < 0:
		return 0
	}
	return r
}

var (
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
)

// checkARNScope validates --region (like us-east-1) and --account-id (12
// digits).
func checkARNScope(region, account string) error {
	if !regionPattern.MatchString(region) {
		return fmt.Errorf("--region %q is not an AWS region name (like us-east-1)", region)
	}
	if !accountPattern.MatchString(account) {
		return fmt.Errorf("--account-id %q is not a 12-digit AWS account ID", account)
	}
	return nil
}

// serveStorage is what shoal serve runs on: the log, the keyring of
// stream encryption and what depends on where they are kept.
type serveStorage struct {
	log  *shardlog.Log
	keys *kinesis.Keyring
	// health answers /healthz.
	health http.Handler
	// where describes the storage in the start-up line.
	where string
	// kinesisFilter, if set, wraps the Kinesis API (to refuse what the
	// storage cannot do).
	kinesisFilter func(http.Handler) http.Handler
	// noFirehose, if set, says why the Firehose API is not served.
	noFirehose string
	// close closes the keyring and the log.
	close func()
}

// openFileStorage opens the file engine in DataDir, with the token secret
// and the keyring kept next to it.
func openFileStorage(ctx context.Context, opts serveOptions, logger *slog.Logger) (*serveStorage, error) {
	eng, err := file.Open(opts.DataDir, file.WithSync(file.SyncAlways), file.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	// Tokens are signed with a secret kept with the data, so iterators
	// and NextTokens outlive a restart.
	secret, err := loadTokenSecret(filepath.Join(opts.DataDir, "keys", "token.key"))
	if err != nil {
		_ = eng.Close()
		return nil, err
	}
	log, err := shardlog.Open(ctx, eng, shardlog.WithLogger(logger), shardlog.WithTokenSecret(secret),
		shardlog.WithARNScope(opts.Region, opts.Account), shardlog.WithAccountLimits(opts.Limits))
	if err != nil {
		_ = eng.Close()
		return nil, err
	}
	// The keys of stream encryption live next to the log they protect
	// (the engine's LOCK already keeps a second server out of DATA).
	keys, err := kinesis.OpenKeyring(filepath.Join(opts.DataDir, "keys"))
	if err != nil {
		_ = log.Close()
		return nil, err
	}
	if err := keys.MigrateStreams(ctx, log); err != nil {
		_ = keys.Close()
		_ = log.Close()
		return nil, err
	}
	return &serveStorage{
		log: log, keys: keys, health: healthz(eng), where: "data in " + opts.DataDir,
		close: func() {
			_ = keys.Close()
			_ = log.Close()
		},
	}, nil
}
