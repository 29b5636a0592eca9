package file

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// The cache of open shards. A shard holds one file descriptor per segment
// while it is open. The engine keeps the open shards in LRU order and, when
// their segment files pass the limit (WithMaxOpenFiles), closes the least
// recently used idle ones: an idle shard is one no call is using (users is
// zero), so nothing is appending to it, syncing it or reading it. Closing
// drains it: its last writes are synced first (SyncInterval, SyncNever).
// The next call that needs it opens it again, which runs the same recovery
// as a restart. What must outlive a closed shard is kept in idleShard: the
// channel Notify handed out, the seal, and whether its tail must be synced
// before anything in it is shown again.
//
// A shard whose write failed (not its fdatasync) is closed when its last
// user leaves, and so reopened by the next call: see failLocked.

// ErrResourceExhausted is wrapped by the error of a call that could not
// open a shard's files because the process or the system is out of file
// descriptors (EMFILE, ENFILE) or memory (ENOMEM). It is transient: nothing
// was written, and the next call tries again.
var ErrResourceExhausted = errors.New("shardlog/file: out of file descriptors or memory")

// idleShard is what the engine keeps of a shard that is not open.
type idleShard struct {
	notify chan struct{} // handed out by Notify; nil when nobody waits
	sealed bool          // sealed while it was open
	resync bool          // closed after a failed write: sync its tail when it opens
	// known: the shard was closed healthy, and bounds and trimFrom describe
	// it (nothing changes a shard while it is closed), so Bounds and a Trim
	// with nothing to delete answer without opening it: the retention pass
	// visits every shard each minute.
	known    bool
	bounds   shardlog.ShardBounds
	trimFrom int64 // a Trim before a later time has a segment to delete
}

// shard returns the open shard of ref, opening (and, on first write,
// creating) it on first use. The caller must release it.
func (e *Engine) shard(ref shardlog.ShardRef) (*shard, error) {
	return e.acquire(ref, true)
}

// existing is shard for reads: a shard with no directory yet has no
// records, and reading it creates nothing (nil, nil).
func (e *Engine) existing(ref shardlog.ShardRef) (*shard, error) {
	return e.acquire(ref, false)
}

// acquire returns the open shard of ref with a use taken, opening it when
// it is not open. A shard that cannot be opened for lack of descriptors
// makes room by closing idle shards and is tried once more.
func (e *Engine) acquire(ref shardlog.ShardRef, create bool) (*shard, error) {
	k := shardKey{ref.Stream, ref.ID}
	e.mu.Lock()
	defer e.mu.Unlock()
	retried := false
	for {
		if e.closed {
			return nil, fmt.Errorf("shardlog/file: %w", shardlog.ErrClosed)
		}
		if s := e.shards[k]; s != nil {
			s.users++
			e.lru.MoveToFront(s.elem)
			return s, nil
		}
		if ch := e.gateLocked(k); ch != nil {
			e.mu.Unlock()
			<-ch
			e.mu.Lock()
			continue
		}
		if err := e.broken[k]; err != nil {
			return nil, err
		}
		// Open with mu released (recovery reads the active segment); calls
		// that need the same shard wait for it.
		dir := e.shardDir(ref.Stream, ref.ID)
		st := e.idle[k]
		resync := st != nil && st.resync
		done := make(chan struct{})
		e.busy[k] = done
		e.mu.Unlock()
		s, err := e.open(ref, dir, create, resync)
		e.mu.Lock()
		delete(e.busy, k)
		close(done)
		if err != nil {
			if resourceExhausted(err) && !retried {
				retried = true
				if victims := e.evictLocked(e.openFiles.Load() / 2); len(victims) > 0 {
					e.closeLocked(victims)
					continue
				}
			}
			return nil, e.openFailedLocked(k, dir, err)
		}
		if s == nil {
			return nil, nil
		}
		if e.closed {
			s.close(false)
			continue
		}
		if st = e.idle[k]; st != nil {
			if st.notify != nil {
				s.notify, s.watched = st.notify, true
			}
			s.sealed = st.sealed
			delete(e.idle, k)
		}
		s.users = 1
		s.elem = e.lru.PushFront(s)
		e.shards[k] = s
		e.closeLocked(e.evictLocked(e.maxOpen))
		return s, nil
	}
}

