package delivery_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// visibleDest wraps a Destination and notes, for every record of a batch,
// when Deliver returned: the moment its data object and sidecar are both
// durable and readable.
type visibleDest struct {
	delivery.Destination
	mu      sync.Mutex
	at      map[shardlog.SequenceNumber]time.Time
	objects int
}

func (d *visibleDest) Deliver(ctx context.Context, b *delivery.Batch) error {
	if err := d.Destination.Deliver(ctx, b); err != nil {
		return err
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.objects++
	for _, r := range b.Records {
		d.at[r.SequenceNumber] = now
	}
	return nil
}

func (d *visibleDest) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.at)
}

// envInt reads a positive integer from the environment, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkObjectVisibility measures how long after its PutRecord returns
// a record is in a visible object, at Firehose's buffer interval of 1 s: a
// delivery stream reads a 2-shard stream on the file engine (SyncAlways)
// and delivers to an ObjectDestination on a DirStore (JSON lines, gzip).
// One writer puts 200-byte records at a steady rate (SHOAL_BENCH_RATE per
// second, default 200) for SHOAL_BENCH_SECONDS (default 10); a record is
// visible when the Deliver of its batch returned (its data object and its
// sidecar index object are renamed into place and fsynced). The stream is
// stopped only once every record is visible, so every record is delivered
// by the interval, not by the graceful stop. Reported: the p50, p99 and max of
// put-return → visible, in seconds, and the objects written per second.
// Run it with -benchtime 1x: one op is one whole session.
func BenchmarkObjectVisibility(b *testing.B) {
	rate := envInt("SHOAL_BENCH_RATE", 200)
	seconds := envInt("SHOAL_BENCH_SECONDS", 10)
	var lat []time.Duration
	objects, sessions := 0, 0
	for b.Loop() {
		l, o := visibilitySession(b, rate, time.Duration(seconds)*time.Second)
		lat = append(lat, l...)
		objects += o
		sessions++
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))].Seconds() }
	b.ReportMetric(q(0.50), "p50-s")
	b.ReportMetric(q(0.99), "p99-s")
	b.ReportMetric(lat[len(lat)-1].Seconds(), "max-s")
	b.ReportMetric(float64(len(lat))/float64(sessions), "records/op")
	b.ReportMetric(float64(objects)/float64(sessions)/float64(seconds), "objects/s")
}

// visibilitySession runs one session and returns each record's
// put-return → visible latency and the number of objects written.
func visibilitySession(b *testing.B, rate int, d time.Duration) ([]time.Duration, int) {
	ctx := context.Background()
	engine, err := file.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	log, err := shardlog.Open(ctx, engine, shardlog.WithRetentionInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	const stream = "clicks"
	if err := log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: stream, ShardCount: 2}); err != nil {
		b.Fatal(err)
	}
	store, err := delivery.NewDirStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	objects, err := delivery.NewObjectDestination(store, delivery.ObjectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	dest := &visibleDest{Destination: objects, at: map[shardlog.SequenceNumber]time.Time{}}
	s, err := delivery.New(delivery.Config{
		Name:        "clicks-archive",
		Source:      delivery.Source{Log: log, StreamName: stream},
		Buffering:   delivery.BufferingHints{Interval: time.Second, IntervalSet: true},
		Destination: dest,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()

	data := make([]byte, 200)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	put := map[shardlog.SequenceNumber]time.Time{}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		out, err := log.PutRecord(ctx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: fmt.Sprintf("user-%d", i%97), Data: data})
		if err != nil {
			stop()
			b.Fatal(err)
		}
		put[out.SequenceNumber] = time.Now()
	}
	tick.Stop()
	// Every record is delivered by its interval within about 1 s; wait
	// for them (at most 30 s), then stop.
	deadline := time.Now().Add(30 * time.Second)
	for dest.count() < len(put) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	dest.mu.Lock()
	defer dest.mu.Unlock()
	if len(dest.at) != len(put) {
		b.Fatalf("%d of %d records were delivered within 30 s of the last put", len(dest.at), len(put))
	}
	lat := make([]time.Duration, 0, len(put))
	for seq, p := range put {
		lat = append(lat, max(0, dest.at[seq].Sub(p)))
	}
	return lat, dest.objects
}
