// Command natspeer measures how fast a NATS JetStream ordered consumer
// replays a stream from the start: the peer number for shoal's replay
// benchmarks.
//
// It creates a file-storage, single-replica stream with a unique name,
// publishes n messages of size random bytes (async publish, untimed), then
// r times replays all n with a new ordered consumer, timed from the
// consumer's creation to the n-th message, and deletes the stream.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	url := flag.String("url", nats.DefaultURL, "NATS server URL")
	n := flag.Int("n", 1_000_000, "messages to publish and replay")
	size := flag.Int("size", 200, "payload bytes per message")
	reps := flag.Int("r", 3, "timed replays")
	batch := flag.Int("batch", 5000, "messages per pull request of the consumer (0: the client's default, 500)")
	pending := flag.Int("pending", 4096, "most async publishes awaiting their ack")
	timeout := flag.Duration("timeout", 10*time.Minute, "limit of each phase")
	flag.Parse()
	if *n <= 0 || *size < 0 || *reps <= 0 {
		log.Fatal("natspeer: -n and -r must be positive and -size not negative")
	}
	if err := run(*url, *n, *size, *reps, *batch, *pending, *timeout); err != nil {
		log.Fatalf("natspeer: %v", err)
	}
}

func run(url string, n, size, reps, batch, pending int, timeout time.Duration) (err error) {
	nc, err := nats.Connect(url, nats.Name("shoal-natspeer"))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", url, err)
	}
	defer nc.Close()

	var pubErrs atomic.Int64
	var firstPubErr atomic.Value
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(pending),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			pubErrs.Add(1)
			firstPubErr.CompareAndSwap(nil, err)
		}))
	if err != nil {
		return err
	}

	name := fmt.Sprintf("SHOALPEER_%d_%d", os.Getpid(), time.Now().UnixNano())
	subject := "shoalpeer." + name
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:      name,
		Subjects:  []string{subject},
		Storage:   jetstream.FileStorage,
		Replicas:  1,
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxMsgs:   -1,
		MaxBytes:  -1,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
		defer dcancel()
		if derr := js.DeleteStream(dctx, name); derr != nil {
			err = errors.Join(err, fmt.Errorf("delete stream %s: %w", name, derr))
		}
	}()

	// Publish, untimed. Each message gets its own buffer: the client keeps
	// a message until its ack arrives.
	rng := rand.NewChaCha8([32]byte{byte(time.Now().UnixNano())})
	start := time.Now()
	for range n {
		data := make([]byte, size)
		rng.Read(data)
		if _, err := js.PublishAsync(subject, data); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return fmt.Errorf("waiting for publish acks: %w", ctx.Err())
	}
	if c := pubErrs.Load(); c > 0 {
		return fmt.Errorf("%d publishes failed, the first with: %v", c, firstPubErr.Load())
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream info: %w", err)
	}
	if info.State.Msgs != uint64(n) {
		return fmt.Errorf("stream holds %d messages, want %d", info.State.Msgs, n)
	}
	fmt.Fprintf(os.Stderr, "published %d messages of %d bytes in %.2fs; replaying with -batch %d\n", n, size, time.Since(start).Seconds(), batch)

	rates := make([]float64, 0, reps)
	for range reps {
		secs, err := replay(ctx, js, name, n, size, batch)
		if err != nil {
			return err
		}
		rate := float64(n) / secs
		rates = append(rates, rate)
		fmt.Printf("nats-ordered-replay n=%d size=%d secs=%.3f msgs_per_sec=%.0f\n", n, size, secs, rate)
	}
	slices.Sort(rates)
	median := rates[len(rates)/2]
	if len(rates)%2 == 0 {
		median = (rates[len(rates)/2-1] + rates[len(rates)/2]) / 2
	}
	fmt.Printf("nats-ordered-replay median msgs_per_sec=%.0f\n", median)
	return nil
}

// replay reads all n messages of the stream with a new ordered consumer
// and returns the seconds from the consumer's creation to the n-th
// message.
func replay(ctx context.Context, js jetstream.JetStream, stream string, n, size, batch int) (float64, error) {
	done := make(chan struct{})
	errc := make(chan error, 1)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	var got atomic.Int64 // the handler runs on the client's goroutine
	handler := func(m jetstream.Msg) {
		c := got.Add(1)
		if len(m.Data()) != size {
			report(fmt.Errorf("message %d has %d bytes, want %d", c, len(m.Data()), size))
		}
		if c == int64(n) {
			close(done)
		}
	}
	// Consume errors (a missed heartbeat, a consumer reset) are reported;
	// the ordered consumer recovers from them by itself.
	opts := []jetstream.PullConsumeOpt{jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		fmt.Fprintf(os.Stderr, "consume: %v\n", err)
	})}
	if batch > 0 {
		opts = append(opts, jetstream.PullMaxMessages(batch))
	}

	start := time.Now()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, fmt.Errorf("create ordered consumer: %w", err)
	}
	cc, err := cons.Consume(handler, opts...)
	if err != nil {
		return 0, fmt.Errorf("consume: %w", err)
	}
	defer cc.Stop()
	select {
	case <-done:
	case err := <-errc:
		return 0, fmt.Errorf("replay: %w", err)
	case <-ctx.Done():
		return 0, fmt.Errorf("replay: %d of %d messages: %w", got.Load(), n, ctx.Err())
	}
	secs := time.Since(start).Seconds()
	select {
	case err := <-errc:
		return 0, fmt.Errorf("replay: %w", err)
	default:
	}
	return secs, nil
}
