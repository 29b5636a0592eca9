package delivery_test

import (
	"context"
	"iter"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/internal/fakes3"
	"github.com/shoal-dev/shoal/delivery/s3store"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/stretchr/testify/require"
)

// The test event types.
type (
	opened struct {
		Owner string `json:"owner"`
	}
	deposited struct {
		Amount int    `json:"amount"`
		Note   string `json:"note,omitempty"`
	}
	secret struct{ Code int } // registered by the writer only
)

const testStream = "orders"

// env is a memory log with testStream and an event store over it.
type env struct {
	t      *testing.T
	ctx    context.Context
	log    *shardlog.Log
	events *eventstore.Store
}

func newRegistry(t *testing.T, withSecret bool) *eventstore.Registry {
	t.Helper()
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[opened](reg, "acct.opened"))
	require.NoError(t, eventstore.Register[deposited](reg, "acct.deposited"))
	if withSecret {
		require.NoError(t, eventstore.Register[secret](reg, "acct.secret"))
	}
	return reg
}

func newEnv(t *testing.T, shards int) *env {
	t.Helper()
	ctx := context.Background()
	l, err := shardlog.Open(ctx, memory.New())
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: testStream, ShardCount: shards}))
	es, err := eventstore.Open(ctx, l, testStream, eventstore.WithRegistry(newRegistry(t, false)))
	require.NoError(t, err)
	return &env{t: t, ctx: ctx, log: l, events: es}
}

// putRaw puts records with the given partition keys and data.
func (e *env) putRaw(keys []string, data func(i int) []byte) {
	e.t.Helper()
	for start := 0; start < len(keys); start += 500 {
		var in shardlog.PutRecordsInput
		in.StreamName = testStream
		for i := start; i < min(start+500, len(keys)); i++ {
			in.Records = append(in.Records, shardlog.PutRecordsEntry{PartitionKey: keys[i], Data: data(i)})
		}
		out, err := e.log.PutRecords(e.ctx, in)
		require.NoError(e.t, err)
		require.Zero(e.t, out.FailedRecordCount)
	}
}

// shards lists the stream's shards.
func (e *env) shards() []shardlog.Shard {
	e.t.Helper()
	var out []shardlog.Shard
	for s, err := range e.log.ListShardsAll(e.ctx, shardlog.ListShardsInput{StreamName: testStream}) {
		require.NoError(e.t, err)
		out = append(out, s)
	}
	return out
}

// records reads all records of a shard from the log.
func (e *env) records(shardID string) []shardlog.Record {
	e.t.Helper()
	it, err := e.log.GetShardIterator(e.ctx, shardlog.GetShardIteratorInput{StreamName: testStream, ShardID: shardID, ShardIteratorType: shardlog.TrimHorizon})
	require.NoError(e.t, err)
	var out []shardlog.Record
	next := it.ShardIterator
	for next != "" {
		page, err := e.log.GetRecords(e.ctx, shardlog.GetRecordsInput{ShardIterator: next})
		require.NoError(e.t, err)
		out = append(out, page.Records...)
		if len(page.Records) == 0 && (page.NextShardIterator == "" || page.MillisBehindLatest == 0) {
			break
		}
		next = page.NextShardIterator
	}
	return out
}

// batches cuts a shard's records into batches of up to n records.
func (e *env) batches(shard shardlog.Shard, n int) []*delivery.Batch {
	e.t.Helper()
	recs := e.records(shard.ShardID)
	var out []*delivery.Batch
	for start := 0; start < len(recs); start += n {
		out = append(out, makeBatch(shard, recs[start:min(start+n, len(recs))]))
	}
	return out
}

func makeBatch(shard shardlog.Shard, recs []shardlog.Record) *delivery.Batch {
	b := &delivery.Batch{
		DeliveryStream: "archive", Version: 1, Source: testStream, Shard: shard,
		First: recs[0].SequenceNumber, Last: recs[len(recs)-1].SequenceNumber,
		Records: recs,
	}
	for _, r := range recs {
		b.Bytes += len(r.Data)
	}
	return b
}

