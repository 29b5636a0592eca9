// Package shardlogtest is the conformance suite every shardlog engine
// passes. Run first calls the engine's methods directly, each against the
// contract shardlog.Engine documents (the Engine group); then it drives a
// shardlog.Log over the engine through every Kinesis rule the Log promises
// (streams, hash keys, sequence numbers, puts, conditional puts, reads by
// key, iterators, resharding, retention, provisioned limits, push
// subscriptions, errors), at and past each limit, plus concurrent writers
// and a linearizability check.
//
// An engine's test calls it with a constructor of fresh, empty engines:
//
//	func TestConformance(t *testing.T) {
//		shardlogtest.Run(t, func(t *testing.T) shardlog.Engine { return memory.New() })
//	}
package shardlogtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// NewEngine returns a fresh, empty engine for one test. The suite closes it
// (through the Log, or directly in the Engine group).
type NewEngine func(t *testing.T) shardlog.Engine

// Run runs the whole conformance suite against engines from newEngine.
// Every group runs in parallel subtests of its own.
func Run(t *testing.T, newEngine NewEngine) {
	groups := []struct {
		name string
		fn   func(t *testing.T, newEngine NewEngine)
	}{
		{"Engine", testEngine},
		{"Streams", testStreams},
		{"Tags", testTags},
		{"HashKeys", testHashKeys},
		{"Retention", testRetention},
		{"RetentionHold", testRetentionHold},
		{"PutRecord", testPutRecord},
		{"PutRecords", testPutRecords},
		{"SequenceNumbers", testSequenceNumbers},
		{"Iterators", testIterators},
		{"GetRecords", testGetRecords},
		{"Cursor", testCursor},
		{"ProvisionedLimits", testProvisionedLimits},
		{"Resharding", testResharding},
		{"ListShards", testListShards},
		{"Consumers", testConsumers},
		{"Subscriptions", testSubscriptions},
		{"AppendKey", testAppendKey},
		{"ReadKey", testReadKey},
		{"Concurrency", testConcurrency},
		{"Linearizability", testLinearizability},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.fn(t, newEngine) })
	}
}

// Clock is a settable clock for the Log under test. It starts at a fixed
// instant and moves only when told.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Epoch is where every test clock starts.
var Epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// NewClock returns a clock at Epoch.
func NewClock() *Clock { return &Clock{now: Epoch} }

// NewClockAt returns a clock at t.
func NewClockAt(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Harness is one Log over a fresh engine, with a fake clock, for one test.
type Harness struct {
	T     *testing.T
	Ctx   context.Context
	Clock *Clock
	Log   *shardlog.Log
}

// NewHarness opens a Log over a fresh engine with a fake clock and no
// background janitor; the Log is closed when the test ends.
func NewHarness(t *testing.T, newEngine NewEngine, opts ...shardlog.Option) *Harness {
	t.Helper()
	clock := NewClock()
	opts = append([]shardlog.Option{shardlog.WithClock(clock.Now), shardlog.WithRetentionInterval(0)}, opts...)
	l, err := shardlog.Open(t.Context(), newEngine(t), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return &Harness{T: t, Ctx: t.Context(), Clock: clock, Log: l}
}

// CreateStream creates a provisioned stream with n shards.
func (h *Harness) CreateStream(name string, n int) {
	h.T.Helper()
	require.NoError(h.T, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: name, ShardCount: n}))
}

// Put puts one record and returns its result.
func (h *Harness) Put(stream, key string, data []byte) shardlog.PutRecordOutput {
	h.T.Helper()
	out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: key, Data: data})
	require.NoError(h.T, err)
	return *out
}

// ReadShard reads every record of a shard from TRIM_HORIZON with
// GetRecords until it has caught up (or reached a closed shard's end).
func (h *Harness) ReadShard(stream, shardID string) []shardlog.Record {
	h.T.Helper()
	itOut, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: stream, ShardID: shardID, ShardIteratorType: shardlog.TrimHorizon})
	require.NoError(h.T, err)
	it := itOut.ShardIterator
	var out []shardlog.Record
	for it != "" {
		res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
		require.NoError(h.T, err)
		out = append(out, res.Records...)
		if len(res.Records) == 0 {
			break
		}
		it = res.NextShardIterator
	}
	return out
}

// OpenShards returns the IDs of the stream's open shards.
func (h *Harness) OpenShards(stream string) []shardlog.Shard {
	h.T.Helper()
	d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: stream})
	require.NoError(h.T, err)
	var out []shardlog.Shard
	for _, s := range d.Shards {
		if !s.Closed {
			out = append(out, s)
		}
	}
	return out
}

// AllShards returns every shard the stream describes.
func (h *Harness) AllShards(stream string) []shardlog.Shard {
	h.T.Helper()
	d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: stream})
	require.NoError(h.T, err)
	return d.Shards
}
