package awsproto_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"

	"github.com/shoal-dev/shoal/server/awsproto"
)

const (
	testKey    = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testHost   = "kinesis.local:4567"
	testTarget = "Kinesis_20131202.PutRecord"
	testBody   = `{"StreamName":"s","Data":"aGk=","PartitionKey":"k"}`
)

var signTime = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func testVerifier() *awsproto.Verifier {
	return &awsproto.Verifier{
		Credentials: awsproto.Credentials{testKey: testSecret, "OTHERKEY": "othersecret"},
		Service:     "kinesis",
		Now:         func() time.Time { return signTime.Add(time.Minute) },
	}
}

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// newRequest returns an unsigned Kinesis-style request.
func newRequest(target, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://"+testHost+target, strings.NewReader(body))
	r.Header.Set("Content-Type", awsproto.JSON11)
	r.Header.Set("X-Amz-Target", testTarget)
	return r
}

type signOpts struct {
	key, secret, token string
	service, region    string
	t                  time.Time
	payloadHash        string
}

func sign(t *testing.T, r *http.Request, body string, o signOpts) {
	t.Helper()
	if o.key == "" {
		o.key, o.secret = testKey, testSecret
	}
	if o.service == "" {
		o.service = "kinesis"
	}
	if o.region == "" {
		o.region = "us-east-1"
	}
	if o.t.IsZero() {
		o.t = signTime
	}
	if o.payloadHash == "" {
		o.payloadHash = hashHex([]byte(body))
	}
	creds := aws.Credentials{AccessKeyID: o.key, SecretAccessKey: o.secret, SessionToken: o.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, o.payloadHash, o.service, o.region, o.t); err != nil {
		t.Fatal(err)
	}
}

func wantError(t *testing.T, err error, typ string, msgPrefix string) {
	t.Helper()
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *awsproto.Error %s", err, typ)
	}
	if ae.Type != typ {
		t.Fatalf("err = %v, want type %s", err, typ)
	}
	if ae.Status != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400", ae.Status)
	}
	if !strings.HasPrefix(ae.Message, msgPrefix) {
		t.Fatalf("message = %q, want prefix %q", ae.Message, msgPrefix)
	}
}

