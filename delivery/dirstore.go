package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/shoal-dev/shoal/internal/durable"
	"github.com/shoal-dev/shoal/shardlog"
)

// MaxObjectKeyLength is the longest object key, in bytes (S3's limit).
const MaxObjectKeyLength = 1024

// dirTempPrefix starts the names of DirStore's temporary files. Key
// segments may not start with it, so List can skip them.
const dirTempPrefix = ".shoal-tmp-"

// DirStore is the filesystem ObjectStore, the embedded default: the
// object of key "a/b/c" is the file dir/a/b/c. Put writes a temporary file
// in the object's directory, fsyncs it, renames it over the object and
// fsyncs the directory, so a reader (or a crash) sees the whole old
// object or the whole new one. Concurrent Puts of one key are safe: each
// writes its own temporary file, and the last rename wins.
//
// Keys are '/'-separated paths and must be safe ones: not empty, at most
// MaxObjectKeyLength bytes, no NUL, not absolute, no empty, "." or ".."
// segment, and no segment starting with ".shoal-tmp-" (the temporary
// files' names). A key may not name a directory other keys live under
// ("a" and "a/b"), which S3 would allow; Put of such a key fails.
// Files and directories are created with the modes of internal/durable:
// readable by the owner only.
type DirStore struct {
	dir string
}

var (
	_ ObjectStore  = (*DirStore)(nil)
	_ ObjectLister = (*DirStore)(nil)
)

// NewDirStore returns the store over dir, creating dir if it is missing.
func NewDirStore(dir string) (*DirStore, error) {
	if dir == "" {
		return nil, &shardlog.ArgumentError{Field: "dir", Reason: "must not be empty"}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("delivery: dir store %q: %w", dir, err)
	}
	if err := durable.EnsureDir(abs); err != nil {
		return nil, fmt.Errorf("delivery: dir store %q: %w", dir, err)
	}
	return &DirStore{dir: abs}, nil
}

// Dir returns the store's root directory.
func (s *DirStore) Dir() string { return s.dir }

// ValidateObjectKey checks that key is safe as a DirStore key (see
// DirStore); the error is a *shardlog.ArgumentError naming the field "key".
func ValidateObjectKey(key string) error {
	bad := func(format string, args ...any) error {
		return &shardlog.ArgumentError{Field: "key", Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case key == "":
		return bad("must not be empty")
	case len(key) > MaxObjectKeyLength:
		return bad("length %d exceeds %d bytes", len(key), MaxObjectKeyLength)
	case strings.IndexByte(key, 0) >= 0:
		return bad("%q contains NUL", key)
	case strings.HasPrefix(key, "/") || filepath.IsAbs(key):
		return bad("%q is absolute", key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return bad("%q has an empty segment", key)
		case seg == "." || seg == "..":
			return bad("%q has a %q segment", key, seg)
		case strings.HasPrefix(seg, dirTempPrefix):
			return bad("%q has a segment starting with the reserved %q", key, dirTempPrefix)
		case os.PathSeparator != '/' && strings.ContainsRune(seg, os.PathSeparator):
			return bad("%q contains the path separator %q", key, os.PathSeparator)
		}
	}
	return nil
}

// path returns the file of key.
func (s *DirStore) path(key string) string {
	return filepath.Join(s.dir, filepath.FromSlash(key))
}

// Put implements ObjectStore.
func (s *DirStore) Put(ctx context.Context, key string, body []byte) error {
	if err := ValidateObjectKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	path := s.path(key)
	parent := filepath.Dir(path)
	if err := s.mkdirs(parent); err != nil {
		return fmt.Errorf("delivery: put %q: %w", key, err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(parent, dirTempPrefix+hex.EncodeToString(rnd[:]))
	if err := durable.ReplaceFile(path, tmp, body, durable.FileMode); err != nil {
		return fmt.Errorf("delivery: put %q: %w", key, err)
	}
	if err := durable.SyncDirPath(parent); err != nil {
		return fmt.Errorf("delivery: put %q: %w", key, err)
	}
	return nil
}

// mkdirs creates dir and its missing parents below the root, one at a
// time, fsyncing each new directory's parent so the path survives a
// crash.
func (s *DirStore) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	rel, err := filepath.Rel(s.dir, dir)
	if err != nil {
		return err
	}
	cur := s.dir
	for seg := range strings.SplitSeq(rel, string(os.PathSeparator)) {
		next := filepath.Join(cur, seg)
		err := os.Mkdir(next, durable.DirMode)
		switch {
		case err == nil:
			if err := durable.SyncDirPath(cur); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
			// Made by us earlier or by a concurrent Put; a file there
			// makes the final write fail with ENOTDIR.
		default:
			return err
		}
		cur = next
	}
	return nil
}

// Get implements ObjectStore.
func (s *DirStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ValidateObjectKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) {
			return nil, fmt.Errorf("%w: %q", ErrObjectNotFound, key)
		}
		return nil, fmt.Errorf("delivery: get %q: %w", key, err)
	}
	return b, nil
}

