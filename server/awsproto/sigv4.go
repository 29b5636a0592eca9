package awsproto

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Credentials maps access key IDs to their secret access keys.
type Credentials map[string]string

// LoadCredentials reads a credentials file: one "ACCESS_KEY_ID SECRET"
// pair a line, separated by white space. Blank lines and lines whose
// first non-blank character is '#' are ignored. An error names the file
// and line; a file with no pair at all is an error too.
func LoadCredentials(path string) (Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	creds := make(Credentials)
	first := make(map[string]int)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"ACCESS_KEY_ID SECRET\", got %d fields", path, n, len(fields))
		}
		id, secret := fields[0], fields[1]
		if strings.Contains(id, "/") {
			return nil, fmt.Errorf("%s:%d: access key ID %q contains '/'", path, n, id)
		}
		if prev, dup := first[id]; dup {
			return nil, fmt.Errorf("%s:%d: access key ID %q already defined on line %d", path, n, id, prev)
		}
		first[id] = n
		creds[id] = secret
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(creds) == 0 {
		return nil, fmt.Errorf("%s: no credentials", path)
	}
	return creds, nil
}

// DefaultMaxSkew is how far a request's date may be from the server's
// clock when Verifier.MaxSkew is zero: 5 minutes, as AWS allows.
const DefaultMaxSkew = 5 * time.Minute

const (
	sigv4Algorithm  = "AWS4-HMAC-SHA256"
	sigv4Terminator = "aws4_request"
	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	// maxPresignExpires is the largest X-Amz-Expires AWS accepts (7 days).
	maxPresignExpires = 7 * 24 * 60 * 60
)

// Verifier checks AWS Signature Version 4 signatures (HMAC-SHA256).
//
// It accepts the Authorization header form that the SDKs send and the
// query-string (presigned) form. The credential scope's region may be
// any region; its service must be Service. Every error is an *Error with
// HTTP status 400, as Kinesis (and kinesalite) answer JSON 1.1 requests,
// of type MissingAuthenticationToken, IncompleteSignature,
// UnrecognizedClient or InvalidSignature.
//
// The payload hash is hex(sha256(body)) unless an X-Amz-Content-Sha256
// header is present: a hash equal to the computed one is used as sent;
// any other value, "UNSIGNED-PAYLOAD" included, is rejected (the Kinesis
// SDKs always sign the body). An X-Amz-Target header must be among the
// signed headers, so a captured request cannot be replayed as another
// operation; an X-Amz-Target query parameter (a presigned request's) is
// signed as part of the query string. Over HTTP/2 the ":authority"
// pseudo-header may be signed in place of "host": both stand for the
// request's host.
// A session token (X-Amz-Security-Token) is signed like any header but
// not otherwise checked.
type Verifier struct {
	// Credentials are the accepted access keys.
	Credentials Credentials
	// Service is the service name the credential scope must name, e.g.
	// "kinesis".
	Service string
	// Now is the server's clock; nil: time.Now.
	Now func() time.Time
	// MaxSkew bounds the difference between a request's date and Now;
	// zero: DefaultMaxSkew.
	MaxSkew time.Duration
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

// Wrap returns a handler that verifies each request's signature and on
// success passes the request, its body read in full (at most
// MaxBodySize bytes, else a SerializationException), to next. Errors are
// written in the request's protocol (JSON, or CBOR for a CBOR request).
//
// A request is checked as far as it can be before its body is read: its
// key, scope, date and signed headers always; its signature too when it
// carries an X-Amz-Content-Sha256 header (the JavaScript SDK v3 sends
// one), as the signature then covers that hash, which is compared with
// the body once read. Without that header the signature covers the
// body's own hash, so the body is read first. Wrap does not bound the
// bytes or the time a body takes: put it behind admission control
// (server/admission), as shoal serve does.
func (v *Verifier) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) {
			var ae *Error
			if !errors.As(err, &ae) {
				ae = &Error{Status: http.StatusInternalServerError, Type: InternalFailure, Message: "internal failure"}
			}
			WriteErrorFor(w, r, ae)
		}
		a, err := v.authorize(r)
		if err != nil {
			fail(err)
			return
		}
		declared, err := declaredHash(r)
		if err != nil {
			fail(err)
			return
		}
		if declared != "" {
			if err := a.verifyHash(r, declared); err != nil {
				fail(err)
				return
			}
		}
		body, berr := readBody(r)
		if berr != nil {
			fail(berr)
			return
		}
		computed := sha256Hex(body)
		if declared != "" {
			if !strings.EqualFold(declared, computed) {
				fail(errContentHashMismatch())
				return
			}
		} else if err := a.verifyHash(r, computed); err != nil {
			fail(err)
			return
		}
		setBody(r, body)
		next.ServeHTTP(w, r)
	})
}

