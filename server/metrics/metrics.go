// Package metrics exposes the Kinesis server's metrics in the Prometheus
// text exposition format (version 0.0.4), written by hand: no Prometheus
// library.
//
// A Registry holds counters, gauges and histograms, each series keyed by
// its metric and its labels (stream, shard, operation, exception; a label
// left empty is not written). It is fed two ways:
//
//   - Observe wraps the API's http.Handler and records, per operation (the
//     part of X-Amz-Target after the dot), the requests, the errors by
//     exception type (the response's X-Amzn-ErrorType header), the requests
//     in flight and a latency histogram;
//   - the methods of kinesis.Recorder and kinesis.ShardRecorder, which the
//     Kinesis service calls for the data metrics (per stream, and per shard
//     where enhanced monitoring is on). Their names are those of Kinesis's CloudWatch metrics,
//     converted to Prometheus style: IncomingBytes becomes
//     shoal_kinesis_incoming_bytes_total, IteratorAgeMilliseconds
//     shoal_kinesis_iterator_age_milliseconds, and so on.
//
// Firehose delivery streams report through Registry.Firehose (a
// delivery.Recorder), as shoal_firehose_* metrics labelled
// delivery_stream: DeliveryToS3.DataFreshness becomes
// shoal_firehose_delivery_to_s3_data_freshness_seconds, IncomingRecords
// shoal_firehose_incoming_records_total, and so on. Observe counts
// Firehose operations as "Firehose.<Op>".
//
// ServeHTTP answers GET /metrics with every series, in a stable order.
// ForgetStream (kinesis.StreamForgetter) drops a deleted stream's series.
package metrics

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// The metrics' names.
const (
	IncomingBytes     = "shoal_kinesis_incoming_bytes_total"
	IncomingRecords   = "shoal_kinesis_incoming_records_total"
	OutgoingBytes     = "shoal_kinesis_outgoing_bytes_total"
	OutgoingRecords   = "shoal_kinesis_outgoing_records_total"
	WriteThrottled    = "shoal_kinesis_write_provisioned_throughput_exceeded_total"
	ReadThrottled     = "shoal_kinesis_read_provisioned_throughput_exceeded_total"
	IteratorAgeMillis = "shoal_kinesis_iterator_age_milliseconds"
	Requests          = "shoal_kinesis_requests_total"
	Errors            = "shoal_kinesis_errors_total"
	RequestsInFlight  = "shoal_kinesis_requests_in_flight"
	RequestDuration   = "shoal_kinesis_request_duration_seconds"
)

const (
	maxOperations       = 64 // distinct operation label values; then "other"
	maxLabelValueLength = 128
)

// Buckets are the upper bounds, in seconds, of the latency histogram.
var Buckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

type kind int

const (
	counter kind = iota
	gauge
	histogram
)

func (k kind) String() string {
	switch k {
	case counter:
		return "counter"
	case gauge:
		return "gauge"
	default:
		return "histogram"
	}
}

// family is one metric: its help, type, and series.
type family struct {
	name, help string
	kind       kind
}

// families are the metrics, in the order they are written.
var families = []family{
	{IncomingBytes, "Bytes put in the stream (CloudWatch IncomingBytes).", counter},
	{IncomingRecords, "Records put in the stream (CloudWatch IncomingRecords).", counter},
	{OutgoingBytes, "Bytes read from the stream (CloudWatch OutgoingBytes, GetRecords.Bytes).", counter},
	{OutgoingRecords, "Records read from the stream (CloudWatch OutgoingRecords, GetRecords.Records).", counter},
	{WriteThrottled, "Puts rejected by the write budget (CloudWatch WriteProvisionedThroughputExceeded).", counter},
	{ReadThrottled, "Reads rejected by the read budget (CloudWatch ReadProvisionedThroughputExceeded).", counter},
	{IteratorAgeMillis, "Age of the last record a read returned, in milliseconds (CloudWatch IteratorAgeMilliseconds).", gauge},
	{Requests, "API requests by operation.", counter},
	{Errors, "API error responses by operation and exception type (X-Amzn-ErrorType).", counter},
	{RequestsInFlight, "API requests being served.", gauge},
	{RequestDuration, "API request latency in seconds by operation (for SubscribeToShard, the subscription's length).", histogram},
}

