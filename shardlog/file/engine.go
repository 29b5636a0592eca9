package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

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

	mu     sync.Mutex // guards shards, broken and closed
	shards map[shardKey]*shard
	broken map[shardKey]error // shards whose opening failed to write or sync
	closed bool

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

// shard returns the open shard of ref, opening (and, on first write,
// creating) it on first use.
func (e *Engine) shard(ref shardlog.ShardRef) (*shard, error) {
	return e.openShard(ref, true)
}

// existing is shard for reads: a shard with no directory yet has no
// records, and reading it creates nothing (nil, nil).
func (e *Engine) existing(ref shardlog.ShardRef) (*shard, error) {
	return e.openShard(ref, false)
}

func (e *Engine) openShard(ref shardlog.ShardRef, create bool) (*shard, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, fmt.Errorf("shardlog/file: %w", shardlog.ErrClosed)
	}
	k := shardKey{ref.Stream, ref.ID}
	if s := e.shards[k]; s != nil {
		return s, nil
	}
	if err := e.broken[k]; err != nil {
		return nil, err
	}
	if !create {
		if _, err := e.fs.ReadDir(e.shardDir(ref.Stream, ref.ID)); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	s, err := openShard(e, ref, e.shardDir(ref.Stream, ref.ID))
	if err != nil {
		err = fmt.Errorf("shardlog/file: open shard %s/%s: %w", ref.Stream, ref.ID, err)
		var we *writeError
		if errors.As(err, &we) {
			e.broken[k] = err // never retry a failed write or sync silently
		}
		return nil, err
	}
	e.shards[k] = s
	return s, nil
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

// DropStream implements shardlog.Engine.
func (e *Engine) DropStream(ctx context.Context, name string) error {
	e.mu.Lock()
	var dropped []*shard
	for k, s := range e.shards {
		if k.stream == name {
			s.close(true)
			delete(e.shards, k)
			dropped = append(dropped, s)
		}
	}
	for k := range e.broken {
		if k.stream == name {
			delete(e.broken, k)
		}
	}
	e.mu.Unlock()
	for _, s := range dropped {
		s.prep.Wait() // no file may appear in the directory being removed
	}
	return e.dropStreamDir(name)
}

// DropShard implements shardlog.Engine.
func (e *Engine) DropShard(ctx context.Context, ref shardlog.ShardRef) error {
	e.mu.Lock()
	s := e.shards[shardKey{ref.Stream, ref.ID}]
	if s != nil {
		s.close(true)
		delete(e.shards, shardKey{ref.Stream, ref.ID})
	}
	delete(e.broken, shardKey{ref.Stream, ref.ID})
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
	return s.append(ctx, ref, now, records, cond)
}

// Seal implements shardlog.Engine. The seal lives in memory: the stream
// metadata makes a shard's closing durable.
func (e *Engine) Seal(ctx context.Context, ref shardlog.ShardRef) (shardlog.SequenceNumber, error) {
	s, err := e.shard(ref)
	if err != nil {
		return shardlog.SequenceNumber{}, err
	}
	return s.seal()
}

// Read implements shardlog.Engine.
func (e *Engine) Read(ctx context.Context, ref shardlog.ShardRef, from shardlog.SequenceNumber, max, maxBytes int) ([]shardlog.Record, error) {
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return nil, err
	}
	return s.read(ctx, from, max, maxBytes)
}

// SeekTime implements shardlog.Engine.
func (e *Engine) SeekTime(ctx context.Context, ref shardlog.ShardRef, t time.Time) (shardlog.SequenceNumber, bool, error) {
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return shardlog.SequenceNumber{}, false, err
	}
	return s.seekTime(t)
}

// ReadKey implements shardlog.Engine.
func (e *Engine) ReadKey(ctx context.Context, ref shardlog.ShardRef, partitionKey string, after shardlog.SequenceNumber, max int) ([]shardlog.Record, error) {
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return nil, err
	}
	return s.readKey(partitionKey, after.Position(), max, false)
}

// LastKey implements shardlog.Engine.
func (e *Engine) LastKey(ctx context.Context, ref shardlog.ShardRef, partitionKey string) (shardlog.Record, bool, error) {
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return shardlog.Record{}, false, err
	}
	recs, err := s.readKey(partitionKey, 0, 1, true)
	if err != nil || len(recs) == 0 {
		return shardlog.Record{}, false, err
	}
	return recs[0], true, nil
}

// Bounds implements shardlog.Engine.
func (e *Engine) Bounds(ctx context.Context, ref shardlog.ShardRef) (shardlog.ShardBounds, error) {
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return shardlog.ShardBounds{}, err
	}
	return s.bounds(), nil
}

// Trim implements shardlog.Engine: it deletes whole segments whose records
// all arrived before t.
func (e *Engine) Trim(ctx context.Context, ref shardlog.ShardRef, before time.Time) error {
	s, err := e.existing(ref)
	if err != nil || s == nil {
		return err
	}
	return s.trim(before)
}

// Notify implements shardlog.Engine.
func (e *Engine) Notify(ref shardlog.ShardRef) <-chan struct{} {
	s, err := e.shard(ref)
	if err != nil {
		return closedChan
	}
	return s.watch()
}

// Close syncs what was written and closes every file.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	shards := e.shards
	e.shards = nil
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
		errs = append(errs, e.lock.Close()) // closing releases the lock
	}
	return errors.Join(errs...)
}
