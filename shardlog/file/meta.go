package file

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-dev/shoal/shardlog"
)

const (
	streamsDir = "streams"
	trashDir   = "trash"
	metaFile   = "stream.json"
	shardsDir  = "shards"
	// streamDirPrefix keeps stream names such as "." and ".." from being
	// path elements.
	streamDirPrefix = "s-"
)

func (e *Engine) streamDir(name string) string {
	return filepath.Join(e.dir, streamsDir, streamDirPrefix+name)
}

func (e *Engine) shardDir(stream, shardID string) string {
	return filepath.Join(e.streamDir(stream), shardsDir, shardID)
}

// writeFileAtomic writes a file so that after a crash either the old or the
// new content is there: write a temporary file, fsync it, rename it over
// the old one, and, if syncDir, fsync the directory so the new content is
// the one that survives.
func writeFileAtomic(fsys FS, path string, data []byte, syncDir bool) error {
	dir := filepath.Dir(path)
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return err
	}
	if !syncDir {
		return nil
	}
	return fsys.SyncDir(dir)
}

func (e *Engine) saveMeta(m shardlog.StreamMeta) error {
	b, err := json.Marshal(m) // compact: a reshard rewrites it whole, closed shards included
	if err != nil {
		return fmt.Errorf("shardlog/file: encode metadata of %s: %w", m.Name, err)
	}
	if err := e.claimStreamDir(m); err != nil {
		return err
	}
	dir := e.streamDir(m.Name)
	if err := e.fs.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := e.fs.SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return writeFileAtomic(e.fs, filepath.Join(dir, metaFile), b, true)
}

// loadMetas returns the metadata of every stream the engine serves: those
// whose stream.json parses and whose shard data is theirs (see owner.go).
// The others are left out (Open logged them). A stream written before
// stream-id existed gets it now.
func (e *Engine) loadMetas() ([]shardlog.StreamMeta, error) {
	entries, err := e.fs.ReadDir(filepath.Join(e.dir, streamsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []shardlog.StreamMeta
	for _, de := range entries {
		if !de.IsDir() || !strings.HasPrefix(de.Name(), streamDirPrefix) {
			continue
		}
		sdir := filepath.Join(e.dir, streamsDir, de.Name())
		st, err := inspectStream(e.fs, sdir)
		if err != nil {
			return nil, err
		}
		if st.meta == nil || st.problem() != nil {
			continue // a creation that did not complete, or not served
		}
		m := *st.meta
		if de.Name() == streamDirPrefix+m.Name {
			if !st.hasOwner {
				if err := writeOwner(e.fs, sdir, m.ID); err != nil {
					return nil, fmt.Errorf("shardlog/file: record the owner of %s: %w", sdir, err)
				}
			}
			e.owners.Store(m.Name, m.ID)
		}
		out = append(out, m)
	}
	return out, nil
}

// dropStreamDir moves a stream's directory to the trash atomically, then
// deletes it: after a crash the stream is gone or intact, never half there.
func (e *Engine) dropStreamDir(name string) error {
	e.owners.Delete(name)
	dir := e.streamDir(name)
	trash := filepath.Join(e.dir, trashDir)
	if err := e.fs.MkdirAll(trash, 0o700); err != nil {
		return err
	}
	dst := filepath.Join(trash, fmt.Sprintf("%s%s-%d", streamDirPrefix, name, e.trashSeq.Add(1)))
	if err := e.fs.Rename(dir, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := e.fs.SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return e.fs.RemoveAll(dst)
}
