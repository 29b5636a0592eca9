package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"path/filepath"
	"strings"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

const demoStream = "orders"

// demoOptions chooses the demo's engine.
type demoOptions struct {
	// Memory runs the demo on the in-memory engine: nothing outlives the
	// process and DataDir is ignored.
	Memory bool
	// DataDir is the file engine's data directory, created if needed.
	DataDir string
	// Postgres, if set, runs the demo on the PostgreSQL engine at this
	// connection URL, in the schema PostgresSchema (demo_postgres.go);
	// DataDir is ignored.
	Postgres, PostgresSchema string
}

// demo walks through the log and narrates each step to w. On the file
// engine (the default) and on PostgreSQL it first deletes the streams a
// previous run left in the data directory or the schema, so it can be run
// again and again on the same one. It returns the first error.
func demo(ctx context.Context, w io.Writer, opts demoOptions) (err error) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	step := 0
	heading := func(title string) {
		step++
		p("\n%d. %s", step, title)
	}

	var engine shardlog.Engine
	if opts.Postgres != "" {
		pe, err := openDemoPostgres(ctx, opts, p)
		if err != nil {
			return err
		}
		engine = pe
	} else if opts.Memory {
		p("Shoal demo: a Kinesis-style log, on the in-memory engine (nothing is kept")
		p("after exit; drop --memory to run on the durable file engine).")
		engine = memory.New()
	} else {
		dir, err := filepath.Abs(opts.DataDir)
		if err != nil {
			return fmt.Errorf("data directory %q: %w", opts.DataDir, err)
		}
		fe, err := file.Open(dir, file.WithSync(file.SyncAlways))
		if err != nil {
			return err
		}
		p("Shoal demo: a Kinesis-style log, on the embedded file engine.")
		p("  data lives in %s (it stays after exit)", dir)
		p("  sync: SyncAlways, records are fdatasync'd before each put returns")
		engine = fe
	}

	log, err := shardlog.Open(ctx, engine, shardlog.WithRetentionInterval(0))
	if err != nil {
		return errors.Join(err, engine.Close())
	}
	defer func() {
		if cerr := log.Close(); err == nil {
			err = cerr
		}
	}()

	// A previous run on the same data directory left its streams behind:
	// start over with fresh ones.
	for _, name := range []string{demoStream, demoEventStream} {
		switch _, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: name}); {
		case err == nil:
			p("  removing the stream left by a previous run (%q)", name)
			if err := log.DeleteStream(ctx, shardlog.DeleteStreamInput{StreamName: name, EnforceConsumerDeletion: true}); err != nil {
				return fmt.Errorf("delete the previous run's stream: %w", err)
			}
		case !errors.Is(err, shardlog.ErrResourceNotFound):
			return err
		}
	}

	heading(`Create stream "orders" with 2 shards`)
	if err := log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: demoStream, ShardCount: 2}); err != nil {
		return err
	}
	if err := printShards(ctx, log, p); err != nil {
		return err
	}

	heading("PutRecords: 12 events for 4 orders (the order ID is the partition key)")
	orders := []string{"order-1", "order-2", "order-3", "order-4"}
	var entries []shardlog.PutRecordsEntry
	for _, event := range []string{"created", "item-added", "paid"} {
		for _, o := range orders {
			entries = append(entries, shardlog.PutRecordsEntry{PartitionKey: o, Data: []byte(event)})
		}
	}
	out, err := log.PutRecords(ctx, shardlog.PutRecordsInput{StreamName: demoStream, Records: entries})
	if err != nil {
		return err
	}
	if out.FailedRecordCount > 0 {
		return fmt.Errorf("PutRecords: %d records failed", out.FailedRecordCount)
	}
	for i, r := range out.Records {
		p("  %-8s %-11s -> %s  seq %s", entries[i].PartitionKey, entries[i].Data, r.ShardID, r.SequenceNumber)
	}
	written := len(entries)

	key := orders[0]
	lk, err := log.LastKey(ctx, shardlog.LastKeyInput{StreamName: demoStream, PartitionKey: key})
	if err != nil {
		return err
	}
	seen := lk.Record.SequenceNumber
	heading(fmt.Sprintf("AppendKey: two writers saw %s's latest record, %s", key, seen))
	ok, err := log.AppendKey(ctx, shardlog.AppendKeyInput{
		StreamName: demoStream, PartitionKey: key, Data: [][]byte{[]byte("packed")}, ExpectedSequenceNumber: seen,
	})
	if err != nil {
		return fmt.Errorf("AppendKey expecting %s: %w", seen, err)
	}
	written++
	p("  writer A, expecting it: appended \"packed\" as %s", ok.First)
	// A second writer that also read `seen` tries to append: its expectation
	// is stale now, and the log says so instead of interleaving.
	_, err = log.AppendKey(ctx, shardlog.AppendKeyInput{
		StreamName: demoStream, PartitionKey: key, Data: [][]byte{[]byte("cancelled")}, ExpectedSequenceNumber: seen,
	})
	var conflict *shardlog.ConflictError
	if !errors.As(err, &conflict) {
		return fmt.Errorf("stale AppendKey: want a conflict, got %v", err)
	}
	p("  writer B, expecting it too: conflict detected, actual latest %s", conflict.Actual)

	splitID := ok.ShardID
	heading(fmt.Sprintf("SplitShard: split %s (it holds %s) at the middle of its range", splitID, key))
	mid, err := middleOf(ctx, log, splitID)
	if err != nil {
		return err
	}
	if err := log.SplitShard(ctx, shardlog.SplitShardInput{StreamName: demoStream, ShardToSplit: splitID, NewStartingHashKey: mid}); err != nil {
		return err
	}
	if err := printShards(ctx, log, p); err != nil {
		return err
	}

	heading("PutRecords after the split: new records go to the open shards")
	entries = entries[:0]
	for _, o := range orders {
		entries = append(entries, shardlog.PutRecordsEntry{PartitionKey: o, Data: []byte("shipped")})
	}
	out, err = log.PutRecords(ctx, shardlog.PutRecordsInput{StreamName: demoStream, Records: entries})
	if err != nil {
		return err
	}
	if out.FailedRecordCount > 0 {
		return fmt.Errorf("PutRecords: %d records failed", out.FailedRecordCount)
	}
	for i, r := range out.Records {
		p("  %-8s %-11s -> %s  seq %s", entries[i].PartitionKey, entries[i].Data, r.ShardID, r.SequenceNumber)
	}
	written += len(entries)

	heading("Read every shard with a cursor, parents before children")
	read, err := readAll(ctx, log, p)
	if err != nil {
		return err
	}
	p("  read back %d records; %d were written", read, written)
	if read != written {
		return fmt.Errorf("read back %d records, wrote %d", read, written)
	}

	heading(fmt.Sprintf("ReadKey %s: its whole history, in order, across the split", key))
	n := 0
	for r, err := range log.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: demoStream, PartitionKey: key}) {
		if err != nil {
			return err
		}
		n++
		p("  %-11s shard %d  seq %s", r.Data, r.SequenceNumber.ShardIndex(), r.SequenceNumber)
	}
	if n != 5 {
		return fmt.Errorf("ReadKey %s: %d records, want 5", key, n)
	}

	dataDir := ""
	if !opts.Memory && opts.Postgres == "" {
		dataDir = opts.DataDir
	}
	reg, err := demoEvents(ctx, log, dataDir, p, heading)
	if err != nil {
		return err
	}
	if err := demoArchive(ctx, log, reg, dataDir, p, heading); err != nil {
		return err
	}
	switch {
	case opts.Postgres != "":
		p("\nDone. The streams stay in schema %q; the next run replaces them.", opts.PostgresSchema)
	case opts.Memory:
		p("\nDone.")
	default:
		p("\nDone. The streams, snapshots, checkpoints and the archive stay on disk; the next run")
		p("replaces them.")
	}
	return nil
}

