package shardlog

import (
	"context"
	"time"
)

// shardRead is one batch read from a shard.
type shardRead struct {
	records      []Record
	next         SequenceNumber // where the following read starts
	end          bool           // the shard is closed and every record was read
	children     []ChildShard   // set when end
	millisBehind int64
	// expiredGap: the read began before the shard's oldest retained
	// record, so records between from and the first one returned may
	// have expired unread.
	expiredGap bool
}

// readShard reads up to limit records (and maxBytes) from shardID at from,
// skipping records past retention. throttled applies the shard's
// provisioned read budget.
func (l *Log) readShard(ctx context.Context, s *stream, shardID string, from SequenceNumber, limit, maxBytes int, throttled bool) (shardRead, error) {
	s.mu.RLock()
	if s.deleted {
		s.mu.RUnlock()
		return shardRead{}, s.notFound()
	}
	sm, err := s.shard(shardID)
	if err != nil {
		s.mu.RUnlock()
		if found, rerr := l.refreshForShard(ctx, s, shardID); rerr != nil || found {
			if rerr != nil {
				return shardRead{}, rerr
			}
			return l.readShard(ctx, s, shardID, from, limit, maxBytes, throttled)
		}
		return shardRead{}, err
	}
	ref, closed := sm.Ref(&s.meta), sm.Closed
	var children []ChildShard
	if closed {
		children = s.children(shardID)
	}
	var th *shardThrottle
	if throttled {
		th = s.throttle(shardID)
	}
	now := l.now()
	horizon := l.horizonOf(s)
	through, known := s.trimmedThrough[shardID]
	s.mu.RUnlock()

	if th != nil && !th.takeRead(now) {
		return shardRead{}, throughputExceeded(s.name, shardID)
	}
	b, err := l.engine.Bounds(ctx, ref)
	if err != nil {
		return shardRead{}, engineError(err, "bounds of %s/%s", s.name, shardID)
	}
	if l.shared != nil {
		// Every Log sharing the engine trims: only the engine knows.
		through, known = b.Trimmed, true
	}
	gap := false
	if b.Count > 0 && b.FirstArrival.Before(horizon) {
		seq, ok, err := l.engine.SeekTime(ctx, ref, horizon)
		if err != nil {
			return shardRead{}, engineError(err, "seek in %s/%s", s.name, shardID)
		}
		if !ok {
			seq = b.Last.Next()
		}
		if from.Compare(seq) < 0 {
			if from.pos > 0 { // not a trim-horizon start
				if gap, err = l.expiredBetween(ctx, ref, from, seq, b.First, through, known); err != nil {
					return shardRead{}, err
				}
			}
			from = seq
		}
	} else if b.Count > 0 && from.pos > 0 && from.Compare(b.First) < 0 {
		// The read starts before the oldest record held: records there
		// were trimmed, or never existed. The log can tell only when a
		// retention hold bounded what its trims removed.
		gap = !(known && from.Compare(through) > 0)
	}
	recs, err := l.engine.Read(ctx, ref, from, limit, maxBytes)
	if err != nil {
		return shardRead{}, engineError(err, "read %s/%s", s.name, shardID)
	}
	out := shardRead{next: from, expiredGap: gap}
	kept := recs[:0]
	size := 0
	for _, r := range recs {
		out.next = r.SequenceNumber.Next()
		if r.ApproximateArrivalTimestamp.Before(horizon) {
			out.expiredGap = true
			continue
		}
		size += r.Size()
		kept = append(kept, r)
	}
	out.records = kept
	if th != nil {
		th.spendRead(size)
	}
	caughtUp := b.Count == 0 || out.next.Compare(b.Last) > 0
	if !caughtUp && len(kept) > 0 {
		out.millisBehind = max(0, now.Sub(kept[len(kept)-1].ApproximateArrivalTimestamp).Milliseconds())
	} else if !caughtUp {
		out.millisBehind = max(0, now.Sub(b.LastArrival).Milliseconds())
	}
	if !closed && caughtUp && b.Sealed && l.shared != nil {
		// Another Log sealed the shard (b is its final state): load the
		// metadata that closed it, to end here with the children.
		if _, err := l.refresh(ctx, s.name); err != nil {
			return shardRead{}, err
		}
		s.mu.RLock()
		if sm, err := s.shard(shardID); err == nil && sm.Closed {
			closed, children = true, s.children(shardID)
		}
		s.mu.RUnlock()
	}
	if closed && caughtUp {
		out.end, out.children = true, children
	}
	return out, nil
}

