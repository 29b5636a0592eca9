package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/pglog"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// The Counter aggregate used by most tests.

// Opened starts a counter.
type Opened struct{ Name string }

// Incremented adds By to the counter. Writer and Seq identify the command
// that recorded it, so tests can check every command landed exactly once.
type Incremented struct {
	Writer, Seq int
	By          int
}

// Renamed changes the counter's name.
type Renamed struct{ Name string }

// Unhandled is a registered-by-nobody event Counters has no Apply for.
type Unhandled struct{ X int }

// Counter is the state. applied is unexported: it is not part of a
// snapshot, which makes it a witness of how many events a Load applied.
type Counter struct {
	aggregate.Base
	Name string
	N    int
	Seen map[string]int // "writer/seq" → how often applied

	applied int
}

var (
	ErrOpened      = errors.New("counter already opened")
	ErrNonPositive = errors.New("increment must be positive")
)

func (c *Counter) Open(name string) error {
	if c.Version() > 0 {
		return ErrOpened
	}
	c.Record(Opened{Name: name})
	return nil
}

func (c *Counter) Inc(writer, seq, by int) error {
	if by <= 0 {
		return ErrNonPositive
	}
	c.Record(Incremented{Writer: writer, Seq: seq, By: by})
	return nil
}

// Applied returns how many events were applied to this value (not
// counting those folded into a snapshot it was loaded from).
func (c *Counter) Applied() int { return c.applied }

// Counters is the Counter Type.
var Counters = defineCounters("counter")

// defineCounters returns a Counter Type named name with extra options
// (e.g. a snapshot schema).
func defineCounters(name string, opts ...aggregate.TypeOption[Counter]) *aggregate.Type[Counter] {
	base := []aggregate.TypeOption[Counter]{
		aggregate.Apply(func(c *Counter, e Opened) {
			c.Name, c.Seen = e.Name, map[string]int{}
			c.applied++
		}),
		aggregate.Apply(func(c *Counter, e Incremented) {
			c.N += e.By
			c.Seen[seenKey(e.Writer, e.Seq)]++
			c.applied++
		}),
		aggregate.Apply(func(c *Counter, e Renamed) {
			c.Name = e.Name
			c.applied++
		}),
	}
	return aggregate.Define[Counter](name, append(base, opts...)...)
}

func seenKey(writer, seq int) string { return fmt.Sprintf("%d/%d", writer, seq) }

// counterState is what two Counters must agree on to be the same state.
type counterState struct {
	ID                     string
	Version, StoredVersion uint64
	Name                   string
	N                      int
	Seen                   map[string]int
	Pending                int
}

func stateOf(c *Counter) counterState {
	return counterState{
		ID: c.ID(), Version: c.Version(), StoredVersion: c.StoredVersion(),
		Name: c.Name, N: c.N, Seen: c.Seen, Pending: len(c.Pending()),
	}
}

// ---------------------------------------------------------------------------
// Engines and stores.

type engineKind struct {
	name string
	open func(t *testing.T) shardlog.Engine
}

// engineKinds are the engines the tests run on: the PostgreSQL engine too
// when SHOAL_TEST_POSTGRES names a server.
var engineKinds = func() []engineKind {
	kinds := []engineKind{
		{"memory", func(t *testing.T) shardlog.Engine { return memory.New() }},
		{"file", func(t *testing.T) shardlog.Engine {
			e, err := file.Open(t.TempDir())
			require.NoError(t, err)
			return e
		}},
	}
	if pglog.Available() {
		kinds = append(kinds, engineKind{pglog.Kind, func(t *testing.T) shardlog.Engine { return pglog.Engine(t) }})
	}
	return kinds
}()

// eachEngine runs fn as a parallel subtest per engine.
func eachEngine(t *testing.T, fn func(t *testing.T, ek engineKind)) {
	t.Helper()
	for _, ek := range engineKinds {
		t.Run(ek.name, func(t *testing.T) {
			t.Parallel()
			fn(t, ek)
		})
	}
}

type envConfig struct {
	shards int
	snaps  eventstore.SnapshotStore
	clock  *fakeClock
	wrap   func(shardlog.Engine) shardlog.Engine
}

type envOption func(*envConfig)

func withSnapshotStore(s eventstore.SnapshotStore) envOption {
	return func(c *envConfig) { c.snaps = s }
}

func withClock(c *fakeClock) envOption { return func(o *envConfig) { o.clock = c } }

func withEngineWrapper(w func(shardlog.Engine) shardlog.Engine) envOption {
	return func(c *envConfig) { c.wrap = w }
}

// env is one event store on a fresh log.
type env struct {
	ctx    context.Context
	log    *shardlog.Log
	stream string
	store  *eventstore.Store
	cfg    envConfig
}

