package eventstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/shoal-dev/shoal/shardlog"
)

// ShardReader reads the events of one shard in order, for consumers that
// schedule shards themselves (the projection runner, a lease holder). It
// is not safe for concurrent use.
//
// When the store's archive (WithArchive) is a ShardArchive, the reader is
// tiered: positions the log no longer retains are read from the archive,
// and the reader hands off to the log at the log's oldest retained record,
// per shard, with no gap and no duplicate (see ReadShard).
type ShardReader struct {
	store *Store
	shard string
	cur   *shardlog.Cursor // nil for a shard only the archive holds

	// Tiered reads only (arch != nil).
	arch     ShardArchive
	pos      shardlog.SequenceNumber // the last record handed out; zero: none
	fromTrim bool                    // the next live read is the first from the trim horizon
	live     *liveBatch              // a live batch not yet handed out
	backfill bool                    // archived records before live come first
	filled   bool                    // this backfill found archived records after its start
	children []shardlog.ChildShard   // the End of a shard only the archive holds
}

// liveBatch is a batch read from the log, handed out after the archived
// records before it.
type liveBatch struct {
	shardlog.Batch
}

// ShardBatch is what ShardReader.Next returns.
type ShardBatch struct {
	// Events are in sequence-number order.
	Events []Event
	// MillisBehindLatest is how far the read was behind the shard's newest
	// record.
	MillisBehindLatest int64
	// End is true once the shard is closed and every event was read;
	// ChildShards then lists the shards that replaced it. Read a child
	// only after all of its parents reached their End, so each stream's
	// events stay in version order.
	End         bool
	ChildShards []shardlog.ChildShard
	// ExpiredGap is set when the read began before the shard's oldest
	// retained event: events between the reader's position and the first
	// one returned may have expired unread (shardlog.Batch.ExpiredGap).
	// A tiered reader sets it only when the archive holds nothing after
	// the reader's position either.
	ExpiredGap bool
}

// ReadShard opens a reader on shardID that starts after sequence number
// after, or at the shard's trim horizon (its oldest retained event) when
// after is zero.
//
// With a ShardArchive (WithArchive), it reads the archive first for the
// positions the log no longer retains: the archived records after `after`
// that lie before the log's oldest retained record, then the log's records
// from that one on. If trimming later overtakes the reader (the log
// reports an expired gap), the reader goes back to the archive for the
// records after its position, then on to the log again. The archive is
// taken to be an in-order copy of each shard (as a delivery stream writes
// it): archived records after the position are trusted to reach the log's
// oldest retained one. ExpiredGap is reported only when the log reports
// records expired after the reader's position and the archive holds no
// record after it, unless the archive is also a shardlog.RetentionHolder
// whose ArchivedThrough for the shard reaches the position (the reader is
// at the archive's front, and the archive vouches that nothing in between
// was lost). With the log's retention hold (shardlog.Log.HoldRetention) on
// the archive, nothing is lost, so no gap is reported. A shard
// the log dropped once all its records expired, but the archive holds
// (Store.Shards lists it, closed), is read from the archive alone, and ends
// with the shards, live or archived, whose parent it is as ChildShards.
func (s *Store) ReadShard(ctx context.Context, shardID string, after shardlog.SequenceNumber) (*ShardReader, error) {
	start := shardlog.StartingPosition{Type: shardlog.TrimHorizon}
	if !after.IsZero() {
		start = shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: after}
	}
	arch, _ := s.archive.(ShardArchive)
	r := &ShardReader{store: s, shard: shardID, arch: arch, pos: after, fromTrim: after.IsZero()}
	cur, err := s.log.NewCursor(ctx, shardlog.NewCursorInput{StreamName: s.stream, ShardID: shardID, StartingPosition: start})
	if err != nil && arch != nil && errors.Is(err, shardlog.ErrResourceNotFound) {
		if ok, aerr := r.becomeArchiveOnly(ctx); aerr != nil {
			return nil, fmt.Errorf("eventstore: read shard %s: %w", shardID, aerr)
		} else if ok {
			return r, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: read shard %s: %w", shardID, err)
	}
	r.cur = cur
	return r, nil
}

