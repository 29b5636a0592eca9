package shardlog

import (
	"context"
	"iter"
	"time"
)

// Cursor reads one shard in order: the idiomatic Go counterpart of shard
// iterators. It never expires, is not throttled, and can wait for records
// instead of polling. A Cursor is not safe for concurrent use.
type Cursor struct {
	log      *Log
	s        *stream
	shardID  string
	from     SequenceNumber
	end      bool
	children []ChildShard
}

// Batch is what Cursor.Next returns.
type Batch struct {
	Records            []Record
	MillisBehindLatest int64
	// End is true when the shard is closed and all its records were read;
	// ChildShards then lists the shards to read next.
	End         bool
	ChildShards []ChildShard
	// ExpiredGap is set when the read began before the shard's oldest
	// retained record, past an expired one: records between the cursor's
	// position and the first record returned may have expired unread.
	// Reads from the trim horizon never set it. It is exact while the
	// engine still holds the expired records, and after a trim under a
	// retention hold (Log.HoldRetention) for positions after what the
	// trim removed; otherwise it is set whenever the read begins before
	// the oldest record held.
	ExpiredGap bool
}

// NewCursorInput is the input of NewCursor.
type NewCursorInput struct {
	StreamName       string
	ShardID          string
	StartingPosition StartingPosition
}

// NewCursor opens a cursor on a shard at a starting position.
func (l *Log) NewCursor(ctx context.Context, in NewCursorInput) (*Cursor, error) {
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return nil, err
	}
	from, err := l.resolve(ctx, s, in.ShardID, in.StartingPosition)
	if err != nil {
		return nil, err
	}
	return &Cursor{log: l, s: s, shardID: in.ShardID, from: from}, nil
}

// Position returns the sequence number the next read starts at.
func (c *Cursor) Position() SequenceNumber { return c.from }

// Next reads up to limit records (1-MaxGetRecordsLimit; zero means the
// maximum) without blocking.
func (c *Cursor) Next(ctx context.Context, limit int) (Batch, error) {
	if limit == 0 {
		limit = MaxGetRecordsLimit
	}
	if limit < 1 || limit > MaxGetRecordsLimit {
		return Batch{}, invalid("Limit", "%d is outside 1-%d", limit, MaxGetRecordsLimit)
	}
	if c.end {
		return Batch{End: true, ChildShards: c.children}, nil
	}
	r, err := c.log.readShard(ctx, c.s, c.shardID, c.from, limit, MaxGetRecordsBytes, false)
	if err != nil {
		return Batch{}, err
	}
	c.from = r.next
	c.end, c.children = r.end, r.children
	return Batch{Records: r.records, MillisBehindLatest: r.millisBehind, End: r.end, ChildShards: r.children, ExpiredGap: r.expiredGap}, nil
}

// Wait blocks until the shard may have records at the cursor's position,
// the shard is closed, or ctx is done. It wakes on append, without polling.
func (c *Cursor) Wait(ctx context.Context) error {
	return c.log.waitShard(ctx, c.s, c.shardID, c.from)
}

// Records yields the shard's records from the cursor's position, waiting
// for new ones as they are appended, until the end of a closed shard, an
// error, or ctx is done (which ends the sequence without an error).
func (c *Cursor) Records(ctx context.Context) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			b, err := c.Next(ctx, 0)
			if err != nil {
				if ctx.Err() == nil {
					yield(Record{}, err)
				}
				return
			}
			for _, r := range b.Records {
				if !yield(r, nil) {
					return
				}
			}
			if b.End {
				return
			}
			if len(b.Records) == 0 {
				if err := c.Wait(ctx); err != nil {
					if ctx.Err() == nil {
						yield(Record{}, err)
					}
					return
				}
			}
		}
	}
}

// waitShard blocks until shardID has a record at or after from, is closed,
// or ctx is done.
func (l *Log) waitShard(ctx context.Context, s *stream, shardID string, from SequenceNumber) error {
	for {
		s.mu.RLock()
		sm, err := s.shard(shardID)
		if err != nil {
			s.mu.RUnlock()
			return err
		}
		ref, closed := sm.Ref(&s.meta), sm.Closed
		s.mu.RUnlock()
		ch := l.engine.Notify(ref) // take the channel before looking
		if closed {
			return nil
		}
		b, err := l.engine.Bounds(ctx, ref)
		if err != nil {
			return engineError(err, "bounds of %s/%s", s.name, shardID)
		}
		if b.Count > 0 && b.Last.Compare(from) >= 0 {
			return nil
		}
		if b.Sealed {
			// A reshard is closing the shard: it holds the stream lock until
			// the metadata says so, which the next turn of the loop waits for.
			// On a shared engine the reshard may be another Log's: load
			// the metadata that closed it.
			if l.shared != nil {
				if _, err := l.refresh(ctx, s.name); err != nil {
					return err
				}
			}
			ch = closedAfter(10 * time.Millisecond)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func closedAfter(d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	time.AfterFunc(d, func() { close(ch) })
	return ch
}