const streamName = "aggregates"

func newEnv(t *testing.T, ek engineKind, opts ...envOption) *env {
	t.Helper()
	cfg := envConfig{shards: 2}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := t.Context()
	eng := ek.open(t)
	if cfg.wrap != nil {
		eng = cfg.wrap(eng)
	}
	logOpts := []shardlog.Option{shardlog.WithRetentionInterval(0)}
	if cfg.clock != nil {
		logOpts = append(logOpts, shardlog.WithClock(cfg.clock.Now))
	}
	lg, err := shardlog.Open(ctx, eng, logOpts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, lg.Close()) })
	e := &env{ctx: ctx, log: lg, stream: streamName, cfg: cfg}
	e.store = e.openStore(t, eventstore.NewRegistry())
	l, name := e.store.Log()
	require.Same(t, lg, l)
	require.Equal(t, streamName, name)
	return e
}

// openStore opens another Store on the env's log stream, with its own
// registry (and the env's snapshot store).
func (e *env) openStore(t *testing.T, reg *eventstore.Registry) *eventstore.Store {
	t.Helper()
	opts := []eventstore.Option{
		eventstore.WithRegistry(reg),
		eventstore.WithCreateIfMissing(e.cfgCreate()),
	}
	if e.cfg.snaps != nil {
		opts = append(opts, eventstore.WithSnapshots(e.cfg.snaps))
	}
	s, err := eventstore.Open(e.ctx, e.log, e.stream, opts...)
	require.NoError(t, err)
	return s
}

// cfgCreate returns how the env creates shardlog streams.
func (e *env) cfgCreate() shardlog.CreateStreamInput {
	return shardlog.CreateStreamInput{ShardCount: e.cfg.shards}
}

// repo returns a Counter repository on the env's store.
func (e *env) repo(t *testing.T, opts ...aggregate.RepositoryOption) *aggregate.Repository[Counter] {
	t.Helper()
	r, err := aggregate.NewRepository(e.store, Counters, opts...)
	require.NoError(t, err)
	return r
}

// version returns the stream's version in the store.
func (e *env) version(t *testing.T, id string) uint64 {
	t.Helper()
	v, err := e.store.Version(e.ctx, id)
	require.NoError(t, err)
	return v
}

// events returns the stored events of a stream, their data decoded.
func (e *env) events(t *testing.T, id string) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for ev, err := range e.store.Read(e.ctx, id, 0) {
		require.NoError(t, err)
		_, err = ev.Data()
		require.NoError(t, err)
		out = append(out, ev)
	}
	return out
}

// eventData returns the data of the stored events of a stream.
func (e *env) eventData(t *testing.T, id string) []any {
	t.Helper()
	var out []any
	for _, ev := range e.events(t, id) {
		d, err := ev.Data()
		require.NoError(t, err)
		out = append(out, d)
	}
	return out
}

// requireDense checks that the stream's versions are exactly 1..n.
func requireDense(t *testing.T, evs []eventstore.Event, n int) {
	t.Helper()
	require.Len(t, evs, n)
	for i, ev := range evs {
		require.Equal(t, uint64(i+1), ev.Version, "event %d", i)
	}
}

// replay folds the stored events of id with Counters, the reference a
// Load must agree with.
func (e *env) replay(t *testing.T, id string) *Counter {
	t.Helper()
	c, err := Counters.Replay(id, e.eventData(t, id)...)
	require.NoError(t, err)
	return c
}

// ---------------------------------------------------------------------------
// Resharding.

// openShards returns the stream's open shards.
func (e *env) openShards(t *testing.T) []shardlog.Shard {
	t.Helper()
	d, err := e.log.DescribeStream(e.ctx, shardlog.DescribeStreamInput{StreamName: e.stream})
	require.NoError(t, err)
	var out []shardlog.Shard
	for _, s := range d.Shards {
		if !s.Closed {
			out = append(out, s)
		}
	}
	return out
}

// shardOf returns the open shard that owns the partition key.
func (e *env) shardOf(t *testing.T, key string) shardlog.Shard {
	t.Helper()
	h := shardlog.HashPartitionKey(key)
	for _, s := range e.openShards(t) {
		if s.HashKeyRange.Contains(h) {
			return s
		}
	}
	t.Fatalf("no open shard owns %q", key)
	return shardlog.Shard{}
}

func bigOf(t *testing.T, h shardlog.HashKey) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(h.String(), 10)
	require.True(t, ok)
	return n
}

