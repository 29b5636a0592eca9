package file

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Segment file layout: a 32-byte header, then frames.
const (
	segmentMagic      = "SHOALSEG"
	segmentVersion    = 1
	segmentHeaderSize = 32
	segmentExt        = ".seg"
	indexExt          = ".idx"
	// sparseEvery is the byte distance between sparse index entries: a seek
	// reads at most this much before the wanted frame.
	sparseEvery = 64 << 10
)

// sparseEntry locates one frame: the sparse sequence and time index.
type sparseEntry struct {
	pos     uint64
	arrival int64
	off     uint32
}

// segment is one segment file of a shard. Its fields are guarded by the
// shard's mutex, except refs, fmu and the immutable path, base and fsys.
type segment struct {
	path string
	base uint64 // the position it is named by (≤ its first record's)
	// f is the open file. The active segment's never changes; a full
	// segment's is closed once it is loaded or rolled (detach), so an open
	// shard holds one descriptor whatever its number of segments: reads of
	// a detached segment open the file for the read (readAt). fmu guards f
	// against detach: readers hold it shared.
	f    File
	fmu  sync.RWMutex
	fsys FS          // to reopen a detached segment
	id   fs.FileInfo // the file detached, to tell it from a new one of its name

	size     int64 // bytes written: header plus frames
	count    int64
	firstPos uint64
	lastPos  uint64
	firstArr int64
	lastArr  int64
	sparse   []sparseEntry
	lastMark int64 // offset of the last sparse entry
	full     bool  // rolled: no more appends, synced, index written

	refs    atomic.Int32 // readers holding the segment, plus one for the shard
	removed atomic.Bool

	// mm maps the file for readFrameAt, made on its first call: a mapped
	// read costs a copy instead of a pread system call. It is unmapped
	// only when the last reference is released, so no reader can touch
	// it after. Reads stay below the bytes written, which the file holds
	// however it was truncated since.
	mmOnce sync.Once
	mm     []byte
}

func segmentName(base uint64) string { return fmt.Sprintf("%020d%s", base, segmentExt) }

// parseSegmentName returns the base of a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	if !strings.HasSuffix(name, segmentExt) || len(name) != 20+len(segmentExt) {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
	return n, err == nil
}

func segmentHeader(shardIndex uint32, base uint64) []byte {
	h := make([]byte, segmentHeaderSize)
	copy(h, segmentMagic)
	binary.LittleEndian.PutUint32(h[8:], segmentVersion)
	binary.LittleEndian.PutUint32(h[12:], shardIndex)
	binary.LittleEndian.PutUint64(h[16:], base)
	binary.LittleEndian.PutUint32(h[24:], crc32c(h[:24]))
	return h
}

func crc32c(b []byte) uint32 {
	return frameCRCRaw(b)
}

// createSegment creates a new, empty segment file and makes its directory
// entry durable.
func createSegment(fsys FS, dir string, shardIndex uint32, base uint64) (*segment, error) {
	path := filepath.Join(dir, segmentName(base))
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteAt(segmentHeader(shardIndex, base), 0); err != nil {
		f.Close()
		return nil, &writeError{err}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, &syncError{err}
	}
	if err := fsys.SyncDir(dir); err != nil {
		f.Close()
		return nil, &syncError{err}
	}
	s := &segment{path: path, base: base, f: f, fsys: fsys, size: segmentHeaderSize}
	s.refs.Store(1)
	return s, nil
}

// writeError marks a failed write (not a sync): the shard refuses writes
// until it is reopened, which the next call does (see shard.failLocked).
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// syncError marks a failed fdatasync or directory sync: the shard refuses
// writes until the engine is reopened (see shard.failLocked).
type syncError struct{ err error }

func (e *syncError) Error() string { return e.err.Error() }
func (e *syncError) Unwrap() error { return e.err }

// openSegment opens an existing segment file and checks its header.
func openSegment(fsys FS, path string, shardIndex uint32, base uint64) (*segment, int64, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	s := &segment{path: path, base: base, f: f, fsys: fsys, size: segmentHeaderSize}
	s.refs.Store(1)
	fileSize := st.Size()
	if fileSize < segmentHeaderSize {
		return s, fileSize, nil // torn at birth; the caller rewrites the header
	}
	h := make([]byte, segmentHeaderSize)
	if _, err := f.ReadAt(h, 0); err != nil {
		f.Close()
		return nil, 0, err
	}
	if tornHeader(h, segmentHeader(shardIndex, base)) {
		// A prepared file whose header write was cut short holds nothing
		// else: frames are written only after the header is synced.
		zero, err := zeroTail(s, segmentHeaderSize, fileSize)
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		if !zero {
			f.Close()
			return nil, 0, &CorruptError{Path: path, Offset: 0, Reason: "damaged segment header in front of data"}
		}
		return s, 0, nil
	}
	if !bytes.Equal(h, segmentHeader(shardIndex, base)) {
		f.Close()
		return nil, 0, &CorruptError{Path: path, Offset: 0, Reason: "segment header does not match its name and shard"}
	}
	return s, fileSize, nil
}

