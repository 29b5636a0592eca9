package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/internal/sdktest"
)

// startServe runs serve in this process with opts (Addr 127.0.0.1:0 if
// unset) and returns its address and a stop function that cancels its
// context and returns serve's result. The test stops it at the end if it
// did not.
func startServe(t *testing.T, opts serveOptions) (string, func() error) {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	opts.logf = t.Logf
	ready := make(chan string, 1)
	opts.ready = func(addr string) { ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, opts) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not listen within 30s")
	}
	var result error
	stopped := false
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not return within 30s of its context's end")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return addr, stop
}

// newClient returns an SDK client of endpoint without retries (a test
// sees every error), signing with key and secret ("AKID", "SECRET" if
// empty), over hc if not nil.
func newClient(endpoint string, hc *http.Client, key, secret string) *sdk.Client {
	if key == "" {
		key, secret = "AKID", "SECRET"
	}
	o := sdk.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		Retryer:      sdktest.Retryer(),
	}
	if hc != nil {
		o.HTTPClient = hc
	}
	return sdk.New(o)
}

// createStream creates a stream of n shards and waits until it is ACTIVE.
func createStream(t *testing.T, ctx context.Context, c *sdk.Client, name string, n int32) {
	t.Helper()
	_, err := c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(n)})
	require.NoError(t, err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := c.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		require.NoError(t, err)
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		require.True(t, time.Now().Before(deadline), "stream %s not ACTIVE after 10s", name)
		time.Sleep(10 * time.Millisecond)
	}
}

// shardRecords are the records of one shard, in order.
type shardRecords struct {
	shard   string
	records []types.Record
}

// readStream reads every shard of stream from TRIM_HORIZON to its tip.
func readStream(t *testing.T, ctx context.Context, c *sdk.Client, stream string) []shardRecords {
	t.Helper()
	var shards []types.Shard
	in := &sdk.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := c.ListShards(ctx, in)
		require.NoError(t, err)
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &sdk.ListShardsInput{NextToken: out.NextToken}
	}
	require.NotEmpty(t, shards)
	var all []shardRecords
	for _, sh := range shards {
		it, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		require.NoError(t, err)
		sr := shardRecords{shard: aws.ToString(sh.ShardId)}
		iter := it.ShardIterator
		for calls := 0; iter != nil; calls++ {
			require.Less(t, calls, 100000, "shard %s: no end in sight", sr.shard)
			out, err := c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			require.NoError(t, err)
			sr.records = append(sr.records, out.Records...)
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break // the tip of an open shard
			}
			iter = out.NextShardIterator
		}
		all = append(all, sr)
	}
	return all
}

// recordData returns the data of every record of stream, in shard then
// sequence order.
func recordData(t *testing.T, ctx context.Context, c *sdk.Client, stream string) []string {
	t.Helper()
	var data []string
	for _, sr := range readStream(t, ctx, c, stream) {
		for _, r := range sr.records {
			data = append(data, string(r.Data))
		}
	}
	return data
}

