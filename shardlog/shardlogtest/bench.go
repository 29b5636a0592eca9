package shardlogtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
)

// NewBenchEngine returns a fresh, empty engine for one benchmark. Bench
// closes it through the Log when the benchmark ends, so it may use
// tb.TempDir and tb.Cleanup.
type NewBenchEngine func(tb testing.TB) shardlog.Engine

// Record shape and stream layout of every benchmark.
const (
	benchRecordSize = 256 // bytes of data per record
	benchShards     = 4
	benchBatch      = shardlog.MaxPutRecordsEntries
	benchStream     = "bench"
	benchKeyPool    = 1 << 16 // random partition keys drawn from by the put benchmarks

	benchScanRecords = 200_000 // GetRecordsScan preload, one shard
	benchScanLimit   = shardlog.MaxGetRecordsLimit

	benchAppendKeys = 1000 // AppendKey key pool

	benchReadKeyTotal   = 1_000_000 // ReadKey preload, target key included
	benchReadKeyOthers  = 100_000   // distinct other keys
	benchReadKeyTargets = 10        // records of the target key
	benchReadKeyTarget  = "target-key"
)

// Bench runs the shardlog benchmarks against engines from newEngine. Every
// benchmark goes through a full shardlog.Log (validation, routing, hashing,
// iterator signing), opened without the retention janitor:
//
//   - PutRecords: batches of 500 records of 256 bytes with random partition
//     keys into a 4-shard stream; reports records/s.
//   - PutRecord, PutRecordParallel: one 256-byte record per call, 4 shards;
//     the parallel variant calls from GOMAXPROCS goroutines.
//   - GetRecordsScan: 200,000 records preloaded in one shard, read with
//     GetRecords (Limit 10,000) along NextShardIterator, starting over at
//     TRIM_HORIZON at the end; reports records/s.
//   - AppendKey: one conditional append per op to a key from a pool of
//     1,000, each with the key's expected sequence number; reports ops/s.
//   - ReadKey: one key's 10 records read in full by ReadKey, among 1,000,000
//     records of 100,000 other keys in 4 shards.
//
// An engine's benchmark calls it with a constructor of fresh, empty engines:
//
//	func BenchmarkMemory(b *testing.B) {
//		shardlogtest.Bench(b, func(testing.TB) shardlog.Engine { return memory.New() })
//	}
func Bench(b *testing.B, newEngine NewBenchEngine) {
	b.Run("PutRecords", func(b *testing.B) { benchPutRecords(b, newEngine) })
	b.Run("PutRecord", func(b *testing.B) { benchPutRecord(b, newEngine) })
	b.Run("PutRecordParallel", func(b *testing.B) { benchPutRecordParallel(b, newEngine) })
	b.Run("GetRecordsScan", func(b *testing.B) { benchGetRecordsScan(b, newEngine) })
	b.Run("AppendKey", func(b *testing.B) { benchAppendKey(b, newEngine) })
	b.Run("ReadKey", func(b *testing.B) { benchReadKey(b, newEngine) })
}

// benchLog opens a Log over a fresh engine with a stream of shards shards,
// closed when the benchmark (one runN of it) ends.
func benchLog(b *testing.B, newEngine NewBenchEngine, shards int) *shardlog.Log {
	b.Helper()
	ctx := context.Background()
	l, err := shardlog.Open(ctx, newEngine(b), shardlog.WithRetentionInterval(0))
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() {
		if err := l.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	if err := l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: benchStream, ShardCount: shards}); err != nil {
		b.Fatalf("CreateStream: %v", err)
	}
	return l
}

// benchData returns a record payload of benchRecordSize pseudo-random bytes.
func benchData() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	d := make([]byte, benchRecordSize)
	for i := range d {
		d[i] = byte(r.Uint32())
	}
	return d
}

// benchKeys returns n random 16-hex-digit partition keys, so that records
// spread evenly over the shards.
func benchKeys(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%016x", r.Uint64())
	}
	return keys
}

// benchPut appends entries with PutRecords and fails on any failed entry.
func benchPut(b *testing.B, l *shardlog.Log, entries []shardlog.PutRecordsEntry) {
	out, err := l.PutRecords(context.Background(), shardlog.PutRecordsInput{StreamName: benchStream, Records: entries})
	if err != nil {
		b.Fatalf("PutRecords: %v", err)
	}
	if out.FailedRecordCount != 0 {
		b.Fatalf("PutRecords: %d failed records, first: %+v", out.FailedRecordCount, benchFirstFailure(out))
	}
}

func benchFirstFailure(out *shardlog.PutRecordsOutput) shardlog.PutRecordsResultEntry {
	for _, r := range out.Records {
		if r.ErrorCode != "" {
			return r
		}
	}
	return shardlog.PutRecordsResultEntry{}
}

func benchPerSecond(b *testing.B, n int, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, unit)
	}
}

func benchPutRecords(b *testing.B, newEngine NewBenchEngine) {
	l := benchLog(b, newEngine, benchShards)
	data, keys := benchData(), benchKeys(benchKeyPool, 1)
	entries := make([]shardlog.PutRecordsEntry, benchBatch)
	r := rand.New(rand.NewPCG(3, 4))
	b.ReportAllocs()
	b.SetBytes(benchBatch * benchRecordSize)
	for b.Loop() {
		for i := range entries {
			entries[i] = shardlog.PutRecordsEntry{PartitionKey: keys[r.IntN(len(keys))], Data: data}
		}
		benchPut(b, l, entries)
	}
	benchPerSecond(b, b.N*benchBatch, "records/s")
}

