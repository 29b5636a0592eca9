package file

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/internal/durable"
	"github.com/shoal-dev/shoal/shardlog"
)

// Engine is the durable file engine: a shardlog.Engine over a directory.
// Open it with Open; it is safe for concurrent use.
type Engine struct {
	dir         string
	fs          FS
	sync        SyncPolicy
	segmentSize int64
	logger      *slog.Logger
	preallocate bool
	trashSeq    atomic.Uint64
	owners      sync.Map // stream name → ID whose shard data the stream directory holds (owner.go)
	prepareSeq  atomic.Uint64
	prepSlots   chan struct{} // segment files being prepared (prealloc.go)

	mu     sync.Mutex // guards shards, broken, closed and the cache's fields (cache.go)
	shards map[shardKey]*shard
	broken map[shardKey]error // shards whose fdatasync failed: refused until reopened
	closed bool

	// The cache of open shards (cache.go).
	maxOpen   int64                      // open segment files above which idle shards are closed
	openFiles atomic.Int64               // segment files the open shards hold
	lru       list.List                  // open shards, most recently used first
	busy      map[shardKey]chan struct{} // shards being opened, closed or dropped; closed when done
	dropping  map[string]chan struct{}   // streams being dropped; closed when their directory is gone
	idle      map[shardKey]*idleShard    // what outlives a closed shard

	faults faultSet // shards whose writes are failing (health.go)

	stop chan struct{} // stops the interval syncer
	wg   sync.WaitGroup
	lock *os.File // DIR/LOCK, held while open
}

type shardKey struct{ stream, shard string }

var _ shardlog.Engine = (*Engine)(nil)

var errDropped = errors.New("shardlog/file: shard dropped or engine closed")

// ErrLocked is returned by Open when another Engine holds the directory.
var ErrLocked = errors.New("shardlog/file: data directory locked")

// DefaultSegmentSize is the size at which segments roll.
const DefaultSegmentSize = 64 << 20

// Open opens (creating if needed) the engine's data directory. Shards are
// opened, and their tails recovered, on first use.
func Open(dir string, opts ...Option) (*Engine, error) {
	o := options{sync: SyncAlways, segmentSize: DefaultSegmentSize, fs: OS(), logger: slog.New(slog.DiscardHandler), preallocate: true}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.fs == nil {
		o.fs = OS()
	}
	if o.segmentSize < segmentHeaderSize+frameOverhead {
		return nil, fmt.Errorf("shardlog/file: segment size %d is too small", o.segmentSize)
	}
	if o.sync.mode == syncInterval && o.sync.interval <= 0 {
		return nil, fmt.Errorf("shardlog/file: sync interval %s must be positive", o.sync.interval)
	}
	if err := o.fs.MkdirAll(filepath.Join(dir, streamsDir), 0o700); err != nil {
		return nil, fmt.Errorf("shardlog/file: create %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("shardlog/file: lock %s: %w", dir, err)
	}
	e := &Engine{
		dir: dir, fs: o.fs, sync: o.sync, segmentSize: o.segmentSize, logger: o.logger, preallocate: o.preallocate,
		shards: map[shardKey]*shard{}, broken: map[shardKey]error{}, stop: make(chan struct{}), lock: lock,
		maxOpen: maxOpenFiles(o.maxOpenFiles), busy: map[shardKey]chan struct{}{}, dropping: map[string]chan struct{}{}, idle: map[shardKey]*idleShard{},
		prepSlots: make(chan struct{}, maxPreparing),
	}
	// Finish deletions a crash interrupted.
	_ = e.fs.RemoveAll(filepath.Join(dir, trashDir))
	e.tightenStreams()
	e.reportStreams()
	if o.sync.mode == syncInterval {
		e.wg.Add(1)
		go e.syncLoop(o.sync.interval)
	}
	return e, nil
}

func (e *Engine) syncLoop(d time.Duration) {
	defer e.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.mu.Lock()
			shards := make([]*shard, 0, len(e.shards))
			for _, s := range e.shards {
				shards = append(shards, s)
			}
			e.mu.Unlock()
			for _, s := range shards {
				s.syncIfDirty()
			}
		}
	}
}

// LoadStreams implements shardlog.Engine.
func (e *Engine) LoadStreams(ctx context.Context) ([]shardlog.StreamMeta, error) {
	return e.loadMetas()
}

// SaveStream implements shardlog.Engine: write a temporary file, fsync,
// rename, fsync the directory.
func (e *Engine) SaveStream(ctx context.Context, meta shardlog.StreamMeta) error {
	return e.saveMeta(meta)
}

// DropStream implements shardlog.Engine. Until the stream's directory is
// gone, calls that need one of its shards wait: a shard opened meanwhile
// would stay open over deleted files, and serve a stream created again
// under the same name.
func (e *Engine) DropStream(ctx context.Context, name string) error {
	e.mu.Lock()
	for e.dropping[name] != nil {
		ch := e.dropping[name]
		e.mu.Unlock()
		<-ch
		e.mu.Lock()
	}
	done := make(chan struct{})
	e.dropping[name] = done
	defer func() {
		e.mu.Lock()
		delete(e.dropping, name)
		close(done)
		e.mu.Unlock()
	}()
	e.waitBusyLocked(func(k shardKey) bool { return k.stream == name })
	var dropped []*shard
	for k, s := range e.shards {
		if k.stream == name {
			s.close(true)
			e.forgetLocked(s)
			dropped = append(dropped, s)
		}
	}
	e.dropIdleStreamLocked(name)
	e.mu.Unlock()
	for _, s := range dropped {
		s.prep.Wait() // no file may appear in the directory being removed
	}
	return e.dropStreamDir(name)
}

