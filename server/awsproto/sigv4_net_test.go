package awsproto_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// signAuthority signs r by hand as the JavaScript SDK v3 does over
// HTTP/2: ":authority" (the host) in place of "host", and the payload hash
// in X-Amz-Content-Sha256. The canonical request is built here from the
// SigV4 specification, independently of the server's code.
func signAuthority(t *testing.T, r *http.Request, body, secret string, at time.Time) {
	t.Helper()
	date := at.UTC().Format("20060102T150405Z")
	day := date[:8]
	payload := hashHex([]byte(body))
	r.Header.Set("X-Amz-Date", date)
	r.Header.Set("X-Amz-Content-Sha256", payload)
	values := map[string]string{
		":authority":           r.Host,
		"content-type":         r.Header.Get("Content-Type"),
		"x-amz-content-sha256": payload,
		"x-amz-date":           date,
		"x-amz-target":         r.Header.Get("X-Amz-Target"),
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	var canonical strings.Builder
	canonical.WriteString("POST\n/\n\n")
	for _, n := range names {
		canonical.WriteString(n + ":" + values[n] + "\n")
	}
	signed := strings.Join(names, ";")
	canonical.WriteString("\n" + signed + "\n" + payload)
	scope := day + "/us-east-1/kinesis/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + date + "\n" + scope + "\n" + hashHex([]byte(canonical.String()))
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), day)
	k = mac(k, "us-east-1")
	k = mac(k, "kinesis")
	k = mac(k, "aws4_request")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testKey+"/"+scope+", SignedHeaders="+signed+
		", Signature="+hex.EncodeToString(mac(k, sts)))
}