// printShards prints the stream's shards with their lineage and hash-key
// ranges (in units of 2^128/4, which is exact for the demo's layouts).
func printShards(ctx context.Context, log *shardlog.Log, p func(string, ...any)) error {
	d, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: demoStream})
	if err != nil {
		return err
	}
	for _, s := range d.Shards {
		state, parent := "OPEN  ", ""
		if s.Closed {
			state = "CLOSED"
		}
		if s.ParentShardID != "" {
			parent = "  parent " + s.ParentShardID
		}
		p("  %s %s  hash keys %s%s", s.ShardID, state, quarterRange(s.HashKeyRange), parent)
	}
	return nil
}

// quarterRange shows a range as [a/4, b/4) of the hash-key space.
func quarterRange(r shardlog.HashKeyRange) string {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	frac := func(k *big.Int) string {
		q := new(big.Rat).SetFrac(k, space)
		if q.Sign() == 0 {
			return "0"
		}
		if q.Cmp(big.NewRat(1, 1)) == 0 {
			return "1"
		}
		return q.RatString()
	}
	start, _ := new(big.Int).SetString(r.StartingHashKey.String(), 10)
	end, _ := new(big.Int).SetString(r.EndingHashKey.String(), 10)
	return fmt.Sprintf("[%s, %s)", frac(start), frac(end.Add(end, big.NewInt(1))))
}

