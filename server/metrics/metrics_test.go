package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/server/metrics"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// sample is one parsed sample line.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// exposition is a parsed text exposition.
type exposition struct {
	help, typ map[string]string // by metric family
	samples   []sample
}

// get returns the value of the sample of that name and exactly those
// labels, and whether there is one.
func (e *exposition) get(name string, labels ...string) (float64, bool) {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, s := range e.samples {
		if s.name != name || len(s.labels) != len(want) {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

// parse parses the Prometheus text format strictly: every line is a HELP,
// a TYPE or a sample of a family whose TYPE came before; each family has
// one HELP and one TYPE, before its samples; sample lines of one family
// are contiguous, no series is written twice; label names are valid and
// values well escaped; histograms have increasing le bounds, cumulative
// non-decreasing counts, a +Inf bucket equal to _count, and a _sum.
func parse(t *testing.T, text string) *exposition {
	t.Helper()
	e := &exposition{help: map[string]string{}, typ: map[string]string{}}
	require.True(t, strings.HasSuffix(text, "\n"), "the exposition must end with a newline")
	seen := map[string]bool{}
	done := map[string]bool{} // families whose samples are over
	cur := ""
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		where := fmt.Sprintf("line %d %q", n+1, line)
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, ok := strings.Cut(rest, " ")
			require.True(t, ok, where)
			require.True(t, validName(name), where)
			_, dup := e.help[name]
			require.False(t, dup, "second HELP: "+where)
			require.False(t, done[name], where)
			e.help[name] = help
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, ok := strings.Cut(rest, " ")
			require.True(t, ok, where)
			require.Contains(t, []string{"counter", "gauge", "histogram", "summary", "untyped"}, typ, where)
			_, dup := e.typ[name]
			require.False(t, dup, "second TYPE: "+where)
			e.typ[name] = typ
			if cur != "" {
				done[cur] = true
			}
			cur = name
			continue
		}
		require.False(t, strings.HasPrefix(line, "#"), where)
		s := parseSample(t, line, where)
		family := s.name
		if e.typ[cur] == "histogram" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if strings.HasSuffix(s.name, suf) && strings.TrimSuffix(s.name, suf) == cur {
					family = cur
				}
			}
		}
		require.Equal(t, cur, family, "sample outside its family's block: "+where)
		require.False(t, done[family], where)
		id := s.name + fmt.Sprint(s.labels)
		require.False(t, seen[id], "series written twice: "+where)
		seen[id] = true
		if e.typ[family] == "counter" {
			require.True(t, strings.HasSuffix(family, "_total"), where)
			require.GreaterOrEqual(t, s.value, 0.0, where)
		}
		e.samples = append(e.samples, s)
	}
	for name, typ := range e.typ {
		_, ok := e.help[name]
		require.True(t, ok, "no HELP for "+name)
		if typ == "histogram" {
			checkHistogram(t, e, name)
		}
	}
	return e
}

