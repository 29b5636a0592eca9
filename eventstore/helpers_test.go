package eventstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/pglog"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
	"github.com/stretchr/testify/require"
)

// The test event types. Their json tags name the fields in both codecs.
type (
	opened struct {
		Owner string `json:"owner"`
		Limit int    `json:"limit"`
	}
	deposited struct {
		Amount int    `json:"amount"`
		Note   string `json:"note,omitempty"`
	}
	withdrawn struct {
		Amount int `json:"amount"`
	}
	// notRegistered is never registered.
	notRegistered struct{ X int }
)

// testStream is the shardlog stream every test store writes to.
const testStream = "events"

// engineKinds are the shardlog engines the important tests run on: the
// PostgreSQL engine too when SHOAL_TEST_POSTGRES names a server.
var engineKinds = func() []string {
	kinds := []string{"memory", "file"}
	if pglog.Available() {
		kinds = append(kinds, pglog.Kind)
	}
	return kinds
}()

// eachEngine runs f as a parallel subtest per engine kind.
func eachEngine(t *testing.T, f func(t *testing.T, kind string)) {
	t.Helper()
	for _, kind := range engineKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f(t, kind)
		})
	}
}

// fakeClock is a settable clock for shardlog.WithClock.
type fakeClock = shardlogtest.Clock

func newFakeClock() *fakeClock {
	return shardlogtest.NewClockAt(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// env is one log on one engine, with helpers to open stores on it.
type env struct {
	t      *testing.T
	ctx    context.Context
	kind   string
	dir    string     // file engine only
	schema string     // PostgreSQL engine only
	clock  *fakeClock // nil: the real clock
	shards int
	log    *shardlog.Log
}

type envOption func(*env)

// withClock makes the log read a fake clock (and disables its janitor).
func withClock(c *fakeClock) envOption { return func(e *env) { e.clock = c } }

// withShards sets the shard count of the test stream (default 2).
func withShards(n int) envOption { return func(e *env) { e.shards = n } }

// newEnv opens a log on a new engine of kind and creates testStream on it.
// Everything is closed in t.Cleanup.
func newEnv(t *testing.T, kind string, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), kind: kind, shards: 2}
	for _, o := range opts {
		o(e)
	}
	switch kind {
	case "file":
		e.dir = t.TempDir()
	case pglog.Kind:
		e.schema = pglog.NewSchema(t)
	}
	e.openLog()
	require.NoError(t, e.log.CreateStream(e.ctx, shardlog.CreateStreamInput{StreamName: testStream, ShardCount: e.shards}))
	t.Cleanup(func() { require.NoError(t, e.log.Close()) })
	return e
}

func (e *env) openLog() {
	e.t.Helper()
	var eng shardlog.Engine
	switch e.kind {
	case "memory":
		eng = memory.New()
	case "file":
		fe, err := file.Open(e.dir)
		require.NoError(e.t, err)
		eng = fe
	case pglog.Kind:
		eng = pglog.Open(e.t, e.schema)
	default:
		e.t.Fatalf("unknown engine kind %q", e.kind)
	}
	var lo []shardlog.Option
	if e.clock != nil {
		lo = append(lo, shardlog.WithClock(e.clock.Now), shardlog.WithRetentionInterval(0))
	}
	l, err := shardlog.Open(e.ctx, eng, lo...)
	require.NoError(e.t, err)
	e.log = l
}

// reopenLog closes the log and opens it again on the same data: a process
// restart for the file and PostgreSQL engines. The memory engine keeps
// nothing across a close, so there the log stays open.
func (e *env) reopenLog() {
	e.t.Helper()
	if e.kind == "memory" {
		return
	}
	require.NoError(e.t, e.log.Close())
	e.openLog()
}

// newRegistry returns a registry of the test event types.
func newRegistry(t *testing.T) *eventstore.Registry {
	t.Helper()
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[opened](reg, "acct.opened"))
	require.NoError(t, eventstore.Register[deposited](reg, "acct.deposited"))
	require.NoError(t, eventstore.Register[withdrawn](reg, "acct.withdrawn"))
	return reg
}

// store opens a store on testStream with the test registry (unless opts
// give another).
func (e *env) store(opts ...eventstore.Option) *eventstore.Store {
	e.t.Helper()
	opts = append([]eventstore.Option{eventstore.WithRegistry(newRegistry(e.t))}, opts...)
	s, err := eventstore.Open(e.ctx, e.log, testStream, opts...)
	require.NoError(e.t, err)
	return s
}

