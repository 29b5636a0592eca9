package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/stretchr/testify/require"
)

// TestServeAdmission: with --max-inflight-requests 1, a slow body holds
// the only slot; meanwhile the data plane is refused with
// ProvisionedThroughputExceededException and the control plane with
// LimitExceededException. Without --credentials the slow body is cut at
// --body-timeout with RequestTimeout and its connection closed; then
// requests get in again.
func TestServeAdmission(t *testing.T) {
	ctx := t.Context()
	const bodyTimeout = 3 * time.Second
	addr, stop := startServe(t, serveOptions{DataDir: t.TempDir(), MaxInflightRequests: 1, BodyTimeout: bodyTimeout})
	base := "http://" + addr
	c := newClient(base, nil, "", "")
	createStream(t, ctx, c, "s", 1)

	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	start := time.Now()
	_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: Kinesis_20131202.PutRecord\r\nContent-Type: application/x-amz-json-1.1\r\nTransfer-Encoding: chunked\r\n\r\n", addr)
	require.NoError(t, err)
	trickle := make(chan struct{})
	defer close(trickle)
	go func() {
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 1024, strings.Repeat(" ", 1024))
		for {
			if _, err := io.WriteString(conn, chunk); err != nil {
				return
			}
			select {
			case <-trickle:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	// Wait until the slow request holds the slot.
	for {
		_, body := httpGet(t, http.DefaultClient, base+"/metrics")
		if strings.Contains(body, "shoal_kinesis_requests_in_flight 1\n") {
			break
		}
		require.Less(t, time.Since(start), bodyTimeout/2, "the slow request never got in")
		time.Sleep(10 * time.Millisecond)
	}
	_, err = c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("x"), PartitionKey: aws.String("k")})
	require.Equal(t, "ProvisionedThroughputExceededException", apiErrorCode(err), "%v", err)
	_, err = c.ListStreams(ctx, &sdk.ListStreamsInput{})
	require.Equal(t, "LimitExceededException", apiErrorCode(err), "%v", err)

	_ = conn.SetReadDeadline(time.Now().Add(3 * bodyTimeout))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(b))
	require.Equal(t, "RequestTimeout", resp.Header.Get("X-Amzn-ErrorType"), string(b))
	require.GreaterOrEqual(t, time.Since(start), bodyTimeout)
	_, err = br.ReadByte()
	require.Error(t, err, "the connection is closed")

	out, err := c.ListStreams(ctx, &sdk.ListStreamsInput{})
	require.NoError(t, err)
	require.Equal(t, []string{"s"}, out.StreamNames)
	require.NoError(t, stop())
}

// TestServeClockSkew: with --credentials a request signed 3 minutes off
// passes the default skew (5 minutes, as AWS) and is refused under
// --max-clock-skew 1m.
func TestServeClockSkew(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, os.WriteFile(creds, []byte("AKIDGOOD secretgood\n"), 0o600))
	send := func(t *testing.T, addr string, at time.Time) (int, string) {
		t.Helper()
		body := "{}"
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
		sum := sha256.Sum256([]byte(body))
		require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDGOOD", SecretAccessKey: "secretgood"},
			req, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", at))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	addr, stop := startServe(t, serveOptions{DataDir: t.TempDir(), Credentials: creds})
	code, body := send(t, addr, time.Now().Add(-3*time.Minute))
	require.Equal(t, http.StatusOK, code, body)
	code, body = send(t, addr, time.Now().Add(-6*time.Minute))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "Signature expired")
	require.NoError(t, stop())

	addr, stop = startServe(t, serveOptions{DataDir: t.TempDir(), Credentials: creds, MaxClockSkew: time.Minute})
	code, body = send(t, addr, time.Now().Add(-3*time.Minute))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "1 min.")
	require.NoError(t, stop())
}

// TestServeLimitFlags: the admission and skew flags are checked.
func TestServeLimitFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-inflight-requests", "0"}, "--max-inflight-requests must be at least 1"},
		{[]string{"--max-inflight-bytes", "63MiB"}, "--max-inflight-bytes must be at least 64MiB"},
		{[]string{"--max-inflight-bytes", "lots"}, `invalid value "lots" for flag -max-inflight-bytes`},
		{[]string{"--body-timeout", "0s"}, "--body-timeout must be positive"},
		{[]string{"--max-clock-skew", "-1s"}, "--max-clock-skew must be positive"},
		{[]string{"--body-rate-grace", "0s"}, "--body-rate-grace must be positive"},
		{[]string{"--min-body-rate", "-1"}, `invalid value "-1" for flag -min-body-rate`},
	} {
		var stdout, stderr bytes.Buffer
		code := runServeCommand(t.Context(), append([]string{"--data", t.TempDir()}, c.args...), &stdout, &stderr)
		require.Equal(t, 2, code, "%v: %s", c.args, stderr.String())
		require.Contains(t, stderr.String(), c.want, "%v", c.args)
	}

	// Good values reach the server.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := runServeCommand(ctx, []string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--max-inflight-requests", "7",
		"--max-inflight-bytes", "80MiB", "--body-timeout", "3s", "--max-clock-skew", "2m",
		"--min-body-rate", "128KiB", "--body-rate-grace", "2s"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	require.Contains(t, stdout.String(), "at most 7 requests and 80 MiB in flight, bodies within 3s, at 128KiB/s or more after 2s\n")

	// The defaults, and --min-body-rate 0 turning the minimum off.
	for args, want := range map[string]string{"": "bodies within 1m0s, at 64KiB/s or more after 5s\n", "--min-body-rate=0": "bodies within 1m0s\n"} {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		var stdout, stderr bytes.Buffer
		code := runServeCommand(ctx, append([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir()}, strings.Fields(args)...), &stdout, &stderr)
		cancel()
		require.Equal(t, 0, code, "stderr: %s", stderr.String())
		require.Contains(t, stdout.String(), want, args)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1234": 1234, "3KiB": 3 << 10, "48MiB": 48 << 20, "2GiB": 2 << 30} {
		var b byteSize
		require.NoError(t, b.Set(in), in)
		require.Equal(t, want, int64(b), in)
	}
	for _, in := range []string{"", "x", "-1", "1.5GiB", "1TB", "9999999999GiB"} {
		var b byteSize
		require.Error(t, b.Set(in), in)
	}
	require.Equal(t, "1GiB", byteSize(1<<30).String())
	require.Equal(t, "1536KiB", byteSize(1536<<10).String())
	require.Equal(t, "100", byteSize(100).String())
}
