// Command archive archives a stream to files with a delivery stream, as
// Firehose archives to S3, and reads a key back from the archive:
//
//	go run ./examples/archive [DIR]
//
// DIR (default: a new temporary directory) receives the objects.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "archive:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	dir := ""
	if len(os.Args) > 1 {
		dir = os.Args[1]
	} else {
		tmp, err := os.MkdirTemp("", "shoal-archive-")
		if err != nil {
			return err
		}
		dir = tmp
	}

	// A log with a stream of two shards.
	log, err := shardlog.Open(ctx, memory.New())
	if err != nil {
		return err
	}
	defer log.Close()
	if err := log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "clicks", ShardCount: 2}); err != nil {
		return err
	}

	// The destination: a filesystem object store, JSON lines, gzip, keys
	// as Firehose names them.
	store, err := delivery.NewDirStore(dir)
	if err != nil {
		return err
	}
	dest, err := delivery.NewObjectDestination(store, delivery.ObjectOptions{})
	if err != nil {
		return err
	}

	// The delivery stream: read every shard, deliver a shard's buffer
	// once its oldest record waited 1 s (or it holds 5 MiB).
	s, err := delivery.New(delivery.Config{
		Name:        "clicks-archive",
		Source:      delivery.Source{Log: log, StreamName: "clicks"},
		Buffering:   delivery.BufferingHints{Interval: time.Second, IntervalSet: true},
		Destination: dest,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()

	for i := range 6 {
		user := fmt.Sprintf("user-%d", i%3)
		data := fmt.Sprintf(`{"user":%q,"page":"/p/%d"}`, user, i)
		if _, err := log.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "clicks", PartitionKey: user, Data: []byte(data)}); err != nil {
			return err
		}
	}
	for s.Status().DeliveredRecords < 6 { // about 1 s: the buffer interval
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		return err
	}

	fmt.Println("objects in", dir)
	for key, err := range store.List(ctx, "") {
		if err != nil {
			return err
		}
		fmt.Println(" ", key)
	}

	// Read one key back through the archive's index.
	archive, err := delivery.NewObjectArchive(store, dest.Options())
	if err != nil {
		return err
	}
	fmt.Println("user-1, from the archive:")
	for r, err := range archive.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "clicks", PartitionKey: "user-1"}) {
		if err != nil {
			return err
		}
		fmt.Printf("  %s %s\n", r.SequenceNumber, r.Data)
	}
	return nil
}
