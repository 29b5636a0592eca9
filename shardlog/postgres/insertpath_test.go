package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog"
)

// BenchmarkAppend500 measures the two insert paths of Append for batches
// of 500 records of 100 bytes: one multi-row INSERT from unnest'ed arrays
// (the engine's) and COPY (then an UPDATE of the shard's row). Both run
// in the same transaction as the shard's row lock.
func BenchmarkAppend500(b *testing.B) {
	for _, mode := range []struct {
		name string
		copy bool
	}{{"unnest", false}, {"copy", true}} {
		b.Run(mode.name, func(b *testing.B) {
			pool := pgtest.Pool(b)
			schema := pgtest.UniqueName("shoal_bench_")
			b.Cleanup(func() { _, _ = pool.Exec(b.Context(), `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`) })
			e, err := Open(b.Context(), "", Options{Schema: schema, Pool: pool})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			e.copyInsert = mode.copy
			m := shardlog.StreamMeta{ID: 1, Name: "s", Shards: []shardlog.ShardMeta{{ID: "shardId-000000000000"}}}
			if err := e.SaveStream(b.Context(), m); err != nil {
				b.Fatal(err)
			}
			ref := m.Shards[0].Ref(&m)
			batch := make([]shardlog.Entry, 500)
			for i := range batch {
				batch[i] = shardlog.Entry{PartitionKey: fmt.Sprintf("key-%d", i%50), Data: make([]byte, 100)}
			}
			now := time.Now()
			b.SetBytes(int64(len(batch) * 100))
			b.ResetTimer()
			for range b.N {
				if _, _, err := e.Append(b.Context(), ref, now, batch, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkAppendOne measures one-record appends from one goroutine: the
// latency of the append transaction (two round trips and the commit).
func BenchmarkAppendOne(b *testing.B) {
	pool := pgtest.Pool(b)
	schema := pgtest.UniqueName("shoal_bench_")
	b.Cleanup(func() { _, _ = pool.Exec(b.Context(), `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`) })
	e, err := Open(b.Context(), "", Options{Schema: schema, Pool: pool})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	m := shardlog.StreamMeta{ID: 1, Name: "s", Shards: []shardlog.ShardMeta{{ID: "shardId-000000000000"}}}
	if err := e.SaveStream(b.Context(), m); err != nil {
		b.Fatal(err)
	}
	ref := m.Shards[0].Ref(&m)
	batch := []shardlog.Entry{{PartitionKey: "k", Data: make([]byte, 100)}}
	if _, _, err := e.Append(b.Context(), ref, time.Now(), batch, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, _, err := e.Append(b.Context(), ref, time.Now(), batch, nil); err != nil {
			b.Fatal(err)
		}
	}
}