func TestVerifyAcceptsSDKSignedRequests(t *testing.T) {
	tests := []struct {
		name   string
		target string // path and query
		body   string
		opts   signOpts
		mod    func(r *http.Request) // before signing
	}{
		{name: "post with body", target: "/", body: testBody},
		{name: "empty body", target: "/", body: ""},
		{name: "query string", target: "/?b=2&a=1&a=0&sp=x%20y&plus=a%2Bb&tilde=~&empty=&flag", body: testBody},
		{name: "escaped path", target: "/some%20path/a+b/%C3%A9/", body: testBody},
		{name: "no path", target: "", body: testBody},
		{name: "other region", target: "/", body: testBody, opts: signOpts{region: "eu-west-3"}},
		{name: "other key", target: "/", body: testBody, opts: signOpts{key: "OTHERKEY", secret: "othersecret"}},
		{name: "session token", target: "/", body: testBody, opts: signOpts{token: "session-token"}},
		{name: "skewed within bounds", target: "/", body: testBody, opts: signOpts{t: signTime.Add(-4 * time.Minute)}},
		{name: "skewed ahead within bounds", target: "/", body: testBody, opts: signOpts{t: signTime.Add(5 * time.Minute)}},
		{name: "header spacing and repeats", target: "/", body: testBody, mod: func(r *http.Request) {
			r.Header.Set("X-Amz-Meta-Spaces", "  a   b  c ")
			r.Header.Add("X-Amz-Meta-Multi", "one")
			r.Header.Add("X-Amz-Meta-Multi", "two")
		}},
		{name: "content sha256 header", target: "/", body: testBody, mod: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", hashHex([]byte(testBody)))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(tc.target, tc.body)
			if tc.mod != nil {
				tc.mod(r)
			}
			sign(t, r, tc.body, tc.opts)
			if err := testVerifier().Verify(r, []byte(tc.body)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyPresigned(t *testing.T) {
	presign := func(t *testing.T, expires string) *http.Request {
		t.Helper()
		r := newRequest("/?Action=Foo&X-Amz-Expires="+expires, testBody)
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
		return pr
	}
	if err := testVerifier().Verify(presign(t, "300"), []byte(testBody)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// An operation header the signature does not cover is refused.
	unsignedTarget := presign(t, "300")
	unsignedTarget.Header.Set("X-Amz-Target", testTarget)
	wantError(t, testVerifier().Verify(unsignedTarget, []byte(testBody)), awsproto.IncompleteSignature, "'X-Amz-Target' must be a 'SignedHeader'")
	v := testVerifier()
	v.Now = func() time.Time { return signTime.Add(301 * time.Second) }
	wantError(t, v.Verify(presign(t, "300"), []byte(testBody)), awsproto.InvalidSignature, "Signature expired")

	r := presign(t, "300")
	q := r.URL.Query()
	q.Set("Action", "Bar")
	r.URL.RawQuery = q.Encode()
	wantError(t, testVerifier().Verify(r, []byte(testBody)), awsproto.InvalidSignature, "The request signature we calculated does not match")

	r = presign(t, "300")
	q = r.URL.Query()
	q.Del("X-Amz-Credential")
	r.URL.RawQuery = q.Encode()
	wantError(t, testVerifier().Verify(r, []byte(testBody)), awsproto.IncompleteSignature, "AWS query-string parameters must include 'X-Amz-Credential'")

	r = presign(t, "300")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	wantError(t, testVerifier().Verify(r, []byte(testBody)), awsproto.InvalidSignature, "Found both")
}

func TestVerifyRejects(t *testing.T) {
	const mismatch = "The request signature we calculated does not match the signature you provided."
	tests := []struct {
		name     string
		opts     signOpts
		mod      func(r *http.Request) // after signing
		body     string                // the body the server sees; "": testBody
		typ, msg string
	}{
		{name: "wrong secret", opts: signOpts{key: testKey, secret: "wrong"},
			typ: awsproto.InvalidSignature, msg: mismatch},
		{name: "unknown key", opts: signOpts{key: "AKIDUNKNOWN", secret: testSecret},
			typ: awsproto.UnrecognizedClient, msg: "The security token included in the request is invalid."},
		{name: "no authorization", mod: func(r *http.Request) { r.Header.Del("Authorization") },
			typ: awsproto.MissingAuthenticationToken, msg: "Missing Authentication Token"},
		{name: "only security token", opts: signOpts{token: "tok"}, mod: func(r *http.Request) { r.Header.Del("Authorization") },
			typ: awsproto.MissingAuthenticationToken, msg: "Missing Authentication Token"},
		{name: "tampered body", body: `{"StreamName":"t","Data":"aGk=","PartitionKey":"k"}`,
			typ: awsproto.InvalidSignature, msg: mismatch},
		{name: "tampered target", mod: func(r *http.Request) { r.Header.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream") },
			typ: awsproto.InvalidSignature, msg: mismatch},
		{name: "tampered host", mod: func(r *http.Request) { r.Host = "evil.local" },
			typ: awsproto.InvalidSignature, msg: mismatch},
		{name: "tampered query", mod: func(r *http.Request) { r.URL.RawQuery = "a=1" },
			typ: awsproto.InvalidSignature, msg: mismatch},
		{name: "tampered method", mod: func(r *http.Request) { r.Method = http.MethodPut },
			typ: awsproto.InvalidSignature, msg: mismatch},
		{name: "tampered path", mod: func(r *http.Request) { r.URL.Path = "/other" },
			typ: awsproto.InvalidSignature, msg: mismatch},
		{name: "tampered date", mod: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20261126T120001Z") },
			typ: awsproto.InvalidSignature, msg: mismatch},
		{name: "tampered signature", mod: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-1]+string("10"[a[len(a)-1]&1]))
		}, typ: awsproto.InvalidSignature, msg: mismatch},
		{name: "non-hex signature", mod: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-2]+"zz")
		}, typ: awsproto.InvalidSignature, msg: mismatch},
		{name: "expired", opts: signOpts{t: signTime.Add(-20 * time.Minute)},
			typ: awsproto.InvalidSignature, msg: "Signature expired: 20261126T114000Z is now earlier than 20261126T115600Z (20261126T120100Z - 5 min.)"},
		{name: "expired past 5 minutes", opts: signOpts{t: signTime.Add(-5*time.Minute - time.Second)},
			typ: awsproto.InvalidSignature, msg: "Signature expired: 20261126T115459Z is now earlier than 20261126T115600Z (20261126T120100Z - 5 min.)"},
		{name: "not yet current", opts: signOpts{t: signTime.Add(20 * time.Minute)},
			typ: awsproto.InvalidSignature, msg: "Signature not yet current: 20261126T122000Z is still later than 20261126T120600Z (20261126T120100Z + 5 min.)"},
		{name: "wrong service", opts: signOpts{service: "firehose"},
			typ: awsproto.InvalidSignature, msg: "Credential should be scoped to correct service: 'kinesis'."},
		{name: "bad x-amz-date", mod: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2026-11-26T12:00:00Z") },
			typ: awsproto.InvalidSignature, msg: "Date must be in ISO-8601 'basic format'."},
		{name: "scope date differs", mod: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20261125T235959Z") },
			typ: awsproto.InvalidSignature, msg: "Signature expired"},
		{name: "missing date", mod: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			typ: awsproto.IncompleteSignature, msg: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."},
		{name: "content sha256 mismatch", mod: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", hashHex([]byte("other"))) },
			typ: awsproto.InvalidSignature, msg: "The provided 'x-amz-content-sha256' header does not match"},
		{name: "unsigned payload", mod: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") },
			typ: awsproto.InvalidSignature, msg: "x-amz-content-sha256 'UNSIGNED-PAYLOAD' is not accepted"},
		{name: "two authorization headers", mod: func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) },
			typ: awsproto.IncompleteSignature, msg: "Authorization header appears more than once"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest("/?x=1", testBody)
			sign(t, r, testBody, tc.opts)
			if tc.mod != nil {
				tc.mod(r)
			}
			body := tc.body
			if body == "" {
				body = testBody
			}
			wantError(t, testVerifier().Verify(r, []byte(body)), tc.typ, tc.msg)
		})
	}
}