func parseSample(t *testing.T, line, where string) sample {
	t.Helper()
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	require.Positive(t, i, where)
	s.name = line[:i]
	require.True(t, validName(s.name), where)
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			eq := strings.IndexByte(rest, '=')
			require.Positive(t, eq, where)
			lname := rest[:eq]
			require.True(t, validName(lname) && !strings.Contains(lname, ":"), where)
			rest = rest[eq+1:]
			require.True(t, strings.HasPrefix(rest, `"`), where)
			rest = rest[1:]
			var v strings.Builder
			for {
				require.NotEmpty(t, rest, "unterminated label value: "+where)
				c := rest[0]
				rest = rest[1:]
				if c == '"' {
					break
				}
				require.NotEqual(t, byte('\n'), c, where)
				if c == '\\' {
					require.NotEmpty(t, rest, where)
					switch rest[0] {
					case '\\':
						v.WriteByte('\\')
					case '"':
						v.WriteByte('"')
					case 'n':
						v.WriteByte('\n')
					default:
						t.Fatalf("bad escape: %s", where)
					}
					rest = rest[1:]
					continue
				}
				v.WriteByte(c)
			}
			_, dup := s.labels[lname]
			require.False(t, dup, where)
			s.labels[lname] = v.String()
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
				continue
			}
			require.True(t, strings.HasPrefix(rest, "}"), where)
			rest = rest[1:]
			break
		}
	}
	val, ok := strings.CutPrefix(rest, " ")
	require.True(t, ok, where)
	require.NotContains(t, val, " ", "no timestamps expected: "+where)
	v, err := strconv.ParseFloat(val, 64)
	require.NoError(t, err, where)
	s.value = v
	return s
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func checkHistogram(t *testing.T, e *exposition, name string) {
	t.Helper()
	type series struct {
		les    []float64
		counts []float64
		count  *float64
		sum    bool
	}
	all := map[string]*series{}
	get := func(l map[string]string) *series {
		c := map[string]string{}
		for k, v := range l {
			if k != "le" {
				c[k] = v
			}
		}
		id := fmt.Sprint(c)
		if all[id] == nil {
			all[id] = &series{}
		}
		return all[id]
	}
	for _, s := range e.samples {
		switch s.name {
		case name + "_bucket":
			le, err := strconv.ParseFloat(s.labels["le"], 64)
			require.NoError(t, err)
			sr := get(s.labels)
			if n := len(sr.les); n > 0 {
				require.Greater(t, le, sr.les[n-1], "le bounds must increase")
				require.GreaterOrEqual(t, s.value, sr.counts[n-1], "buckets are cumulative")
			}
			sr.les = append(sr.les, le)
			sr.counts = append(sr.counts, s.value)
		case name + "_count":
			v := s.value
			get(s.labels).count = &v
		case name + "_sum":
			get(s.labels).sum = true
		}
	}
	for id, sr := range all {
		require.NotEmpty(t, sr.les, id)
		require.Equal(t, "+Inf", strconv.FormatFloat(sr.les[len(sr.les)-1], 'g', -1, 64), id)
		require.NotNil(t, sr.count, id)
		require.Equal(t, *sr.count, sr.counts[len(sr.counts)-1], "+Inf bucket == _count: "+id)
		require.True(t, sr.sum, id)
	}
}

func scrape(t *testing.T, url string) *exposition {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return parse(t, string(b))
}

func TestTextFormat(t *testing.T) {
	r := metrics.New()
	weird := "a\"b\\c\nd"
	r.Incoming("orders", 3, 300)
	r.Incoming("orders", 2, 50)
	r.Incoming(weird, 1, 7)
	r.Outgoing("orders", 4, 1234567)
	r.WriteThrottled("orders")
	r.ReadThrottled("orders")
	r.ReadThrottled("orders")
	r.IteratorAge("orders", 1500)
	r.IteratorAge("orders", 20)
	r.Add(metrics.IncomingBytes, metrics.Labels{Stream: "orders", Shard: "shardId-000000000001"}, 10)

	var b strings.Builder
	require.NoError(t, r.WriteText(&b))
	e := parse(t, b.String())

	for name, typ := range map[string]string{
		metrics.IncomingBytes: "counter", metrics.IncomingRecords: "counter",
		metrics.OutgoingBytes: "counter", metrics.OutgoingRecords: "counter",
		metrics.WriteThrottled: "counter", metrics.ReadThrottled: "counter",
		metrics.IteratorAgeMillis: "gauge", metrics.Requests: "counter", metrics.Errors: "counter",
		metrics.RequestsInFlight: "gauge", metrics.RequestDuration: "histogram",
	} {
		require.Equal(t, typ, e.typ[name], name)
		require.NotEmpty(t, e.help[name], name)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{metrics.IncomingRecords, []string{"stream", "orders"}, 5},
		{metrics.IncomingBytes, []string{"stream", "orders"}, 350},
		{metrics.IncomingBytes, []string{"stream", "orders", "shard", "shardId-000000000001"}, 10},
		{metrics.IncomingRecords, []string{"stream", weird}, 1},
		{metrics.IncomingBytes, []string{"stream", weird}, 7},
		{metrics.OutgoingRecords, []string{"stream", "orders"}, 4},
		{metrics.OutgoingBytes, []string{"stream", "orders"}, 1234567},
		{metrics.WriteThrottled, []string{"stream", "orders"}, 1},
		{metrics.ReadThrottled, []string{"stream", "orders"}, 2},
		{metrics.IteratorAgeMillis, []string{"stream", "orders"}, 20},
		{metrics.RequestsInFlight, nil, 0},
	} {
		v, ok := e.get(c.name, c.labels...)
		require.True(t, ok, "%s %v missing:\n%s", c.name, c.labels, b.String())
		require.Equal(t, c.want, v, "%s %v", c.name, c.labels)
	}
	require.Contains(t, b.String(), `shoal_kinesis_outgoing_bytes_total{stream="orders"} 1234567`+"\n")
	require.Contains(t, b.String(), `{stream="a\"b\\c\nd"}`)
	require.Equal(t, 1.0, r.Value(metrics.WriteThrottled, metrics.Labels{Stream: "orders"}))

	// The output is stable.
	var b2 strings.Builder
	require.NoError(t, r.WriteText(&b2))
	require.Equal(t, b.String(), b2.String())
}