// readAll collects a read: the events before the first error, and the
// error. It fails the test if anything follows an error.
func readAll(t *testing.T, seq iter.Seq2[eventstore.Event, error]) ([]eventstore.Event, error) {
	t.Helper()
	var evs []eventstore.Event
	var firstErr error
	for ev, err := range seq {
		require.NoError(t, firstErr, "the read went on after an error")
		if err != nil {
			firstErr = err
			continue
		}
		evs = append(evs, ev)
	}
	return evs, firstErr
}

// mustReadAll is readAll that requires no error.
func mustReadAll(t *testing.T, seq iter.Seq2[eventstore.Event, error]) []eventstore.Event {
	t.Helper()
	evs, err := readAll(t, seq)
	require.NoError(t, err)
	return evs
}

func versions(evs []eventstore.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Version
	}
	return out
}

func ids(evs []eventstore.Event) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// span returns from, from+1, ..., to (descending if from > to).
func span(from, to uint64) []uint64 {
	var out []uint64
	if from <= to {
		for v := from; v <= to; v++ {
			out = append(out, v)
		}
		return out
	}
	for v := from; v >= to; v-- {
		out = append(out, v)
	}
	return out
}

// requireExpired requires err to be an *ExpiredError of streamID for
// versions from..to.
func requireExpired(t *testing.T, err error, streamID string, from, to uint64) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, eventstore.ErrEventsExpired)
	var xe *eventstore.ExpiredError
	require.True(t, errors.As(err, &xe), "%v is not an *ExpiredError", err)
	require.Equal(t, eventstore.ExpiredError{StreamID: streamID, From: from, To: to}, *xe)
	require.Contains(t, err.Error(), fmt.Sprintf("%q: versions %d-%d are past", streamID, from, to))
}

// requireWrongVersion requires err to be a *WrongExpectedVersionError.
func requireWrongVersion(t *testing.T, err error, streamID string, expected eventstore.ExpectedVersion, actual uint64) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
	var we *eventstore.WrongExpectedVersionError
	require.True(t, errors.As(err, &we), "%v is not a *WrongExpectedVersionError", err)
	require.Equal(t, eventstore.WrongExpectedVersionError{StreamID: streamID, Expected: expected, Actual: actual}, *we)
}

// requireArgument requires err to be a *shardlog.ArgumentError on field.
func requireArgument(t *testing.T, err error, field string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
	var ae *shardlog.ArgumentError
	require.True(t, errors.As(err, &ae), "%v is not a *shardlog.ArgumentError", err)
	require.Equal(t, field, ae.Field, "%v", err)
}

// rawCount returns how many records of key the log retains: what an
// append really wrote, whatever the store says.
func (e *env) rawCount(key string) int {
	e.t.Helper()
	n := 0
	for _, err := range e.log.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: key}) {
		require.NoError(e.t, err)
		n++
	}
	return n
}

// owner returns the open shard that owns key.
func (e *env) owner(key string) shardlog.Shard {
	e.t.Helper()
	sh, err := e.tryOwner(key)
	require.NoError(e.t, err)
	return sh
}

func (e *env) tryOwner(key string) (shardlog.Shard, error) {
	shards, err := e.tryOpenShards()
	if err != nil {
		return shardlog.Shard{}, err
	}
	hk := shardlog.HashPartitionKey(key)
	for _, s := range shards {
		if s.HashKeyRange.Contains(hk) {
			return s, nil
		}
	}
	return shardlog.Shard{}, fmt.Errorf("no open shard owns %q", key)
}

// openShards returns the open shards, by starting hash key.
func (e *env) openShards() []shardlog.Shard {
	e.t.Helper()
	shards, err := e.tryOpenShards()
	require.NoError(e.t, err)
	return shards
}

func (e *env) tryOpenShards() ([]shardlog.Shard, error) {
	d, err := e.log.DescribeStream(e.ctx, shardlog.DescribeStreamInput{StreamName: testStream})
	if err != nil {
		return nil, err
	}
	var out []shardlog.Shard
	for _, s := range d.Shards {
		if !s.Closed {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b shardlog.Shard) int {
		return a.HashKeyRange.StartingHashKey.Compare(b.HashKeyRange.StartingHashKey)
	})
	return out, nil
}