// deliverAll delivers every shard's records in batches of n.
func (e *env) deliverAll(d delivery.Destination, n int) {
	e.t.Helper()
	for _, sh := range e.shards() {
		for _, b := range e.batches(sh, n) {
			require.NoError(e.t, d.Deliver(e.ctx, b))
		}
	}
}

// rec is a record in comparable form.
type rec struct {
	Seq, Key string
	Data     string
	Arrival  int64
}

func norm(rs []shardlog.Record) []rec {
	out := make([]rec, len(rs))
	for i, r := range rs {
		out[i] = rec{r.SequenceNumber.String(), r.PartitionKey, string(r.Data), r.ApproximateArrivalTimestamp.UnixNano()}
	}
	return out
}

func collect(t *testing.T, seq iter.Seq2[shardlog.Record, error]) []shardlog.Record {
	t.Helper()
	var out []shardlog.Record
	for r, err := range seq {
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

// logKey is the log's own ReadKey: what the archive's must equal.
func (e *env) logKey(key string, after shardlog.SequenceNumber) []shardlog.Record {
	return collect(e.t, e.log.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: key, After: after}))
}

// eachStore runs f on a DirStore and on an s3store over gofakes3.
func eachStore(t *testing.T, f func(t *testing.T, s delivery.ObjectStore)) {
	t.Run("dir", func(t *testing.T) {
		s, err := delivery.NewDirStore(t.TempDir())
		require.NoError(t, err)
		f(t, s)
	})
	t.Run("s3", func(t *testing.T) {
		s, err := s3store.New(fakes3.New(t), fakes3.Bucket)
		require.NoError(t, err)
		f(t, s)
	})
}

// allCompressions is every Compression constant; tests skip those the
// build cannot write.
var allCompressions = []delivery.Compression{delivery.GZIP, delivery.Uncompressed, delivery.ZSTD}

// countingStore counts Gets and can fail Puts.
type countingStore struct {
	delivery.ObjectStore
	mu      sync.Mutex
	gets    map[string]int
	failPut func(key string) error
	failGet func(key string) error
}

func newCounting(s delivery.ObjectStore) *countingStore {
	return &countingStore{ObjectStore: s, gets: map[string]int{}}
}

func (c *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	c.gets[key]++
	f := c.failGet
	c.mu.Unlock()
	if f != nil {
		if err := f(key); err != nil {
			return nil, err
		}
	}
	return c.ObjectStore.Get(ctx, key)
}

func (c *countingStore) Put(ctx context.Context, key string, body []byte) error {
	c.mu.Lock()
	f := c.failPut
	c.mu.Unlock()
	if f != nil {
		if err := f(key); err != nil {
			return err
		}
	}
	return c.ObjectStore.Put(ctx, key, body)
}

// dataGets returns the Gets of data objects (not index objects) and
// resets the counts.
func (c *countingStore) dataGets() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, n := range c.gets {
		if !strings.HasPrefix(k, delivery.DefaultIndexPrefix) {
			out[k] = n
		}
	}
	c.gets = map[string]int{}
	return out
}

// keys lists the store's keys under prefix.
func keys(t *testing.T, s delivery.ObjectStore, prefix string) []string {
	t.Helper()
	var out []string
	for k, err := range s.List(context.Background(), prefix) {
		require.NoError(t, err)
		out = append(out, k)
	}
	return out
}

// dataKeys lists the data objects (everything outside the index).
func dataKeys(t *testing.T, s delivery.ObjectStore) []string {
	var out []string
	for _, k := range keys(t, s, "") {
		if !strings.HasPrefix(k, delivery.DefaultIndexPrefix) {
			out = append(out, k)
		}
	}
	return out
}

// decompress undoes c.
func decompress(t *testing.T, c delivery.Compression, b []byte) []byte {
	t.Helper()
	out, err := delivery.Decompress(c, b)
	require.NoError(t, err)
	return out
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
