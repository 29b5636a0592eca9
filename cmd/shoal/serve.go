package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/shoal-dev/shoal/server/awsproto"
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
	ready           func(addr string) // tests: called once listening
	logf            func(format string, args ...any)
}

func runServeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shoal serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts serveOptions
	fs.StringVar(&opts.Addr, "addr", "127.0.0.1:4567", "the `address` to listen on")
	fs.StringVar(&opts.DataDir, "data", "./data", "the file engine's data `directory` (created if needed)")
	fs.StringVar(&opts.Credentials, "credentials", "", "a `file` of \"ACCESS_KEY_ID SECRET\" lines: requests must then carry a valid SigV4 signature (without it, any signature is accepted)")
	fs.StringVar(&opts.TLSCert, "tls-cert", "", "a PEM certificate `file`: serve HTTPS (with --tls-key)")
	fs.StringVar(&opts.TLSKey, "tls-key", "", "the PEM private key `file` of --tls-cert")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: shoal serve [--addr HOST:PORT] [--data DIR] [--credentials FILE] [--tls-cert FILE --tls-key FILE]

Serves the Amazon Kinesis Data Streams API (AWS JSON 1.1) over the embedded
file engine, so AWS SDKs and tools can use Shoal: point them at
http://HOST:PORT (for example BaseEndpoint in the Go SDK, --endpoint-url in
the AWS CLI). Records are fdatasync'd before a put returns. The keys of
StartStreamEncryption are kept in DATA/keys/keyring.json (mode 0600). /healthz answers
200 while the server runs; /metrics serves Prometheus metrics (no signature
needed). SIGINT or SIGTERM stops it gracefully.

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
	if opts.DataDir == "" {
		fmt.Fprintln(stderr, "shoal serve: --data must name a directory")
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
	var verifier *awsproto.Verifier
	if opts.Credentials != "" {
		creds, err := awsproto.LoadCredentials(opts.Credentials)
		if err != nil {
			return err
		}
		verifier = &awsproto.Verifier{Credentials: creds, Service: "kinesis"}
	}
	eng, err := file.Open(opts.DataDir, file.WithSync(file.SyncAlways))
	if err != nil {
		return err
	}
	log, err := shardlog.Open(ctx, eng)
	if err != nil {
		_ = eng.Close()
		return err
	}
	defer log.Close()
	// The keys of stream encryption live next to the log they protect
	// (the engine's LOCK already keeps a second server out of DATA).
	keys, err := kinesis.OpenKeyring(filepath.Join(opts.DataDir, "keys"))
	if err != nil {
		return err
	}
	defer keys.Close()

	reg := metrics.New()
	var api http.Handler = kinesis.Handler(log, kinesis.WithShutdown(ctx), kinesis.WithRecorder(reg), kinesis.WithKeyring(keys))
	if verifier != nil {
		api = verifier.Wrap(api)
	}
	api = reg.Observe(api) // counts signature errors too
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg) // unsigned, like /healthz: for scrapers
	mux.Handle("GET /healthz", healthz(eng))
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
		opts.logf("shoal serve: Kinesis Data Streams API at %s://%s, data in %s, %s", scheme, ln.Addr(), opts.DataDir, auth)
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