// splitOwner splits the open shard owning key in halves and returns the
// parent's ID.
func (e *env) splitOwner(key string) string {
	e.t.Helper()
	p, err := e.trySplitOwner(key)
	require.NoError(e.t, err)
	return p
}

// trySplitOwner is splitOwner for any goroutine.
func (e *env) trySplitOwner(key string) (string, error) {
	p, err := e.tryOwner(key)
	if err != nil {
		return "", err
	}
	r := p.HashKeyRange
	lo, _ := new(big.Int).SetString(r.StartingHashKey.String(), 10)
	hi, _ := new(big.Int).SetString(r.EndingHashKey.String(), 10)
	mid := new(big.Int).Add(lo, hi)
	mid.Rsh(mid, 1).Add(mid, big.NewInt(1))
	return p.ShardID, e.log.SplitShard(e.ctx, shardlog.SplitShardInput{StreamName: testStream, ShardToSplit: p.ShardID, NewStartingHashKey: mid.String()})
}

// mergeChildren merges the two open children of the split parent back.
func (e *env) mergeChildren(parent string) {
	e.t.Helper()
	require.NoError(e.t, e.tryMergeChildren(parent))
}

// tryMergeChildren is mergeChildren for any goroutine.
func (e *env) tryMergeChildren(parent string) error {
	shards, err := e.tryOpenShards()
	if err != nil {
		return err
	}
	var kids []shardlog.Shard
	for _, s := range shards {
		if s.ParentShardID == parent && s.AdjacentParentShardID == "" {
			kids = append(kids, s)
		}
	}
	if len(kids) != 2 {
		return fmt.Errorf("shard %s has %d open split children, want 2", parent, len(kids))
	}
	return e.log.MergeShards(e.ctx, shardlog.MergeShardsInput{StreamName: testStream, ShardToMerge: kids[0].ShardID, AdjacentShardToMerge: kids[1].ShardID})
}

// mapArchive is an eventstore.Archive over records captured from the log
// before they expired.
type mapArchive struct {
	mu    sync.Mutex
	recs  map[string]map[shardlog.SequenceNumber]shardlog.Record // by partition key
	reads int
}

func newMapArchive() *mapArchive {
	return &mapArchive{recs: map[string]map[shardlog.SequenceNumber]shardlog.Record{}}
}

// capture copies the records of key the log holds now, with versions in
// keep (nil: all) into the archive.
func (a *mapArchive) capture(t *testing.T, e *env, key string, keep func(version uint64) bool) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.recs[key] == nil {
		a.recs[key] = map[shardlog.SequenceNumber]shardlog.Record{}
	}
	// Versions come from a store's reading of the same records.
	want := map[shardlog.SequenceNumber]bool{}
	for ev, err := range e.store().Read(e.ctx, key, 0) {
		require.NoError(t, err)
		if keep == nil || keep(ev.Version) {
			want[ev.Position.SequenceNumber] = true
		}
	}
	for r, err := range e.log.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: key}) {
		require.NoError(t, err)
		if want[r.SequenceNumber] {
			r.Data = bytes.Clone(r.Data)
			a.recs[key][r.SequenceNumber] = r
		}
	}
}

func (a *mapArchive) ReadKey(ctx context.Context, in shardlog.ReadKeyInput) iter.Seq2[shardlog.Record, error] {
	stream, partitionKey, after := in.StreamName, in.PartitionKey, in.After
	return func(yield func(shardlog.Record, error) bool) {
		a.mu.Lock()
		a.reads++
		var recs []shardlog.Record
		if stream == testStream {
			for _, r := range a.recs[partitionKey] {
				if r.SequenceNumber.Compare(after) > 0 {
					recs = append(recs, r)
				}
			}
		}
		a.mu.Unlock()
		slices.SortFunc(recs, func(x, y shardlog.Record) int { return x.SequenceNumber.Compare(y.SequenceNumber) })
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// failingArchive fails every read.
type failingArchive struct{ err error }

func (f failingArchive) ReadKey(context.Context, shardlog.ReadKeyInput) iter.Seq2[shardlog.Record, error] {
	return func(yield func(shardlog.Record, error) bool) { yield(shardlog.Record{}, f.err) }
}