// Labels identify a series within its metric. An empty label is not
// written.
type Labels struct {
	Stream, Shard, Operation, Exception string
	// DeliveryStream is a Firehose delivery stream (label delivery_stream).
	DeliveryStream string
}

type key struct {
	name string
	Labels
}

// hist is a histogram series: cumulative counts are computed when written.
type hist struct {
	counts []uint64 // per bucket, not cumulative; last: above every bound
	sum    float64
	n      uint64
}

// Registry holds the metrics. Create it with New; it is safe for
// concurrent use.
type Registry struct {
	mu     sync.Mutex
	values map[key]float64 // counters and gauges
	hists  map[key]*hist
	ops    map[string]bool // operation label values seen
}

// New returns an empty Registry.
func New() *Registry {
	return &Registry{values: map[key]float64{}, hists: map[key]*hist{}, ops: map[string]bool{}}
}

// Add adds delta to a counter or gauge.
func (r *Registry) Add(name string, l Labels, delta float64) {
	r.mu.Lock()
	r.values[key{name, l}] += delta
	r.mu.Unlock()
}

// Set sets a gauge.
func (r *Registry) Set(name string, l Labels, v float64) {
	r.mu.Lock()
	r.values[key{name, l}] = v
	r.mu.Unlock()
}

// Value returns a counter's or gauge's value (0 if it has none yet).
func (r *Registry) Value(name string, l Labels) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.values[key{name, l}]
}

// observe records v in a histogram.
func (r *Registry) observe(name string, l Labels, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key{name, l}
	h := r.hists[k]
	if h == nil {
		h = &hist{counts: make([]uint64, len(Buckets)+1)}
		r.hists[k] = h
	}
	i, _ := slices.BinarySearch(Buckets, v) // the first bound >= v
	h.counts[i]++
	h.sum += v
	h.n++
}

// Incoming implements kinesis.Recorder.
func (r *Registry) Incoming(stream string, records, bytes int) {
	r.mu.Lock()
	r.values[key{IncomingRecords, Labels{Stream: stream}}] += float64(records)
	r.values[key{IncomingBytes, Labels{Stream: stream}}] += float64(bytes)
	r.mu.Unlock()
}

// Outgoing implements kinesis.Recorder.
func (r *Registry) Outgoing(stream string, records, bytes int) {
	r.mu.Lock()
	r.values[key{OutgoingRecords, Labels{Stream: stream}}] += float64(records)
	r.values[key{OutgoingBytes, Labels{Stream: stream}}] += float64(bytes)
	r.mu.Unlock()
}

// WriteThrottled implements kinesis.Recorder.
func (r *Registry) WriteThrottled(stream string) { r.Add(WriteThrottled, Labels{Stream: stream}, 1) }

// ReadThrottled implements kinesis.Recorder.
func (r *Registry) ReadThrottled(stream string) { r.Add(ReadThrottled, Labels{Stream: stream}, 1) }

// IteratorAge implements kinesis.Recorder.
func (r *Registry) IteratorAge(stream string, ms int64) {
	r.Set(IteratorAgeMillis, Labels{Stream: stream}, float64(ms))
}

// ForgetStream implements kinesis.StreamForgetter: it drops every series
// of the stream, its shards' included, so a deleted stream's series do not
// stay in the exposition for ever. A stream created again under the name
// starts its series from zero.
func (r *Registry) ForgetStream(stream string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.values {
		if k.Stream == stream {
			delete(r.values, k)
		}
	}
	for k := range r.hists {
		if k.Stream == stream {
			delete(r.hists, k)
		}
	}
}

