package eventstore

import (
	"context"
	"fmt"

	"github.com/shoal-dev/shoal/shardlog"
)

// ShardReader reads the events of one shard in order, for consumers that
// schedule shards themselves (the projection runner, a lease holder). It
// is not safe for concurrent use.
type ShardReader struct {
	store *Store
	shard string
	cur   *shardlog.Cursor
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
	ExpiredGap bool
}

// ReadShard opens a reader on shardID that starts after sequence number
// after, or at the shard's trim horizon (its oldest retained event) when
// after is zero.
func (s *Store) ReadShard(ctx context.Context, shardID string, after shardlog.SequenceNumber) (*ShardReader, error) {
	start := shardlog.StartingPosition{Type: shardlog.TrimHorizon}
	if !after.IsZero() {
		start = shardlog.StartingPosition{Type: shardlog.AfterSequenceNumber, SequenceNumber: after}
	}
	cur, err := s.log.NewCursor(ctx, shardlog.NewCursorInput{StreamName: s.stream, ShardID: shardID, StartingPosition: start})
	if err != nil {
		return nil, fmt.Errorf("eventstore: read shard %s: %w", shardID, err)
	}
	return &ShardReader{store: s, shard: shardID, cur: cur}, nil
}

// ShardID returns the shard being read.
func (r *ShardReader) ShardID() string { return r.shard }

// Next reads up to limit events (1-10000; zero: 10000) without blocking.
// A record that is not a valid event ends the batch with an error; the
// events before it are returned with the error, and the next call starts
// after them, at the bad record again.
func (r *ShardReader) Next(ctx context.Context, limit int) (ShardBatch, error) {
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
	if err := r.cur.Wait(ctx); err != nil {
		return fmt.Errorf("eventstore: wait on shard %s: %w", r.shard, err)
	}
	return nil
}
