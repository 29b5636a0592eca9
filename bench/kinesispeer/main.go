// kinesispeer: PutRecords and GetRecords throughput of one Kinesis endpoint
// (shoal serve, kinesalite, kinesis-mock, ...) through the AWS SDK for Go v2,
// for bench/serve.sh.
//
//	kinesispeer -endpoint http://127.0.0.1:4567 -stream NAME -shards 4 \
//	    -duration 10s -clients 4 -batch 500 -size 256 -read [-pid PID]
//
// It creates the stream (CreateStream, then DescribeStreamSummary polled until
// ACTIVE, since emulators create asynchronously), then for -duration runs
// PutRecords of -batch records of -size random bytes (random partition keys, so
// every shard gets its share) from -clients concurrent goroutines sharing one
// client, and prints
//
//	put records_per_sec=... p50_ms=... p99_ms=... records=... calls=... failed_records=... throttled=... errors=... secs=...
//
// records counts acknowledged records only (FailedRecordCount subtracted);
// throttled counts calls answered ProvisionedThroughputExceededException or
// LimitExceededException, errors every other failed call. With -read it then
// reads every shard, one goroutine each, from TRIM_HORIZON with GetShardIterator
// and GetRecords (Limit -limit) until a call returns no record and
// MillisBehindLatest is 0 (or the shard is closed), and prints
//
//	get records_per_sec=... records=... calls=... throttled=... errors=... secs=...
//
// With -pid, each line also has server_cpu_s (utime+stime of that process over
// the phase, from /proc/PID/stat) and server_cpu_us_per_record; client_cpu_s is
// this process's own CPU over the phase (getrusage). Retries are off by default
// (aws.NopRetryer): every throttle or error is counted, never hidden; -retries N
// turns on the SDK's standard retryer with N attempts.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

type options struct {
	endpoint, stream        string
	shards, clients         int
	batch, size, limit      int
	duration, createTimeout time.Duration
	read                    bool
	retries                 int
	pid                     int
}

func main() {
	var o options
	flag.StringVar(&o.endpoint, "endpoint", "http://127.0.0.1:4567", "Kinesis endpoint `URL`")
	flag.StringVar(&o.stream, "stream", "", "stream `name` (default kinesispeer-<unix ns>); created, must not exist")
	flag.IntVar(&o.shards, "shards", 4, "shard count of the stream")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long the put phase runs")
	flag.IntVar(&o.clients, "clients", 4, "concurrent PutRecords callers")
	flag.IntVar(&o.batch, "batch", 500, "records per PutRecords call (AWS maximum 500)")
	flag.IntVar(&o.size, "size", 256, "bytes of random data per record")
	flag.BoolVar(&o.read, "read", false, "then read every shard from TRIM_HORIZON until caught up")
	flag.IntVar(&o.limit, "limit", 10000, "GetRecords Limit")
	flag.IntVar(&o.retries, "retries", 0, "SDK attempts per call (standard retryer); 0 = aws.NopRetryer")
	flag.IntVar(&o.pid, "pid", 0, "server process `id`: report its CPU time per phase (Linux /proc)")
	flag.DurationVar(&o.createTimeout, "create-timeout", 60*time.Second, "how long to wait for the stream to become ACTIVE")
	flag.Parse()
	if o.stream == "" {
		o.stream = "kinesispeer-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "kinesispeer:", err)
		os.Exit(1)
	}
}

func newClient(o options) *kinesis.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDKINESISPEER", "kinesispeer-secret", ""),
		HTTPClient: &http.Client{Transport: &http.Transport{
			MaxIdleConns:        4 * o.clients,
			MaxIdleConnsPerHost: 4 * o.clients,
			IdleConnTimeout:     90 * time.Second,
			// kinesis-mock's plain port and kinesalite speak HTTP/1.1; so do we, everywhere.
			ForceAttemptHTTP2: false,
		}, Timeout: 60 * time.Second},
	}
	if o.retries > 0 {
		cfg.Retryer = func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = o.retries })
		}
	} else {
		cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	}
	return kinesis.NewFromConfig(cfg, func(ko *kinesis.Options) {
		ko.BaseEndpoint = aws.String(o.endpoint)
	})
}