// tornHeader reports whether h is a prefix of want followed by zeros: a
// header write cut short on a zero-filled (prepared) file.
func tornHeader(h, want []byte) bool {
	i := 0
	for i < len(h) && h[i] == want[i] {
		i++
	}
	return i < len(h) && allZero(h[i:])
}

// note records a frame appended (or found) at off in the segment's
// summary and sparse index.
func (s *segment) note(pos uint64, arrival int64, off int64, size int) {
	if s.count == 0 {
		s.firstPos, s.firstArr = pos, arrival
	}
	s.lastPos, s.lastArr = pos, arrival
	s.count++
	if len(s.sparse) == 0 || off-s.lastMark >= sparseEvery {
		s.sparse = append(s.sparse, sparseEntry{pos: pos, arrival: arrival, off: uint32(off)})
		s.lastMark = off
	}
	s.size = off + int64(size)
}

// seekPos returns the offset to start scanning from for position pos.
func (s *segment) seekPos(sparse []sparseEntry, pos uint64) int64 {
	i := sort.Search(len(sparse), func(i int) bool { return sparse[i].pos > pos })
	if i == 0 {
		return segmentHeaderSize
	}
	return int64(sparse[i-1].off)
}

// seekTime returns the offset to start scanning from for arrival t.
func (s *segment) seekTime(sparse []sparseEntry, t int64) int64 {
	i := sort.Search(len(sparse), func(i int) bool { return sparse[i].arrival >= t })
	if i == 0 {
		return segmentHeaderSize
	}
	return int64(sparse[i-1].off)
}

// acquire takes a reader's reference; release drops it and closes the file
// once the segment was removed and no reader holds it.
func (s *segment) acquire() { s.refs.Add(1) }

func (s *segment) release() {
	if s.refs.Add(-1) == 0 && s.removed.Load() {
		s.closeFile()
	}
}

// closeFile unmaps the segment and closes its file, if it is open.
func (s *segment) closeFile() {
	s.mmOnce.Do(func() {}) // no mapping from here on
	unmapFile(s.mm)
	s.detach()
}

// detach closes the segment's file, if it is open, and reports whether it
// was; reads open the file for themselves from then on.
func (s *segment) detach() bool {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.f == nil {
		return false
	}
	if st, err := s.f.Stat(); err == nil {
		s.id = st
	}
	s.f.Close()
	s.f = nil
	return true
}

// errSegmentGone is the error of a read of a detached segment whose file
// was deleted (Trim, DropShard, DropStream) after the reader took its
// view: its records are gone, and the reader goes on without them.
var errSegmentGone = errors.New("shardlog/file: segment deleted")

// openDetached opens a detached segment's file for reading. When the
// segment was removed and its file is gone, or its name now holds another
// file (a stream or shard created again), it returns errSegmentGone.
func (s *segment) openDetached() (File, error) {
	f, err := s.fsys.OpenFile(s.path, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && s.removed.Load() {
			return nil, errSegmentGone
		}
		if resourceExhausted(err) {
			return nil, fmt.Errorf("%w: %w", ErrResourceExhausted, err) // transient
		}
		return nil, err
	}
	if s.id != nil && s.removed.Load() {
		if st, err := f.Stat(); err == nil && !os.SameFile(s.id, st) {
			f.Close()
			return nil, errSegmentGone
		}
	}
	return f, nil
}

// readAt reads the segment's file at off, opening the file for the call
// when the segment is detached.
func (s *segment) readAt(p []byte, off int64) (int, error) {
	s.fmu.RLock()
	if s.f != nil {
		defer s.fmu.RUnlock()
		return s.f.ReadAt(p, off)
	}
	s.fmu.RUnlock()
	f, err := s.openDetached()
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.ReadAt(p, off)
}

// mapped returns the segment's read mapping, making it on first use (a
// mapping outlives the descriptor it was made with).
func (s *segment) mapped() []byte {
	s.mmOnce.Do(func() {
		s.fmu.RLock()
		defer s.fmu.RUnlock()
		f := s.f
		if f == nil {
			tmp, err := s.openDetached()
			if err != nil {
				return
			}
			defer tmp.Close()
			f = tmp
		}
		if st, err := f.Stat(); err == nil {
			s.mm = mapFile(f, st.Size())
		}
	})
	return s.mm
}

// scanner reads frames of one segment sequentially through a buffer.
type scanner struct {
	seg   *segment
	off   int64 // offset of the next frame
	limit int64 // do not read at or past this offset
	buf   []byte
	start int64 // file offset of buf[0]
	err   error
}

