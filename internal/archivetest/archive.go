// Package archivetest is an in-memory archive for tests of tiered reads:
// an eventstore.ShardArchive that copies a shardlog stream's records the
// way a delivery stream does (each shard in order, with its lineage), and
// a shardlog.RetentionHolder that tells the log how far it got.
package archivetest

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// Archive holds copies of records, per stream and shard. It is safe for
// concurrent use.
type Archive struct {
	mu      sync.Mutex
	streams map[string]map[string]*shard // stream -> shard ID -> shard
}

// shard is one archived shard.
type shard struct {
	desc    shardlog.Shard
	records []shardlog.Record // in sequence-number order
}

var (
	_ eventstore.ShardArchive  = (*Archive)(nil)
	_ shardlog.RetentionHolder = (*Archive)(nil)
)

// New returns an empty archive.
func New() *Archive { return &Archive{streams: map[string]map[string]*shard{}} }

// CatchUp copies every record of stream that the log holds and the archive
// does not yet, shard by shard, each in order from after the last record
// archived (from the trim horizon for a shard not archived yet), and
// records each shard's lineage and, once closed, its end.
func (a *Archive) CatchUp(ctx context.Context, log *shardlog.Log, stream string) error {
	d, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: stream})
	if err != nil {
		return err
	}
	for _, sh := range d.Shards {
		through, err := a.ArchivedThrough(ctx, stream, sh.ShardID)
		if err != nil {
			return err
		}
		start := shardlog.StartingPosition{Type: shardlog.TrimHorizon}
		if !through.IsZero() {
			start = shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: through}
		}
		cur, err := log.NewCursor(ctx, shardlog.NewCursorInput{StreamName: stream, ShardID: sh.ShardID, StartingPosition: start})
		if err != nil {
			return err
		}
		for {
			b, err := cur.Next(ctx, 0)
			if err != nil {
				return err
			}
			if b.ExpiredGap {
				return fmt.Errorf("archivetest: %s/%s: records expired before they were archived", stream, sh.ShardID)
			}
			a.add(stream, sh, b.Records)
			if b.End || len(b.Records) == 0 {
				break
			}
		}
	}
	return nil
}

// add appends records (in order, after those held) to the shard's copy.
func (a *Archive) add(stream string, desc shardlog.Shard, recs []shardlog.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	shards := a.streams[stream]
	if shards == nil {
		shards = map[string]*shard{}
		a.streams[stream] = shards
	}
	sh := shards[desc.ShardID]
	if sh == nil {
		sh = &shard{}
		shards[desc.ShardID] = sh
	}
	sh.desc = desc
	for _, r := range recs {
		if n := len(sh.records); n > 0 && r.SequenceNumber.Compare(sh.records[n-1].SequenceNumber) <= 0 {
			continue // archived already
		}
		r.Data = slices.Clone(r.Data)
		sh.records = append(sh.records, r)
	}
}

// ArchivedThrough returns the sequence number of the shard's last archived
// record (zero: none): the archive holds every record of the shard up to
// it.
func (a *Archive) ArchivedThrough(_ context.Context, stream, shardID string) (shardlog.SequenceNumber, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sh := a.streams[stream][shardID]
	if sh == nil || len(sh.records) == 0 {
		return shardlog.SequenceNumber{}, nil
	}
	return sh.records[len(sh.records)-1].SequenceNumber, nil
}

// ArchivedShards lists the archived shards of stream, by shard ID, with
// the lineage and end the log described when they were last copied.
func (a *Archive) ArchivedShards(_ context.Context, stream string) ([]shardlog.Shard, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []shardlog.Shard
	for _, sh := range a.streams[stream] {
		out = append(out, sh.desc)
	}
	slices.SortFunc(out, func(x, y shardlog.Shard) int { return strings.Compare(x.ShardID, y.ShardID) })
	return out, nil
}

// ReadShard yields the shard's archived records after in.After, in order.
func (a *Archive) ReadShard(_ context.Context, in eventstore.ArchiveShardInput) iter.Seq2[shardlog.Record, error] {
	a.mu.Lock()
	var recs []shardlog.Record
	if sh := a.streams[in.StreamName][in.ShardID]; sh != nil {
		i, _ := slices.BinarySearchFunc(sh.records, in.After, func(r shardlog.Record, s shardlog.SequenceNumber) int {
			return r.SequenceNumber.Compare(s)
		})
		for i < len(sh.records) && !in.After.IsZero() && sh.records[i].SequenceNumber.Compare(in.After) <= 0 {
			i++
		}
		recs = sh.records[i:len(sh.records):len(sh.records)]
	}
	a.mu.Unlock()
	return yieldAll(recs)
}

// ReadKey yields the archived records of in.PartitionKey after in.After:
// the lineage's oldest shard first (a parent before its children), each
// shard in order.
func (a *Archive) ReadKey(_ context.Context, in shardlog.ReadKeyInput) iter.Seq2[shardlog.Record, error] {
	a.mu.Lock()
	shards := a.streams[in.StreamName]
	depth := map[string]int{}
	var depthOf func(id string) int
	depthOf = func(id string) int {
		if d, ok := depth[id]; ok {
			return d
		}
		depth[id] = 0
		d := 0
		if sh := shards[id]; sh != nil {
			for _, p := range []string{sh.desc.ParentShardID, sh.desc.AdjacentParentShardID} {
				if p != "" {
					d = max(d, depthOf(p)+1)
				}
			}
		}
		depth[id] = d
		return d
	}
	ids := make([]string, 0, len(shards))
	for id := range shards {
		depthOf(id)
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y string) int {
		if depth[x] != depth[y] {
			return depth[x] - depth[y]
		}
		return strings.Compare(x, y)
	})
	var recs []shardlog.Record
	for _, id := range ids {
		for _, r := range shards[id].records {
			if r.PartitionKey == in.PartitionKey && (in.After.IsZero() || r.SequenceNumber.Compare(in.After) > 0) {
				recs = append(recs, r)
			}
		}
	}
	a.mu.Unlock()
	return yieldAll(recs)
}

// yieldAll yields recs without an error.
func yieldAll(recs []shardlog.Record) iter.Seq2[shardlog.Record, error] {
	return func(yield func(shardlog.Record, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}