// middleOf returns the hash key that splits a shard's range in two halves.
func middleOf(ctx context.Context, log *shardlog.Log, shardID string) (string, error) {
	d, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: demoStream})
	if err != nil {
		return "", err
	}
	for _, s := range d.Shards {
		if s.ShardID == shardID {
			start, _ := new(big.Int).SetString(s.HashKeyRange.StartingHashKey.String(), 10)
			end, _ := new(big.Int).SetString(s.HashKeyRange.EndingHashKey.String(), 10)
			width := new(big.Int).Sub(end, start)
			width.Add(width, big.NewInt(1)).Rsh(width, 1)
			return start.Add(start, width).String(), nil
		}
	}
	return "", fmt.Errorf("shard %s not found", shardID)
}

// readAll reads every shard from TRIM_HORIZON, starting with the shards
// that have no parent and moving to a child only once all its parents were
// read to their end, as Kinesis consumers must to keep per-key order. It
// prints each shard's records and returns how many it read.
func readAll(ctx context.Context, log *shardlog.Log, p func(string, ...any)) (int, error) {
	d, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: demoStream})
	if err != nil {
		return 0, err
	}
	known := map[string]bool{}
	for _, s := range d.Shards {
		known[s.ShardID] = true
	}
	var queue []string
	for _, s := range d.Shards { // in shard index order
		if !known[s.ParentShardID] && !known[s.AdjacentParentShardID] {
			queue = append(queue, s.ShardID)
		}
	}
	finished := map[string]bool{}
	total := 0
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		c, err := log.NewCursor(ctx, shardlog.NewCursorInput{StreamName: demoStream, ShardID: id, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		if err != nil {
			return total, err
		}
		var recs []string
		var children []shardlog.ChildShard
		for {
			b, err := c.Next(ctx, 0)
			if err != nil {
				return total, err
			}
			for _, r := range b.Records {
				recs = append(recs, r.PartitionKey+":"+string(r.Data))
			}
			if b.End {
				children = b.ChildShards
				break
			}
			if len(b.Records) == 0 {
				break // an open shard, caught up
			}
		}
		total += len(recs)
		state := "open, caught up"
		if children != nil {
			names := make([]string, len(children))
			for i, ch := range children {
				names[i] = ch.ShardID
			}
			state = "closed; children " + strings.Join(names, ", ")
		}
		p("  %s: %d record(s), %s", id, len(recs), state)
		for i := 0; i < len(recs); i += 4 {
			p("      %s", strings.Join(recs[i:min(i+4, len(recs))], "  "))
		}
		finished[id] = true
		for _, ch := range children {
			ready := true
			for _, parent := range ch.ParentShards {
				ready = ready && (finished[parent] || !known[parent])
			}
			if ready {
				queue = append(queue, ch.ShardID)
			}
		}
	}
	return total, nil
}
