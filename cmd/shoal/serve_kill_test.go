package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/aws/smithy-go"
	"hash/fnv"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/shoal-dev/shoal/internal/killtest"
)

// The kill -9 proof of shoal serve through the API. A child process (this
// test binary, re-executed) runs `shoal serve` on a data directory at a
// fixed address. Producers in the parent send PutRecords batches of
// skPerBatch records of skRecordSize bytes, each with a unique ID, through
// the AWS SDK (no retries), and note every record acknowledged (an entry
// of a successful response with a sequence number). After a random
// 100-500 ms the parent SIGKILLs the child, starts a new one on the same
// directory, reads every shard from TRIM_HORIZON and checks:
//
//   - every acknowledged record is there exactly once, in the shard and
//     at the sequence number its acknowledgement gave;
//   - no record is there twice, acknowledged or not (a batch cut by the
//     kill may be there or not, never doubled);
//   - every record there was sent by a producer, its bytes intact;
//   - what a check read stays, at the same place, after every later kill.
//
// Then it produces again. After the last cycle a final child is checked
// the same way and stopped with SIGTERM: it must exit 0.
//
// Knobs: SHOAL_KILL_CYCLES sets the number of kills (default 3),
// SHOAL_KILL_SEED_PARENT replays the kill delays.
const (
	skEnvDir  = "SHOAL_SERVEKILL_DIR"  // data directory; the child runs only if set
	skEnvAddr = "SHOAL_SERVEKILL_ADDR" // the child's address

	skStream     = "servekill"
	skShards     = 4
	skProducers  = 2
	skPerBatch   = 100
	skRecordSize = 256
)