// IncomingShard implements kinesis.ShardRecorder: the shard-level series
// enhanced monitoring turns on.
func (r *Registry) IncomingShard(stream, shard string, records, bytes int) {
	r.mu.Lock()
	r.values[key{IncomingRecords, Labels{Stream: stream, Shard: shard}}] += float64(records)
	r.values[key{IncomingBytes, Labels{Stream: stream, Shard: shard}}] += float64(bytes)
	r.mu.Unlock()
}

// OutgoingShard implements kinesis.ShardRecorder.
func (r *Registry) OutgoingShard(stream, shard string, records, bytes int) {
	r.mu.Lock()
	r.values[key{OutgoingRecords, Labels{Stream: stream, Shard: shard}}] += float64(records)
	r.values[key{OutgoingBytes, Labels{Stream: stream, Shard: shard}}] += float64(bytes)
	r.mu.Unlock()
}

// IteratorAgeShard implements kinesis.ShardRecorder.
func (r *Registry) IteratorAgeShard(stream, shard string, ms int64) {
	r.Set(IteratorAgeMillis, Labels{Stream: stream, Shard: shard}, float64(ms))
}

// Observe wraps the API handler next: it counts each request by operation
// (shoal_kinesis_requests_total), each error response by operation and
// exception (shoal_kinesis_errors_total; a status >= 400 without
// X-Amzn-ErrorType counts as exception "HTTP<status>"), the requests in
// flight, and the latency until next returns. The operation is the part of
// X-Amz-Target after the dot; "unauthenticated" when the signature check
// refused the request; "unknown" when the header has none, is not a
// Kinesis target or a plain name, or the server answered
// UnknownOperationException; "other"
// once 64 distinct names were seen, so that clients cannot grow the
// registry without bound.
func (r *Registry) Observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		r.Add(RequestsInFlight, Labels{}, 1)
		rw := &recorder{ResponseWriter: w}
		defer func() {
			r.Add(RequestsInFlight, Labels{}, -1)
			status := rw.status
			if status == 0 {
				status = http.StatusOK // nothing written, or next panicked
			}
			exception := rw.errType
			if exception == "" && status >= 400 {
				exception = "HTTP" + strconv.Itoa(status)
			}
			op := r.operation(awsproto.Target(req), exception)
			r.mu.Lock()
			r.values[key{Requests, Labels{Operation: op}}]++
			if exception != "" {
				r.values[key{Errors, Labels{Operation: op, Exception: clip(exception)}}]++
			}
			r.mu.Unlock()
			r.observe(RequestDuration, Labels{Operation: op}, time.Since(start).Seconds())
		}()
		next.ServeHTTP(rw, req)
	})
}

// operation returns the operation label of a request.
func (r *Registry) operation(target, exception string) string {
	switch exception {
	case "MissingAuthenticationTokenException", "IncompleteSignatureException", "InvalidSignatureException", "UnrecognizedClientException":
		// Refused before dispatch: the target is the client's word only.
		return "unauthenticated"
	}
	prefix, op, ok := strings.Cut(target, ".")
	if !ok || (prefix != "Kinesis_20131202" && prefix != firehosePrefix) || exception == "UnknownOperationException" || !plainName(op) {
		return "unknown"
	}
	if prefix == firehosePrefix {
		op = "Firehose." + op // Firehose's PutRecord is not Kinesis's
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ops[op] {
		if len(r.ops) >= maxOperations {
			return "other"
		}
		r.ops[op] = true
	}
	return op
}

func plainName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > maxLabelValueLength {
		return s[:maxLabelValueLength]
	}
	return s
}

// recorder captures the status and X-Amzn-ErrorType of a response.
type recorder struct {
	http.ResponseWriter
	status  int
	errType string
}

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
		w.errType = w.Header().Get("X-Amzn-ErrorType")
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming responses (SubscribeToShard) through.
func (w *recorder) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap serves http.ResponseController.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP serves the metrics in the Prometheus text format.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if req.Method == http.MethodHead {
		return
	}
	_ = r.WriteText(w)
}