func httpGet(t *testing.T, hc *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := hc.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func apiErrorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// TestServe: the API through the SDK, /healthz, /metrics, graceful stop,
// and the data still there after a restart on the same directory.
func TestServe(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	addr, stop := startServe(t, serveOptions{DataDir: dir})
	base := "http://" + addr

	code, body := httpGet(t, http.DefaultClient, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)

	c := newClient(base, nil, "", "")
	createStream(t, ctx, c, "s", 2)
	var want []string
	var entries []types.PutRecordsRequestEntry
	for i := range 20 {
		d := fmt.Sprintf("record %02d", i)
		want = append(want, d)
		entries = append(entries, types.PutRecordsRequestEntry{Data: []byte(d), PartitionKey: aws.String(fmt.Sprint("k", i))})
	}
	out, err := c.PutRecords(ctx, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
	require.NoError(t, err)
	require.Zero(t, aws.ToInt32(out.FailedRecordCount))
	shardsUsed := map[string]bool{}
	for _, r := range out.Records {
		require.NotEmpty(t, aws.ToString(r.SequenceNumber))
		shardsUsed[aws.ToString(r.ShardId)] = true
	}
	require.Len(t, shardsUsed, 2, "20 keys over 2 shards")
	_, err = c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("single"), PartitionKey: aws.String("k")})
	require.NoError(t, err)
	want = append(want, "single")
	_, err = c.DescribeStream(ctx, &sdk.DescribeStreamInput{StreamName: aws.String("nope")})
	require.Equal(t, "ResourceNotFoundException", apiErrorCode(err))

	got := recordData(t, ctx, c, "s")
	require.ElementsMatch(t, want, got)

	// Sequence order within each shard.
	for _, sr := range readStream(t, ctx, c, "s") {
		seqs := make([]string, len(sr.records))
		for i, r := range sr.records {
			seqs[i] = aws.ToString(r.SequenceNumber)
		}
		require.True(t, slices.IsSortedFunc(seqs, func(a, b string) int {
			if len(a) != len(b) {
				return len(a) - len(b)
			}
			return strings.Compare(a, b)
		}), "shard %s: %v", sr.shard, seqs)
	}

	// /metrics counts what the API served.
	code, body = httpGet(t, http.DefaultClient, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, s := range []string{
		"# TYPE shoal_kinesis_requests_total counter\n",
		`shoal_kinesis_requests_total{operation="PutRecords"} 1` + "\n",
		`shoal_kinesis_requests_total{operation="PutRecord"} 1` + "\n",
		`shoal_kinesis_requests_total{operation="CreateStream"} 1` + "\n",
		`shoal_kinesis_errors_total{operation="DescribeStream",exception="ResourceNotFoundException"} 1` + "\n",
		`shoal_kinesis_request_duration_seconds_count{operation="GetRecords"} `,
		"shoal_kinesis_requests_in_flight 0\n",
		// The data metrics, from the API itself: 21 records in.
		`shoal_kinesis_incoming_records_total{stream="s"} 21` + "\n",
		`shoal_kinesis_outgoing_records_total{stream="s"} `,
	} {
		require.Contains(t, body, s)
	}
	require.NotContains(t, body, "healthz")

	require.NoError(t, stop(), "a graceful stop returns nil")
	_, err = http.Get(base + "/healthz")
	require.Error(t, err, "stopped")

	// Again on the same directory: the stream and its records are there.
	addr, stop = startServe(t, serveOptions{DataDir: dir})
	c = newClient("http://"+addr, nil, "", "")
	ls, err := c.ListStreams(ctx, &sdk.ListStreamsInput{})
	require.NoError(t, err)
	require.Equal(t, []string{"s"}, ls.StreamNames)
	require.ElementsMatch(t, want, recordData(t, ctx, c, "s"))
	require.NoError(t, stop())
}

// TestServeEncryption: records put on an encrypted stream are not stored
// in the clear, and read back as plaintext after a restart on the same
// directory (the keyring is kept in DATA/keys).
func TestServeEncryption(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	addr, stop := startServe(t, serveOptions{DataDir: dir})
	c := newClient("http://"+addr, nil, "", "")
	createStream(t, ctx, c, "enc", 1)
	_, err := c.StartStreamEncryption(ctx, &sdk.StartStreamEncryptionInput{
		StreamName: aws.String("enc"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis"),
	})
	require.NoError(t, err)
	secret := "a secret record 7f3a"
	out, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("enc"), Data: []byte(secret), PartitionKey: aws.String("k")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeKms, out.EncryptionType)
	require.Equal(t, []string{secret}, recordData(t, ctx, c, "enc"))
	require.NoError(t, stop())

	keyring, err := os.Stat(filepath.Join(dir, "keys", "keyring.json"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), keyring.Mode().Perm())
	// The plaintext is nowhere in the data directory.
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NotContains(t, string(b), secret, path)
		return nil
	}))

	addr, stop = startServe(t, serveOptions{DataDir: dir})
	c = newClient("http://"+addr, nil, "", "")
	require.Equal(t, []string{secret}, recordData(t, ctx, c, "enc"))
	sum, err := c.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("enc")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeKms, sum.StreamDescriptionSummary.EncryptionType)
	require.Equal(t, "alias/aws/kinesis", aws.ToString(sum.StreamDescriptionSummary.KeyId))
	require.NoError(t, stop())
}

