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
// (default 1,000), open loop from 64 goroutines, each carrying the time of
// its PutRecord call; the child reports each record's put → receive time.
//
// The peer, in the same run: INSERT of an event into a plain events table
// and pg_notify in the same statement (one transaction), and, in the same
// child, a reader on its own connection that LISTENs and on each
// notification SELECTs the rows after the last it saw (it tracks every id,
// so a row whose bigserial id committed late is not skipped). An op is one
// put; the sides alternate every quarter of a second.
//
// Reports shoal- and notify- p50-µs/p99-µs (put → received), ack-p50-µs
// of each side, and shoal/notify (ratio of the p50s). Use -benchtime Nx to
// set the number of puts (e.g. 6000x: 3 s a side at 1,000/s).
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
		shoal   bool
		key     string
		version int64
	}
	jobs := make(chan job, 1<<16)
	fails := newErrOnce()
	var mu sync.Mutex
	var ackShoal, ackNotify []time.Duration
	var workers sync.WaitGroup
	for range subWorkers {
		workers.Go(func() {
			for j := range jobs {
				data := make([]byte, benchRecordSize)
				copy(data[8:], fill[8:])
				t := time.Now()
				binary.BigEndian.PutUint64(data, uint64(t.UnixNano()))
				var err error
				if j.shoal {
					_, err = env.log.PutRecord(ctx, shardlog.PutRecordInput{StreamName: benchStream, PartitionKey: j.key, Data: data})
				} else {
					_, err = env.pool.Exec(ctx, insert, j.key, j.version, data, channel)
				}
				d := time.Since(t)
				if err != nil {
					fails.set(err)
					continue
				}
				mu.Lock()
				if j.shoal {
					ackShoal = append(ackShoal, d)
				} else {
					ackNotify = append(ackNotify, d)
				}
				mu.Unlock()
			}
		})
	}
	interval := time.Second / time.Duration(rate)
	var sent [2]int // shoal, notify
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
		shoal := (ops/block)%2 == 0
		side := 1
		if shoal {
			side = 0
		}
		sent[side]++
		jobs <- job{shoal: shoal, key: keys[ops%len(keys)], version: int64(ops + 1)}
		ops++
	}
	close(jobs)
	workers.Wait()
	fails.check(b)

	var got [2][]time.Duration
	deadline := time.Now().Add(subDrain)
	for {
		got = parseLatencies(b, child.Stdout())
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
	if len(got[0]) != sent[0] || len(got[1]) != sent[1] {
		b.Errorf("received %d records and %d rows, want %d and %d (duplicates)", len(got[0]), len(got[1]), sent[0], sent[1])
	}
	p50Shoal := reportLatency(b, "shoal-", got[0])
	p50Notify := reportLatency(b, "notify-", got[1])
	b.ReportMetric(float64(p50Shoal)/float64(p50Notify), "shoal/notify")
	mu.Lock()
	defer mu.Unlock()
	reportLatency(b, "shoal-ack-", ackShoal)
	reportLatency(b, "notify-ack-", ackNotify)
}

// parseLatencies reads the child's "s NANOS" (a record) and "n NANOS" (a
// row) lines.
func parseLatencies(b *testing.B, out string) [2][]time.Duration {
	var got [2][]time.Duration
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		side := 0
		switch {
		case strings.HasPrefix(line, "s "):
		case strings.HasPrefix(line, "n "):
			side = 1
		default:
			continue
		}
		ns, err := strconv.ParseInt(line[2:], 10, 64)
		if err != nil {
			b.Fatalf("subscriber printed %q", line)
		}
		got[side] = append(got[side], time.Duration(ns))
	}
	return got
}

// TestBenchSubscriberProcess is the subscriber process of
// BenchmarkSubscriberLatency; it skips unless that benchmark started it.
// It prints "ready" once subscribed and listening, then one line per
// record received: "s NANOS" for the Log's records and "n NANOS" for the
// peer's rows, NANOS being the time from the put call to the receipt.
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
				now := time.Now()
				buf = buf[:0]
				for _, r := range ev.Records {
					buf = fmt.Appendf(buf, "s %d\n", now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(r.Data)))).Nanoseconds())
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
				buf = fmt.Appendf(buf, "n %d\n", time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(data)))).Nanoseconds())
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
