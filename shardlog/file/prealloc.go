package file

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Segment preallocation. Appending to a file changes its size, so every
// fdatasync must also commit the file system's journal; overwriting blocks
// that already exist does not. A background goroutine therefore prepares
// the next segment file ahead of time, zero-filled to the segment size and
// synced, and a roll renames it into place. Measured here, fdatasync of a
// 500-record batch takes about half as long on a prepared file.
//
// Consequences for the format: an active segment normally ends in zeros,
// which recovery recognises as "no more frames" and leaves in place; a full
// segment is truncated to its frames when it is rolled.

const preparedPrefix = "next-"

// preparedName is the name of a prepared, not yet used segment file.
func preparedName(n uint64) string { return fmt.Sprintf("%s%d.tmp", preparedPrefix, n) }

// maxPreparing bounds the segment files being prepared at once, engine
// wide: each holds a descriptor the cache of open shards does not count.
const maxPreparing = 4

// startPrepareLocked starts preparing the next segment file unless one is
// ready or being made, or the active segment is less than half full (a
// quiet shard never pays for a file it does not need), or maxPreparing
// files are being prepared (a later append tries again; a roll without a
// prepared file creates one). Caller holds mu.
func (s *shard) startPrepareLocked() {
	if s.prepared != "" || s.preparing || s.dropped || !s.e.preallocate ||
		len(s.segs) == 0 || s.active().size < s.e.segmentSize/2 {
		return
	}
	select {
	case s.e.prepSlots <- struct{}{}:
	default:
		return
	}
	s.preparing = true
	path := filepath.Join(s.dir, preparedName(s.e.prepareSeq.Add(1)))
	size := s.e.segmentSize
	s.e.wg.Add(1)
	s.prep.Add(1)
	go func() {
		defer s.e.wg.Done()
		defer s.prep.Done()
		err := zeroFile(s.e.fs, path, size)
		<-s.e.prepSlots
		s.mu.Lock()
		defer s.mu.Unlock()
		s.preparing = false
		if err != nil || s.dropped {
			if err != nil {
				s.e.logger.Warn("shardlog/file: prepare segment", "path", path, "err", err)
			}
			_ = s.e.fs.Remove(path)
			return
		}
		s.prepared = path
	}()
}

// zeroFile creates path holding size zero bytes, synced. It syncs every
// MiB: on ext4 a journal commit must first write the data of every file
// whose blocks it allocates, so a large unsynced zero file would make the
// next fdatasync of an active segment wait for all of it.
func zeroFile(fsys FS, path string, size int64) error {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// usePreparedLocked turns the prepared file into the segment named by base:
// rename, write and sync the header, sync the directory. It returns nil, nil
// if no file is ready. Caller holds mu.
func (s *shard) usePreparedLocked(base uint64) (*segment, error) {
	if s.prepared == "" {
		return nil, nil
	}
	tmp := s.prepared
	s.prepared = ""
	path := filepath.Join(s.dir, segmentName(base))
	if err := s.e.fs.Rename(tmp, path); err != nil {
		_ = s.e.fs.Remove(tmp)
		return nil, &writeError{err}
	}
	f, err := s.e.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, &writeError{err}
	}
	if _, err := f.WriteAt(segmentHeader(s.index, base), 0); err != nil {
		f.Close()
		return nil, &writeError{err}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, &syncError{err}
	}
	if err := s.e.fs.SyncDir(s.dir); err != nil {
		f.Close()
		return nil, &syncError{err}
	}
	seg := &segment{path: path, base: base, f: f, fsys: s.e.fs, size: segmentHeaderSize}
	seg.refs.Store(1)
	return seg, nil
}

// removePrepared deletes prepared files a previous run left behind.
func removePrepared(fsys FS, dir string, entries []fs.DirEntry) {
	for _, de := range entries {
		if strings.HasPrefix(de.Name(), preparedPrefix) {
			_ = fsys.Remove(filepath.Join(dir, de.Name()))
		}
	}
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// zeroTail reports whether the bytes of seg from off to fileSize are all
// zero: the unused end of a preallocated file.
func zeroTail(seg *segment, off, fileSize int64) (bool, error) {
	buf := make([]byte, 1<<20)
	for off < fileSize {
		n := min(int64(len(buf)), fileSize-off)
		if _, err := seg.f.ReadAt(buf[:n], off); err != nil {
			return false, err
		}
		if !allZero(buf[:n]) {
			return false, nil
		}
		off += n
	}
	return true, nil
}