// sigv4Request is what a request's Authorization header or query string
// says about its signature.
type sigv4Request struct {
	accessKey     string
	scopeDate     string // YYYYMMDD
	region        string
	service       string
	signedHeaders string // as sent: "host;x-amz-date;..."
	headerNames   []string
	signature     string // hex
	date          string // ISO 8601 basic, as signed
	presigned     bool
	expires       int // seconds; presigned requests only, 0: none
}

// Verify checks r's signature, body being r's body (which Verify does not
// read). It returns nil or an *Error.
func (v *Verifier) Verify(r *http.Request, body []byte) error {
	a, err := v.authorize(r)
	if err != nil {
		return err
	}
	return a.verify(r, body)
}

// authorized is a request whose credentials, scope and date passed: what
// is left to check needs the body.
type authorized struct {
	s      *sigv4Request
	query  url.Values
	secret string
}

// authorize checks everything but the signature itself: the
// Authorization header or query, the service, the key, the date and the
// signed headers. It reads no body, so a request that fails here costs
// the server nothing more.
func (v *Verifier) authorize(r *http.Request) (*authorized, error) {
	query, _ := url.ParseQuery(r.URL.RawQuery)
	auth := r.Header.Values("Authorization")
	_, queryAuth := query["X-Amz-Algorithm"]
	var (
		s   *sigv4Request
		err error
	)
	switch {
	case len(auth) > 0 && queryAuth:
		return nil, Errorf(InvalidSignature, "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.")
	case len(auth) > 1:
		return nil, Errorf(IncompleteSignature, "Authorization header appears more than once.")
	case len(auth) == 1:
		s, err = parseAuthorization(r, auth[0])
	case queryAuth:
		s, err = parseQueryAuth(query)
	default:
		return nil, Errorf(MissingAuthenticationToken, "Missing Authentication Token")
	}
	if err != nil {
		return nil, err
	}

	if s.service != v.Service {
		return nil, Errorf(InvalidSignature, "Credential should be scoped to correct service: '%s'. ", v.Service)
	}
	secret, ok := v.Credentials[s.accessKey]
	if !ok {
		return nil, Errorf(UnrecognizedClient, "The security token included in the request is invalid.")
	}

	// The date: its form, the clock skew, and the credential scope.
	t, err := time.Parse(amzDateFormat, s.date)
	if err != nil {
		return nil, Errorf(InvalidSignature, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", s.date)
	}
	now := v.now().UTC()
	skew := v.maxSkew()
	if t.After(now.Add(skew)) {
		return nil, Errorf(InvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s.)",
			s.date, now.Add(skew).Format(amzDateFormat), now.Format(amzDateFormat), skewString(skew))
	}
	if s.presigned && s.expires > 0 {
		if end := t.Add(time.Duration(s.expires) * time.Second); now.After(end) {
			return nil, Errorf(InvalidSignature, "Signature expired: %s is now earlier than %s (%s + %d sec.)",
				end.Format(amzDateFormat), now.Format(amzDateFormat), s.date, s.expires)
		}
	} else if t.Before(now.Add(-skew)) {
		return nil, Errorf(InvalidSignature, "Signature expired: %s is now earlier than %s (%s - %s.)",
			s.date, now.Add(-skew).Format(amzDateFormat), now.Format(amzDateFormat), skewString(skew))
	}
	if d := t.Format(scopeDateFormat); d != s.scopeDate {
		return nil, Errorf(InvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			s.scopeDate, d, s.date)
	}

	// The operation must be signed, or a captured request could be
	// replayed as another operation.
	if r.Header.Get("X-Amz-Target") != "" && !slices.Contains(s.headerNames, "x-amz-target") {
		return nil, Errorf(IncompleteSignature, "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return &authorized{s: s, query: query, secret: secret}, nil
}

// verify checks the signature over the request and its body.
func (a *authorized) verify(r *http.Request, body []byte) error {
	payloadHash, err := payloadHash(r, body)
	if err != nil {
		return err
	}
	return a.verifyHash(r, payloadHash)
}

// verifyHash checks the signature over the request, payloadHash being
// the hash that ends its canonical request.
func (a *authorized) verifyHash(r *http.Request, payloadHash string) error {
	s, query, secret := a.s, a.query, a.secret
	canonical := canonicalRequest(r, query, s, payloadHash)
	scope := s.scopeDate + "/" + s.region + "/" + s.service + "/" + sigv4Terminator
	sum := sha256.Sum256([]byte(canonical))
	stringToSign := sigv4Algorithm + "\n" + s.date + "\n" + scope + "\n" + hex.EncodeToString(sum[:])

	key := hmacSHA256([]byte("AWS4"+secret), s.scopeDate)
	key = hmacSHA256(key, s.region)
	key = hmacSHA256(key, s.service)
	key = hmacSHA256(key, sigv4Terminator)
	want := hmacSHA256(key, stringToSign)

	got, err := hex.DecodeString(s.signature)
	if err != nil || !hmac.Equal(got, want) {
		return Errorf(InvalidSignature, "The request signature we calculated does not match the signature you provided. "+
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n"+
			"The Canonical String for this request should have been\n'%s'\n\nThe String-to-Sign should have been\n'%s'\n",
			canonical, stringToSign)
	}
	return nil
}

// parseAuthorization parses an Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=5d67...
func parseAuthorization(r *http.Request, auth string) (*sigv4Request, error) {
	algorithm, rest, _ := strings.Cut(strings.TrimSpace(auth), " ")
	if algorithm != sigv4Algorithm {
		return nil, Errorf(IncompleteSignature, "Unsupported AWS 'algorithm': '%s'", algorithm)
	}
	params := make(map[string]string, 3)
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, Errorf(IncompleteSignature, "Authorization header requires each component to be of the form key=value; got '%s'. Authorization=%s", part, auth)
		}
		if _, dup := params[k]; dup {
			return nil, Errorf(IncompleteSignature, "Authorization header has '%s' more than once. Authorization=%s", k, auth)
		}
		params[k] = val
	}
	date := r.Header.Get("X-Amz-Date")
	var msg strings.Builder
	for _, p := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[p] == "" {
			fmt.Fprintf(&msg, "Authorization header requires '%s' parameter. ", p)
		}
	}
	if date == "" {
		if hd := r.Header.Get("Date"); hd != "" {
			t, err := http.ParseTime(hd)
			if err != nil {
				return nil, Errorf(InvalidSignature, "Date header '%s' is not a valid HTTP date.", hd)
			}
			date = t.UTC().Format(amzDateFormat)
		} else {
			msg.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
		}
	}
	if msg.Len() > 0 {
		return nil, Errorf(IncompleteSignature, "%sAuthorization=%s", msg.String(), auth)
	}
	s := &sigv4Request{signature: params["Signature"], date: date}
	if err := s.parseCredential(params["Credential"]); err != nil {
		return nil, err
	}
	if err := s.parseSignedHeaders(params["SignedHeaders"]); err != nil {
		return nil, err
	}
	return s, nil
}