// open opens a shard; without create, a shard with no directory is nil.
func (e *Engine) open(ref shardlog.ShardRef, dir string, create, resync bool) (*shard, error) {
	if !create {
		if _, err := e.fs.ReadDir(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	return openShard(e, ref, dir, resync)
}

// openFailedLocked turns the failure to open shard k into the error to
// return: a failed fdatasync is remembered (the shard stays refused until
// the engine is reopened), a failed write is reported and retried by the
// next call, and running out of descriptors is transient.
func (e *Engine) openFailedLocked(k shardKey, dir string, err error) error {
	err = fmt.Errorf("shardlog/file: open shard %s/%s: %w", k.stream, k.shard, err)
	var we *writeError
	switch {
	case resourceExhausted(err):
		e.logger.Warn("shardlog/file: cannot open shard", "stream", k.stream, "shard", k.shard, "err", err)
		return fmt.Errorf("%w: %w", ErrResourceExhausted, err)
	case isFatal(err):
		e.broken[k] = err // never retry a failed sync silently
		e.faults.note(e.logger, k, dir, err, true)
	case errors.As(err, &we):
		e.faults.note(e.logger, k, dir, err, false)
	}
	return err
}

// release drops a use taken by acquire. The last user of a shard whose
// write failed closes it, so that the next call reopens it (recovery).
func (e *Engine) release(s *shard) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s.users--
	if s.users == 0 && s.failed.Load() == failedWrite && e.shards[s.key()] == s {
		e.retireLocked(s)
		e.closeLocked([]*shard{s})
	}
}

// evictLocked picks idle shards, least recently used first, to close until
// the open shards hold at most target files, and retires them. A shard
// whose fdatasync failed stays open: it could not be reopened before the
// engine is (see failLocked), and its visible records stay readable.
func (e *Engine) evictLocked(target int64) []*shard {
	open := e.openFiles.Load()
	var victims []*shard
	for el := e.lru.Back(); el != nil && open > target; {
		prev := el.Prev()
		if s := el.Value.(*shard); s.users == 0 && s.failed.Load() != failedSync && !s.isPreparing() {
			open -= int64(s.nfiles.Load())
			e.retireLocked(s)
			victims = append(victims, s)
		}
		el = prev
	}
	return victims
}

// retireLocked takes s out of the cache; calls that need it wait until
// closeLocked has closed it.
func (e *Engine) retireLocked(s *shard) {
	e.forgetLocked(s)
	e.busy[s.key()] = make(chan struct{})
}

// isPreparing reports whether a goroutine is preparing the shard's next
// segment file: closing the shard would wait for it.
func (s *shard) isPreparing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.preparing
}

// forgetLocked takes s out of the cache.
func (e *Engine) forgetLocked(s *shard) {
	delete(e.shards, s.key())
	if s.elem != nil {
		e.lru.Remove(s.elem)
		s.elem = nil
	}
}

// closeLocked closes retired shards with mu released, and keeps what must
// outlive them. A sync that fails as a shard closes is fatal for it.
func (e *Engine) closeLocked(victims []*shard) {
	if len(victims) == 0 {
		return
	}
	e.mu.Unlock()
	states := make([]shutState, len(victims))
	errs := make([]error, len(victims))
	for i, s := range victims {
		states[i], errs[i] = s.shut(false, true)
		s.prep.Wait() // its prepared file is gone before it can open again
	}
	e.mu.Lock()
	for i, s := range victims {
		k, st := s.key(), states[i]
		resync := s.failed.Load() == failedWrite
		known := st.werr == nil && errs[i] == nil
		if st.notify != nil || st.sealed || resync || known {
			e.idle[k] = &idleShard{notify: st.notify, sealed: st.sealed, resync: resync,
				known: known, bounds: st.bounds, trimFrom: st.trimFrom}
		}
		switch {
		case isFatal(st.werr):
			e.broken[k] = st.werr
		case isFatal(errs[i]):
			e.broken[k] = errs[i]
		case resync:
			e.logger.Info("shardlog/file: reopening shard after a failed write", "stream", k.stream, "shard", k.shard)
		}
		close(e.busy[k])
		delete(e.busy, k)
	}
}

