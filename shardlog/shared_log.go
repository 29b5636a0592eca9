package shardlog

import (
	"context"
	"errors"
	"time"
)

// This file is the Log's side of a SharedEngine: other Logs change the
// metadata too, so the Log's copy is a cache that the engine's change feed
// keeps fresh, and every operation whose correctness depends on the latest
// metadata (rerouting after a seal, following a key past a reshard) asks
// the engine rather than the cache.

// sharedResync is how often a Log on a shared engine reloads every stream's
// metadata, in case the change feed missed something it could not report.
const sharedResync = 30 * time.Second

// errStreamGone is returned by an update function when the stored stream
// is not the one the Log updates (deleted, or deleted and created again).
var errStreamGone = errors.New("shardlog: stream deleted by another log")

// watchShared installs the metadata other Logs store, as the engine's
// change feed reports it, until ctx ends or the feed closes.
func (l *Log) watchShared(ctx context.Context) {
	changes := l.shared.Changes()
	tick := time.NewTicker(sharedResync)
	defer tick.Stop()
	for {
		var name string
		select {
		case <-ctx.Done():
			return
		case n, ok := <-changes:
			if !ok {
				return
			}
			name = n
		case name = <-l.refreshReq:
		case <-tick.C:
			name = ""
		}
		var err error
		if name == "" {
			err = l.resyncShared(ctx)
		} else {
			_, err = l.refresh(ctx, name)
		}
		if err != nil && ctx.Err() == nil {
			l.logger.Warn("shardlog: reload of shared metadata failed", "stream", name, "err", err)
		}
	}
}

