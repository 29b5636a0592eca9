package projection

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/shardlog"

	"github.com/shoal-dev/shoal/internal/durable"
)

const (
	fileStoreLock    = "LOCK"
	fileStoreExt     = ".json"
	fileStoreTmpExt  = ".tmp"
	fileStoreFormat  = 1
	fileStoreHexName = 120 // longest projection name spelled out in hex in a file name
)

// errFileStoreClosed is returned by a FileStore's methods after Close.
var errFileStoreClosed = errors.New("projection: file store closed")

// FileStore is a CheckpointStore in a directory, for a single process:
// one JSON file per projection holds its progress in every shard and its
// parked events. It has no leases, so it runs a projection without
// fencing: it refuses any non-zero token with an error wrapping
// ErrLeaseLost.
//
// Durability: each SaveCheckpoint, Park and Reset rewrites (or, for Reset,
// removes) the projection's file atomically, by writing a temporary file,
// fsyncing it, renaming it over the old one and fsyncing the directory.
// When the call returns nil the new state is on disk; a crash at any point
// leaves either the old file or the new one, never a torn one. A write
// that fails leaves the file and the store's state as they were, except
// when only the final directory fsync fails: the new file may then be in
// place, and the store reads the file again on the projection's next use.
//
// OpenFileStore takes an exclusive flock(2) on the file LOCK in the
// directory, so a second FileStore on the same directory, in this process
// or another, is refused until Close (or the process's death) releases it.
// Where flock is not available the directory is not locked, and the caller
// must see to it that one FileStore at a time uses it.
//
// A FileStore is safe for concurrent use. Writes to one projection are
// serialized (they rewrite one file); different projections proceed in
// parallel.
type FileStore struct {
	dir  string
	lock *os.File // holds the flock
	d    *os.File // the directory, for fsync

	// life is held shared by every call and exclusively by Close, so
	// Close waits for calls under way.
	life   sync.RWMutex
	closed bool

	mu    sync.Mutex // guards projs
	projs map[string]*fileProjection
}

// fileProjection is the in-memory copy of one projection's file.
type fileProjection struct {
	mu     sync.Mutex
	loaded bool
	shards map[string]Progress
	parked []Parked
}

// fileDoc is the JSON document of a projection's file.
type fileDoc struct {
	Format     int                 `json:"format"`
	Projection string              `json:"projection"`
	Shards     map[string]Progress `json:"shards,omitempty"`
	Parked     []fileParked        `json:"parked,omitempty"`
}

// fileParked is a Parked event in a projection's file.
type fileParked struct {
	Shard          string                  `json:"shard"`
	SequenceNumber shardlog.SequenceNumber `json:"sequence_number"`
	StreamID       string                  `json:"stream_id,omitempty"`
	Version        uint64                  `json:"version,omitempty"`
	EventID        string                  `json:"event_id,omitempty"`
	Type           string                  `json:"type,omitempty"`
	Error          string                  `json:"error,omitempty"`
	Attempts       int                     `json:"attempts,omitempty"`
	ParkedAt       time.Time               `json:"parked_at"`
}

var _ CheckpointStore = (*FileStore)(nil)

// OpenFileStore returns the FileStore in dir, creating dir if it is
// missing. It fails if another FileStore holds the directory. Projection
// files are read when a projection is first used, not here; stray
// temporary files of an interrupted write are removed.
func OpenFileStore(dir string) (*FileStore, error) {
	fail := func(err error) (*FileStore, error) {
		return nil, fmt.Errorf("projection: open file store %s: %w", dir, err)
	}
	if dir == "" {
		return nil, errors.New("projection: open file store: empty directory name")
	}
	if err := durable.EnsureDir(dir); err != nil {
		return fail(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, fileStoreLock), os.O_RDWR|os.O_CREATE, durable.FileMode)
	if err != nil {
		return fail(err)
	}
	if err := durable.Lock(lock, false); err != nil {
		lock.Close()
		if errors.Is(err, durable.ErrLocked) {
			err = fmt.Errorf("the directory is in use by another FileStore (%s is locked)", lock.Name())
		}
		return fail(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		_ = durable.Unlock(lock)
		return fail(err)
	}
	s := &FileStore{dir: dir, lock: lock, d: d, projs: map[string]*fileProjection{}}
	if err := s.removeTemps(); err != nil {
		s.Close()
		return fail(err)
	}
	return s, nil
}

// removeTemps deletes temporary files a crashed write left behind. The
// caller holds the directory's lock, so no write is under way.
func (s *FileStore) removeTemps() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), fileStoreTmpExt) {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// Dir returns the store's directory.
func (s *FileStore) Dir() string { return s.dir }

// Close releases the directory's lock. It waits for calls under way;
// later calls fail. Closing twice is a no-op.
func (s *FileStore) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.d.Close()
	if cerr := durable.Unlock(s.lock); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("projection: close file store %s: %w", s.dir, err)
	}
	return nil
}

