package postgres_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/internal/killtest"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/postgres"
)

// The environment of the subscriber process of BenchmarkSubscriberLatency.
const (
	subEnv      = "SHOAL_BENCH_SUBSCRIBER" // set: this process is the subscriber
	subSchema   = "SHOAL_BENCH_SCHEMA"     // the engine's schema
	subConsumer = "SHOAL_BENCH_CONSUMER"   // the consumer's ARN
	subPeer     = "SHOAL_BENCH_PEER"       // the peer's schema; its table is "events"
	subChannel  = "SHOAL_BENCH_CHANNEL"    // the peer's NOTIFY channel
	subFail     = "FAIL"
	subRateEnv  = "SHOAL_BENCH_RATE" // puts per second, default 1000
	subRate     = 1000
	subWorkers  = 64               // goroutines issuing the puts
	subDrain    = 30 * time.Second // wait for the last records
)

// BenchmarkSubscriberLatency: the time from a put to its arrival in
// another process. The benchmark re-executes its test binary as a child
// (TestBenchSubscriberProcess) that opens its own engine and Log on the
// same schema and subscribes to every shard with SubscribeToShard (the
// Log wakes on the engine's Notify, LISTEN/NOTIFY). The parent puts
// 256-byte records with PutRecord at SHOAL_BENCH_RATE per second
// (default 1,000), open loop from 64 goroutines, each record carrying its
// number; the child prints the time it received each one (the processes
// share the machine's clock).
//
// The peer, in the same run: INSERT of an event into a plain events table
// and pg_notify in the same statement (one transaction), and, in the same
// child, a reader on its own connection that LISTENs and on each
// notification SELECTs the rows after the last it saw (it tracks every id,
// so a row whose bigserial id committed late is not skipped). An op is one
// put; the sides alternate every quarter of a second.
//
// Reports, for the Log (shoal-) and the peer (notify-), p50-µs and p99-µs
// of put call → received in the other process, ack-p50/p99-µs (call →
// return of the put) and seen-p50/p99-µs (return of the put → received:
// what the wake-up path adds once the commit is done; negative when the
// other process saw the record before the put returned), and shoal/notify
// (the ratio of the put → received p50s). Use -benchtime Nx to set the
// number of puts (e.g. 6000x: 3 s a side at 1,000/s).
func BenchmarkSubscriberLatency(b *testing.B) {
	killtest.SkipUnlessSIGKILL(b)
	ctx := context.Background()
	env := newBenchEnv(b, subWorkers+4)
	events := env.peerTable("events")
	env.exec(b, `CREATE TABLE `+events.Sanitize()+` (
	id bigserial PRIMARY KEY,
	stream text NOT NULL,
	version bigint NOT NULL,
	data bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (stream, version))`)
	channel := pgtest.UniqueName("shoal_bench_")
	insert := `WITH ins AS (INSERT INTO ` + events.Sanitize() + ` (stream, version, data) VALUES ($1, $2, $3))
SELECT pg_notify($4, '')`
	c, err := env.log.RegisterStreamConsumer(ctx, shardlog.RegisterStreamConsumerInput{StreamName: benchStream, ConsumerName: "bench-latency"})
	if err != nil {
		b.Fatalf("RegisterStreamConsumer: %v", err)
	}
	child := killtest.Start(b, killtest.Config{
		Test: "TestBenchSubscriberProcess",
		Env: []string{subEnv + "=1", subSchema + "=" + env.schema, subConsumer + "=" + c.ConsumerARN,
			subPeer + "=" + env.peer, subChannel + "=" + channel},
		Fail:  subFail,
		Marks: []string{"ready"},
	})
	child.Await(b, "ready", "subscribing")

	rate := envInt(b, subRateEnv, subRate)
	block := max(1, rate/4)
	keys := benchKeys(benchKeyPool, 11)
	fill := benchData(12)
	type job struct {
		side int // 0: the Log, 1: INSERT + pg_notify
		id   int // the record's number on its side
		key  string
	}
	jobs := make(chan job, 1<<16)
	fails := newErrOnce()
	// done[w] lists the puts worker w made: side, id, and the Unix times
	// (ns) of the call and its return.
	type put struct {
		side, id   int
		call, back int64
	}
	done := make([][]put, subWorkers)
	var workers sync.WaitGroup
	for w := range subWorkers {
		workers.Go(func() {
			for j := range jobs {
				data := make([]byte, benchRecordSize)
				copy(data[8:], fill[8:])
				binary.BigEndian.PutUint64(data, uint64(j.id))
				t := time.Now()
				var err error
				if j.side == 0 {
					_, err = env.log.PutRecord(ctx, shardlog.PutRecordInput{StreamName: benchStream, PartitionKey: j.key, Data: data})
				} else {
					_, err = env.pool.Exec(ctx, insert, j.key, int64(j.id+1), data, channel)
				}
				if err != nil {
					fails.set(err)
					continue
				}
				done[w] = append(done[w], put{j.side, j.id, t.UnixNano(), time.Now().UnixNano()})
			}
		})
	}
	interval := time.Second / time.Duration(rate)
	var sent [2]int
	var next time.Time
	ops := 0
	for b.Loop() {
		if next.IsZero() {
			next = time.Now()
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		side := (ops / block) % 2
		id := sent[side]
		sent[side]++
		jobs <- job{side: side, id: id, key: keys[ops%len(keys)]}
		ops++
	}
	close(jobs)
	workers.Wait()
	fails.check(b)
	calls := [2][]int64{make([]int64, sent[0]), make([]int64, sent[1])}
	acks := [2][]int64{make([]int64, sent[0]), make([]int64, sent[1])}
	for _, ps := range done {
		for _, p := range ps {
			calls[p.side][p.id], acks[p.side][p.id] = p.call, p.back
		}
	}

	var got [2][]received
	deadline := time.Now().Add(subDrain)
	for {
		got = parseReceipts(b, child.Stdout())
		if len(got[0]) >= sent[0] && len(got[1]) >= sent[1] {
			break
		}
		select {
		case <-child.Exited():
			child.FatalExit(b, "exited while receiving")
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("within %v of the last put the subscriber received %d of %d records and the LISTEN reader %d of %d rows",
				subDrain, len(got[0]), sent[0], len(got[1]), sent[1])
		}
		time.Sleep(20 * time.Millisecond)
	}
	child.Abort()
	var p50 [2]time.Duration
	for side, name := range []string{"shoal-", "notify-"} {
		seen := make([]bool, sent[side])
		var lat, vis, ack []time.Duration
		for _, r := range got[side] {
			if r.id < 0 || r.id >= sent[side] || seen[r.id] {
				b.Fatalf("%sreceived id %d twice or out of range (sent %d)", name, r.id, sent[side])
			}
			seen[r.id] = true
			lat = append(lat, time.Duration(r.at-calls[side][r.id]))
			vis = append(vis, time.Duration(r.at-acks[side][r.id]))
			ack = append(ack, time.Duration(acks[side][r.id]-calls[side][r.id]))
		}
		p50[side] = reportLatency(b, name, lat)
		reportLatency(b, name+"ack-", ack)
		reportLatency(b, name+"seen-", vis)
	}
	b.ReportMetric(float64(p50[0])/float64(p50[1]), "shoal/notify")
}

// received is one receipt the child printed: the record's id on its side
// and the Unix time (ns) it was received.
type received struct {
	id int
	at int64
}

// parseReceipts reads the child's "s ID NANOS" (a record) and "n ID NANOS"
// (a row) lines.
func parseReceipts(b *testing.B, out string) [2][]received {
	var got [2][]received
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) != 3 || (f[0] != "s" && f[0] != "n") {
			continue
		}
		id, err1 := strconv.Atoi(f[1])
		at, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			b.Fatalf("subscriber printed %q", line)
		}
		side := 0
		if f[0] == "n" {
			side = 1
		}
		got[side] = append(got[side], received{id, at})
	}
	return got
}

