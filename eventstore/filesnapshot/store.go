package filesnapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-dev/shoal/eventstore"

	"github.com/shoal-dev/shoal/internal/durable"
)

const (
	snapExt = ".snap"
	tmpExt  = ".tmp"
	fanOut  = 256
)

// Store is a snapshot store in a directory. Open returns one; it holds no
// open files between calls and needs no Close.
type Store struct {
	dir string
	// stripes[i] is the in-process lock of subdirectory i: a semaphore of
	// one, so that a save waiting for it can give up when its context ends.
	stripes [fanOut]chan struct{}
}

var _ eventstore.SnapshotStore = (*Store)(nil)

// Open returns the store in dir, creating dir and its 256 subdirectories if
// they are missing (and fsyncing what it created). It reads no snapshot
// file: stray temporary files of an interrupted save are left where they
// are and ignored. Several Stores, in one process or several, may share a
// directory; see the package doc for what holds then.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("filesnapshot: open: empty directory name")
	}
	if err := ensureDirs(dir); err != nil {
		return nil, fmt.Errorf("filesnapshot: open %s: %w", dir, err)
	}
	s := &Store{dir: dir}
	for i := range s.stripes {
		s.stripes[i] = make(chan struct{}, 1)
	}
	return s, nil
}

// ensureDirs creates dir and its subdirectories where missing, and makes
// the new directory entries durable.
func ensureDirs(dir string) error {
	if err := durable.EnsureDir(dir); err != nil {
		return err
	}
	created := false
	for i := range fanOut {
		err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("%02x", i)), durable.DirMode)
		switch {
		case err == nil:
			created = true
		case !errors.Is(err, fs.ErrExist):
			return err
		}
	}
	if created {
		return durable.SyncDirPath(dir)
	}
	return nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// file returns the stripe (subdirectory index) and the snapshot file of a
// stream.
func (s *Store) file(streamID string) (stripe int, path string) {
	sum := sha256.Sum256([]byte(streamID))
	name := hex.EncodeToString(sum[:])
	return int(sum[0]), filepath.Join(s.dir, name[:2], name+snapExt)
}

// LoadSnapshot implements eventstore.SnapshotStore. It returns false if the
// stream has no snapshot file, and an error wrapping ErrCorrupt if its file
// is damaged. The returned Data is the caller's.
func (s *Store) LoadSnapshot(ctx context.Context, streamID string) (eventstore.Snapshot, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Snapshot{}, false, fmt.Errorf("filesnapshot: load the snapshot of %q: %w", streamID, err)
	}
	_, path := s.file(streamID)
	snap, ok, err := readFile(path, streamID)
	if err != nil {
		return eventstore.Snapshot{}, false, fmt.Errorf("filesnapshot: load the snapshot of %q: %w", streamID, err)
	}
	return snap, ok, nil
}

// readFile reads and checks the snapshot file of streamID.
func readFile(path, streamID string) (eventstore.Snapshot, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return eventstore.Snapshot{}, false, nil
	}
	if err != nil {
		return eventstore.Snapshot{}, false, err
	}
	snap, err := decode(b)
	if err != nil {
		return eventstore.Snapshot{}, false, fmt.Errorf("%s: %w", path, err)
	}
	if snap.StreamID != streamID {
		return eventstore.Snapshot{}, false, fmt.Errorf("%s: %w: it holds stream %q", path, ErrCorrupt, clip(snap.StreamID))
	}
	return snap, true, nil
}

// SaveSnapshot implements eventstore.SnapshotStore. It stores snap unless
// the stream's file holds a higher version; a save at the same version
// replaces the stored one. When it returns nil the snapshot is durable (see
// the package doc). It does not keep snap.Data.
//
// If the stream's file is corrupt, SaveSnapshot leaves it and returns an
// error wrapping ErrCorrupt.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	fail := func(err error) error {
		return fmt.Errorf("filesnapshot: save the snapshot of %q at version %d: %w", snap.StreamID, snap.Version, err)
	}
	b, err := encode(snap)
	if err != nil {
		return fail(err)
	}
	stripe, path := s.file(snap.StreamID)
	select {
	case s.stripes[stripe] <- struct{}{}:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	defer func() { <-s.stripes[stripe] }()
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := s.replace(path, snap.StreamID, snap.Version, b); err != nil {
		return fail(err)
	}
	return nil
}

// replace writes b as the stream's file unless the file holds a version
// above version. The caller holds the stripe.
func (s *Store) replace(path, streamID string, version uint64, b []byte) error {
	dirPath := filepath.Dir(path)
	dir, err := os.Open(dirPath)
	if err != nil {
		return err
	}
	if err := durable.Lock(dir, true); err != nil {
		dir.Close()
		return fmt.Errorf("lock %s: %w", dirPath, err)
	}
	defer durable.Unlock(dir)
	old, ok, err := readFile(path, streamID)
	if err != nil {
		return err
	}
	if ok && old.Version > version {
		return nil
	}
	tmp := path[:len(path)-len(snapExt)] + tmpExt
	if err := durable.ReplaceFile(path, tmp, b, durable.FileMode); err != nil {
		return err
	}
	if err := durable.SyncDir(dir); err != nil {
		return fmt.Errorf("fsync %s: %w", dirPath, err)
	}
	return nil
}

// clip shortens a string read from a damaged file for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
