package aggregate_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// BenchmarkLoadAsOf: one aggregate of 1,000 events, loaded whole (Load)
// and as of its middle (LoadAsOf at version 500, and at the time of
// version 500), in the same run. No snapshots: every event is replayed.
func BenchmarkLoadAsOf(b *testing.B) {
	const n, mid = 1000, 500
	for _, kind := range []string{"memory", "file"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			var eng shardlog.Engine = memory.New()
			if kind == "file" {
				fe, err := file.Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				eng = fe
			}
			lg, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { lg.Close() })
			store, err := eventstore.Open(ctx, lg, streamName, eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 2}))
			if err != nil {
				b.Fatal(err)
			}
			repo, err := aggregate.NewRepository(store, Counters)
			if err != nil {
				b.Fatal(err)
			}
			c, _ := repo.New("c")
			c.Open("c")
			var midAt time.Time
			for v := 2; v <= n; v++ {
				c.Inc(1, v, 1)
				if v%100 == 0 || v == mid {
					res, err := repo.Save(ctx, c)
					if err != nil {
						b.Fatal(err)
					}
					if v == mid {
						midAt = res.RecordedAt
					}
				}
			}
			cases := []struct {
				name string
				want uint64
				load func() (*Counter, error)
			}{
				{"whole", n, func() (*Counter, error) { return repo.Load(ctx, "c") }},
				{"asof-middle-version", mid, func() (*Counter, error) { return repo.LoadAsOf(ctx, "c", eventstore.AtVersion(mid)) }},
				{"asof-middle-time", mid, func() (*Counter, error) { return repo.LoadAsOf(ctx, "c", eventstore.AtTime(midAt)) }},
			}
			for _, tc := range cases {
				b.Run(tc.name, func(b *testing.B) {
					for b.Loop() {
						got, err := tc.load()
						if err != nil {
							b.Fatal(err)
						}
						if got.Version() != tc.want {
							b.Fatalf("version %d, want %d", got.Version(), tc.want)
						}
					}
				})
			}
		})
	}
}