// fileName returns the file of a projection: its name in hex where that
// fits in a file name, else the SHA-256 of its name. The file also holds
// the name, which loading checks.
func (s *FileStore) fileName(projection string) string {
	if len(projection) <= fileStoreHexName {
		return filepath.Join(s.dir, "p-"+hex.EncodeToString([]byte(projection))+fileStoreExt)
	}
	sum := sha256.Sum256([]byte(projection))
	return filepath.Join(s.dir, "h-"+hex.EncodeToString(sum[:])+fileStoreExt)
}

// acquire returns the projection's state, loaded and locked, with the
// store held open: the caller calls the returned release when done.
func (s *FileStore) acquire(ctx context.Context, projection string) (*fileProjection, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return nil, nil, errFileStoreClosed
	}
	p := s.proj(projection)
	p.mu.Lock()
	release := func() {
		p.mu.Unlock()
		s.life.RUnlock()
	}
	if !p.loaded {
		if err := s.load(projection, p); err != nil {
			release()
			return nil, nil, err
		}
	}
	return p, release, nil
}

// load reads the projection's file into p; p.mu is held.
func (s *FileStore) load(projection string, p *fileProjection) error {
	path := s.fileName(projection)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.shards, p.parked, p.loaded = map[string]Progress{}, nil, true
		return nil
	case err != nil:
		return err
	}
	var doc fileDoc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("corrupt checkpoint file %s: %w", path, err)
	}
	if dec.More() {
		return fmt.Errorf("corrupt checkpoint file %s: data after the document", path)
	}
	if doc.Format != fileStoreFormat {
		return fmt.Errorf("corrupt checkpoint file %s: format %d, want %d", path, doc.Format, fileStoreFormat)
	}
	if doc.Projection != projection {
		return fmt.Errorf("corrupt checkpoint file %s: it holds projection %q, not %q", path, clipName(doc.Projection), projection)
	}
	p.shards = doc.Shards
	if p.shards == nil {
		p.shards = map[string]Progress{}
	}
	p.parked = make([]Parked, len(doc.Parked))
	for i, fp := range doc.Parked {
		p.parked[i] = Parked(fp)
	}
	p.loaded = true
	return nil
}

// write makes shards and parked the projection's durable state: it
// rewrites the file atomically, or removes it if both are empty. p.mu is
// held; p is updated only once the write succeeded.
func (s *FileStore) write(projection string, p *fileProjection, shards map[string]Progress, parked []Parked) error {
	path := s.fileName(projection)
	if len(shards) == 0 && len(parked) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	} else {
		doc := fileDoc{Format: fileStoreFormat, Projection: projection, Shards: shards, Parked: make([]fileParked, len(parked))}
		for i, ev := range parked {
			doc.Parked[i] = fileParked(ev)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		tmp := strings.TrimSuffix(path, fileStoreExt) + fileStoreTmpExt
		if err := durable.ReplaceFile(path, tmp, b, durable.FileMode); err != nil {
			return err
		}
	}
	if err := durable.SyncDir(s.d); err != nil {
		// The rename may or may not survive a crash: forget the cached
		// state so the next call reads what the file holds.
		p.loaded = false
		return fmt.Errorf("fsync %s: %w", s.dir, err)
	}
	p.shards, p.parked = shards, parked
	return nil
}