func TestVerifyScopeDateMismatch(t *testing.T) {
	// A scope date that is not the X-Amz-Date's day (within the skew).
	v := testVerifier()
	v.Now = func() time.Time { return time.Date(2026, 11, 26, 0, 1, 0, 0, time.UTC) }
	r := newRequest("/", testBody)
	sign(t, r, testBody, signOpts{t: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)})
	r.Header.Set("X-Amz-Date", "20261125T235959Z")
	wantError(t, v.Verify(r, []byte(testBody)), awsproto.InvalidSignature,
		"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261126' != '20261125'")
}

func TestVerifyMalformedAuthorization(t *testing.T) {
	const (
		cred = "Credential=" + testKey + "/20261126/us-east-1/kinesis/aws4_request"
		sh   = "SignedHeaders=host;x-amz-date"
		sig  = "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	)
	tests := []struct{ name, auth, msg string }{
		{"bad algorithm", "AWS4-HMAC-SHA1 " + cred + ", " + sh + ", " + sig, "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1'"},
		{"v2 style", "AWS " + testKey + ":c2lnbmF0dXJl", "Unsupported AWS 'algorithm': 'AWS'"},
		{"algorithm only", "AWS4-HMAC-SHA256", "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{"no credential", "AWS4-HMAC-SHA256 " + sh + ", " + sig, "Authorization header requires 'Credential' parameter. Authorization="},
		{"no signed headers", "AWS4-HMAC-SHA256 " + cred + ", " + sig, "Authorization header requires 'SignedHeaders' parameter."},
		{"no signature", "AWS4-HMAC-SHA256 " + cred + ", " + sh, "Authorization header requires 'Signature' parameter."},
		{"empty signature", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", Signature=", "Authorization header requires 'Signature' parameter."},
		{"component without =", "AWS4-HMAC-SHA256 " + cred + ", " + sh + ", " + sig + ", junk", "Authorization header requires each component"},
		{"duplicate component", "AWS4-HMAC-SHA256 " + cred + ", " + cred + ", " + sh + ", " + sig, "Authorization header has 'Credential' more than once"},
		{"short scope", "AWS4-HMAC-SHA256 Credential=" + testKey + "/20261126/us-east-1/kinesis, " + sh + ", " + sig, "Credential must have exactly 5 slash-delimited elements"},
		{"long scope", "AWS4-HMAC-SHA256 Credential=" + testKey + "/x/20261126/us-east-1/kinesis/aws4_request, " + sh + ", " + sig, "Credential must have exactly 5 slash-delimited elements"},
		{"empty region", "AWS4-HMAC-SHA256 Credential=" + testKey + "/20261126//kinesis/aws4_request, " + sh + ", " + sig, "Credential must have exactly 5 non-empty"},
		{"bad scope date", "AWS4-HMAC-SHA256 Credential=" + testKey + "/2026-11-26/us-east-1/kinesis/aws4_request, " + sh + ", " + sig, "Credential scope date must be YYYYMMDD"},
		{"bad terminator", "AWS4-HMAC-SHA256 Credential=" + testKey + "/20261126/us-east-1/kinesis/aws4_req, " + sh + ", " + sig, "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_req'."},
		{"host not signed", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date, " + sig, "'Host' or ':authority' must be a 'SignedHeader'"},
		{"upper-case signed header", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=Host;x-amz-date, " + sig, "SignedHeaders must be a ';'-separated list of lower-case header names"},
		{"empty signed header", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x-amz-date, " + sig, "SignedHeaders must be a ';'-separated list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest("/", testBody)
			r.Header.Set("X-Amz-Date", signTime.Format("20060102T150405Z"))
			r.Header.Set("Authorization", tc.auth)
			wantError(t, testVerifier().Verify(r, []byte(testBody)), awsproto.IncompleteSignature, tc.msg)
		})
	}
}

func TestVerifyDateHeader(t *testing.T) {
	// Without X-Amz-Date the Date header dates the request.
	r := newRequest("/", testBody)
	sign(t, r, testBody, signOpts{})
	good := r.Header.Get("Authorization")
	r.Header.Del("X-Amz-Date")
	r.Header.Set("Date", signTime.Format(http.TimeFormat))
	r.Header.Set("Authorization", good)
	// The SDK signed x-amz-date, which is now absent: the signature fails,
	// but the date was understood (no IncompleteSignature, no expiry).
	wantError(t, testVerifier().Verify(r, []byte(testBody)), awsproto.InvalidSignature,
		"The request signature we calculated does not match")
	r.Header.Set("Date", "yesterday")
	wantError(t, testVerifier().Verify(r, []byte(testBody)), awsproto.InvalidSignature, "Date header 'yesterday' is not a valid HTTP date.")
}

func TestVerifyDefaults(t *testing.T) {
	// Now nil (time.Now) and MaxSkew zero (5 minutes, as AWS).
	v := &awsproto.Verifier{Credentials: awsproto.Credentials{testKey: testSecret}, Service: "kinesis"}
	r := newRequest("/", testBody)
	sign(t, r, testBody, signOpts{t: time.Now().Add(-4 * time.Minute)})
	if err := v.Verify(r, []byte(testBody)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	r = newRequest("/", testBody)
	sign(t, r, testBody, signOpts{t: time.Now().Add(-6 * time.Minute)})
	wantError(t, v.Verify(r, []byte(testBody)), awsproto.InvalidSignature, "Signature expired")

	v.MaxSkew = 20 * time.Minute
	if err := v.Verify(r, []byte(testBody)); err != nil {
		t.Fatalf("Verify with MaxSkew 20m: %v", err)
	}
	v.MaxSkew = 90 * time.Second
	wantError(t, v.Verify(r, []byte(testBody)), awsproto.InvalidSignature, "Signature expired")
}

func TestWrap(t *testing.T) {
	var gotBody string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		gotBody = string(b)
		w.WriteHeader(http.StatusNoContent)
	})
	h := testVerifier().Wrap(next)

	r := newRequest("/", testBody)
	sign(t, r, testBody, signOpts{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNoContent || gotBody != testBody {
		t.Fatalf("code %d body %q; want 204 and the request body", w.Code, gotBody)
	}

	gotBody = "unset"
	r = newRequest("/", testBody)
	sign(t, r, testBody, signOpts{secret: "wrong", key: testKey})
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if gotBody != "unset" {
		t.Fatal("next ran for a bad signature")
	}
	checkErrorResponse(t, w, awsproto.InvalidSignature)

	big := strings.Repeat("x", 16<<20+1)
	r = newRequest("/", big)
	sign(t, r, big, signOpts{})
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	checkErrorResponse(t, w, awsproto.Serialization)
}

func checkErrorResponse(t *testing.T, w *httptest.ResponseRecorder, typ string) {
	t.Helper()
	if w.Code != http.StatusBadRequest {
		t.Fatalf("code = %d, want 400", w.Code)
	}
	if got := w.Header().Get("X-Amzn-ErrorType"); got != typ {
		t.Fatalf("X-Amzn-ErrorType = %q, want %q", got, typ)
	}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Type != typ || e.Message == "" {
		t.Fatalf("body %s (%v), want __type %s and a message", w.Body.String(), err, typ)
	}
}

// TestWrapOverHTTP signs real requests on the client side of a real
// connection, both by hand and with the Kinesis client.
func TestWrapOverHTTP(t *testing.T) {
	v := testVerifier()
	v.Now = nil
	srv := httptest.NewServer(v.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Amz-Target") == testTarget && string(b) != testBody {
			t.Errorf("next got body %q", b)
		}
		w.Header().Set("Content-Type", awsproto.JSON11)
		_, _ = w.Write([]byte(`{"StreamNames":["a"],"HasMoreStreams":false}`))
	})))
	defer srv.Close()

	// By hand, with a query string and an explicit Content-Length.
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/?a=b%20c", bytes.NewReader([]byte(testBody)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", awsproto.JSON11)
	req.Header.Set("X-Amz-Target", testTarget)
	sign(t, req, testBody, signOpts{t: time.Now()})
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}

	client := func(secret string) *kinesis.Client {
		return kinesis.New(kinesis.Options{
			Region:           "us-west-2",
			BaseEndpoint:     aws.String(srv.URL),
			Credentials:      credentials.NewStaticCredentialsProvider(testKey, secret, ""),
			RetryMaxAttempts: 1,
			HTTPClient:       srv.Client(),
		})
	}
	ctx := context.Background()
	out, err := client(testSecret).ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatalf("ListStreams: %v", err)
	}
	if len(out.StreamNames) != 1 || out.StreamNames[0] != "a" {
		t.Fatalf("ListStreams = %v", out.StreamNames)
	}
	_, err = client("wrong").ListStreams(ctx, &kinesis.ListStreamsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != awsproto.InvalidSignature {
		t.Fatalf("ListStreams with a wrong secret: %v, want %s", err, awsproto.InvalidSignature)
	}
}