// TestServeKillChild is the child of TestServeKill; it runs only when
// SHOAL_SERVEKILL_DIR is set. It serves until killed, or until SIGTERM.
func TestServeKillChild(t *testing.T) {
	dir := os.Getenv(skEnvDir)
	if dir == "" {
		t.Skip("child of TestServeKill: runs only when " + skEnvDir + " is set")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if code := run(ctx, []string{"serve", "--addr", os.Getenv(skEnvAddr), "--data", dir}, os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("shoal serve exited %d", code)
	}
}

// skPayload is the data of the record with that ID: the ID, a '|', then
// bytes derived from it, skRecordSize in all.
func skPayload(id string) []byte {
	b := make([]byte, skRecordSize)
	n := copy(b, id+"|")
	h := fnv.New64a()
	h.Write([]byte(id))
	x := h.Sum64()
	for i := n; i < len(b); i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// skAck is where an acknowledged record went.
type skAck struct{ shard, seq string }

// skStart starts a child of TestServeKillChild serving dir at addr.
func skStart(t *testing.T, dir, addr string) *killtest.Child {
	t.Helper()
	return killtest.Start(t, killtest.Config{Test: "TestServeKillChild", Env: []string{skEnvDir + "=" + dir, skEnvAddr + "=" + addr}, Args: []string{"-test.v"}})
}

// skWaitHealthy polls the child's /healthz until it answers 200.
func skWaitHealthy(t *testing.T, c *killtest.Child, addr string) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-c.Exited():
			t.Fatalf("child exited before it was healthy (%v)\n%s", c.Err(), c.Output())
		default:
		}
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			c.Abort()
			t.Fatalf("child not healthy within a minute (%v)\n%s", err, c.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// skClient is an SDK client of addr with its own connections: a new
// child's address must not be reached through a dead child's connection.
func skClient(addr string) (*sdk.Client, *http.Transport) {
	tr := &http.Transport{MaxIdleConnsPerHost: skProducers + 2}
	return newClient("http://"+addr, &http.Client{Transport: tr, Timeout: time.Minute}, "", ""), tr
}

// skState is what the parent knows across cycles.
type skState struct {
	mu    sync.Mutex
	sent  map[string]bool
	acked map[string]skAck
	seen  map[string]skAck // every record a check found, where it found it
}

// produce sends batches until ctx ends or a put fails; it returns the
// error of a put that failed before the kill (killed not set).
func (s *skState) produce(ctx context.Context, c *sdk.Client, cycle, p int, killed *atomic.Bool, acks *atomic.Int64) error {
	for b := 0; ctx.Err() == nil; b++ {
		ids := make([]string, skPerBatch)
		entries := make([]types.PutRecordsRequestEntry, skPerBatch)
		for i := range ids {
			ids[i] = fmt.Sprintf("c%d-p%d-b%d-r%d", cycle, p, b, i)
			entries[i] = types.PutRecordsRequestEntry{Data: skPayload(ids[i]), PartitionKey: aws.String(ids[i])}
		}
		s.mu.Lock()
		for _, id := range ids {
			s.sent[id] = true
		}
		s.mu.Unlock()
		out, err := c.PutRecords(ctx, &sdk.PutRecordsInput{StreamName: aws.String(skStream), Records: entries})
		if err != nil {
			if killed.Load() || ctx.Err() != nil {
				return nil // the kill cut it: not acknowledged
			}
			var api smithy.APIError
			if !errors.As(err, &api) {
				// A transport failure with the server alive (the Go SDK
				// closes the request body when the response headers arrive,
				// which can drop an HTTP/1.1 connection): the batch is not
				// acknowledged, and may or may not be stored.
				continue
			}
			return fmt.Errorf("producer %d batch %d: %w", p, b, err)
		}
		if len(out.Records) != len(ids) {
			return fmt.Errorf("producer %d batch %d: %d results for %d records", p, b, len(out.Records), len(ids))
		}
		s.mu.Lock()
		for i, r := range out.Records {
			if r.ErrorCode != nil || r.SequenceNumber == nil {
				continue // a failed entry is not acknowledged
			}
			s.acked[ids[i]] = skAck{aws.ToString(r.ShardId), aws.ToString(r.SequenceNumber)}
			acks.Add(1)
		}
		s.mu.Unlock()
	}
	return nil
}

// check reads the whole stream and checks it against what was sent and
// acknowledged; it returns the records found and how many of them were
// never acknowledged.
func (s *skState) check(t *testing.T, c *sdk.Client) (found, unacked int) {
	t.Helper()
	ctx := t.Context()
	s.mu.Lock()
	defer s.mu.Unlock()
	where := map[string]skAck{}
	for _, sr := range readStream(t, ctx, c, skStream) {
		for _, r := range sr.records {
			id, _, ok := strings.Cut(string(r.Data), "|")
			if !ok || !s.sent[id] {
				t.Fatalf("shard %s seq %s: a record nobody sent: %.40q", sr.shard, aws.ToString(r.SequenceNumber), r.Data)
			}
			if !bytes.Equal(r.Data, skPayload(id)) {
				t.Fatalf("record %s (shard %s seq %s): data damaged", id, sr.shard, aws.ToString(r.SequenceNumber))
			}
			at := skAck{sr.shard, aws.ToString(r.SequenceNumber)}
			if prev, dup := where[id]; dup {
				t.Fatalf("record %s twice: at %v and %v", id, prev, at)
			}
			where[id] = at
			if a, ok := s.acked[id]; ok && a != at {
				t.Fatalf("record %s acknowledged at %v, found at %v", id, a, at)
			}
			if prev, ok := s.seen[id]; ok && prev != at {
				t.Fatalf("record %s moved from %v to %v", id, prev, at)
			}
		}
	}
	for id, a := range s.acked {
		if _, ok := where[id]; !ok {
			t.Fatalf("acknowledged record %s (%v) lost", id, a)
		}
	}
	for id, at := range s.seen {
		if _, ok := where[id]; !ok {
			t.Fatalf("record %s, found at %v by an earlier check, lost", id, at)
		}
	}
	for id, at := range where {
		s.seen[id] = at
		if _, ok := s.acked[id]; !ok {
			unacked++
		}
	}
	return len(where), unacked
}

// freeAddr returns a 127.0.0.1 address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServeKill(t *testing.T) {
	killtest.SkipUnlessSIGKILL(t)
	if os.Getenv(skEnvDir) != "" {
		t.Skip("in the child")
	}
	cycles := killtest.Cycles("SHOAL_KILL_CYCLES", 3)
	rng := killtest.Rand(t, "SHOAL_KILL_SEED_PARENT")
	dir, addr := t.TempDir(), freeAddr(t)
	st := &skState{sent: map[string]bool{}, acked: map[string]skAck{}, seen: map[string]skAck{}}

	for cycle := range cycles {
		start := time.Now()
		c := skStart(t, dir, addr)
		skWaitHealthy(t, c, addr)
		client, tr := skClient(addr)
		var found, unacked int
		if cycle == 0 {
			createStream(t, t.Context(), client, skStream, skShards)
		} else {
			found, unacked = st.check(t, client)
		}
		ready := time.Since(start)

		ctx, cancel := context.WithCancel(t.Context())
		var killed atomic.Bool
		var acks atomic.Int64
		errs := make(chan error, skProducers)
		var wg sync.WaitGroup
		for p := range skProducers {
			wg.Go(func() { errs <- st.produce(ctx, client, cycle, p, &killed, &acks) })
		}
		// Let a first batch through, so every cycle writes, then kill at
		// a random moment.
		deadline := time.Now().Add(30 * time.Second)
		for acks.Load() == 0 && time.Now().Before(deadline) && len(errs) == 0 {
			time.Sleep(time.Millisecond)
		}
		delay := time.Duration(100+rng.IntN(401)) * time.Millisecond
		time.Sleep(delay)
		killed.Store(true)
		c.Kill(t)
		cancel()
		wg.Wait()
		tr.CloseIdleConnections()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
		}
		if acks.Load() == 0 {
			t.Fatalf("cycle %d: no record acknowledged", cycle)
		}
		t.Logf("cycle %d: ready and checked in %v (%d records, %d of them unacknowledged); killed %v later, %d records acknowledged",
			cycle, ready.Round(time.Millisecond), found, unacked, delay, acks.Load())
	}

	// The last check, then a graceful stop.
	c := skStart(t, dir, addr)
	skWaitHealthy(t, c, addr)
	client, tr := skClient(addr)
	found, unacked := st.check(t, client)
	tr.CloseIdleConnections()
	t.Logf("final: %d records, %d acknowledged, %d present unacknowledged, %d sent", found, len(st.acked), unacked, len(st.sent))
	if err := c.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Exited():
	case <-time.After(30 * time.Second):
		t.Fatalf("child did not stop within 30s of SIGTERM\n%s", c.Output())
	}
	if c.Err() != nil {
		t.Fatalf("child after SIGTERM: %v\n%s", c.Err(), c.Output())
	}
	c.CheckClean(t)
	if !strings.Contains(c.Stdout(), "shoal serve: stopped") {
		t.Fatalf("child did not stop gracefully\n%s", c.Output())
	}
}