// TestVerifyAuthority: a request that signs ":authority" instead of
// "host" (the JavaScript SDK v3 over HTTP/2) is accepted; a wrong secret
// or another host is still refused.
func TestVerifyAuthority(t *testing.T) {
	r := newRequest("/", testBody)
	signAuthority(t, r, testBody, testSecret, signTime)
	if err := testVerifier().Verify(r, []byte(testBody)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	const mismatch = "The request signature we calculated does not match"
	r = newRequest("/", testBody)
	signAuthority(t, r, testBody, "wrong", signTime)
	wantError(t, testVerifier().Verify(r, []byte(testBody)), awsproto.InvalidSignature, mismatch)

	r = newRequest("/", testBody)
	signAuthority(t, r, testBody, testSecret, signTime)
	r.Host = "evil.local"
	wantError(t, testVerifier().Verify(r, []byte(testBody)), awsproto.InvalidSignature, mismatch)
}

// TestWrapAuthorityOverH2C sends requests signed with ":authority" over
// HTTP/2 without TLS (h2c), as the JavaScript SDK v3 does by default.
func TestWrapAuthorityOverH2C(t *testing.T) {
	v := testVerifier()
	v.Now = nil
	var protos atomic.Int32
	srv := httptest.NewUnstartedServer(v.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos.Store(int32(r.ProtoMajor))
		b, _ := io.ReadAll(r.Body)
		if string(b) != testBody {
			t.Errorf("next got body %q", b)
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	do := func(secret string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(testBody))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", awsproto.JSON11)
		req.Header.Set("X-Amz-Target", testTarget)
		req.Host = strings.TrimPrefix(srv.URL, "http://")
		signAuthority(t, req, testBody, secret, time.Now())
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := do(testSecret); resp.StatusCode != http.StatusNoContent || resp.ProtoMajor != 2 || protos.Load() != 2 {
		t.Fatalf("status %d over HTTP/%d (server saw HTTP/%d), want 204 over HTTP/2", resp.StatusCode, resp.ProtoMajor, protos.Load())
	}
	if resp := do("wrong"); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Amzn-ErrorType") != awsproto.InvalidSignature {
		t.Fatalf("wrong secret: status %d, type %q", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
}

// presignTarget presigns a request whose operation is the X-Amz-Target
// query parameter, with no X-Amz-Target header.
func presignTarget(t *testing.T, target string) *http.Request {
	t.Helper()
	r := newRequest("/?X-Amz-Target="+url.QueryEscape(target)+"&X-Amz-Expires=300", testBody)
	r.Header.Del("X-Amz-Target")
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, hashHex([]byte(testBody)), "kinesis", "us-east-1", signTime)
	if err != nil {
		t.Fatal(err)
	}
	pr := httptest.NewRequest(http.MethodPost, u, strings.NewReader(testBody))
	for k, vs := range hdr {
		if k != "Host" {
			pr.Header[k] = vs
		}
	}
	pr.Header.Set("Content-Type", awsproto.JSON11)
	return pr
}

// TestPresignedTargetInQuery: a presigned request may carry its operation
// as the X-Amz-Target query parameter, which its signature covers; the
// Service dispatches on it.
func TestPresignedTargetInQuery(t *testing.T) {
	r := presignTarget(t, testTarget)
	if r.Header.Get("X-Amz-Target") != "" || awsproto.Target(r) != testTarget {
		t.Fatalf("Target = %q, header %q", awsproto.Target(r), r.Header.Get("X-Amz-Target"))
	}
	if err := testVerifier().Verify(r, []byte(testBody)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Another operation in the query breaks the signature.
	r = presignTarget(t, testTarget)
	q := r.URL.Query()
	q.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream")
	r.URL.RawQuery = q.Encode()
	wantError(t, testVerifier().Verify(r, []byte(testBody)), awsproto.InvalidSignature, "The request signature we calculated does not match")

	// Through Wrap and a Service: the query's operation runs.
	var ran string
	svc := &awsproto.Service{TargetPrefix: "Kinesis_20131202", Operations: map[string]awsproto.Handler{
		"PutRecord": func(_ context.Context, decode func(any) error) (any, error) {
			var in struct{ StreamName string }
			ran = "PutRecord"
			return nil, decode(&in)
		},
	}}
	v := testVerifier()
	w := httptest.NewRecorder()
	v.Wrap(svc).ServeHTTP(w, presignTarget(t, testTarget))
	if w.Code != http.StatusOK || ran != "PutRecord" {
		t.Fatalf("status %d, ran %q: %s", w.Code, ran, w.Body.String())
	}
	if !svc.Handles(presignTarget(t, testTarget)) {
		t.Fatal("Handles: false for a query target")
	}
}

// countingBody is a request body that records how much of it was read.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return nil }

// TestWrapRefusesBadSignatureBeforeBody: with X-Amz-Content-Sha256 the
// signature is checked before the body is read, so a caller who knows
// only an access key ID makes the server read none of a large body.
func TestWrapRefusesBadSignatureBeforeBody(t *testing.T) {
	big := strings.Repeat("x", 15<<20)
	v := testVerifier()
	var nextRan bool
	h := v.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nextRan = true
		b, _ := io.ReadAll(r.Body)
		if len(b) != len(big) {
			t.Errorf("next got %d bytes", len(b))
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	request := func(secret, sent string) (*http.Request, *countingBody) {
		r := newRequest("/", sent)
		r.Header.Set("X-Amz-Content-Sha256", hashHex([]byte(big)))
		sign(t, r, big, signOpts{key: testKey, secret: secret})
		body := &countingBody{r: strings.NewReader(sent)}
		r.Body = body
		return r, body
	}

	r, body := request("wrong", big)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	checkErrorResponse(t, w, awsproto.InvalidSignature)
	if n := body.read.Load(); n != 0 || nextRan {
		t.Fatalf("read %d bytes of a badly signed body (next ran: %v), want 0", n, nextRan)
	}

	// A good signature: the body is read, checked against the hash, passed on.
	r, body = request(testSecret, big)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNoContent || !nextRan || body.read.Load() != int64(len(big)) {
		t.Fatalf("status %d, next ran %v, read %d", w.Code, nextRan, body.read.Load())
	}

	// A good signature over a hash the body does not match.
	nextRan = false
	r, _ = request(testSecret, strings.Repeat("y", len(big)))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	checkErrorResponse(t, w, awsproto.InvalidSignature)
	if nextRan || !strings.Contains(w.Body.String(), "x-amz-content-sha256") {
		t.Fatalf("next ran %v: %s", nextRan, w.Body.String())
	}

	// A declared hash that is not a SHA-256 is refused unread.
	r, body = request(testSecret, big)
	r.Header.Set("X-Amz-Content-Sha256", "abc")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	checkErrorResponse(t, w, awsproto.InvalidSignature)
	if body.read.Load() != 0 {
		t.Fatalf("read %d bytes", body.read.Load())
	}
}

// TestWrapRefusesOversizedBodyUnread: a Content-Length over MaxBodySize
// is refused without reading the body.
func TestWrapRefusesOversizedBodyUnread(t *testing.T) {
	h := testVerifier().Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("next ran") }))
	r := newRequest("/", "")
	sign(t, r, "", signOpts{})
	body := &countingBody{r: strings.NewReader(strings.Repeat("x", awsproto.MaxBodySize+1))}
	r.Body, r.ContentLength = body, awsproto.MaxBodySize+1
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	checkErrorResponse(t, w, awsproto.Serialization)
	if body.read.Load() != 0 {
		t.Fatalf("read %d bytes", body.read.Load())
	}
}