// DropShard implements shardlog.Engine. Until the shard's directory is
// gone, calls that need the shard wait (as for DropStream).
func (e *Engine) DropShard(ctx context.Context, ref shardlog.ShardRef) error {
	k := shardKey{ref.Stream, ref.ID}
	e.mu.Lock()
	e.waitBusyLocked(func(b shardKey) bool { return b == k })
	done := make(chan struct{})
	e.busy[k] = done
	defer func() {
		e.mu.Lock()
		delete(e.busy, k)
		close(done)
		e.mu.Unlock()
	}()
	s := e.shards[k]
	if s != nil {
		s.close(true)
		e.forgetLocked(s)
	}
	e.dropIdleLocked(k)
	e.mu.Unlock()
	if s != nil {
		s.prep.Wait() // no file may appear in the directory being removed
	}
	return e.fs.RemoveAll(e.shardDir(ref.Stream, ref.ID))
}

// Append implements shardlog.Engine. Under SyncAlways it returns once the
// records are fdatasync'd.
func (e *Engine) Append(ctx context.Context, ref shardlog.ShardRef, now time.Time, records []shardlog.Entry, cond *shardlog.Condition) (shardlog.SequenceNumber, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return shardlog.SequenceNumber{}, time.Time{}, err
	}
	s, err := e.shard(ref)
	if err != nil {
		return shardlog.SequenceNumber{}, time.Time{}, err
	}
	defer e.release(s)
	first, arrival, err := s.append(ctx, ref, now, records, cond)
	if err == nil && len(records) > 0 {
		e.faults.clear(shardKey{ref.Stream, ref.ID}) // writes work (again)
	}
	return first, arrival, err
}

// Seal implements shardlog.Engine. The seal lives in memory: the stream
// metadata makes a shard's closing durable.
func (e *Engine) Seal(ctx context.Context, ref shardlog.ShardRef) (shardlog.SequenceNumber, error) {
	s, err := e.shard(ref)
	if err != nil {
		return shardlog.SequenceNumber{}, err
	}
	defer e.release(s)
	return s.seal()
}

// Read implements shardlog.Engine.
func (e *Engine) Read(ctx context.Context, ref shardlog.ShardRef, from shardlog.SequenceNumber, max, maxBytes int) ([]shardlog.Record, error) {
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return nil, err
	}
	defer e.release(s)
	return s.read(ctx, from, max, maxBytes)
}

// SeekTime implements shardlog.Engine.
func (e *Engine) SeekTime(ctx context.Context, ref shardlog.ShardRef, t time.Time) (shardlog.SequenceNumber, bool, error) {
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return shardlog.SequenceNumber{}, false, err
	}
	defer e.release(s)
	return s.seekTime(t)
}

// ReadKey implements shardlog.Engine.
func (e *Engine) ReadKey(ctx context.Context, ref shardlog.ShardRef, partitionKey string, after shardlog.SequenceNumber, max int) ([]shardlog.Record, error) {
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return nil, err
	}
	defer e.release(s)
	return s.readKey(partitionKey, after.Position(), max, false)
}

// LastKey implements shardlog.Engine.
func (e *Engine) LastKey(ctx context.Context, ref shardlog.ShardRef, partitionKey string) (shardlog.Record, bool, error) {
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return shardlog.Record{}, false, err
	}
	defer e.release(s)
	recs, err := s.readKey(partitionKey, 0, 1, true)
	if err != nil || len(recs) == 0 {
		return shardlog.Record{}, false, err
	}
	return recs[0], true, nil
}

// Bounds implements shardlog.Engine.
func (e *Engine) Bounds(ctx context.Context, ref shardlog.ShardRef) (shardlog.ShardBounds, error) {
	if b, ok := e.closedBounds(shardKey{ref.Stream, ref.ID}); ok {
		return b, nil
	}
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return shardlog.ShardBounds{}, err
	}
	defer e.release(s)
	return s.bounds(), nil
}

// Trim implements shardlog.Engine: it deletes whole segments whose records
// all arrived before t.
func (e *Engine) Trim(ctx context.Context, ref shardlog.ShardRef, before time.Time) error {
	if e.closedNoTrim(shardKey{ref.Stream, ref.ID}, before) {
		return nil
	}
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return err
	}
	defer e.release(s)
	return s.trim(before)
}

// Close syncs what was written and closes every file.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.waitBusyLocked(func(shardKey) bool { return true })
	shards := e.shards
	e.shards = nil
	e.lru.Init()
	for k := range e.idle {
		e.dropIdleLocked(k) // wakes waiters: the engine is closed
	}
	e.mu.Unlock()
	close(e.stop)
	e.wg.Wait()
	var errs []error
	for _, s := range shards {
		if err := s.close(false); err != nil {
			errs = append(errs, err)
		}
	}
	if e.lock != nil {
		errs = append(errs, durable.Unlock(e.lock))
	}
	return errors.Join(errs...)
}