// fakeAPI answers like an awsproto.Service: an operation's name chooses
// its outcome.
func fakeAPI(w http.ResponseWriter, r *http.Request) {
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	switch op {
	case "PutRecords", "ListStreams":
		w.Header().Set("Content-Type", awsproto.JSON11)
		_, _ = io.WriteString(w, "{}")
	case "DescribeStream":
		awsproto.WriteError(w, awsproto.Errorf("ResourceNotFoundException", "no stream"))
	case "GetRecords":
		awsproto.WriteError(w, awsproto.Errorf("ExpiredIteratorException", "expired"))
	case "Teapot":
		w.WriteHeader(http.StatusTeapot)
	case "Stream":
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "chunk")
		http.NewResponseController(w).Flush()
	default:
		if strings.HasPrefix(op, "Op") {
			_, _ = io.WriteString(w, "{}")
			return
		}
		awsproto.WriteError(w, awsproto.Errorf(awsproto.UnknownOperation, "unknown operation %s", op))
	}
}

func TestObserve(t *testing.T) {
	r := metrics.New()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r)
	mux.Handle("/", r.Observe(http.HandlerFunc(fakeAPI)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(target string) int {
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
		require.NoError(t, err)
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 5 {
				call("Kinesis_20131202.PutRecords")
			}
		})
	}
	wg.Wait()
	call("Kinesis_20131202.ListStreams")
	require.Equal(t, 400, call("Kinesis_20131202.DescribeStream"))
	call("Kinesis_20131202.DescribeStream")
	call("Kinesis_20131202.GetRecords")
	require.Equal(t, http.StatusTeapot, call("Kinesis_20131202.Teapot"))
	call("Kinesis_20131202.Stream")
	call("Kinesis_20131202.NoSuchOperation")
	call("Kinesis_20131202.Bad{op}\"")
	call("")
	call("Junk.PutRecords") // not a Kinesis target
	// Distinct (made-up) operations beyond the cap become "other".
	for i := range 70 {
		call(fmt.Sprintf("Kinesis_20131202.Op%d", i))
	}

	e := scrape(t, srv.URL+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{metrics.Requests, []string{"operation", "PutRecords"}, 50},
		{metrics.Requests, []string{"operation", "ListStreams"}, 1},
		{metrics.Requests, []string{"operation", "DescribeStream"}, 2},
		{metrics.Errors, []string{"operation", "DescribeStream", "exception", "ResourceNotFoundException"}, 2},
		{metrics.Errors, []string{"operation", "GetRecords", "exception", "ExpiredIteratorException"}, 1},
		{metrics.Errors, []string{"operation", "Teapot", "exception", "HTTP418"}, 1},
		{metrics.Requests, []string{"operation", "Stream"}, 1},
		{metrics.Requests, []string{"operation", "unknown"}, 4}, // NoSuchOperation, Bad{op}, no target, Junk.
		{metrics.Errors, []string{"operation", "unknown", "exception", awsproto.UnknownOperation}, 3},
		{metrics.RequestDuration + "_count", []string{"operation", "PutRecords"}, 50},
		{metrics.RequestDuration + "_bucket", []string{"operation", "PutRecords", "le", "+Inf"}, 50},
		{metrics.RequestsInFlight, nil, 0},
	} {
		v, ok := e.get(c.name, c.labels...)
		require.True(t, ok, "%s %v missing", c.name, c.labels)
		require.Equal(t, c.want, v, "%s %v", c.name, c.labels)
	}
	// No error series for successes.
	for _, op := range []string{"PutRecords", "ListStreams", "Stream"} {
		for _, s := range e.samples {
			if s.name == metrics.Errors {
				require.NotEqual(t, op, s.labels["operation"])
			}
		}
	}
	// 64 distinct operations at most, then "other".
	ops := map[string]bool{}
	for _, s := range e.samples {
		if s.name == metrics.Requests {
			ops[s.labels["operation"]] = true
		}
	}
	require.Len(t, ops, 64+2) // + "unknown" and "other"
	other, _ := e.get(metrics.Requests, "operation", "other")
	require.Equal(t, float64(70-(64-6)), other) // the 6 named above came first

	// Only GET and HEAD.
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/metrics", nil))
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Empty(t, rec.Body.String())
}