func run(ctx context.Context, o options) error {
	if o.batch < 1 || o.size < 1 || o.clients < 1 || o.shards < 1 {
		return errors.New("-batch, -size, -clients and -shards must be positive")
	}
	c := newClient(o)
	t0 := time.Now()
	if err := createStream(ctx, c, o); err != nil {
		return err
	}
	fmt.Printf("# stream %s: %d shards ACTIVE after %.2fs; endpoint %s; %d clients × PutRecords of %d × %d B for %s\n",
		o.stream, o.shards, time.Since(t0).Seconds(), o.endpoint, o.clients, o.batch, o.size, o.duration)

	acked, err := putPhase(ctx, c, o)
	if err != nil {
		return err
	}
	if o.read {
		if err := getPhase(ctx, c, o, acked); err != nil {
			return err
		}
	}
	return nil
}

func createStream(ctx context.Context, c *kinesis.Client, o options) error {
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String(o.stream),
		ShardCount: aws.Int32(int32(o.shards)),
	}); err != nil {
		return fmt.Errorf("CreateStream %s: %w", o.stream, err)
	}
	deadline := time.Now().Add(o.createTimeout)
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(o.stream)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("stream %s not ACTIVE after %s: %w", o.stream, o.createTimeout, err)
			}
			return fmt.Errorf("stream %s not ACTIVE after %s: %s", o.stream, o.createTimeout, out.StreamDescriptionSummary.StreamStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// counters of one phase, shared by its goroutines.
type counters struct {
	records, calls, failedRecords, throttled, errs atomic.Int64
	mu                                             sync.Mutex
	firstErrs                                      map[string]int // error text → count, for the report
}

func (k *counters) callError(err error) (throttle bool) {
	code := errorCode(err)
	throttle = code == "ProvisionedThroughputExceededException" || code == "LimitExceededException"
	if throttle {
		k.throttled.Add(1)
	} else {
		k.errs.Add(1)
	}
	k.mu.Lock()
	if k.firstErrs == nil {
		k.firstErrs = map[string]int{}
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	if _, ok := k.firstErrs[msg]; ok || len(k.firstErrs) < 8 {
		k.firstErrs[msg]++
	}
	k.mu.Unlock()
	return throttle
}

func (k *counters) reportErrors(phase string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for msg, n := range k.firstErrs {
		fmt.Fprintf(os.Stderr, "# %s error ×%d: %s\n", phase, n, msg)
	}
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// makeBatches builds n distinct PutRecords batches of random partition keys and
// data, built before the timer and reused, so the client spends its CPU on the
// SDK and the wire, not on generating data (client and server share the machine).
func makeBatches(o options, n int) [][]types.PutRecordsRequestEntry {
	out := make([][]types.PutRecordsRequestEntry, n)
	for b := range out {
		entries := make([]types.PutRecordsRequestEntry, o.batch)
		for i := range entries {
			data := make([]byte, o.size)
			_, _ = rand.Read(data)
			key := make([]byte, 8)
			_, _ = rand.Read(key)
			entries[i] = types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(hex.EncodeToString(key))}
		}
		out[b] = entries
	}
	return out
}

func putPhase(ctx context.Context, c *kinesis.Client, o options) (int64, error) {
	var k counters
	lats := make([][]time.Duration, o.clients)
	batches := make([][][]types.PutRecordsRequestEntry, o.clients)
	for i := range batches {
		batches[i] = makeBatches(o, 4)
	}
	cpu0, srv0 := clientCPU(), serverCPU(o.pid)
	start := time.Now()
	stop := start.Add(o.duration)
	var wg sync.WaitGroup
	for g := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(stop); n++ {
				in := &kinesis.PutRecordsInput{StreamName: aws.String(o.stream), Records: batches[g][n%len(batches[g])]}
				t := time.Now()
				out, err := c.PutRecords(ctx, in)
				d := time.Since(t)
				k.calls.Add(1)
				if err != nil {
					if !k.callError(err) {
						time.Sleep(10 * time.Millisecond) // not a tight loop on a broken server
					}
					continue
				}
				lats[g] = append(lats[g], d)
				failed := int64(aws.ToInt32(out.FailedRecordCount))
				k.failedRecords.Add(failed)
				k.records.Add(int64(len(in.Records)) - failed)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	cpu1, srv1 := clientCPU(), serverCPU(o.pid)
	all := slices.Concat(lats...)
	slices.Sort(all)
	recs := k.records.Load()
	fmt.Printf("put records_per_sec=%.0f p50_ms=%.2f p99_ms=%.2f records=%d calls=%d failed_records=%d throttled=%d errors=%d secs=%.3f client_cpu_s=%.2f%s\n",
		float64(recs)/secs, ms(pct(all, 0.50)), ms(pct(all, 0.99)), recs, k.calls.Load(),
		k.failedRecords.Load(), k.throttled.Load(), k.errs.Load(), secs, cpu1-cpu0, serverFields(srv0, srv1, recs))
	k.reportErrors("put")
	if recs == 0 {
		return 0, errors.New("no record was acknowledged")
	}
	return recs, nil
}

func getPhase(ctx context.Context, c *kinesis.Client, o options, acked int64) error {
	var shardIDs []string
	var next *string
	for {
		in := &kinesis.ListShardsInput{}
		if next == nil {
			in.StreamName = aws.String(o.stream)
		} else {
			in.NextToken = next
		}
		out, err := c.ListShards(ctx, in)
		if err != nil {
			return fmt.Errorf("ListShards: %w", err)
		}
		for _, s := range out.Shards {
			shardIDs = append(shardIDs, aws.ToString(s.ShardId))
		}
		if next = out.NextToken; next == nil {
			break
		}
	}
	var k counters
	var bytes atomic.Int64
	errc := make(chan error, len(shardIDs))
	cpu0, srv0 := clientCPU(), serverCPU(o.pid)
	start := time.Now()
	var wg sync.WaitGroup
	for _, id := range shardIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- readShard(ctx, c, o, id, &k, &bytes)
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	cpu1, srv1 := clientCPU(), serverCPU(o.pid)
	close(errc)
	recs := k.records.Load()
	fmt.Printf("get records_per_sec=%.0f records=%d acked=%d bytes=%d calls=%d throttled=%d errors=%d secs=%.3f client_cpu_s=%.2f%s\n",
		float64(recs)/secs, recs, acked, bytes.Load(), k.calls.Load(), k.throttled.Load(), k.errs.Load(), secs, cpu1-cpu0, serverFields(srv0, srv1, recs))
	k.reportErrors("get")
	for err := range errc {
		if err != nil {
			return err
		}
	}
	if recs < acked {
		fmt.Fprintf(os.Stderr, "# get: read %d records, fewer than the %d acknowledged\n", recs, acked)
	}
	return nil
}

func readShard(ctx context.Context, c *kinesis.Client, o options, id string, k *counters, bytes *atomic.Int64) error {
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(o.stream), ShardId: aws.String(id), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		return fmt.Errorf("GetShardIterator %s: %w", id, err)
	}
	iter := it.ShardIterator
	failures := 0
	for iter != nil {
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(o.limit))})
		k.calls.Add(1)
		if err != nil {
			if k.callError(err) {
				time.Sleep(100 * time.Millisecond) // throttled: counted, then the same iterator again
				continue
			}
			if failures++; failures > 10 {
				return fmt.Errorf("GetRecords %s: %w", id, err)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		failures = 0
		k.records.Add(int64(len(out.Records)))
		var n int64
		for i := range out.Records {
			n += int64(len(out.Records[i].Data))
		}
		bytes.Add(n)
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			return nil // caught up
		}
		iter = out.NextShardIterator
	}
	return nil // shard closed
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)) + 0.5)
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	if i > 0 && p*float64(len(sorted)) == float64(i) {
		i--
	}
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func clientCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// serverCPU is the utime+stime of process pid in seconds, or -1.
func serverCPU(pid int) float64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	// Fields after the parenthesised command name: state is field 3; utime 14, stime 15.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func serverFields(s0, s1 float64, recs int64) string {
	if s0 < 0 || s1 < 0 {
		return ""
	}
	per := 0.0
	if recs > 0 {
		per = (s1 - s0) / float64(recs) * 1e6
	}
	return fmt.Sprintf(" server_cpu_s=%.2f server_cpu_us_per_record=%.2f", s1-s0, per)
}
