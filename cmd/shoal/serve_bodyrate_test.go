package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/require"
)

// pacedBody yields data at rate bytes a second, in pieces of 16 KiB.
type pacedBody struct {
	data  []byte
	rate  int
	start time.Time
	off   int
}

func (p *pacedBody) Read(b []byte) (int, error) {
	if p.off == len(p.data) {
		return 0, io.EOF
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	time.Sleep(time.Until(p.start.Add(time.Duration(float64(p.off) / float64(p.rate) * float64(time.Second)))))
	n := copy(b[:min(len(b), 16<<10)], p.data[p.off:])
	p.off += n
	return n, nil
}

// TestServeMinBodyRate: with and without --credentials, a chunked
// PutRecord body trickling at 1 KiB every 100 ms is refused with
// RequestTimeout once --body-rate-grace has passed (here 1 s), long
// before --body-timeout, and its connection is closed; with
// --credentials the caller knows only an access key ID. A signed PutRecords
// of 10 MiB sent at 1 MiB/s passes the defaults' 64 KiB/s.
func TestServeMinBodyRate(t *testing.T) {
	ctx := t.Context()
	creds := filepath.Join(t.TempDir(), "creds")
	require.NoError(t, os.WriteFile(creds, []byte("AKIDGOOD secretgood\n"), 0o600))
	const grace = time.Second
	for _, withCreds := range []bool{false, true} {
		t.Run(fmt.Sprintf("credentials=%v", withCreds), func(t *testing.T) {
			opts := serveOptions{DataDir: t.TempDir(), BodyRateGrace: grace}
			if withCreds {
				opts.Credentials = creds
			}
			addr, stop := startServe(t, opts)
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer conn.Close()
			start := time.Now()
			date := time.Now().UTC()
			_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: Kinesis_20131202.PutRecord\r\n"+
				"Content-Type: application/x-amz-json-1.1\r\nTransfer-Encoding: chunked\r\nX-Amz-Date: %s\r\n"+
				"Authorization: AWS4-HMAC-SHA256 Credential=AKIDGOOD/%s/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=%s\r\n\r\n",
				addr, date.Format("20060102T150405Z"), date.Format("20060102"), strings.Repeat("0", 64))
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
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err, "no answer to a slow body")
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(b))
			require.Equal(t, "RequestTimeout", resp.Header.Get("X-Amzn-ErrorType"), string(b))
			require.Contains(t, string(b), "arrived too slowly")
			require.GreaterOrEqual(t, took, grace)
			require.Less(t, took, grace+5*time.Second)
			_, err = br.ReadByte()
			require.Error(t, err)
			require.NotContains(t, err.Error(), "timeout", "the connection stayed open")
			t.Logf("slow body refused after %s", took)

			if withCreds {
				putRecordsPaced(t, ctx, addr)
			}
			require.NoError(t, stop())
		})
	}
}

// putRecordsPaced creates a stream of 5 shards and puts 5 records of
// 1 MiB (data and key), one a shard, the most PutRecords takes, in one
// signed PutRecords whose body, padded with white space to 10 MiB, is
// sent at 1 MiB/s.
func putRecordsPaced(t *testing.T, ctx context.Context, addr string) {
	c := newClient("http://"+addr, nil, "AKIDGOOD", "secretgood")
	createStream(t, ctx, c, "big", 5)
	var sb strings.Builder
	sb.WriteString(`{"StreamName":"big","Records":[`)
	step := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(5))
	data := base64.StdEncoding.EncodeToString(make([]byte, 1<<20-2))
	for i := range 5 {
		if i > 0 {
			sb.WriteByte(',')
		}
		hash := new(big.Int).Add(new(big.Int).Mul(step, big.NewInt(int64(i))), big.NewInt(1))
		fmt.Fprintf(&sb, `{"PartitionKey":"k%d","ExplicitHashKey":"%s","Data":"%s"}`, i, hash, data)
	}
	sb.WriteString(`]}`)
	sb.WriteString(strings.Repeat(" ", 10<<20-sb.Len()))
	body := []byte(sb.String())
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", &pacedBody{data: body, rate: 1 << 20})
	require.NoError(t, err)
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	sum := sha256.Sum256(body)
	require.NoError(t, v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "AKIDGOOD", SecretAccessKey: "secretgood"},
		req, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", time.Now()))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.Contains(t, string(b), `"FailedRecordCount":0`)
	t.Logf("PutRecords of %d bytes at 1 MiB/s took %s", len(body), time.Since(start))
}
