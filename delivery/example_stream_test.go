package delivery_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// rtChanDest hands each batch it is given to the example.
type rtChanDest struct{ delivered chan *delivery.Batch }

func (d rtChanDest) Deliver(ctx context.Context, b *delivery.Batch) error {
	select {
	case d.delivered <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A DirectPut delivery stream: records put to it are buffered and
// delivered (at once here: an interval of zero).
func ExampleStream_PutRecordBatch() {
	ctx := context.Background()
	log, _ := shardlog.Open(ctx, memory.New())
	defer log.Close()

	dest := rtChanDest{delivered: make(chan *delivery.Batch, 1)}
	s, err := delivery.New(delivery.Config{
		Name:        "clicks",
		Source:      delivery.Source{Log: log, StreamName: "clicks-backing", DirectPut: true},
		Buffering:   delivery.BufferingHints{Interval: 0, IntervalSet: true},
		Destination: dest,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()

	out, err := s.PutRecordBatch(ctx, [][]byte{[]byte("a"), []byte("b")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("failed:", out.FailedPutCount)
	b := <-dest.delivered
	for _, r := range b.Records {
		fmt.Printf("%s: %s\n", b.Shard.ShardID, r.Data)
	}
	stop()
	fmt.Println("run:", <-done)
	// Output:
	// failed: 0
	// shardId-000000000000: a
	// shardId-000000000000: b
	// run: <nil>
}