// IteratorType is where a shard iterator, cursor or subscription starts.
type IteratorType string

// Iterator types.
const (
	// TrimHorizon starts at the oldest record within retention.
	TrimHorizon IteratorType = "TRIM_HORIZON"
	// Latest starts just after the newest record when the iterator is
	// issued: records put later are read.
	Latest IteratorType = "LATEST"
	// AtSequenceNumber starts at the given sequence number.
	AtSequenceNumber IteratorType = "AT_SEQUENCE_NUMBER"
	// AfterSequenceNumber starts just after the given sequence number.
	AfterSequenceNumber IteratorType = "AFTER_SEQUENCE_NUMBER"
	// AtTimestamp starts at the first record that arrived at or after the
	// given time; a time before the trim horizon acts as TrimHorizon.
	AtTimestamp IteratorType = "AT_TIMESTAMP"
)

// StartingPosition says where to start reading a shard.
type StartingPosition struct {
	Type           IteratorType
	SequenceNumber SequenceNumber // AT_ and AFTER_SEQUENCE_NUMBER only
	Timestamp      time.Time      // AT_TIMESTAMP only
}

// resolve turns a starting position into the sequence number to read from.
// Caller passes the stream; resolve takes its lock.
func (l *Log) resolve(ctx context.Context, s *stream, id string, p StartingPosition) (SequenceNumber, error) {
	s.mu.RLock()
	sm, err := s.shard(id)
	if err != nil {
		s.mu.RUnlock()
		if found, rerr := l.refreshForShard(ctx, s, id); rerr != nil || found {
			if rerr != nil {
				return SequenceNumber{}, rerr
			}
			return l.resolve(ctx, s, id, p)
		}
		return SequenceNumber{}, err
	}
	ref := sm.Ref(&s.meta)
	s.mu.RUnlock()

	seqGiven, tsGiven := !p.SequenceNumber.IsZero(), !p.Timestamp.IsZero()
	switch p.Type {
	case TrimHorizon, Latest:
		if seqGiven {
			return SequenceNumber{}, invalid("StartingSequenceNumber", "must not be set for %s", p.Type)
		}
		if tsGiven {
			return SequenceNumber{}, invalid("Timestamp", "must not be set for %s", p.Type)
		}
	case AtSequenceNumber, AfterSequenceNumber:
		if !seqGiven {
			return SequenceNumber{}, invalid("StartingSequenceNumber", "is required for %s", p.Type)
		}
		if tsGiven {
			return SequenceNumber{}, invalid("Timestamp", "must not be set for %s", p.Type)
		}
		if p.SequenceNumber.shard != ref.Index {
			return SequenceNumber{}, invalid("StartingSequenceNumber", "invalid: it encodes %s, while it was used in a call to a shard with %s",
				shardID(p.SequenceNumber.shard), ref.ID)
		}
	case AtTimestamp:
		if !tsGiven {
			return SequenceNumber{}, invalid("Timestamp", "is required for %s", p.Type)
		}
		if seqGiven {
			return SequenceNumber{}, invalid("StartingSequenceNumber", "must not be set for %s", p.Type)
		}
		if p.Timestamp.After(l.now()) {
			return SequenceNumber{}, invalid("Timestamp", "%s is in the future", p.Timestamp.UTC().Format(time.RFC3339Nano))
		}
	default:
		return SequenceNumber{}, invalid("ShardIteratorType", "%q is not one of TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP", string(p.Type))
	}

	switch p.Type {
	case TrimHorizon:
		return MakeSequenceNumber(0, ref.Index), nil
	case AtSequenceNumber:
		return p.SequenceNumber, nil
	case AfterSequenceNumber:
		return p.SequenceNumber.Next(), nil
	}
	if p.Type == AtTimestamp {
		seq, ok, err := l.engine.SeekTime(ctx, ref, p.Timestamp)
		if err != nil {
			return SequenceNumber{}, engineError(err, "seek in %s/%s", s.name, ref.ID)
		}
		if ok {
			return seq, nil
		}
	}
	// LATEST, or AT_TIMESTAMP past the last record: just after the tip.
	b, err := l.engine.Bounds(ctx, ref)
	if err != nil {
		return SequenceNumber{}, engineError(err, "bounds of %s/%s", s.name, ref.ID)
	}
	return MakeSequenceNumber(max(b.Last.pos, ref.Floor)+1, ref.Index), nil
}