// TestBenchSubscriberProcess is the subscriber process of
// BenchmarkSubscriberLatency; it skips unless that benchmark started it.
// It prints "ready" once subscribed and listening, then one line per
// record received: "s ID NANOS" for the Log's records and "n ID NANOS" for
// the peer's rows, ID being the record's number (its first 8 bytes) and
// NANOS the Unix time of the receipt in nanoseconds.
func TestBenchSubscriberProcess(t *testing.T) {
	if os.Getenv(subEnv) == "" {
		t.Skip("the subscriber process of BenchmarkSubscriberLatency; it sets " + subEnv)
	}
	out := killtest.NewOut(subFail)
	ctx := context.Background()
	url := pgtest.URL(t)
	eng, err := postgres.Open(ctx, url, postgres.Options{Schema: os.Getenv(subSchema)})
	if err != nil {
		out.Fail("postgres.Open: %v", err)
	}
	l, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0))
	if err != nil {
		out.Fail("shardlog.Open: %v", err)
	}
	defer l.Close()
	for i := range benchShards {
		id := fmt.Sprintf("shardId-%012d", i)
		sub, err := l.SubscribeToShard(ctx, shardlog.SubscribeToShardInput{ConsumerARN: os.Getenv(subConsumer), ShardID: id,
			StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		if err != nil {
			out.Fail("SubscribeToShard(%s): %v", id, err)
		}
		go func() {
			var buf []byte
			for {
				ev, err := sub.Next(ctx)
				if err != nil {
					out.Fail("Subscription(%s).Next: %v", id, err)
				}
				now := time.Now().UnixNano()
				buf = buf[:0]
				for _, r := range ev.Records {
					buf = fmt.Appendf(buf, "s %d %d\n", binary.BigEndian.Uint64(r.Data), now)
				}
				if len(buf) > 0 {
					out.Write(buf)
				}
			}
		}()
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		out.Fail("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{os.Getenv(subChannel)}.Sanitize()); err != nil {
		out.Fail("LISTEN: %v", err)
	}
	events := pgx.Identifier{os.Getenv(subPeer), "events"}.Sanitize()
	out.WriteString("ready\n")
	var low int64 // every id ≤ low was seen
	seen := map[int64]bool{}
	var buf []byte
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			out.Fail("WaitForNotification: %v", err)
		}
		rows, err := conn.Query(ctx, `SELECT id, data FROM `+events+` WHERE id > $1 ORDER BY id`, low)
		if err != nil {
			out.Fail("SELECT: %v", err)
		}
		buf = buf[:0]
		var id int64
		var data []byte
		_, err = pgx.ForEachRow(rows, []any{&id, &data}, func() error {
			if !seen[id] {
				seen[id] = true
				buf = fmt.Appendf(buf, "n %d %d\n", binary.BigEndian.Uint64(data), time.Now().UnixNano())
			}
			return nil
		})
		if err != nil {
			out.Fail("SELECT: %v", err)
		}
		for seen[low+1] {
			delete(seen, low+1)
			low++
		}
		if len(buf) > 0 {
			out.Write(buf)
		}
	}
}