// TestObserveStreaming: a streaming response passes through Observe: its
// first chunk reaches the client before the handler returns.
func TestObserveStreaming(t *testing.T) {
	r := metrics.New()
	release := make(chan struct{})
	h := r.Observe(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "first\n")
		_ = http.NewResponseController(w).Flush()
		<-release
		_, _ = io.WriteString(w, "second\n")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.SubscribeToShard")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "first\n", line)
	require.Equal(t, 1.0, r.Value(metrics.RequestsInFlight, metrics.Labels{}))
	close(release)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	require.Equal(t, "second\n", string(rest))
	srv.Close() // waits for the handler
	require.Equal(t, 0.0, r.Value(metrics.RequestsInFlight, metrics.Labels{}))
	require.Equal(t, 1.0, r.Value(metrics.Requests, metrics.Labels{Operation: "SubscribeToShard"}))
}

var _ kinesis.ShardRecorder = (*metrics.Registry)(nil)

// TestForgetDeletedStream: DeleteStream drops the stream's series, stream
// and shard level, from /metrics; other streams' stay.
func TestForgetDeletedStream(t *testing.T) {
	ctx := context.Background()
	log, err := shardlog.Open(ctx, memory.New(), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	defer log.Close()
	reg := metrics.New()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg)
	mux.Handle("/", kinesis.New(log, kinesis.WithRecorder(reg)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	call := func(op, body string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", op, b)
	}
	for _, s := range []string{"gone", "kept"} {
		call("CreateStream", `{"StreamName":"`+s+`","ShardCount":1}`)
		call("EnableEnhancedMonitoring", `{"StreamName":"`+s+`","ShardLevelMetrics":["ALL"]}`)
		call("PutRecord", `{"StreamName":"`+s+`","PartitionKey":"k","Data":"eA=="}`)
	}
	e := scrape(t, srv.URL+"/metrics")
	for _, s := range []string{"gone", "kept"} {
		_, ok := e.get(metrics.IncomingRecords, "stream", s)
		require.True(t, ok, s)
		_, ok = e.get(metrics.IncomingRecords, "stream", s, "shard", "shardId-000000000000")
		require.True(t, ok, s)
	}
	call("DeleteStream", `{"StreamName":"gone"}`)
	e = scrape(t, srv.URL+"/metrics")
	for _, smp := range e.samples {
		require.NotEqual(t, "gone", smp.labels["stream"], "%s %v", smp.name, smp.labels)
	}
	v, ok := e.get(metrics.IncomingRecords, "stream", "kept")
	require.True(t, ok)
	require.Equal(t, float64(1), v)
}