func TestLoadCredentials(t *testing.T) {
	write := func(t *testing.T, content string) string {
		t.Helper()
		p := filepath.Join(t.TempDir(), "credentials")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("good", func(t *testing.T) {
		p := write(t, "# shoal credentials\n\nAKID1 secret1\n  # indented comment\n\tAKID2\t  secret/2+x \r\nAKID3 s3\n")
		c, err := awsproto.LoadCredentials(p)
		if err != nil {
			t.Fatal(err)
		}
		want := awsproto.Credentials{"AKID1": "secret1", "AKID2": "secret/2+x", "AKID3": "s3"}
		if len(c) != len(want) {
			t.Fatalf("got %v, want %v", c, want)
		}
		for k, v := range want {
			if c[k] != v {
				t.Fatalf("got %v, want %v", c, want)
			}
		}
	})
	bad := []struct{ name, content, msg string }{
		{"one field", "AKID1 secret1\nAKID2\n", ":2: want"},
		{"three fields", "# c\nAKID1 secret 1\n", ":2: want"},
		{"duplicate", "AKID1 a\n\nAKID1 b\n", ":3: access key ID \"AKID1\" already defined on line 1"},
		{"slash in key", "AK/ID s\n", ":1: access key ID"},
		{"empty", "# nothing\n\n", "no credentials"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, tc.content)
			_, err := awsproto.LoadCredentials(p)
			if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want one naming %s and containing %q", err, p, tc.msg)
			}
		})
	}
	if _, err := awsproto.LoadCredentials(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
}

// TestWrapRefusesBeforeBody: a request without valid credentials is
// refused as soon as its headers arrive, without waiting for its body.
func TestWrapRefusesBeforeBody(t *testing.T) {
	srv := httptest.NewServer(testVerifier().Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the handler ran")
	})))
	defer srv.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Announce a large body and send a few bytes of it, then nothing.
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: %s\r\nContent-Type: %s\r\nContent-Length: 10000000\r\n\r\n{\"a\":", testTarget, awsproto.JSON11)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Amzn-ErrorType") != awsproto.MissingAuthenticationToken {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
}