// List implements ObjectStore. It walks only the directory the prefix
// names (up to its last '/') and reads one directory at a time, so keys
// come out in lexical order without collecting them all.
func (s *DirStore) List(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return s.ListAfter(ctx, prefix, "")
}

// ListAfter implements ObjectLister: List's keys that sort after
// startAfter. Directories whose keys all sort before it are not read.
func (s *DirStore) ListAfter(ctx context.Context, prefix, startAfter string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		base := ""
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			base = prefix[:i]
			if err := checkPrefixDir(base); err != nil {
				yield("", err)
				return
			}
		}
		dir := s.dir
		if base != "" {
			dir = s.path(base)
			base += "/"
		}
		s.walk(ctx, dir, base, prefix, startAfter, yield)
	}
}

// checkPrefixDir checks the directory part of a listing's prefix (up to
// its last '/') as a key; the error names the field "prefix".
func checkPrefixDir(dir string) error {
	err := ValidateObjectKey(dir)
	if ae := (*shardlog.ArgumentError)(nil); errors.As(err, &ae) {
		ae.Field = "prefix"
	}
	return err
}

// ListPrefixes implements ObjectLister: the subdirectories of the
// directory prefix names (up to its last '/') that hold a key. It reads
// that directory, and of each subdirectory only up to its first key.
func (s *DirStore) ListPrefixes(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		base, name := "", prefix
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			base, name = prefix[:i+1], prefix[i+1:]
			if err := checkPrefixDir(prefix[:i]); err != nil {
				yield("", err)
				return
			}
		}
		dir := s.dir
		if base != "" {
			dir = s.path(strings.TrimSuffix(base, "/"))
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				yield("", fmt.Errorf("delivery: list %q: %w", prefix, err))
			}
			return
		}
		for _, e := range entries { // sorted by name; all directories, so as name+"/"
			if !e.IsDir() || !strings.HasPrefix(e.Name(), name) || strings.HasPrefix(e.Name(), dirTempPrefix) {
				continue
			}
			if err := ctx.Err(); err != nil {
				yield("", err)
				return
			}
			p := base + e.Name() + "/"
			found := false
			s.walk(ctx, filepath.Join(dir, e.Name()), p, p, "", func(_ string, err error) bool {
				found = err == nil
				return false
			})
			if found && !yield(p, nil) {
				return
			}
		}
	}
}

// walk yields the keys under dir (whose keys start with rel) that begin
// with prefix and sort after startAfter, in lexical order, and reports
// whether to go on. Within a
// directory a subdirectory sorts as its name plus '/', which is where all
// its keys sort among its siblings.
func (s *DirStore) walk(ctx context.Context, dir, rel, prefix, startAfter string, yield func(string, error) bool) bool {
	if err := ctx.Err(); err != nil {
		yield("", err)
		return false
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return true
		}
		return yield("", fmt.Errorf("delivery: list %q: %w", prefix, err))
	}
	type entry struct {
		name string // the key segment, with '/' for a directory
		dir  bool
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, dirTempPrefix) {
			continue
		}
		if e.IsDir() {
			list = append(list, entry{name + "/", true})
		} else if e.Type().IsRegular() {
			list = append(list, entry{name, false})
		}
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	for _, e := range list {
		key := rel + e.name
		if e.dir {
			// Descend only where keys can start with prefix.
			if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
				continue
			}
			// Skip it if all its keys sort before startAfter.
			if startAfter > key && !strings.HasPrefix(startAfter, key) {
				continue
			}
			if !s.walk(ctx, filepath.Join(dir, strings.TrimSuffix(e.name, "/")), key, prefix, startAfter, yield) {
				return false
			}
			continue
		}
		if key > startAfter && strings.HasPrefix(key, prefix) && !yield(key, nil) {
			return false
		}
	}
	return true
}