// becomeArchiveOnly switches r to a shard the log no longer lists, if the
// archive holds it: it reports whether it does.
func (r *ShardReader) becomeArchiveOnly(ctx context.Context) (bool, error) {
	shards, err := r.store.Shards(ctx)
	if err != nil {
		return false, err
	}
	if !slices.ContainsFunc(shards, func(sh shardlog.Shard) bool { return sh.ShardID == r.shard }) {
		return false, nil
	}
	r.cur, r.children = nil, childrenOf(shards, r.shard)
	r.live = &liveBatch{shardlog.Batch{End: true, ChildShards: r.children}}
	r.backfill, r.filled = true, false
	return true, nil
}

// childrenOf returns the shards whose parent or adjacent parent is id.
func childrenOf(shards []shardlog.Shard, id string) []shardlog.ChildShard {
	var out []shardlog.ChildShard
	for _, c := range shards {
		if c.ParentShardID != id && c.AdjacentParentShardID != id {
			continue
		}
		parents := []string{c.ParentShardID}
		if c.AdjacentParentShardID != "" {
			parents = append(parents, c.AdjacentParentShardID)
		}
		out = append(out, shardlog.ChildShard{ShardID: c.ShardID, ParentShards: parents, HashKeyRange: c.HashKeyRange})
	}
	return out
}

// ShardID returns the shard being read.
func (r *ShardReader) ShardID() string { return r.shard }

// Next reads up to limit events (1-10000; zero: 10000) without blocking.
// A record that is not a valid event ends the batch with an error; the
// events before it are returned with the error, and the next call starts
// after them, at the bad record again.
func (r *ShardReader) Next(ctx context.Context, limit int) (ShardBatch, error) {
	if r.arch != nil {
		return r.nextTiered(ctx, limit)
	}
	before := r.cur.Position()
	b, err := r.cur.Next(ctx, limit)
	if err != nil {
		return ShardBatch{}, fmt.Errorf("eventstore: read shard %s: %w", r.shard, err)
	}
	out := ShardBatch{MillisBehindLatest: b.MillisBehindLatest, End: b.End, ChildShards: b.ChildShards, ExpiredGap: b.ExpiredGap, Events: make([]Event, 0, len(b.Records))}
	for _, rec := range b.Records {
		ev, err := r.store.toEvent(rec)
		if err != nil {
			// Reposition at the bad record, so nothing after it is skipped.
			if rerr := r.reopen(ctx, before, out.Events); rerr != nil {
				return ShardBatch{Events: out.Events}, fmt.Errorf("%w (and reopening the shard: %v)", err, rerr)
			}
			return ShardBatch{Events: out.Events, MillisBehindLatest: b.MillisBehindLatest, ExpiredGap: b.ExpiredGap}, err
		}
		out.Events = append(out.Events, ev)
	}
	return out, nil
}

// nextTiered is Next over the archive and the log: a live batch is read
// first; the archived records before its first record (all of them at a
// trim-horizon start, or when the log reports an expired gap) are handed
// out before it.
func (r *ShardReader) nextTiered(ctx context.Context, limit int) (ShardBatch, error) {
	if limit == 0 {
		limit = shardlog.MaxGetRecordsLimit
	}
	if limit < 1 || limit > shardlog.MaxGetRecordsLimit {
		return ShardBatch{}, &shardlog.ArgumentError{Field: "Limit", Reason: fmt.Sprintf("%d is outside 1-%d", limit, shardlog.MaxGetRecordsLimit)}
	}
	if r.live == nil {
		b, err := r.cur.Next(ctx, limit)
		if errors.Is(err, shardlog.ErrResourceNotFound) {
			// Retention dropped the shard under the reader: the archive
			// holds the rest, if anything.
			ok, aerr := r.becomeArchiveOnly(ctx)
			if aerr != nil {
				return ShardBatch{}, fmt.Errorf("eventstore: read shard %s: %w", r.shard, aerr)
			}
			if !ok {
				return ShardBatch{}, fmt.Errorf("eventstore: read shard %s: %w", r.shard, err)
			}
		} else if err != nil {
			return ShardBatch{}, fmt.Errorf("eventstore: read shard %s: %w", r.shard, err)
		} else {
			r.live = &liveBatch{b}
			if r.fromTrim || b.ExpiredGap {
				r.backfill, r.filled = true, false
			}
			r.fromTrim = false
		}
	}
	out := ShardBatch{MillisBehindLatest: r.live.MillisBehindLatest}
	if r.backfill {
		done, err := r.readArchive(ctx, limit, &out)
		if err != nil {
			return out, err
		}
		if !done {
			return out, nil
		}
		r.backfill = false
		if r.live.ExpiredGap && !r.filled {
			covered, err := r.archivedThrough(ctx)
			if err != nil {
				return out, err
			}
			// The archive holds nothing after the position, and has not
			// archived the shard that far: what the log lost is nowhere.
			out.ExpiredGap = !covered
		}
	}
	for len(r.live.Records) > 0 && len(out.Events) < limit {
		rec := r.live.Records[0]
		if rec.SequenceNumber.Compare(r.pos) <= 0 && !r.pos.IsZero() {
			r.live.Records = r.live.Records[1:] // the archive handed it out already
			continue
		}
		ev, err := r.store.toEvent(rec)
		if err != nil {
			return out, err // the bad record stays first: the next call meets it again
		}
		out.Events = append(out.Events, ev)
		r.pos = rec.SequenceNumber
		r.live.Records = r.live.Records[1:]
	}
	if len(r.live.Records) == 0 {
		out.End, out.ChildShards = r.live.End, r.live.ChildShards
		if !out.End || r.cur != nil {
			r.live = nil
		}
	}
	return out, nil
}

