package delivery_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
)

// benchBatch is a 5 MiB batch of realistic ~1 KiB JSON records (orders
// with varied IDs, names, items and amounts) on one shard.
func benchBatch(tb testing.TB) *delivery.Batch {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth", "Ken Thompson", "Frances Allen"}
	skus := []string{"SKU-RED-S", "SKU-RED-M", "SKU-BLU-L", "SKU-GRN-XL", "SKU-BLK-M", "SKU-WHT-S"}
	cities := []string{"Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Tallinn", "Perth"}
	var words []string
	for _, w := range strings.Fields(`please leave the parcel at the door ring twice gift wrap no receipt
		deliver after six fragile handle with care customer asked for a call before arrival
		second floor apartment blue gate code is on the invoice weekend delivery preferred
		replace damaged item from previous order express shipping upgrade loyalty discount
		applied coupon spring sale bundle return window thirty days warehouse north south
		east west priority standard economy courier tracking pending confirmed`) {
		words = append(words, w)
	}
	const target = 5 << 20
	var recs []shardlog.Record
	total := 0
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; total < target; i++ {
		var b bytes.Buffer
		fmt.Fprintf(&b, `{"orderId":"ord-%08x-%04x","customer":{"id":%d,"name":%q,"email":"user%d@example.com","city":%q},"items":[`,
			rng.Uint32(), rng.IntN(1<<16), rng.IntN(1_000_000), names[rng.IntN(len(names))], rng.IntN(100_000), cities[rng.IntN(len(cities))])
		for j := range 3 + rng.IntN(4) {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"sku":%q,"qty":%d,"price":%d.%02d}`, skus[rng.IntN(len(skus))], 1+rng.IntN(5), rng.IntN(500), rng.IntN(100))
		}
		fmt.Fprintf(&b, `],"status":"paid","placedAt":"%s","trace":"%016x%016x","note":"`, at.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), rng.Uint64(), rng.Uint64())
		for b.Len() < 1020 {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		b.WriteString(`"}`)
		recs = append(recs, shardlog.Record{
			SequenceNumber:              shardlog.MakeSequenceNumber(uint64(1_800_000_000_000_000+i), 0),
			ApproximateArrivalTimestamp: at.Add(time.Duration(i) * time.Millisecond),
			PartitionKey:                fmt.Sprintf("customer-%d", rng.IntN(2000)),
			Data:                        b.Bytes(),
		})
		total += b.Len()
	}
	return makeBatch(shardlog.Shard{ShardID: "shardId-000000000000"}, recs)
}

// BenchmarkObjectArchive delivers 5 MiB batches of 1 KiB JSON records to
// the filesystem store (JSON lines, gzip); MB/s is of the records' data.
// Compare with BenchmarkGzipAlone, gzip at the same (default) level over
// the same bytes.
func BenchmarkObjectArchive(b *testing.B) {
	batch := benchBatch(b)
	s, err := delivery.NewDirStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	sized := &sizeStore{ObjectStore: s}
	d, err := delivery.NewObjectDestination(sized, delivery.ObjectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(batch.Bytes))
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := d.Deliver(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b, batch.Bytes)
	b.ReportMetric(float64(sized.data)/float64(batch.Bytes), "out/in")
}

// sizeStore remembers the size of the last data object put.
type sizeStore struct {
	delivery.ObjectStore
	data int
}

func (s *sizeStore) Put(ctx context.Context, key string, body []byte) error {
	if !strings.HasPrefix(key, delivery.DefaultIndexPrefix) {
		s.data = len(body)
	}
	return s.ObjectStore.Put(ctx, key, body)
}

// BenchmarkGzipAlone gzips the records' data of BenchmarkObjectArchive's
// batch, back to back, at gzip's default level.
func BenchmarkGzipAlone(b *testing.B) {
	batch := benchBatch(b)
	var out bytes.Buffer
	b.SetBytes(int64(batch.Bytes))
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		out.Reset()
		zw := gzip.NewWriter(&out)
		for _, r := range batch.Records {
			if _, err := zw.Write(r.Data); err != nil {
				b.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b, batch.Bytes)
	b.ReportMetric(float64(out.Len())/float64(batch.Bytes), "out/in")
}

// cpuClock measures the process's CPU time (user+system) over a
// benchmark: on a machine shared with other work, MB per CPU-second is a
// steadier basis for the ratio than wall-clock MB/s.
type cpuClock struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{processCPU()} }

// report adds cpu-MB/s: bytes per op over CPU time per op.
func (c cpuClock) report(b *testing.B, bytesPerOp int) {
	used := processCPU() - c.start
	if used <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(bytesPerOp)*float64(b.N)/1e6/used.Seconds(), "cpu-MB/s")
}

// BenchmarkGzipEncodedAlone gzips the JSON lines encoding of the same
// batch (encoded once, outside the loop) at the default level: the part
// of BenchmarkObjectArchive that is compression, so that the ratio to it
// is the cost of encoding, indexing and the durable writes. MB/s is of
// the records' data, as in the other two.
func BenchmarkGzipEncodedAlone(b *testing.B) {
	batch := benchBatch(b)
	var enc bytes.Buffer
	if err := delivery.JSONLines(nil).Encode(&enc, batch); err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	b.SetBytes(int64(batch.Bytes))
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		out.Reset()
		zw := gzip.NewWriter(&out)
		if _, err := zw.Write(enc.Bytes()); err != nil {
			b.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b, batch.Bytes)
	b.ReportMetric(float64(out.Len())/float64(batch.Bytes), "out/in")
}
