package shardlog

import (
	"context"
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
	for _, s := range streams {
		if err := l.enforceStream(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) enforceStream(ctx context.Context, s *stream) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return nil
	}
	horizon := l.horizon(&s.meta)
	var expired []ShardRef
	for i := range s.meta.Shards {
		sm := &s.meta.Shards[i]
		ref := sm.Ref(s.name)
		if err := l.engine.Trim(ctx, ref, horizon); err != nil {
			return engineError(err, "trim %s/%s", s.name, sm.ID)
		}
		if !sm.Closed || !sm.ClosedAt.Before(horizon) {
			continue
		}
		b, err := l.engine.Bounds(ctx, ref)
		if err != nil {
			return engineError(err, "bounds of %s/%s", s.name, sm.ID)
		}
		if b.Count == 0 || b.LastArrival.Before(horizon) {
			expired = append(expired, ref)
		}
	}
	if len(expired) == 0 {
		return nil
	}
	err := l.updateLocked(ctx, s, func(m *StreamMeta) error {
		keep := m.Shards[:0]
		for _, sm := range m.Shards {
			gone := false
			for _, e := range expired {
				gone = gone || e.ID == sm.ID
			}
			if !gone {
				keep = append(keep, sm)
			}
		}
		m.Shards = keep
		return nil
	})
	if err != nil {
		return err
	}
	for _, ref := range expired {
		if err := l.engine.DropShard(ctx, ref); err != nil {
			return engineError(err, "drop expired %s/%s", s.name, ref.ID)
		}
		l.logger.Info("shardlog: shard expired", "stream", s.name, "shard", ref.ID)
	}
	return nil
}