type valueSeries struct {
	Labels
	v float64
}

type histSeries struct {
	Labels
	h hist
}

// WriteText writes every metric in the Prometheus text format: HELP and
// TYPE lines for each, then its series sorted by labels. A metric with no
// series yet is written with its HELP and TYPE lines only (the in-flight
// gauge is always written).
func (r *Registry) WriteText(w io.Writer) error {
	// Copy under the lock, format outside it.
	vals := map[string][]valueSeries{}
	hists := map[string][]histSeries{}
	r.mu.Lock()
	for k, v := range r.values {
		vals[k.name] = append(vals[k.name], valueSeries{k.Labels, v})
	}
	for k, h := range r.hists {
		hists[k.name] = append(hists[k.name], histSeries{k.Labels, hist{counts: slices.Clone(h.counts), sum: h.sum, n: h.n}})
	}
	r.mu.Unlock()

	bw := bufio.NewWriter(w)
	for _, f := range slices.Concat(families, firehoseFamilies) {
		bw.WriteString("# HELP " + f.name + " " + escapeHelp(f.help) + "\n")
		bw.WriteString("# TYPE " + f.name + " " + f.kind.String() + "\n")
		if f.kind == histogram {
			hs := hists[f.name]
			slices.SortFunc(hs, func(a, b histSeries) int { return compareLabels(a.Labels, b.Labels) })
			for _, s := range hs {
				var cum uint64
				for i, le := range Buckets {
					cum += s.h.counts[i]
					writeSample(bw, f.name+"_bucket", s.Labels, "le", formatFloat(le), strconv.FormatUint(cum, 10))
				}
				writeSample(bw, f.name+"_bucket", s.Labels, "le", "+Inf", strconv.FormatUint(s.h.n, 10))
				writeSample(bw, f.name+"_sum", s.Labels, "", "", formatFloat(s.h.sum))
				writeSample(bw, f.name+"_count", s.Labels, "", "", strconv.FormatUint(s.h.n, 10))
			}
			continue
		}
		vs := vals[f.name]
		if f.name == RequestsInFlight && len(vs) == 0 {
			vs = []valueSeries{{}}
		}
		slices.SortFunc(vs, func(a, b valueSeries) int { return compareLabels(a.Labels, b.Labels) })
		for _, s := range vs {
			writeSample(bw, f.name, s.Labels, "", "", formatFloat(s.v))
		}
	}
	return bw.Flush()
}

func compareLabels(a, b Labels) int {
	for _, c := range [...]int{
		strings.Compare(a.Stream, b.Stream), strings.Compare(a.Shard, b.Shard),
		strings.Compare(a.Operation, b.Operation), strings.Compare(a.Exception, b.Exception),
		strings.Compare(a.DeliveryStream, b.DeliveryStream),
	} {
		if c != 0 {
			return c
		}
	}
	return 0
}

// writeSample writes `name{labels} value`, with an extra label (le) if
// extraName is set.
func writeSample(w *bufio.Writer, name string, l Labels, extraName, extraValue, value string) {
	w.WriteString(name)
	first := true
	label := func(n, v string) {
		if v == "" {
			return
		}
		if first {
			w.WriteByte('{')
			first = false
		} else {
			w.WriteByte(',')
		}
		w.WriteString(n + `="` + escapeLabel(v) + `"`)
	}
	label("stream", l.Stream)
	label("shard", l.Shard)
	label("operation", l.Operation)
	label("exception", l.Exception)
	label("delivery_stream", l.DeliveryStream)
	if extraName != "" {
		label(extraName, extraValue)
	}
	if !first {
		w.WriteByte('}')
	}
	w.WriteString(" " + value + "\n")
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64) // counts as integers
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