// archivedThrough reports whether the archive, as a
// shardlog.RetentionHolder, says it archived the shard through the
// reader's position: it then holds every record the log lost up to the
// log's oldest retained one (it archives in order, and the log's retention
// hold trims nothing it has not archived). An archive that is not a
// RetentionHolder vouches for nothing.
func (r *ShardReader) archivedThrough(ctx context.Context) (bool, error) {
	h, ok := r.arch.(shardlog.RetentionHolder)
	if !ok || r.pos.IsZero() {
		return false, nil
	}
	t, err := h.ArchivedThrough(ctx, r.store.stream, r.shard)
	if err != nil {
		return false, fmt.Errorf("eventstore: read archived shard %s: %w", r.shard, err)
	}
	return !t.IsZero() && t.Compare(r.pos) >= 0, nil
}

// readArchive appends to out the archived records after r.pos that lie
// before the live batch's first record, up to limit events. It reports
// whether the archive has no more of them.
func (r *ShardReader) readArchive(ctx context.Context, limit int, out *ShardBatch) (bool, error) {
	var bound shardlog.SequenceNumber // zero: no bound
	if len(r.live.Records) > 0 {
		bound = r.live.Records[0].SequenceNumber
	}
	done := true
	for rec, err := range r.arch.ReadShard(ctx, ArchiveShardInput{StreamName: r.store.stream, ShardID: r.shard, After: r.pos}) {
		if err != nil {
			return false, fmt.Errorf("eventstore: read archived shard %s: %w", r.shard, err)
		}
		if !r.pos.IsZero() && rec.SequenceNumber.Compare(r.pos) <= 0 {
			continue
		}
		r.filled = true
		if !bound.IsZero() && rec.SequenceNumber.Compare(bound) >= 0 {
			break // the log holds the rest
		}
		if len(out.Events) == limit {
			done = false
			break
		}
		ev, err := r.store.toEvent(rec)
		if err != nil {
			return false, err // r.pos stays before it: the next call meets it again
		}
		out.Events = append(out.Events, ev)
		r.pos = rec.SequenceNumber
	}
	return done, nil
}

// reopen moves the cursor back to just after the last good event (or to
// where the failed read began).
func (r *ShardReader) reopen(ctx context.Context, before shardlog.SequenceNumber, good []Event) error {
	start := shardlog.StartingPosition{Type: shardlog.AtSequenceNumber, SequenceNumber: before}
	if before.Position() == 0 {
		start = shardlog.StartingPosition{Type: shardlog.TrimHorizon}
	}
	if n := len(good); n > 0 {
		start = shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: good[n-1].Position.SequenceNumber}
	}
	cur, err := r.store.log.NewCursor(ctx, shardlog.NewCursorInput{StreamName: r.store.stream, ShardID: r.shard, StartingPosition: start})
	if err != nil {
		return err
	}
	r.cur = cur
	return nil
}

// Wait blocks until the shard may have new events, it is closed, or ctx is
// done. It wakes on append, without polling.
func (r *ShardReader) Wait(ctx context.Context) error {
	if r.cur == nil || r.live != nil {
		return ctx.Err() // an archived shard, or events ready: nothing to wait for
	}
	if err := r.cur.Wait(ctx); err != nil {
		return fmt.Errorf("eventstore: wait on shard %s: %w", r.shard, err)
	}
	return nil
}
