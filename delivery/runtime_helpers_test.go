package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

const rtSource = "src"

// rtLog opens a memory log with a stream of n shards (none for n == 0).
// The caller closes it (inside a synctest bubble, before the bubble ends).
func rtLog(t *testing.T, n int, opts ...shardlog.Option) *shardlog.Log {
	t.Helper()
	ctx := context.Background()
	l, err := shardlog.Open(ctx, memory.New(), opts...)
	require.NoError(t, err)
	if n > 0 {
		require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: rtSource, ShardCount: n}))
	}
	return l
}

// rtPut appends one record per data, with partition key key(i).
func rtPut(t *testing.T, l *shardlog.Log, stream string, key func(i int) string, data ...[]byte) {
	t.Helper()
	for i, d := range data {
		_, err := l.PutRecord(context.Background(), shardlog.PutRecordInput{StreamName: stream, PartitionKey: key(i), Data: d})
		require.NoError(t, err)
	}
}

func rtKey(i int) string { return fmt.Sprintf("key-%d", i) }

func rtConstKey(string) func(int) string { return func(int) string { return "k" } }

// rtDest is a fake Destination that records the batches it accepted and
// can fail: the next failN calls, or every call while down is set.
type rtDest struct {
	mu      sync.Mutex
	batches []*delivery.Batch
	calls   int
	failN   int
	down    bool
	// before, if set, runs at the start of every call (under mu).
	before func(b *delivery.Batch)
}

var errRtDown = errors.New("destination down")

func (d *rtDest) Deliver(_ context.Context, b *delivery.Batch) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.before != nil {
		d.before(b)
	}
	if d.down || d.failN > 0 {
		if d.failN > 0 {
			d.failN--
		}
		return errRtDown
	}
	c := *b
	c.Records = slices.Clone(b.Records)
	d.batches = append(d.batches, &c)
	return nil
}

func (d *rtDest) setDown(v bool) {
	d.mu.Lock()
	d.down = v
	d.mu.Unlock()
}

// got returns the accepted batches.
func (d *rtDest) got() []*delivery.Batch {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.batches)
}

// data returns the data of every record accepted, in delivery order.
func (d *rtDest) data() []string {
	var out []string
	for _, b := range d.got() {
		for _, r := range b.Records {
			out = append(out, string(r.Data))
		}
	}
	return out
}

// rtErrOut is a fake ErrorOutput.
type rtErrOut struct {
	mu      sync.Mutex
	records map[delivery.OutputType][]delivery.FailedRecord
}

func (e *rtErrOut) DeliverFailed(_ context.Context, typ delivery.OutputType, records []delivery.FailedRecord) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.records == nil {
		e.records = map[delivery.OutputType][]delivery.FailedRecord{}
	}
	e.records[typ] = append(e.records[typ], records...)
	return nil
}

func (e *rtErrOut) got(typ delivery.OutputType) []delivery.FailedRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.records[typ])
}

// rtMetrics is a fake Recorder.
type rtMetrics struct {
	mu     sync.Mutex
	counts map[delivery.Metric]float64
	gauges map[delivery.Metric]float64
}

func (m *rtMetrics) Add(_ string, k delivery.Metric, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[delivery.Metric]float64{}
	}
	m.counts[k] += v
}

func (m *rtMetrics) Set(_ string, k delivery.Metric, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gauges == nil {
		m.gauges = map[delivery.Metric]float64{}
	}
	m.gauges[k] = v
}

func (m *rtMetrics) count(k delivery.Metric) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[k]
}

// rtConfig is a config over l's rtSource with dest, a quick retry policy
// and the given interval.
func rtConfig(l *shardlog.Log, dest delivery.Destination, interval time.Duration) delivery.Config {
	return delivery.Config{
		Name:        "archive",
		Source:      delivery.Source{Log: l, StreamName: rtSource},
		Buffering:   delivery.BufferingHints{Interval: interval, IntervalSet: true},
		Destination: dest,
		Retry:       delivery.RetryPolicy{Duration: time.Minute, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second},
		Logger:      slog.New(slog.DiscardHandler),
	}
}

// rtRun starts s.Run; stop cancels it and returns Run's error.
func rtRun(t *testing.T, s *delivery.Stream) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

// rtCheckpoints returns the delivery stream's checkpoints.
func rtCheckpoints(t *testing.T, cps projection.CheckpointStore, name string) map[string]projection.Progress {
	t.Helper()
	m, err := cps.Checkpoints(context.Background(), name)
	require.NoError(t, err)
	return m
}

// rtBytes returns n bytes of c.
func rtBytes(n int, c byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

// rtStrings returns "prefix-0", "prefix-1", ... as data.
func rtStrings(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s-%d", prefix, i)
	}
	return out
}

func (m *rtMetrics) gauge(k delivery.Metric) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gauges[k]
}

// rtPutAtOnce appends the records in one PutRecords call, so that a
// worker reading at once (Interval 0) sees them in one read: with one
// PutRecord each, it may read between them and deliver two batches.
func rtPutAtOnce(t *testing.T, l *shardlog.Log, stream string, key func(i int) string, data ...[]byte) {
	t.Helper()
	entries := make([]shardlog.PutRecordsEntry, len(data))
	for i, d := range data {
		entries[i] = shardlog.PutRecordsEntry{PartitionKey: key(i), Data: d}
	}
	out, err := l.PutRecords(context.Background(), shardlog.PutRecordsInput{StreamName: stream, Records: entries})
	require.NoError(t, err)
	require.Zero(t, out.FailedRecordCount)
}
