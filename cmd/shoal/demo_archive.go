package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// The demo's delivery streams, and the stream of its load past retention.
const (
	demoDeliveryStream = "order-events-archive"
	demoHistoryStream  = "order-history"
	demoHistoryArchive = "order-history-archive"
)

// demoArchive is the archival part of the demo: a delivery stream copies
// the event stream to files (under dataDir/archive; a temporary directory
// when dataDir is ""), and then, on a second log whose clock the demo
// moves, an aggregate whose first events expired is loaded through the
// archive.
func demoArchive(ctx context.Context, log *shardlog.Log, reg *eventstore.Registry, dataDir string, p func(string, ...any), heading func(string)) error {
	if err := demoArchiveWrite(ctx, log, reg, dataDir, p, heading); err != nil {
		return err
	}
	return demoPastRetention(ctx, reg, p, heading)
}

// demoArchiveWrite archives demoEventStream with a delivery stream and
// shows the objects it wrote.
func demoArchiveWrite(ctx context.Context, log *shardlog.Log, reg *eventstore.Registry, dataDir string, p func(string, ...any), heading func(string)) error {
	heading(fmt.Sprintf("Archive: a delivery stream copies %q to files, as Firehose copies to S3", demoEventStream))
	var dir string
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "shoal-demo-archive-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else {
		abs, err := filepath.Abs(filepath.Join(dataDir, "archive"))
		if err != nil {
			return err
		}
		dir = abs
		// The archive belongs to the stream the previous run deleted.
		if _, err := os.Stat(dir); err == nil {
			p("  removing the archive left by a previous run")
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
	}
	store, err := delivery.NewDirStore(dir)
	if err != nil {
		return err
	}
	events, err := eventstore.Open(ctx, log, demoEventStream, eventstore.WithRegistry(reg))
	if err != nil {
		return err
	}
	// JSON lines with the events decoded by the store, gzip: the defaults.
	dest, err := delivery.NewObjectDestination(store, delivery.ObjectOptions{Format: delivery.JSONLines(events)})
	if err != nil {
		return err
	}
	total, err := countRecords(ctx, log, demoEventStream)
	if err != nil {
		return err
	}
	s, err := delivery.New(delivery.Config{
		Name:        demoDeliveryStream,
		Source:      delivery.Source{Log: log, StreamName: demoEventStream, Events: events},
		Buffering:   delivery.BufferingHints{Interval: 0, IntervalSet: true},
		Destination: dest,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	if err := runUntilDelivered(ctx, s, total); err != nil {
		return err
	}
	where := dir
	if dataDir == "" {
		where = "a temporary directory (removed at exit)"
	}
	p("  %q: JSON lines, gzip, into %s", demoDeliveryStream, where)
	p("  (buffer interval 0: deliver at once; Firehose's default waits up to 300 s or 5 MiB)")

	// The data objects, grouped by prefix: Firehose's layout.
	var keys []string
	for key, err := range store.List(ctx, "") {
		if err != nil {
			return err
		}
		if !strings.HasPrefix(key, delivery.DefaultIndexPrefix) {
			keys = append(keys, key)
		}
	}
	p("  %d events in %d objects, one per shard batch; keys as Firehose names them:", total, len(keys))
	var sample string
	lastDir := ""
	for _, key := range keys {
		lines, err := objectLines(ctx, store, key)
		if err != nil {
			return err
		}
		ids := map[string]bool{}
		for _, line := range lines {
			var ev struct {
				StreamID string `json:"streamId"`
				Version  int    `json:"version"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				return fmt.Errorf("object %s: %w", key, err)
			}
			ids[ev.StreamID] = true
			if ev.StreamID == "order-2" && ev.Version == 1 {
				sample = line
			}
		}
		dir, name := path.Split(key)
		if dir != lastDir {
			p("    %s", dir)
			lastDir = dir
		}
		streams := make([]string, 0, len(ids))
		for id := range ids {
			streams = append(streams, id)
		}
		slices.Sort(streams)
		noun := "events"
		if len(lines) == 1 {
			noun = "event"
		}
		p("      %s  %2d %-6s (%s)", name, len(lines), noun, strings.Join(streams, ", "))
	}
	p("  <UTC hour of the oldest record>/<delivery stream>-<version>-<its arrival time>-<id>.json.gz,")
	p("  where the id hashes (stream, shard, first sequence number) instead of being random: a")
	p("  retried batch replaces its object instead of adding a copy. %s holds the", delivery.DefaultIndexPrefix)
	p("  index (a sidecar per object, its keys) that the archive reads back by key.")
	if sample == "" {
		return errors.New("the archive has no line for order-2 version 1")
	}
	p("  order-2's first event, one line of its object (the record's own bytes elided):")
	for _, l := range wrapJSONLine(elideRecord(sample), 92) {
		p("    %s", l)
	}
	return nil
}

// demoPastRetention writes an aggregate on a log whose clock the demo
// moves, archives it, lets its first events expire and loads it again,
// from the log alone and through the archive.
func demoPastRetention(ctx context.Context, reg *eventstore.Registry, p func(string, ...any), heading func(string)) error {
	heading("Past retention: a load reads expired events from the archive, the rest from the log")
	clock := &demoClock{now: time.Now().UTC().Truncate(time.Second)}
	log, err := shardlog.Open(ctx, memory.New(), shardlog.WithClock(clock.Now), shardlog.WithRetentionInterval(0))
	if err != nil {
		return err
	}
	defer log.Close()
	p("  a second log (in memory), 24 h retention, on a clock the demo moves forward")
	dir, err := os.MkdirTemp("", "shoal-demo-history-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := delivery.NewDirStore(dir)
	if err != nil {
		return err
	}
	plain, err := eventstore.Open(ctx, log, demoHistoryStream, eventstore.WithRegistry(reg),
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 1}))
	if err != nil {
		return err
	}
	dest, err := delivery.NewObjectDestination(store, delivery.ObjectOptions{Format: delivery.JSONLines(plain)})
	if err != nil {
		return err
	}
	s, err := delivery.New(delivery.Config{
		Name:        demoHistoryArchive,
		Source:      delivery.Source{Log: log, StreamName: demoHistoryStream, Events: plain},
		Buffering:   delivery.BufferingHints{Interval: 0, IntervalSet: true},
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
	stopped := false
	defer func() {
		if !stopped {
			stop()
			<-done
		}
	}()
	waitDelivered := func(n int64) error {
		deadline := time.Now().Add(10 * time.Second)
		for s.Status().DeliveredRecords < n {
			if time.Now().After(deadline) {
				return fmt.Errorf("the delivery stream delivered %d of %d records in 10 s", s.Status().DeliveredRecords, n)
			}
			select {
			case err := <-done:
				stopped = true
				return fmt.Errorf("the delivery stream stopped: %v", err)
			case <-time.After(time.Millisecond):
			}
		}
		return nil
	}

	repo, err := aggregate.NewRepository(plain, orderType)
	if err != nil {
		return err
	}
	const id = "order-9"
	if _, err := repo.Create(ctx, id, func(o *order) error { return o.place("dee") }); err != nil {
		return err
	}
	for _, sku := range []string{"sku-a", "sku-b"} {
		if _, err := repo.Update(ctx, id, func(o *order) error { return o.add(sku, 500) }); err != nil {
			return err
		}
	}
	if err := waitDelivered(3); err != nil {
		return err
	}
	p("  day 1, 00 h: %s v1-v3 (placed, 2 items); the delivery stream archives them", id)
	clock.Advance(12 * time.Hour)
	if _, err := repo.Update(ctx, id, func(o *order) error { return o.add("sku-c", 500) }); err != nil {
		return err
	}
	if _, err := repo.Update(ctx, id, func(o *order) error { return o.ship("dhl") }); err != nil {
		return err
	}
	if err := waitDelivered(5); err != nil {
		return err
	}
	p("  day 1, 12 h: v4-v5 (an item, shipped); archived too")
	clock.Advance(13 * time.Hour)
	if err := log.EnforceRetention(ctx); err != nil {
		return err
	}
	hold, err := log.RetentionHold(demoHistoryStream)
	if err != nil {
		return err
	}
	if hold.Held {
		return fmt.Errorf("the retention hold keeps records from %v: the archive is behind", hold.Oldest)
	}
	p("  day 2, 01 h: v1-v3 are 25 h old and archived: retention trims them from the log (the")
	p("  delivery stream holds the log's retention, so only archived records can go)")

	_, err = repo.Load(ctx, id)
	var expired *eventstore.ExpiredError
	if !errors.As(err, &expired) {
		return fmt.Errorf("loading %s from the log alone: want an ExpiredError, got %v", id, err)
	}
	p("  Load %s from the log alone fails with an ExpiredError:", id)
	p("    %v", expired)

	archive, err := delivery.NewObjectArchive(store, dest.Options())
	if err != nil {
		return err
	}
	tiered, err := eventstore.Open(ctx, log, demoHistoryStream, eventstore.WithRegistry(reg), eventstore.WithArchive(archive))
	if err != nil {
		return err
	}
	retained, err := retainedSequences(ctx, log, demoHistoryStream)
	if err != nil {
		return err
	}
	var versions []uint64
	var fromArchive []bool
	for ev, err := range tiered.Read(ctx, id, 0) {
		if err != nil {
			return err
		}
		versions = append(versions, ev.Version)
		fromArchive = append(fromArchive, !retained[ev.Position.SequenceNumber])
	}
	full, err := aggregate.NewRepository(tiered, orderType)
	if err != nil {
		return err
	}
	o, err := full.Load(ctx, id)
	if err != nil {
		return err
	}
	if o.Version() != 5 || o.Items != 3 || !o.Shipped || len(versions) != 5 {
		return fmt.Errorf("%s through the archive: version %d, %d items, shipped %v; want 5, 3, true", id, o.Version(), o.Items, o.Shipped)
	}
	p("  Load %s with the archive: %s: %d items, shipped", id, describeSources(versions, fromArchive), o.Items)

	// A projection rebuilt from scratch reads the shard from the archive
	// and hands off to the log at the first retained record.
	var handled, archived atomic.Int64
	var mu sync.Mutex
	var order []uint64
	proj := projection.New("order-history-count")
	proj.OnOther(func(_ context.Context, ev *eventstore.Event) error {
		handled.Add(1)
		if !retained[ev.Position.SequenceNumber] {
			archived.Add(1)
		}
		mu.Lock()
		order = append(order, ev.Version)
		mu.Unlock()
		return nil
	})
	gaps := &gapCounter{}
	if err := projection.Rebuild(ctx, tiered, proj, projection.Options{Checkpoints: projection.NewMemoryStore(), Observer: gaps}, 0, nil); err != nil {
		return err
	}
	if !slices.Equal(order, []uint64{1, 2, 3, 4, 5}) || gaps.n.Load() != 0 {
		return fmt.Errorf("the rebuild saw versions %v with %d gaps; want 1-5 once each, no gap", order, gaps.n.Load())
	}
	p("  Rebuild a projection from scratch: %d events, %d from the archive then %d from the log, no gap",
		handled.Load(), archived.Load(), handled.Load()-archived.Load())

	stop()
	stopped = true
	return <-done
}

// runUntilDelivered runs s until it delivered n records, then stops it
// gracefully.
func runUntilDelivered(ctx context.Context, s *delivery.Stream, n int) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.Status().DeliveredRecords < int64(n) {
		if time.Now().After(deadline) {
			stop()
			<-done
			return fmt.Errorf("delivery stream %s: %d of %d records delivered in 10 s", s.Name(), s.Status().DeliveredRecords, n)
		}
		select {
		case err := <-done:
			return fmt.Errorf("delivery stream %s stopped: %v", s.Name(), err)
		case <-time.After(time.Millisecond):
		}
	}
	stop()
	return <-done
}

// countRecords counts the records a stream's shards hold.
func countRecords(ctx context.Context, log *shardlog.Log, stream string) (int, error) {
	seqs, err := retainedSequences(ctx, log, stream)
	return len(seqs), err
}

// retainedSequences returns the sequence numbers of every record the
// log still holds in stream.
func retainedSequences(ctx context.Context, log *shardlog.Log, stream string) (map[shardlog.SequenceNumber]bool, error) {
	d, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: stream})
	if err != nil {
		return nil, err
	}
	seqs := map[shardlog.SequenceNumber]bool{}
	for _, sh := range d.Shards {
		c, err := log.NewCursor(ctx, shardlog.NewCursorInput{StreamName: stream, ShardID: sh.ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		if err != nil {
			return nil, err
		}
		for {
			b, err := c.Next(ctx, 0)
			if err != nil {
				return nil, err
			}
			for _, r := range b.Records {
				seqs[r.SequenceNumber] = true
			}
			if b.End || len(b.Records) == 0 {
				break
			}
		}
	}
	return seqs, nil
}

// objectLines returns the lines of a gzipped JSON lines object.
func objectLines(ctx context.Context, store delivery.ObjectStore, key string) ([]string, error) {
	body, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", key, err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", key, err)
	}
	return strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n"), nil
}

// elideRecord replaces the base64 of a line's "record" field (the record's
// exact bytes, which the archive replays) with its length.
func elideRecord(line string) string {
	const field = `"record":"`
	i := strings.Index(line, field)
	if i < 0 {
		return line
	}
	j := strings.IndexByte(line[i+len(field):], '"')
	if j < 0 {
		return line
	}
	return line[:i+len(field)] + fmt.Sprintf("<%d characters of base64>", j) + line[i+len(field)+j:]
}

// wrapJSONLine breaks a one-line JSON object after top-level commas so
// that lines stay within width where they can.
func wrapJSONLine(s string, width int) []string {
	var fields []string
	depth, inString, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		case c == ',' && depth == 1:
			fields = append(fields, s[start:i+1])
			start = i + 1
		}
	}
	fields = append(fields, s[start:])
	var lines []string
	cur := ""
	for _, f := range fields {
		if cur != "" && len(cur)+len(f) > width {
			lines = append(lines, cur)
			cur = " "
		}
		cur += f
	}
	return append(lines, cur)
}

// describeSources says which versions came from where, for example
// "v1..v5 (v1-v3 from the archive, v4-v5 from the log)".
func describeSources(versions []uint64, fromArchive []bool) string {
	if len(versions) == 0 {
		return "no events"
	}
	var parts []string
	for i := 0; i < len(versions); {
		j := i
		for j+1 < len(versions) && fromArchive[j+1] == fromArchive[i] {
			j++
		}
		where := "the log"
		if fromArchive[i] {
			where = "the archive"
		}
		r := fmt.Sprintf("v%d", versions[i])
		if j > i {
			r += fmt.Sprintf("-v%d", versions[j])
		}
		parts = append(parts, r+" from "+where)
		i = j + 1
	}
	return fmt.Sprintf("v%d..v%d (%s)", versions[0], versions[len(versions)-1], strings.Join(parts, ", "))
}

// demoClock is a clock the demo moves forward by hand.
type demoClock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *demoClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// gapCounter counts the expired gaps a projection reports.
type gapCounter struct {
	projection.NopObserver
	n atomic.Int64
}

// Gap implements projection.Observer.
func (g *gapCounter) Gap(projection.GapInfo) { g.n.Add(1) }