const scanChunk = 256 << 10

func newScanner(seg *segment, off, limit int64) *scanner {
	return &scanner{seg: seg, off: off, limit: limit}
}

// next returns the next frame, its offset and size; ok is false at the
// limit or on error (then sc.err is set; a torn or bad frame is reported
// as *CorruptError carrying the cause, see errTorn).
func (sc *scanner) next() (fr frame, off int64, size int, ok bool) {
	if sc.err != nil || sc.off >= sc.limit {
		return frame{}, 0, 0, false
	}
	for {
		rel := sc.off - sc.start
		if rel >= 0 && rel <= int64(len(sc.buf)) {
			fr, n, err := decodeFrame(sc.buf[rel:])
			if err == nil {
				if sc.off+int64(n) > sc.limit {
					sc.err = sc.corrupt(errShortFrame)
					return frame{}, 0, 0, false
				}
				off = sc.off
				sc.off += int64(n)
				return fr, off, n, true
			}
			if errors.Is(err, errBadFrame) {
				sc.err = sc.corrupt(err)
				return frame{}, 0, 0, false
			}
			// short: refill from sc.off, large enough for the frame.
			if int64(len(sc.buf))-rel >= sc.limit-sc.off {
				sc.err = sc.corrupt(errShortFrame) // the data ends inside the frame
				return frame{}, 0, 0, false
			}
		}
		want := int64(scanChunk)
		if rel >= 0 && rel+frameHeaderSize <= int64(len(sc.buf)) {
			if n, err := frameLength(sc.buf[rel:]); err == nil && int64(n) > want {
				want = int64(n)
			}
		}
		want = min(want, sc.limit-sc.off)
		buf := make([]byte, want)
		n, err := sc.seg.readAt(buf, sc.off)
		if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
			if errors.Is(err, io.EOF) {
				sc.err = sc.corrupt(errShortFrame)
			} else {
				sc.err = fmt.Errorf("shardlog/file: read %s at %d: %w", sc.seg.path, sc.off, err)
			}
			return frame{}, 0, 0, false
		}
		sc.buf, sc.start = buf[:n], sc.off
		if int64(n) < want {
			sc.limit = sc.off + int64(n)
		}
	}
}

// frameError is the cause inside a scanner's *CorruptError.
type frameError struct {
	*CorruptError
	cause error // errShortFrame or errBadFrame
}

func (sc *scanner) corrupt(cause error) error {
	return &frameError{
		CorruptError: &CorruptError{Path: sc.seg.path, Offset: sc.off, Reason: cause.Error()},
		cause:        cause,
	}
}

func (e *frameError) Unwrap() error { return e.CorruptError }

// readFrameAt reads the single frame at off. limit is where the bytes on
// file end for the caller (its view's visible end): a frame claiming to
// reach past it is read with pread, which reports it, never through the
// mapping, which could fault past the end of the file.
func (s *segment) readFrameAt(off, limit int64) (frame, error) {
	if mm := s.mapped(); off >= 0 && off+frameHeaderSize <= min(limit, int64(len(mm))) {
		size, err := frameLength(mm[off : off+frameHeaderSize])
		if err != nil {
			return frame{}, &CorruptError{Path: s.path, Offset: off, Reason: "bad frame length"}
		}
		if off+int64(size) <= min(limit, int64(len(mm))) {
			// Copy: nothing returned may point into the mapping.
			buf := make([]byte, size)
			copy(buf, mm[off:])
			fr, _, err := decodeFrame(buf)
			if err != nil {
				return frame{}, &CorruptError{Path: s.path, Offset: off, Reason: err.Error()}
			}
			return fr, nil
		}
	}
	buf := make([]byte, 512)
	n, err := s.readAt(buf, off)
	if errors.Is(err, errSegmentGone) {
		return frame{}, err
	}
	if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
		return frame{}, fmt.Errorf("shardlog/file: read %s at %d: %w", s.path, off, err)
	}
	buf = buf[:n]
	size, err := frameLength(buf)
	if err != nil {
		return frame{}, &CorruptError{Path: s.path, Offset: off, Reason: "bad frame length"}
	}
	if size > len(buf) {
		buf = make([]byte, size)
		if _, err := s.readAt(buf, off); errors.Is(err, errSegmentGone) {
			return frame{}, err
		} else if err != nil {
			return frame{}, &CorruptError{Path: s.path, Offset: off, Reason: fmt.Sprintf("frame past the end of the file: %v", err)}
		}
	}
	fr, _, err := decodeFrame(buf)
	if err != nil {
		return frame{}, &CorruptError{Path: s.path, Offset: off, Reason: err.Error()}
	}
	return fr, nil
}