// TestServeCredentials: with --credentials, a correctly signed request is
// served; a wrong secret or an unknown key is refused.
func TestServeCredentials(t *testing.T) {
	ctx := t.Context()
	creds := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, os.WriteFile(creds, []byte("# test keys\nAKIDGOOD secretgood\nAKIDOTHER secretother\n"), 0o600))
	addr, stop := startServe(t, serveOptions{DataDir: t.TempDir(), Credentials: creds})
	base := "http://" + addr

	good := newClient(base, nil, "AKIDGOOD", "secretgood")
	createStream(t, ctx, good, "s", 1)
	_, err := good.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("x"), PartitionKey: aws.String("k")})
	require.NoError(t, err)
	_, err = newClient(base, nil, "AKIDOTHER", "secretother").ListStreams(ctx, &sdk.ListStreamsInput{})
	require.NoError(t, err)

	_, err = newClient(base, nil, "AKIDGOOD", "wrong").PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("y"), PartitionKey: aws.String("k")})
	require.Equal(t, "InvalidSignatureException", apiErrorCode(err), "%v", err)
	_, err = newClient(base, nil, "AKIDNONE", "secretgood").ListStreams(ctx, &sdk.ListStreamsInput{})
	require.Equal(t, "UnrecognizedClientException", apiErrorCode(err), "%v", err)
	require.Equal(t, []string{"x"}, recordData(t, ctx, good, "s"), "the refused put wrote nothing")

	// /healthz and /metrics need no signature; refusals are counted.
	code, _ := httpGet(t, http.DefaultClient, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body := httpGet(t, http.DefaultClient, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `shoal_kinesis_errors_total{operation="unauthenticated",exception="InvalidSignatureException"} 1`+"\n")
	require.Contains(t, body, `shoal_kinesis_errors_total{operation="unauthenticated",exception="UnrecognizedClientException"} 1`+"\n")
	require.NoError(t, stop())

	// A bad credentials file fails serve before it listens.
	bad := filepath.Join(t.TempDir(), "bad")
	require.NoError(t, os.WriteFile(bad, []byte("only-one-field\n"), 0o600))
	err = serve(ctx, serveOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Credentials: bad, ready: func(string) { t.Error("listening") }})
	require.ErrorContains(t, err, "bad:1")
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and localhost
// and its key, as PEM files, and returns their paths and a pool trusting
// the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "shoal test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600))
	return certFile, keyFile, pool
}

// TestServeTLS: with --tls-cert and --tls-key the API is served over
// HTTPS (HTTP/2 when negotiated), to a client trusting the certificate.
func TestServeTLS(t *testing.T) {
	ctx := t.Context()
	certFile, keyFile, pool := selfSigned(t)
	addr, stop := startServe(t, serveOptions{DataDir: t.TempDir(), TLSCert: certFile, TLSKey: keyFile})
	base := "https://" + addr
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	resp, err := hc.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 2, resp.ProtoMajor, "HTTP/2 over TLS")

	c := newClient(base, hc, "", "")
	createStream(t, ctx, c, "tls", 1)
	_, err = c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("tls"), Data: []byte("secret"), PartitionKey: aws.String("k")})
	require.NoError(t, err)
	require.Equal(t, []string{"secret"}, recordData(t, ctx, c, "tls"))

	// A client that does not trust the certificate, or speaks plain HTTP,
	// gets nowhere.
	_, err = http.Get(base + "/healthz")
	var unknownAuthority x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknownAuthority)
	_, err = newClient("http://"+addr, nil, "", "").ListStreams(ctx, &sdk.ListStreamsInput{})
	require.Error(t, err)
	tr.CloseIdleConnections() // else the HTTP/2 shutdown waits 1s for the client to go
	require.NoError(t, stop())

	// A missing key file fails serve.
	err = serve(ctx, serveOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir(), TLSCert: certFile, TLSKey: keyFile + ".missing"})
	require.Error(t, err)
}

// TestServeCommand: the flags of shoal serve and their exit codes.
func TestServeCommand(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--tls-cert", "c.pem"}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", "k.pem"}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--data", t.TempDir(), "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"--data", ""}, 2, "--data must name a directory"},
		{[]string{"-h"}, 0, "Usage: shoal serve"},
		{[]string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--credentials", filepath.Join(t.TempDir(), "missing")}, 1, "shoal serve: open "},
		{[]string{"--addr", "not an address", "--data", t.TempDir()}, 1, "shoal serve: listen tcp"},
	} {
		var stdout, stderr bytes.Buffer
		code := runServeCommand(t.Context(), c.args, &stdout, &stderr)
		require.Equal(t, c.code, code, "%v: stderr %s", c.args, stderr.String())
		require.Contains(t, stderr.String(), c.want, "%v", c.args)
		if c.code == 2 {
			require.Contains(t, stderr.String(), "Usage: shoal serve", "%v", c.args)
		}
	}

	// Through run: serves until the context ends, then exits 0.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	require.Contains(t, stdout.String(), "Kinesis Data Streams API at http://127.0.0.1:")
	require.Contains(t, stdout.String(), "shoal serve: stopped")
	require.Empty(t, stderr.String())
}