// resyncShared reloads every stream's metadata and forgets streams the
// engine no longer has.
func (l *Log) resyncShared(ctx context.Context) error {
	l.refreshMu.Lock()
	metas, err := l.shared.LoadStreams(ctx)
	if err != nil {
		l.refreshMu.Unlock()
		return engineError(err, "load streams")
	}
	seen := make(map[string]bool, len(metas))
	for _, m := range metas {
		seen[m.Name] = true
		l.install(m.Name, m, true)
	}
	l.refreshMu.Unlock()
	l.mu.RLock()
	var gone []string
	for name := range l.streams {
		if !seen[name] {
			gone = append(gone, name)
		}
	}
	l.mu.RUnlock()
	for _, name := range gone {
		// Absent from the snapshot, but maybe created since: ask again.
		if _, err := l.refresh(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// refresh loads one stream's metadata from the shared engine and installs
// it. It returns the stream as now cached, or nil if there is none.
// Refreshes are serialized (refreshMu), so what one installs is never
// older than what an earlier one loaded.
func (l *Log) refresh(ctx context.Context, name string) (*stream, error) {
	l.refreshMu.Lock()
	defer l.refreshMu.Unlock()
	m, ok, err := l.shared.LoadStream(ctx, name)
	if err != nil {
		return nil, engineError(err, "load stream %s", name)
	}
	return l.install(name, m, ok), nil
}

// install makes m (or, if !ok, no stream) the cached metadata of name,
// unless the cache already holds a newer revision of the same stream. A
// cached stream of another incarnation is forgotten: its subscriptions end
// and its writes fail as not found. It returns the stream now cached.
// Caller holds l.refreshMu.
func (l *Log) install(name string, m StreamMeta, ok bool) *stream {
	l.mu.RLock()
	closed, old := l.closed, l.streams[name]
	l.mu.RUnlock()
	if closed {
		return nil
	}
	if old != nil && ok {
		old.mu.Lock()
		same, deleted := old.meta.ID == m.ID, old.deleted
		if same && !deleted && m.Revision > old.meta.Revision {
			old.setMeta(m)
		}
		old.mu.Unlock()
		switch {
		case same && !deleted:
			return old
		case same:
			return nil // this Log is deleting that incarnation
		}
	}
	var s *stream
	l.mu.Lock()
	switch {
	case l.closed:
	case ok:
		s = newStream(m, l.account)
		l.streams[name] = s
	case l.streams[name] == old:
		delete(l.streams, name)
	}
	l.mu.Unlock()
	if old != nil {
		old.forget()
	}
	return s
}

// isDeleted reports whether the stream was deleted (or is being deleted).
func (s *stream) isDeleted() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.deleted
}

// forget marks a stream another Log deleted: writes answer not found and
// subscriptions end.
func (s *stream) forget() {
	s.mu.Lock()
	s.deleted = true
	s.mu.Unlock()
	s.endSubscriptions(s.notFound())
}

// reload refreshes s from the shared engine after an append found its
// shard sealed or its stream gone, and returns the stream to retry with.
// It waits a little, growing with attempt, when the engine had nothing
// newer: the metadata that closed the shard is not visible yet.
func (l *Log) reload(ctx context.Context, s *stream, attempt int) (*stream, error) {
	s.mu.RLock()
	rev := s.meta.Revision
	s.mu.RUnlock()
	ns, err := l.refresh(ctx, s.name)
	if err != nil {
		return nil, err
	}
	if ns == nil {
		return nil, s.notFound()
	}
	if ns == s {
		s.mu.RLock()
		same := s.meta.Revision == rev
		s.mu.RUnlock()
		if same {
			wait := time.Duration(min(attempt+1, 20)) * 5 * time.Millisecond
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	return ns, nil
}

// retryable reports whether an append error means the Log's metadata is
// stale: the shard was sealed, or (on a shared engine) the stream's
// incarnation is gone.
func (l *Log) retryable(err error) bool {
	return errors.Is(err, ErrShardSealed) || l.shared != nil && errors.Is(err, ErrResourceNotFound)
}

// afterStale is what an append loop does on a retryable error: on a
// shared engine it reloads the stream's metadata; on a single-owner engine
// the Log's own metadata is already current.
func (l *Log) afterStale(ctx context.Context, s *stream, attempt int) (*stream, error) {
	if l.shared == nil {
		return s, nil
	}
	return l.reload(ctx, s, attempt)
}

// updateShared is updateTxLocked on a shared engine: fn runs on the stored
// metadata inside the engine's serialized update, and its seals take
// effect with the save. Caller holds s.mu for writing.
func (l *Log) updateShared(ctx context.Context, s *stream, fn func(m *StreamMeta, seal sealFunc) error) error {
	id := s.meta.ID
	var fnErr error
	stored, err := l.shared.UpdateStream(ctx, s.name, func(tx MetaTx, cur *StreamMeta) (*StreamMeta, error) {
		fnErr = nil
		if cur == nil || cur.ID != id {
			fnErr = errStreamGone
			return nil, fnErr
		}
		m := cloneMeta(*cur)
		if err := fn(&m, tx.Seal); err != nil {
			fnErr = err
			return nil, err
		}
		m.Revision = cur.Revision + 1
		return &m, nil
	})
	switch {
	case err == nil:
		if stored.Revision > s.meta.Revision {
			s.setMeta(stored)
		}
		return nil
	case fnErr == errStreamGone && errors.Is(err, errStreamGone):
		s.deleted = true
		go l.refreshQuietly(s.name) // install the new incarnation, if any
		return s.notFound()
	case fnErr != nil && errors.Is(err, fnErr):
		return fnErr
	default:
		return engineError(err, "update stream %s", s.name)
	}
}

// refreshQuietly asks the watcher to refresh a stream in the background,
// so that nothing refreshes after Close. If its queue is full the request
// is dropped: the change feed or the periodic resync will do it.
func (l *Log) refreshQuietly(name string) {
	select {
	case l.refreshReq <- name:
	default:
	}
}

// lookupShared finds a stream the cache does not have: another Log may
// have created it. Caller holds no lock.
func (l *Log) lookupShared(ctx context.Context, name string) (*stream, error) {
	s, err := l.refresh(ctx, name)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, streamNotFound(name, l.account)
	}
	return s, nil
}

// createShared stores a new stream's metadata in a shared engine, unless
// another Log created the name first. Caller holds l.quotaMu.
func (l *Log) createShared(ctx context.Context, m StreamMeta) error {
	l.mu.RLock()
	closed, cached := l.closed, l.streams[m.Name]
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if cached != nil && cached.isDeleted() {
		// This Log is still deleting the name (DELETING).
		return inUse("stream %s under account %s already exists", m.Name, l.account)
	}
	m.Revision = 1
	exists := false
	stored, err := l.shared.UpdateStream(ctx, m.Name, func(_ MetaTx, cur *StreamMeta) (*StreamMeta, error) {
		exists = cur != nil
		if exists {
			return nil, errStreamExists
		}
		return &m, nil
	})
	if exists && errors.Is(err, errStreamExists) {
		go l.refreshQuietly(m.Name)
		return inUse("stream %s under account %s already exists", m.Name, l.account)
	}
	if err != nil {
		return engineError(err, "save stream %s", m.Name)
	}
	l.refreshMu.Lock()
	l.install(m.Name, stored, true)
	l.refreshMu.Unlock()
	return nil
}

// errStreamExists is returned by createShared's update function when the
// name is taken.
var errStreamExists = errors.New("shardlog: stream exists")

// refreshForShard reloads s from a shared engine when its cached metadata
// lacks shard id (another Log may have just created it, and named it to
// the client), and reports whether s has the shard now. On a single-owner
// engine it reports false: the Log's metadata is the truth.
func (l *Log) refreshForShard(ctx context.Context, s *stream, id string) (bool, error) {
	if l.shared == nil {
		return false, nil
	}
	if _, err := l.refresh(ctx, s.name); err != nil {
		return false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, err := s.shard(id)
	return err == nil, nil
}