// noLeases refuses a fencing token: a FileStore has no leases.
func noLeases(projection, shard string, token uint64) error {
	if token == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s/%s with token %d: the file store has no leases, so it takes only token 0", ErrLeaseLost, projection, shard, token)
}

// Checkpoints implements CheckpointStore. It fails, naming the file, if
// the projection's file is corrupt.
func (s *FileStore) Checkpoints(ctx context.Context, projection string) (map[string]Progress, error) {
	p, release, err := s.acquire(ctx, projection)
	if err != nil {
		return nil, fmt.Errorf("projection: checkpoints of %s: %w", projection, err)
	}
	defer release()
	return maps.Clone(p.shards), nil
}

// SaveCheckpoint implements CheckpointStore. When it returns nil the
// checkpoint is on disk. A non-zero token is refused with ErrLeaseLost.
func (s *FileStore) SaveCheckpoint(ctx context.Context, projection, shard string, pr Progress, token uint64) error {
	fail := func(err error) error {
		return fmt.Errorf("projection: save the checkpoint of %s/%s: %w", projection, shard, err)
	}
	if err := noLeases(projection, shard, token); err != nil {
		return err
	}
	p, release, err := s.acquire(ctx, projection)
	if err != nil {
		return fail(err)
	}
	defer release()
	shards := maps.Clone(p.shards)
	shards[shard] = pr
	if err := s.write(projection, p, shards, p.parked); err != nil {
		return fail(err)
	}
	return nil
}

// Park implements CheckpointStore: the parked event and the progress are
// written together, in one file. Parking a position again replaces its
// record. When it returns nil both are on disk. A non-zero token is
// refused with ErrLeaseLost.
func (s *FileStore) Park(ctx context.Context, projection string, ev Parked, pr Progress, token uint64) error {
	fail := func(err error) error {
		return fmt.Errorf("projection: park %s at %s/%s: %w", projection, ev.Shard, ev.SequenceNumber, err)
	}
	if err := noLeases(projection, ev.Shard, token); err != nil {
		return err
	}
	p, release, err := s.acquire(ctx, projection)
	if err != nil {
		return fail(err)
	}
	defer release()
	parked := slices.Clone(p.parked)
	if i := slices.IndexFunc(parked, func(x Parked) bool { return x.Shard == ev.Shard && x.SequenceNumber == ev.SequenceNumber }); i >= 0 {
		parked[i] = ev
	} else {
		parked = append(parked, ev)
	}
	shards := maps.Clone(p.shards)
	shards[ev.Shard] = pr
	if err := s.write(projection, p, shards, parked); err != nil {
		return fail(err)
	}
	return nil
}

// Parked implements CheckpointStore. It fails, naming the file, if the
// projection's file is corrupt.
func (s *FileStore) Parked(ctx context.Context, projection string) ([]Parked, error) {
	p, release, err := s.acquire(ctx, projection)
	if err != nil {
		return nil, fmt.Errorf("projection: parked events of %s: %w", projection, err)
	}
	defer release()
	return slices.Clone(p.parked), nil
}

// Reset implements CheckpointStore: it removes the projection's file, and
// when it returns nil the removal is on disk. A corrupt file is removed
// too, without being read.
func (s *FileStore) Reset(ctx context.Context, projection string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("projection: reset %s: %w", projection, err)
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return fmt.Errorf("projection: reset %s: %w", projection, errFileStoreClosed)
	}
	p := s.proj(projection)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := s.write(projection, p, map[string]Progress{}, nil); err != nil {
		return fmt.Errorf("projection: reset %s: %w", projection, err)
	}
	p.loaded = true
	return nil
}

// clipName shortens a string read from a damaged file for an error
// message.
func clipName(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// proj returns the in-memory state of projection, creating it.
func (s *FileStore) proj(projection string) *fileProjection {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projs[projection]
	if p == nil {
		p = &fileProjection{}
		s.projs[projection] = p
	}
	return p
}
