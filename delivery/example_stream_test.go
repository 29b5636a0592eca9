package delivery_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// rtPrintDest prints each batch it is given and signals it.
type rtPrintDest struct{ delivered chan struct{} }

func (d rtPrintDest) Deliver(_ context.Context, b *delivery.Batch) error {
	for _, r := range b.Records {
		fmt.Printf("%s: %s\n", b.Shard.ShardID, r.Data)
	}
	select {
	case d.delivered <- struct{}{}:
	default:
	}
	return nil
}

// A DirectPut delivery stream: records put to it are buffered and
// delivered (at once here: an interval of zero).
func ExampleStream_PutRecordBatch() {
	ctx := context.Background()
	log, _ := shardlog.Open(ctx, memory.New())
	defer log.Close()

	dest := rtPrintDest{delivered: make(chan struct{}, 1)}
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
	<-dest.delivered
	stop()
	fmt.Println("run:", <-done)
	// Output:
	// failed: 0
	// shardId-000000000000: a
	// shardId-000000000000: b
	// run: <nil>
}
