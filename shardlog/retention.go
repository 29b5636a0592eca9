package shardlog

import (
	"context"
	"errors"
	"time"
)

// janitor enforces retention every interval until ctx is done.
func (l *Log) janitor(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.EnforceRetention(ctx); err != nil && ctx.Err() == nil {
				l.logger.Warn("shardlog: enforce retention", "err", err)
			}
		}
	}
}

// EnforceRetention reclaims the space of records past retention now: it asks
// the engine to trim every shard, and drops closed shards whose records have
// all expired (they leave the listings). Reads never return expired records
// whether or not this has run; the Log runs it in the background every
// WithRetentionInterval.
//
// For a stream under a retention hold (HoldRetention) it first asks the
// holders how far each shard is archived and moves the hold forward:
// records not archived yet are kept, and a closed shard is dropped only
// once archived through its last record. While the hold keeps records past
// retention it logs a warning, once per call and stream. A holder's error
// keeps the stream's previous hold (nothing more of it is trimmed or
// dropped); the other streams are still enforced and the errors are
// returned together.
func (l *Log) EnforceRetention(ctx context.Context) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	streams := make([]*stream, 0, len(l.streams))
	for _, s := range l.streams {
		streams = append(streams, s)
	}
	l.mu.RUnlock()
	var errs []error
	for _, s := range streams {
		if l.shared != nil {
			// Another Log may have raised the retention period since this
			// Log's copy was loaded: trim by the stored period.
			ns, err := l.refresh(ctx, s.name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if ns == nil {
				continue // deleted
			}
			s = ns
		}
		hold, herr := l.refreshHold(ctx, s)
		if herr != nil {
			errs = append(errs, herr)
		}
		if err := l.enforceStream(ctx, s, hold, herr == nil); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	return errors.Join(errs...)
}

// refreshHold recomputes the stream's retention hold, if it has holders,
// and warns when it keeps records past retention.
func (l *Log) refreshHold(ctx context.Context, s *stream) (holdResult, error) {
	rh := l.hold(s.name)
	if rh == nil {
		return holdResult{}, nil
	}
	res, err := l.computeHold(ctx, s, rh)
	if err != nil {
		return res, err // the janitor logs it
	}
	if st, err := l.RetentionHold(s.name); err == nil && st.Held {
		l.logger.Warn("shardlog: records kept past retention until archived",
			"stream", s.name, "shard", st.Shard, "oldest", st.Oldest, "behind", st.Behind)
	}
	return res, nil
}

// enforceStream trims the stream's shards at its effective horizon and
// drops its expired closed shards. hold is this pass's retention hold;
// holdOK is false when computing it failed, and then no shard is dropped.
func (l *Log) enforceStream(ctx context.Context, s *stream, hold holdResult, holdOK bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return nil
	}
	horizon := l.horizonOf(s)
	held := hold.held || l.hold(s.name) != nil
	var expired []ShardRef
	for i := range s.meta.Shards {
		sm := &s.meta.Shards[i]
		ref := sm.Ref(&s.meta)
		var first SequenceNumber
		if held {
			b, err := l.engine.Bounds(ctx, ref)
			if err != nil {
				return engineError(err, "bounds of %s/%s", s.name, sm.ID)
			}
			first = b.First
		}
		if err := l.engine.Trim(ctx, ref, horizon); err != nil {
			delete(s.trimmedThrough, sm.ID)
			return engineError(err, "trim %s/%s", s.name, sm.ID)
		}
		if l.shared != nil {
			// Other Logs trim too: what this trim removed bounds nothing.
			delete(s.trimmedThrough, sm.ID)
		} else {
			s.noteTrim(sm.ID, horizon, hold, holdOK, first)
		}
		if !sm.Closed || !sm.ClosedAt.Before(horizon) || !holdOK {
			continue
		}
		b, err := l.engine.Bounds(ctx, ref)
		if err != nil {
			return engineError(err, "bounds of %s/%s", s.name, sm.ID)
		}
		if b.Count > 0 && held {
			// Under a hold, a shard goes only once archived through its
			// last record (by every holder this pass asked).
			through, ok := hold.archived[sm.ID]
			if !ok || through.Compare(b.Last) < 0 {
				continue
			}
		}
		if b.Count == 0 || b.LastArrival.Before(horizon) {
			expired = append(expired, ref)
		}
	}
	if len(expired) == 0 {
		return nil
	}
	var removed []ShardRef // the expired shards the update removed
	err := l.updateLocked(ctx, s, func(m *StreamMeta) error {
		// On a shared engine m may be newer than what expired was judged
		// on (a retention raised meanwhile): a shard goes only if it is
		// expired by m too.
		h := l.heldHorizon(s.name, m.ID, l.horizon(m))
		removed = removed[:0]
		keep := m.Shards[:0]
		for _, sm := range m.Shards {
			var gone *ShardRef
			for i, e := range expired {
				if e.ID == sm.ID && sm.Closed && sm.ClosedAt.Before(h) {
					gone = &expired[i]
				}
			}
			if gone == nil {
				keep = append(keep, sm)
			} else {
				removed = append(removed, *gone)
			}
		}
		m.Shards = keep
		return nil
	})
	if err != nil {
		return err
	}
	for _, ref := range removed {
		delete(s.trimmedThrough, ref.ID)
		if err := l.engine.DropShard(ctx, ref); err != nil {
			return engineError(err, "drop expired %s/%s", s.name, ref.ID)
		}
		l.logger.Info("shardlog: shard expired", "stream", s.name, "shard", ref.ID)
	}
	return nil
}