// splitShardOf splits the shard owning key in the middle of its range.
func (e *env) splitShardOf(t *testing.T, key string) {
	t.Helper()
	s := e.shardOf(t, key)
	lo, hi := bigOf(t, s.HashKeyRange.StartingHashKey), bigOf(t, s.HashKeyRange.EndingHashKey)
	mid := new(big.Int).Add(lo, hi)
	mid.Rsh(mid, 1)
	mid.Add(mid, big.NewInt(1))
	require.NoError(t, e.log.SplitShard(e.ctx, shardlog.SplitShardInput{StreamName: e.stream, ShardToSplit: s.ShardID, NewStartingHashKey: mid.String()}))
}

// mergeShardOf merges the shard owning key with an adjacent open shard.
func (e *env) mergeShardOf(t *testing.T, key string) {
	t.Helper()
	s := e.shardOf(t, key)
	lo, hi := bigOf(t, s.HashKeyRange.StartingHashKey), bigOf(t, s.HashKeyRange.EndingHashKey)
	one := big.NewInt(1)
	for _, o := range e.openShards(t) {
		olo, ohi := bigOf(t, o.HashKeyRange.StartingHashKey), bigOf(t, o.HashKeyRange.EndingHashKey)
		switch {
		case new(big.Int).Add(hi, one).Cmp(olo) == 0:
			require.NoError(t, e.log.MergeShards(e.ctx, shardlog.MergeShardsInput{StreamName: e.stream, ShardToMerge: s.ShardID, AdjacentShardToMerge: o.ShardID}))
			return
		case new(big.Int).Add(ohi, one).Cmp(lo) == 0:
			require.NoError(t, e.log.MergeShards(e.ctx, shardlog.MergeShardsInput{StreamName: e.stream, ShardToMerge: o.ShardID, AdjacentShardToMerge: s.ShardID}))
			return
		}
	}
	t.Fatalf("shard %s has no adjacent open shard", s.ShardID)
}

// ---------------------------------------------------------------------------
// Snapshot stores.

// countingSnapshots counts the calls to a snapshot store.
type countingSnapshots struct {
	eventstore.SnapshotStore
	loads, saves atomic.Int64
}

func newCountingSnapshots() *countingSnapshots {
	return &countingSnapshots{SnapshotStore: eventstore.NewMemorySnapshots()}
}

func (c *countingSnapshots) LoadSnapshot(ctx context.Context, id string) (eventstore.Snapshot, bool, error) {
	c.loads.Add(1)
	return c.SnapshotStore.LoadSnapshot(ctx, id)
}

func (c *countingSnapshots) SaveSnapshot(ctx context.Context, s eventstore.Snapshot) error {
	c.saves.Add(1)
	return c.SnapshotStore.SaveSnapshot(ctx, s)
}

// snapshotVersion returns the version of id's snapshot; 0 if none.
func snapshotVersion(t *testing.T, s eventstore.SnapshotStore, id string) uint64 {
	t.Helper()
	sn, ok, err := s.LoadSnapshot(context.Background(), id)
	require.NoError(t, err)
	if !ok {
		return 0
	}
	return sn.Version
}

var errSnapshotDisk = errors.New("snapshot disk full")

// failingSnapshots has no snapshots and cannot store any.
type failingSnapshots struct{ saves atomic.Int64 }

func (*failingSnapshots) LoadSnapshot(context.Context, string) (eventstore.Snapshot, bool, error) {
	return eventstore.Snapshot{}, false, nil
}

func (f *failingSnapshots) SaveSnapshot(context.Context, eventstore.Snapshot) error {
	f.saves.Add(1)
	return errSnapshotDisk
}

// ---------------------------------------------------------------------------
// Clock, logs, engine faults.

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock = shardlogtest.Clock

func newFakeClock() *fakeClock {
	return shardlogtest.NewClockAt(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
}

// appendFault is what faultyEngine does to the next Append.
type appendFault int

const (
	noFault      appendFault = iota
	lostAck                  // store the records, then report a failure
	failedAppend             // report a failure, store nothing
)

var errLostAck = errors.New("connection reset (the append may have happened)")

// faultyEngine injects one fault into the next Append.
type faultyEngine struct {
	shardlog.Engine
	next atomic.Int32
}

func (f *faultyEngine) arm(fault appendFault) { f.next.Store(int32(fault)) }

func (f *faultyEngine) Append(ctx context.Context, ref shardlog.ShardRef, now time.Time, recs []shardlog.Entry, cond *shardlog.Condition) (shardlog.SequenceNumber, time.Time, error) {
	switch appendFault(f.next.Swap(int32(noFault))) {
	case lostAck:
		if _, _, err := f.Engine.Append(ctx, ref, now, recs, cond); err != nil {
			return shardlog.SequenceNumber{}, time.Time{}, err
		}
		return shardlog.SequenceNumber{}, time.Time{}, errLostAck
	case failedAppend:
		return shardlog.SequenceNumber{}, time.Time{}, errLostAck
	}
	return f.Engine.Append(ctx, ref, now, recs, cond)
}