// gateLocked returns the channel to wait on before using shard k: it is
// being opened, closed or dropped, or its stream is being dropped. Nil
// when it is free.
func (e *Engine) gateLocked(k shardKey) chan struct{} {
	if ch := e.busy[k]; ch != nil {
		return ch
	}
	return e.dropping[k.stream]
}

// waitBusyLocked waits until no shard matching match is being opened or
// closed.
func (e *Engine) waitBusyLocked(match func(shardKey) bool) {
	for {
		var ch chan struct{}
		for k, c := range e.busy {
			if match(k) {
				ch = c
				break
			}
		}
		if ch == nil {
			return
		}
		e.mu.Unlock()
		<-ch
		e.mu.Lock()
	}
}

// dropIdleLocked forgets everything the engine keeps of shard k when it
// is not open, waking its Notify waiters.
func (e *Engine) dropIdleLocked(k shardKey) {
	if st := e.idle[k]; st != nil && st.notify != nil {
		close(st.notify)
	}
	delete(e.idle, k)
	delete(e.broken, k)
	e.faults.clear(k)
}

// dropIdleStreamLocked is dropIdleLocked for every shard of a stream.
func (e *Engine) dropIdleStreamLocked(stream string) {
	for k := range e.idle {
		if k.stream == stream {
			e.dropIdleLocked(k)
		}
	}
	for k := range e.broken {
		if k.stream == stream {
			e.dropIdleLocked(k)
		}
	}
	e.faults.clearStream(stream)
}

// Notify implements shardlog.Engine. It opens nothing: the channel of a
// shard that is not open is kept until the shard opens, and closed by its
// next write or seal.
func (e *Engine) Notify(ref shardlog.ShardRef) <-chan struct{} {
	k := shardKey{ref.Stream, ref.ID}
	e.mu.Lock()
	for {
		if e.closed {
			e.mu.Unlock()
			return closedChan
		}
		if s := e.shards[k]; s != nil {
			e.mu.Unlock()
			return s.watch() // closed at once if s was closed meanwhile
		}
		ch := e.gateLocked(k)
		if ch == nil {
			break
		}
		e.mu.Unlock()
		<-ch
		e.mu.Lock()
	}
	defer e.mu.Unlock()
	st := e.idle[k]
	if st == nil {
		st = &idleShard{}
		e.idle[k] = st
	}
	if st.notify == nil {
		st.notify = make(chan struct{})
	}
	return st.notify
}

// idleLocked returns what is known of shard k while it is closed, or nil
// when it is open, being opened or closed, or not known.
func (e *Engine) idleLocked(k shardKey) *idleShard {
	if e.closed || e.shards[k] != nil || e.gateLocked(k) != nil || e.broken[k] != nil {
		return nil
	}
	if st := e.idle[k]; st != nil && st.known {
		return st
	}
	return nil
}

// closedBounds returns the bounds of shard k while it is closed.
func (e *Engine) closedBounds(k shardKey) (shardlog.ShardBounds, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.idleLocked(k)
	if st == nil {
		return shardlog.ShardBounds{}, false
	}
	b := st.bounds
	b.Sealed = st.sealed
	return b, true
}

// closedNoTrim reports whether shard k is closed and a Trim before t has
// nothing to delete in it.
func (e *Engine) closedNoTrim(k shardKey, t time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.idleLocked(k)
	return st != nil && t.UnixNano() <= st.trimFrom
}

// resourceExhausted reports whether err is a lack of descriptors or memory.
func resourceExhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOMEM)
}

// isFatal reports whether err is a failed fdatasync (or directory sync).
// A directory sync that could not open the directory for lack of
// descriptors or memory is not: nothing was synced, and nothing lost.
func isFatal(err error) bool {
	var se *syncError
	return errors.As(err, &se) && !resourceExhausted(se.err)
}