// parseQueryAuth parses a presigned request's query string.
func parseQueryAuth(q url.Values) (*sigv4Request, error) {
	var msg strings.Builder
	for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
		if q.Get(p) == "" {
			fmt.Fprintf(&msg, "AWS query-string parameters must include '%s'. ", p)
		}
	}
	if msg.Len() > 0 {
		return nil, Errorf(IncompleteSignature, "%sRe-examine the query-string parameters.", msg.String())
	}
	if a := q.Get("X-Amz-Algorithm"); a != sigv4Algorithm {
		return nil, Errorf(IncompleteSignature, "Unsupported AWS 'algorithm': '%s'", a)
	}
	s := &sigv4Request{signature: q.Get("X-Amz-Signature"), date: q.Get("X-Amz-Date"), presigned: true}
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n <= 0 || n > maxPresignExpires {
			return nil, Errorf(IncompleteSignature, "X-Amz-Expires must be an integer number of seconds between 1 and %d; got '%s'.", maxPresignExpires, e)
		}
		s.expires = n
	}
	if err := s.parseCredential(q.Get("X-Amz-Credential")); err != nil {
		return nil, err
	}
	if err := s.parseSignedHeaders(q.Get("X-Amz-SignedHeaders")); err != nil {
		return nil, err
	}
	return s, nil
}