func benchPutRecord(b *testing.B, newEngine NewBenchEngine) {
	l := benchLog(b, newEngine, benchShards)
	ctx := context.Background()
	data, keys := benchData(), benchKeys(benchKeyPool, 1)
	r := rand.New(rand.NewPCG(3, 4))
	b.ReportAllocs()
	b.SetBytes(benchRecordSize)
	for b.Loop() {
		in := shardlog.PutRecordInput{StreamName: benchStream, PartitionKey: keys[r.IntN(len(keys))], Data: data}
		if _, err := l.PutRecord(ctx, in); err != nil {
			b.Fatalf("PutRecord: %v", err)
		}
	}
	benchPerSecond(b, b.N, "records/s")
}

func benchPutRecordParallel(b *testing.B, newEngine NewBenchEngine) {
	l := benchLog(b, newEngine, benchShards)
	ctx := context.Background()
	data, keys := benchData(), benchKeys(benchKeyPool, 1)
	b.ReportAllocs()
	b.SetBytes(benchRecordSize)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		for pb.Next() {
			in := shardlog.PutRecordInput{StreamName: benchStream, PartitionKey: keys[r.IntN(len(keys))], Data: data}
			if _, err := l.PutRecord(ctx, in); err != nil {
				b.Errorf("PutRecord: %v", err)
				return
			}
		}
	})
	benchPerSecond(b, b.N, "records/s")
}

func benchGetRecordsScan(b *testing.B, newEngine NewBenchEngine) {
	l := benchLog(b, newEngine, 1)
	ctx := context.Background()
	data, keys := benchData(), benchKeys(benchKeyPool, 1)
	entries := make([]shardlog.PutRecordsEntry, benchBatch)
	for n := 0; n < benchScanRecords; n += benchBatch {
		for i := range entries {
			entries[i] = shardlog.PutRecordsEntry{PartitionKey: keys[(n+i)%len(keys)], Data: data}
		}
		benchPut(b, l, entries)
	}
	trimHorizon := func() string {
		itOut, err := l.GetShardIterator(ctx, shardlog.GetShardIteratorInput{
			StreamName: benchStream, ShardID: "shardId-000000000000", ShardIteratorType: shardlog.TrimHorizon,
		})
		if err != nil {
			b.Fatalf("GetShardIterator: %v", err)
		}
		it := itOut.ShardIterator
		return it
	}

	it, pos, read := trimHorizon(), 0, 0
	b.ReportAllocs()
	b.SetBytes(benchScanLimit * benchRecordSize)
	for b.Loop() {
		if pos >= benchScanRecords { // caught up: start over
			it, pos = trimHorizon(), 0
		}
		out, err := l.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: benchScanLimit})
		if err != nil {
			b.Fatalf("GetRecords: %v", err)
		}
		if len(out.Records) != benchScanLimit {
			b.Fatalf("GetRecords at %d: %d records, want %d", pos, len(out.Records), benchScanLimit)
		}
		it, pos, read = out.NextShardIterator, pos+len(out.Records), read+len(out.Records)
	}
	benchPerSecond(b, read, "records/s")
}

func benchAppendKey(b *testing.B, newEngine NewBenchEngine) {
	l := benchLog(b, newEngine, benchShards)
	ctx := context.Background()
	data, keys := benchData(), benchKeys(benchAppendKeys, 5)
	expected := make([]shardlog.SequenceNumber, len(keys))
	r := rand.New(rand.NewPCG(6, 7))
	b.ReportAllocs()
	b.SetBytes(benchRecordSize)
	for b.Loop() {
		k := r.IntN(len(keys))
		out, err := l.AppendKey(ctx, shardlog.AppendKeyInput{
			StreamName: benchStream, PartitionKey: keys[k], Data: [][]byte{data}, ExpectedSequenceNumber: expected[k],
		})
		if err != nil {
			b.Fatalf("AppendKey: %v", err)
		}
		expected[k] = out.Last
	}
	benchPerSecond(b, b.N, "ops/s")
}

func benchReadKey(b *testing.B, newEngine NewBenchEngine) {
	l := benchLog(b, newEngine, benchShards)
	ctx := context.Background()
	data := benchData()
	others := make([]string, benchReadKeyOthers)
	for i := range others {
		others[i] = fmt.Sprintf("key-%06d", i)
	}
	// The target's records sit at evenly spaced positions of the preload.
	const every = benchReadKeyTotal / benchReadKeyTargets
	entries := make([]shardlog.PutRecordsEntry, benchBatch)
	for n := 0; n < benchReadKeyTotal; n += benchBatch {
		for i := range entries {
			key := others[(n+i)%len(others)]
			if (n+i)%every == every/2 {
				key = benchReadKeyTarget
			}
			entries[i] = shardlog.PutRecordsEntry{PartitionKey: key, Data: data}
		}
		benchPut(b, l, entries)
	}

	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range l.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: benchStream, PartitionKey: benchReadKeyTarget}) {
			if err != nil {
				b.Fatalf("ReadKey: %v", err)
			}
			n++
		}
		if n != benchReadKeyTargets {
			b.Fatalf("ReadKey: %d records, want %d", n, benchReadKeyTargets)
		}
	}
}