// parseCredential parses "AKID/YYYYMMDD/region/service/aws4_request".
func (s *sigv4Request) parseCredential(cred string) error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return Errorf(IncompleteSignature, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", cred)
	}
	for _, p := range parts {
		if p == "" {
			return Errorf(IncompleteSignature, "Credential must have exactly 5 non-empty slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", cred)
		}
	}
	if _, err := time.Parse(scopeDateFormat, parts[1]); err != nil || len(parts[1]) != 8 {
		return Errorf(IncompleteSignature, "Credential scope date must be YYYYMMDD, got '%s' in '%s'", parts[1], cred)
	}
	if parts[4] != sigv4Terminator {
		return Errorf(IncompleteSignature, "Credential should be scoped with a valid terminator: '%s', not '%s'. ", sigv4Terminator, parts[4])
	}
	s.accessKey, s.scopeDate, s.region, s.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// parseSignedHeaders parses "host;x-amz-date;...", which must name host
// or, over HTTP/2, ":authority".
func (s *sigv4Request) parseSignedHeaders(sh string) error {
	s.signedHeaders = sh
	host := false
	for name := range strings.SplitSeq(sh, ";") {
		if name == "" || name != strings.ToLower(name) || strings.ContainsAny(name, " \t") {
			return Errorf(IncompleteSignature, "SignedHeaders must be a ';'-separated list of lower-case header names, got '%s'", sh)
		}
		host = host || name == "host" || name == ":authority"
		s.headerNames = append(s.headerNames, name)
	}
	if !host {
		return Errorf(IncompleteSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return nil
}

// payloadHash returns the payload hash the signature covers.
func payloadHash(r *http.Request, body []byte) (string, error) {
	declared, err := declaredHash(r)
	if err != nil {
		return "", err
	}
	computed := sha256Hex(body)
	switch {
	case declared == "":
		return computed, nil
	case strings.EqualFold(declared, computed):
		return declared, nil
	default:
		return "", errContentHashMismatch()
	}
}

// declaredHash returns the payload hash r's X-Amz-Content-Sha256 header
// declares, as sent; "" if there is none. A declared hash that is not a
// SHA-256 (unsigned or chunk-signed payloads included) is refused.
func declaredHash(r *http.Request) (string, error) {
	h := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case h == "":
		return "", nil
	case h == unsignedPayload:
		return "", Errorf(InvalidSignature, "x-amz-content-sha256 '%s' is not accepted: the body must be signed.", h)
	case strings.HasPrefix(h, "STREAMING-"):
		return "", Errorf(InvalidSignature, "x-amz-content-sha256 '%s' (chunked payload signing) is not supported.", h)
	}
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", errContentHashMismatch()
	}
	return h, nil
}

func errContentHashMismatch() *Error {
	return Errorf(InvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// canonicalRequest builds SigV4's canonical request.
func canonicalRequest(r *http.Request, query url.Values, s *sigv4Request, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')

	// Canonical URI: the escaped path escaped once more (every service
	// but S3 double-encodes), "/" for an empty path.
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(uriEncode(path, false))
	b.WriteByte('\n')

	// Canonical query string: sorted by key then value, URI-encoded; a
	// presigned request's own X-Amz-Signature is left out.
	type kv struct{ k, v string }
	var params []kv
	for k, vs := range query {
		if s.presigned && k == "X-Amz-Signature" {
			continue
		}
		ek := uriEncode(k, true)
		for _, v := range vs {
			params = append(params, kv{ek, uriEncode(v, true)})
		}
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	b.WriteByte('\n')

	// Canonical headers, in SignedHeaders' order.
	for _, name := range s.headerNames {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(collapseSpaces(v))
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(s.signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// headerValues returns the values of the header name (lower case) as the
// client sent them.
func headerValues(r *http.Request, name string) []string {
	switch name {
	case "host", ":authority":
		// HTTP/2 clients may sign the :authority pseudo-header (the
		// JavaScript SDK v3 does), which Go presents as r.Host.
		return []string{r.Host}
	case "content-length":
		if vs := r.Header.Values("Content-Length"); len(vs) > 0 {
			return vs
		}
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		return nil
	case "transfer-encoding":
		if vs := r.Header.Values("Transfer-Encoding"); len(vs) > 0 {
			return vs
		}
		return r.TransferEncoding
	}
	return r.Header[textproto.CanonicalMIMEHeaderKey(name)]
}

// collapseSpaces trims v and replaces each run of spaces in it with one.
func collapseSpaces(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// uriEncode percent-encodes every byte of s but the unreserved characters
// (A-Z a-z 0-9 - . _ ~) and, unless encodeSlash, '/'.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// skewString formats d as AWS does in its "Signature expired" messages:
// "15 min" (or d's Go form if it is not a whole number of minutes).
func skewString(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min"
	}
	return d.String()
}
