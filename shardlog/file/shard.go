package file

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shoal-dev/shoal/shardlog"
)

// shard is one shard's open state: its segment files, key index, sequencer
// and group commit.
type shard struct {
	e     *Engine
	ref   shardlog.ShardRef
	dir   string
	index uint32

	arriving atomic.Int32   // appenders between entering append and writing
	prep     sync.WaitGroup // the goroutine preparing the next segment file
	nfiles   atomic.Int32   // segment files open (counted in Engine.openFiles)
	failed   atomic.Int32   // failedWrite or failedSync once werr is a write or sync failure

	users int           // calls using the shard (guarded by Engine.mu, see cache.go)
	elem  *list.Element // in Engine.lru (guarded by Engine.mu)

	mu     sync.Mutex // guards everything below
	synced *sync.Cond // on mu: signalled when a sync finishes
	segs   []*segment // by position; the last is the active one
	keys   keyIndex
	// activeLocs lists the key locations of the active segment, for its
	// index file when it is rolled.
	activeLocs []activeLoc
	seq        *shardlog.Sequencer
	sealed     bool
	dropped    bool
	werr       error  // sticky write or sync error: the shard refuses writes until closed (see failLocked)
	written    mark   // the last record written to the active file
	durable    mark   // the last record known durable (synced)
	visible    mark   // the last record readers may see
	syncing    bool   // a group-commit leader is syncing
	rolling    bool   // the active segment is being rolled; appenders wait
	preparing  bool   // a goroutine is preparing the next segment file
	prepared   string // path of a prepared next segment file, or empty
	dirty      bool   // written but not synced (SyncInterval, SyncNever)
	buf        []byte // encoding buffer of direct writes (SyncInterval, SyncNever)
	// Under SyncAlways, appends encode their frames into pending and the
	// group-commit leader writes them with one pwrite before its
	// fdatasync. diskOff is how far the active segment is written.
	pending []byte
	spare   []byte
	diskOff int64
	notify  chan struct{}
	watched bool
}

type activeLoc struct {
	key string
	loc keyLoc
}

// mark is a point in the shard's log: the last record up to it.
type mark struct {
	pos     uint64
	arrival int64
	count   int64 // records in the shard up to it (trimmed ones excluded)
	seg     *segment
	off     int64 // end offset in seg
}

// Values of shard.failed.
const (
	failedWrite = 1 // a write failed: the shard is reopened by the next call
	failedSync  = 2 // an fdatasync failed: refused until the engine is reopened
)

func (s *shard) key() shardKey { return shardKey{s.ref.Stream, s.ref.ID} }

// files counts n segment files opened (or, negative, closed).
func (s *shard) files(n int) {
	s.nfiles.Add(int32(n))
	s.e.openFiles.Add(int64(n))
}

// failLocked makes err, a failed write or sync of path, the shard's sticky
// error: it refuses appends from then on. It is logged and reported by
// Engine.Health. A failed fdatasync (a *syncError) is fatal: the kernel may
// have dropped the dirty pages it failed to write, so the file can no
// longer be trusted to hold what the page cache shows, and the shard stays
// refused until the engine is reopened. Any other failure (ENOSPC, EIO on
// write, EMFILE while rolling) is not: when the shard's last user leaves,
// the engine closes it, and the next call reopens it, which runs recovery
// on the active segment as after a crash (see docs/file-engine.md).
// Caller holds mu.
func (s *shard) failLocked(path string, err error) {
	if s.werr != nil {
		return
	}
	s.werr = err
	fatal := isFatal(err)
	if fatal {
		s.failed.Store(failedSync)
	} else {
		s.failed.Store(failedWrite)
	}
	s.e.faults.note(s.e.logger, s.key(), path, err, fatal)
}

// openShard loads a shard from its directory, recovering the active
// segment's tail. resync fdatasyncs the active segment before anything in
// it is shown: the shard was closed after a failed write, so its tail may
// hold frames that were written but never synced.
func openShard(e *Engine, ref shardlog.ShardRef, dir string, resync bool) (*shard, error) {
	s := &shard{e: e, ref: ref, dir: dir, index: ref.Index, keys: keyIndex{}, notify: make(chan struct{})}
	s.synced = sync.NewCond(&s.mu)
	if err := e.fs.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	entries, err := e.fs.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	removePrepared(e.fs, dir, entries)
	var bases []uint64
	for _, de := range entries {
		if b, ok := parseSegmentName(de.Name()); ok {
			bases = append(bases, b)
		}
	}
	slices.Sort(bases)
	var count int64
	for i, base := range bases {
		path := filepath.Join(dir, segmentName(base))
		seg, fileSize, err := openSegment(e.fs, path, ref.Index, base)
		if err != nil {
			s.closeFiles()
			return nil, err
		}
		s.segs = append(s.segs, seg)
		if fileSize < segmentHeaderSize {
			// Created but its header never made it: rewrite it, durably.
			// Only the newest segment can be caught so.
			if i != len(bases)-1 {
				s.closeFiles()
				return nil, &CorruptError{Path: path, Reason: "segment without a header before the last one"}
			}
			if err := rewriteHeader(e.fs, seg, dir, ref.Index, base); err != nil {
				s.closeFiles()
				return nil, err
			}
			fileSize = segmentHeaderSize
		}
		last := i == len(bases)-1
		if !last {
			if err := s.loadSealed(seg, fileSize); err != nil {
				s.closeFiles()
				return nil, err
			}
			// Full: read by opening the file. Closed now, so a shard of
			// many segments opens with one descriptor at a time.
			seg.detach()
		} else if err := s.recoverActive(seg, fileSize); err != nil {
			s.closeFiles()
			return nil, err
		}
		count += seg.count
	}
	if len(s.segs) == 0 {
		seg, err := createSegment(e.fs, dir, ref.Index, ref.Floor+1)
		if err != nil {
			return nil, err
		}
		s.segs = append(s.segs, seg)
	}
	active := s.segs[len(s.segs)-1]
	if resync {
		if err := active.f.Sync(); err != nil {
			s.closeFiles()
			return nil, &syncError{err}
		}
	}
	s.files(1)
	lastPos, lastArr := uint64(0), int64(0)
	for _, seg := range s.segs {
		if seg.count > 0 {
			lastPos, lastArr = seg.lastPos, seg.lastArr
		}
	}
	s.written = mark{pos: lastPos, arrival: lastArr, count: count, seg: active, off: active.size}
	s.diskOff = active.size
	s.durable, s.visible = s.written, s.written
	var lastTime time.Time
	if lastArr != 0 {
		lastTime = time.Unix(0, lastArr)
	}
	s.seq = shardlog.NewSequencer(ref.Index, ref.Floor, lastPos, lastTime)
	return s, nil
}

func rewriteHeader(fsys FS, seg *segment, dir string, shardIndex uint32, base uint64) error {
	if err := seg.f.Truncate(0); err != nil {
		return &writeError{err}
	}
	if _, err := seg.f.WriteAt(segmentHeader(shardIndex, base), 0); err != nil {
		return &writeError{err}
	}
	if err := seg.f.Sync(); err != nil {
		return &syncError{err}
	}
	if err := fsys.SyncDir(dir); err != nil {
		return &syncError{err}
	}
	return nil
}

// loadSealed loads a full segment's index file, or scans the segment and
// writes the index again if it is missing or stale. Any bad frame in a full
// segment is corruption: it is reported, never skipped.
func (s *shard) loadSealed(seg *segment, fileSize int64) error {
	seg.full = true
	if b, err := s.e.fs.ReadFile(indexPath(seg.path)); err == nil {
		if decodeIndex(b, seg, fileSize, s.keys) == nil {
			return nil
		}
		*seg = segment{path: seg.path, base: seg.base, f: seg.f, fsys: seg.fsys, size: segmentHeaderSize, full: true}
		seg.refs.Store(1)
	}
	locs, err := s.scan(seg, fileSize)
	var fe *frameError
	if errors.As(err, &fe) {
		// A crash can leave a rolled segment's preallocated zeros in place
		// (the truncation did not reach the disk): they are not data.
		if zero, zerr := zeroTail(seg, seg.size, fileSize); zerr == nil && zero {
			err = nil
			if terr := seg.f.Truncate(seg.size); terr != nil {
				return &writeError{terr}
			}
			fileSize = seg.size
		}
	}
	if err != nil {
		return err
	}
	if seg.size != fileSize {
		return &CorruptError{Path: seg.path, Offset: seg.size, Reason: "bytes after the last frame of a full segment"}
	}
	for _, l := range locs {
		s.keys.add(l.key, l.loc)
	}
	if err := writeIndex(s.e.fs, seg, groupLocs(locs)); err != nil {
		s.e.logger.Warn("shardlog/file: rewrite index", "path", seg.path, "err", err)
	}
	return nil
}

// recoverActive scans the active segment, truncating a torn tail: a last
// frame cut short, or a tail of zeros. A bad frame followed by other data
// is corruption, and is reported rather than truncated away.
func (s *shard) recoverActive(seg *segment, fileSize int64) error {
	locs, batchEnd, err := s.scanBatches(seg, fileSize)
	var fe *frameError
	if err != nil && !errors.As(err, &fe) {
		return err
	}
	if fe != nil && batchEnd == seg.size {
		// The unused, zero-filled end of a preallocated segment.
		zero, zerr := zeroTail(seg, seg.size, fileSize)
		if zerr != nil {
			return zerr
		}
		if zero {
			fe, fileSize = nil, seg.size
		}
	}
	if fe != nil {
		torn, terr := s.tornTail(seg, fe, fileSize)
		if terr != nil {
			return terr
		}
		if !torn {
			return fe.CorruptError
		}
	}
	if batchEnd < seg.size {
		// The tail holds the first frames of a batch torn before its last
		// one: drop them too, so the batch is all or nothing.
		*seg = segment{path: seg.path, base: seg.base, f: seg.f, fsys: seg.fsys, size: segmentHeaderSize}
		seg.refs.Store(1)
		if locs, err = s.scan(seg, batchEnd); err != nil {
			return err
		}
	}
	if seg.size < fileSize {
		s.e.logger.Warn("shardlog/file: truncating torn tail", "path", seg.path, "offset", seg.size, "bytes", fileSize-seg.size)
		if err := seg.f.Truncate(seg.size); err != nil {
			return &writeError{err}
		}
		if err := seg.f.Sync(); err != nil {
			return &syncError{err}
		}
	}
	for _, l := range locs {
		s.keys.add(l.key, l.loc)
	}
	s.activeLocs = locs
	return nil
}

// tornTail decides whether the bad bytes at the end of the active segment
// are a torn write, to be truncated, or corruption, to be reported: they are
// torn unless a valid frame follows them somewhere before the end of the
// file. A crash can only tear the unsynced tail; a valid frame after the
// damage means acknowledged data may follow it, so the engine refuses to
// cut it off. (A power loss that persisted a later page of an unsynced
// write before an earlier one also looks like this: the engine then
// reports corruption rather than guess.)
func (s *shard) tornTail(seg *segment, fe *frameError, fileSize int64) (bool, error) {
	off := fe.Offset
	rest := make([]byte, fileSize-off)
	if _, err := seg.f.ReadAt(rest, off); err != nil {
		return false, err
	}
	for i := 1; i+frameOverhead <= len(rest); i++ {
		if _, _, err := decodeFrame(rest[i:]); err == nil {
			return false, nil
		}
	}
	return true, nil
}

// scan reads every frame of seg, filling its summary and sparse index, and
// returns the key locations found. It stops at the first bad frame.
func (s *shard) scan(seg *segment, fileSize int64) ([]activeLoc, error) {
	locs, _, err := s.scanBatches(seg, fileSize)
	return locs, err
}

// scanBatches is scan that also returns the end offset of the last whole
// batch: frames after it belong to a batch whose end never made it.
func (s *shard) scanBatches(seg *segment, fileSize int64) ([]activeLoc, int64, error) {
	var locs []activeLoc
	batchEnd := int64(segmentHeaderSize)
	sc := newScanner(seg, segmentHeaderSize, fileSize)
	var prev uint64
	for {
		fr, off, n, ok := sc.next()
		if !ok {
			break
		}
		if fr.Position <= prev || fr.Position < seg.base {
			return nil, 0, &CorruptError{Path: seg.path, Offset: off, Reason: "positions out of order"}
		}
		prev = fr.Position
		seg.note(fr.Position, fr.Arrival, off, n)
		locs = append(locs, activeLoc{key: string(fr.Key), loc: keyLoc{pos: fr.Position, off: uint32(off)}})
		if !fr.More {
			batchEnd = off + int64(n)
		}
	}
	return locs, batchEnd, sc.err
}

func groupLocs(locs []activeLoc) map[string][]keyLoc {
	m := make(map[string][]keyLoc)
	for _, l := range locs {
		m[l.key] = append(m[l.key], l.loc)
	}
	return m
}

func (s *shard) closeFiles() {
	for _, seg := range s.segs {
		seg.closeFile()
	}
}

func (s *shard) active() *segment { return s.segs[len(s.segs)-1] }

// append writes a batch (see shardlog.Engine.Append) and, under
// SyncAlways, waits for a group commit that covers it.
func (s *shard) append(ctx context.Context, ref shardlog.ShardRef, now time.Time, entries []shardlog.Entry, cond *shardlog.Condition) (shardlog.SequenceNumber, time.Time, error) {
	s.arriving.Add(1)
	arrived := false
	defer func() {
		if !arrived {
			s.arriving.Add(-1)
		}
	}()
	s.mu.Lock()
	size := 0
	for _, en := range entries {
		size += frameSize(len(en.PartitionKey), len(en.Data))
	}
	for {
		if err := s.writableLocked(); err != nil {
			s.mu.Unlock()
			return shardlog.SequenceNumber{}, time.Time{}, err
		}
		if s.rolling {
			s.synced.Wait()
			continue
		}
		if len(entries) == 0 || s.active().size+int64(size) <= s.e.segmentSize || s.active().count == 0 {
			break
		}
		// Roll before taking positions: nobody may append to the old
		// segment after a batch with earlier positions went to the new one.
		if err := s.rollLocked(max(s.seq.Last(), ref.Floor) + 1); err != nil {
			s.failLocked(s.active().path, fmt.Errorf("shardlog/file: roll segment of %s/%s: %w", s.ref.Stream, s.ref.ID, err))
		}
	}
	if cond != nil {
		if err := s.checkLocked(cond); err != nil {
			var ce *shardlog.ConflictError
			if errors.As(err, &ce) && ce.Actual.ShardIndex() == s.index && ce.Actual.Position() > s.durable.pos && s.e.sync.mode == syncAlways {
				// The conflicting record is written but not yet durable:
				// answer only once it is, or a reader that starts after
				// this answer could still miss the record it names.
				if werr := s.waitDurableLocked(ce.Actual.Position()); werr != nil {
					err = werr
				}
			}
			s.mu.Unlock()
			return shardlog.SequenceNumber{}, time.Time{}, err
		}
	}
	if len(entries) == 0 {
		s.mu.Unlock()
		return shardlog.SequenceNumber{}, time.Time{}, nil
	}
	first, arrival := s.seq.Next(len(entries), now, ref.Floor)
	arr := arrival.UnixNano()
	seg := s.active()
	off := seg.size
	if s.e.sync.mode == syncAlways {
		for i, en := range entries {
			s.pending = appendFrameMore(s.pending, first.Position()+uint64(i), arr, en.PartitionKey, en.Data, i < len(entries)-1)
		}
	} else {
		b := s.buf[:0]
		for i, en := range entries {
			b = appendFrameMore(b, first.Position()+uint64(i), arr, en.PartitionKey, en.Data, i < len(entries)-1)
		}
		s.buf = b
		if _, err := seg.f.WriteAt(b, off); err != nil {
			s.failLocked(seg.path, &writeError{fmt.Errorf("shardlog/file: write %s: %w", seg.path, err)})
			s.mu.Unlock()
			return shardlog.SequenceNumber{}, time.Time{}, s.werr
		}
		s.diskOff = off + int64(len(b))
	}
	for i, en := range entries {
		n := frameSize(len(en.PartitionKey), len(en.Data))
		pos := first.Position() + uint64(i)
		seg.note(pos, arr, off, n)
		loc := keyLoc{pos: pos, off: uint32(off)}
		s.keys.add(en.PartitionKey, loc)
		s.activeLocs = append(s.activeLocs, activeLoc{key: en.PartitionKey, loc: loc})
		off += int64(n)
	}
	arrived = true
	s.arriving.Add(-1)
	s.startPrepareLocked()
	last := first.Position() + uint64(len(entries)-1)
	s.written = mark{pos: last, arrival: arr, count: s.written.count + int64(len(entries)), seg: seg, off: off}
	if s.e.sync.mode != syncAlways {
		s.dirty = true
		s.publishLocked(s.written)
		s.mu.Unlock()
		return first, arrival, nil
	}
	err := s.waitDurableLocked(last)
	s.mu.Unlock()
	if err != nil {
		return shardlog.SequenceNumber{}, time.Time{}, err
	}
	return first, arrival, nil
}

// waitDurableLocked blocks until position pos is synced, leading a group
// commit when no sync is running: every appender that wrote before the
// leader's sync started shares its fdatasync. Caller holds mu.
func (s *shard) waitDurableLocked(pos uint64) error {
	pos = min(pos, s.written.pos) // nothing later is written to wait for
	for s.durable.pos < pos {
		if s.werr != nil {
			return s.werr
		}
		if s.syncing {
			s.synced.Wait()
			continue
		}
		s.syncLocked(true)
	}
	return nil
}

// syncLocked is the one path that writes pending frames and fdatasyncs the
// active segment. It waits for a running sync, then writes and syncs
// everything written so far with mu released, so appenders keep writing
// (into pending) meanwhile. gather lets appenders on their way join first.
// A failure is sticky. Caller holds mu.
func (s *shard) syncLocked(gather bool) error {
	for s.syncing {
		s.synced.Wait()
	}
	if s.werr != nil {
		return s.werr
	}
	s.syncing = true
	if gather {
		s.gatherLocked()
	}
	target := s.written
	seg, buf, off := s.active(), s.pending, s.diskOff
	s.pending, s.spare = s.spare[:0], nil
	s.mu.Unlock()
	var err error
	if len(buf) > 0 {
		if _, err = seg.f.WriteAt(buf, off); err != nil {
			err = &writeError{fmt.Errorf("shardlog/file: write %s: %w", seg.path, err)}
		}
	}
	if err == nil {
		if err = seg.f.Sync(); err != nil {
			err = &syncError{fmt.Errorf("shardlog/file: sync %s: %w", seg.path, err)}
		}
	}
	s.mu.Lock()
	s.syncing = false
	s.spare = buf
	if err != nil {
		s.failLocked(seg.path, err)
	} else {
		s.diskOff = max(s.diskOff, off+int64(len(buf)))
		if target.pos > s.durable.pos || target.seg != s.durable.seg {
			s.durable = target
		}
		if s.written.pos == target.pos {
			s.dirty = false
		}
		s.publishLocked(target)
	}
	s.synced.Broadcast()
	return s.werr
}

// gatherLocked lets appenders already on their way write before the
// leader's fdatasync, so that one sync covers them too. Without it, the
// first appender back after a sync would lead the next one alone, and
// group commit would sync a few records at a time. It yields while records
// keep arriving, for at most gatherWindow; a lone appender pays one yield.
// Caller holds mu, and has set syncing so arrivals write and wait.
func (s *shard) gatherLocked() {
	deadline := time.Now().Add(gatherWindow)
	for range 64 {
		before := s.written.pos
		s.mu.Unlock()
		runtime.Gosched()
		s.mu.Lock()
		if s.written.pos == before && s.arriving.Load() == 0 || time.Now().After(deadline) {
			return
		}
	}
}

// gatherWindow bounds how long a group-commit leader waits for company.
const gatherWindow = 200 * time.Microsecond

// publishLocked makes records up to m visible to readers and wakes them.
func (s *shard) publishLocked(m mark) {
	if m.pos <= s.visible.pos && m.seg == s.visible.seg {
		return
	}
	s.visible = m
	if s.watched {
		close(s.notify)
		s.notify = make(chan struct{})
		s.watched = false
	}
}

// rollLocked syncs and closes the active segment for appends, writes its
// index file, and starts a new segment named by base.
func (s *shard) rollLocked(base uint64) error {
	s.rolling = true
	defer func() {
		s.rolling = false
		s.synced.Broadcast()
	}()
	seg := s.active()
	if err := s.syncLocked(false); err != nil {
		return err
	}
	// Cut the preallocated zeros: a full segment ends at its last frame.
	if err := seg.f.Truncate(seg.size); err != nil {
		return &writeError{err}
	}
	if err := seg.f.Sync(); err != nil {
		return &syncError{err}
	}
	seg.full = true
	if err := writeIndex(s.e.fs, seg, groupLocs(s.activeLocs)); err != nil {
		// The index is an optimisation: a missing one is rebuilt by a scan.
		s.e.logger.Warn("shardlog/file: write index", "path", seg.path, "err", err)
	}
	s.activeLocs = nil
	next, err := s.usePreparedLocked(base)
	if next == nil && err == nil {
		next, err = createSegment(s.e.fs, s.dir, s.index, base)
	}
	if err != nil {
		return err
	}
	seg.detach() // full: read by opening the file
	s.segs = append(s.segs, next)
	s.diskOff = next.size
	s.startPrepareLocked()
	return nil
}

// writableLocked returns why the shard takes no appends, or nil.
func (s *shard) writableLocked() error {
	switch {
	case s.werr != nil:
		return s.werr
	case s.dropped:
		return errDropped
	case s.sealed:
		return shardlog.ErrShardSealed
	}
	return nil
}

// syncIfDirty syncs the active segment (SyncInterval's background pass).
func (s *shard) syncIfDirty() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty || s.werr != nil || s.syncing || s.dropped {
		return
	}
	s.syncLocked(false)
}

// checkLocked applies a conditional append's check. Caller holds mu.
func (s *shard) checkLocked(cond *shardlog.Condition) error {
	actual := cond.Inherited
	locs := s.keys[cond.PartitionKey]
	if len(locs) > 0 {
		loc := locs[len(locs)-1]
		live, err := s.arrivedSinceLocked(loc, cond.Horizon)
		if err != nil {
			return err
		}
		if live {
			actual = shardlog.MakeSequenceNumber(loc.pos, s.index)
		}
	}
	if actual != cond.Expected {
		return &shardlog.ConflictError{PartitionKey: cond.PartitionKey, Expected: cond.Expected, Actual: actual}
	}
	return nil
}

// arrivedSinceLocked reports whether the record at loc arrived at or after
// t, reading its frame only when its segment straddles t.
func (s *shard) arrivedSinceLocked(loc keyLoc, t time.Time) (bool, error) {
	seg := s.locateLocked(loc.pos)
	if seg == nil {
		return false, nil // trimmed
	}
	if seg == s.active() && int64(loc.off) >= s.diskOff {
		return true, nil // not on disk yet: appended just now
	}
	tn := t.UnixNano()
	if seg.firstArr >= tn {
		return true, nil
	}
	if seg.lastArr < tn {
		return false, nil
	}
	limit := seg.size
	if seg == s.active() {
		limit = s.diskOff
	}
	fr, err := seg.readFrameAt(int64(loc.off), limit)
	if err != nil {
		return false, err
	}
	return fr.Arrival >= tn, nil
}

// locateLocked returns the segment holding position pos, or nil. Caller
// holds mu.
func (s *shard) locateLocked(pos uint64) *segment {
	for i := len(s.segs) - 1; i >= 0; i-- {
		seg := s.segs[i]
		if seg.count > 0 && seg.firstPos <= pos {
			if seg.lastPos >= pos {
				return seg
			}
			return nil
		}
	}
	return nil
}

// segView is a reader's copy of a segment's summary, taken under the
// shard's mutex, with the offset it may read up to.
type segView struct {
	*segment
	count    int64
	firstPos uint64
	lastPos  uint64
	firstArr int64
	lastArr  int64
	sparse   []sparseEntry
	limit    int64
	base     uint64
}

// snapshotLocked copies the summaries of segs. Caller holds mu.
func (s *shard) snapshotLocked() []segView {
	out := make([]segView, len(s.segs))
	for i, seg := range s.segs {
		limit := int64(segmentHeaderSize) // newer than the visible mark
		switch {
		case seg == s.visible.seg:
			limit = s.visible.off
		case seg.full:
			limit = seg.size
		}
		out[i] = segView{segment: seg, count: seg.count, firstPos: seg.firstPos, lastPos: seg.lastPos,
			firstArr: seg.firstArr, lastArr: seg.lastArr, sparse: seg.sparse, limit: limit, base: seg.base}
	}
	return out
}

// segmentOf returns the segment of segs holding position pos, or nil.
func segmentOf(segs []segView, pos uint64) *segView {
	i := sort.Search(len(segs), func(i int) bool {
		if segs[i].count == 0 {
			return segs[i].base > pos
		}
		return segs[i].firstPos > pos
	})
	for j := i - 1; j >= 0; j-- {
		if segs[j].count > 0 {
			if segs[j].lastPos >= pos {
				return &segs[j]
			}
			return nil
		}
	}
	return nil
}

// view is a reader's snapshot: the segments it holds references to and the
// last visible record.
type view struct {
	segs    []segView
	visible mark
}

func (s *shard) viewLocked() view {
	v := view{segs: s.snapshotLocked(), visible: s.visible}
	for _, seg := range v.segs {
		seg.acquire()
	}
	return v
}

func (s *shard) view() view {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewLocked()
}

func (v view) release() {
	for _, seg := range v.segs {
		seg.release()
	}
}

func (s *shard) read(ctx context.Context, from shardlog.SequenceNumber, max, maxBytes int) ([]shardlog.Record, error) {
	v := s.view()
	defer v.release()
	var out []shardlog.Record
	size := 0
	start := from.Position()
	for _, seg := range v.segs {
		if seg.count == 0 || seg.lastPos < start {
			continue
		}
		sc := newScanner(seg.segment, seg.seekPos(seg.sparse, start), seg.limit)
		for {
			fr, _, _, ok := sc.next()
			if !ok {
				break
			}
			if fr.Position < start {
				continue
			}
			if fr.Position > v.visible.pos {
				return out, nil
			}
			rs := len(fr.Key) + len(fr.Data)
			if len(out) > 0 && size+rs > maxBytes {
				return out, nil
			}
			size += rs
			out = append(out, s.record(fr))
			if len(out) >= max {
				return out, nil
			}
		}
		if errors.Is(sc.err, errSegmentGone) {
			continue // trimmed since the view was taken
		}
		if sc.err != nil {
			return nil, sc.err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// record turns a frame into a Record. The key string aliases the frame's
// buffer, which is never reused or written after the read.
func (s *shard) record(fr frame) shardlog.Record {
	return shardlog.Record{
		SequenceNumber:              shardlog.MakeSequenceNumber(fr.Position, s.index),
		ApproximateArrivalTimestamp: time.Unix(0, fr.Arrival),
		PartitionKey:                unsafe.String(unsafe.SliceData(fr.Key), len(fr.Key)),
		Data:                        fr.Data,
	}
}

func (s *shard) seekTime(t time.Time) (shardlog.SequenceNumber, bool, error) {
	v := s.view()
	defer v.release()
	tn := t.UnixNano()
	for _, seg := range v.segs {
		if seg.count == 0 || seg.lastArr < tn {
			continue
		}
		sc := newScanner(seg.segment, seg.seekTime(seg.sparse, tn), seg.limit)
		for {
			fr, _, _, ok := sc.next()
			if !ok {
				break
			}
			if fr.Position > v.visible.pos {
				return shardlog.SequenceNumber{}, false, nil
			}
			if fr.Arrival >= tn {
				return shardlog.MakeSequenceNumber(fr.Position, s.index), true, nil
			}
		}
		if errors.Is(sc.err, errSegmentGone) {
			continue // trimmed since the view was taken
		}
		if sc.err != nil {
			return shardlog.SequenceNumber{}, false, sc.err
		}
	}
	return shardlog.SequenceNumber{}, false, nil
}

// keyLocs returns up to max visible locations of key after position after,
// with a view to read them through.
func (s *shard) keyLocs(key string, after uint64, max int, last bool) ([]keyLoc, view) {
	s.mu.Lock()
	defer s.mu.Unlock()
	locs := s.keys.after(key, after)
	// Only visible records.
	n := sort.Search(len(locs), func(i int) bool { return locs[i].pos > s.visible.pos })
	locs = locs[:n]
	if last && len(locs) > 1 {
		locs = locs[len(locs)-1:]
	}
	if len(locs) > max {
		locs = locs[:max]
	}
	return slices.Clone(locs), s.viewLocked()
}

func (s *shard) readKey(key string, after uint64, max int, last bool) ([]shardlog.Record, error) {
	locs, v := s.keyLocs(key, after, max, last)
	defer v.release()
	out := make([]shardlog.Record, 0, len(locs))
	for _, l := range locs {
		seg := segmentOf(v.segs, l.pos)
		if seg == nil {
			continue // trimmed since the index was read
		}
		fr, err := seg.readFrameAt(int64(l.off), seg.limit)
		if errors.Is(err, errSegmentGone) {
			continue // trimmed since the view was taken
		}
		if err != nil {
			return nil, err
		}
		if fr.Position != l.pos || string(fr.Key) != key {
			return nil, &CorruptError{Path: seg.path, Offset: int64(l.off), Reason: "key index points at another record"}
		}
		out = append(out, s.record(fr))
	}
	return out, nil
}

func (s *shard) bounds() shardlog.ShardBounds {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.boundsLocked()
}

func (s *shard) boundsLocked() shardlog.ShardBounds {
	b := shardlog.ShardBounds{Sealed: s.sealed, Count: s.visible.count}
	if s.visible.count == 0 {
		return b
	}
	for _, seg := range s.segs {
		if seg.count > 0 {
			b.First = shardlog.MakeSequenceNumber(seg.firstPos, s.index)
			b.FirstArrival = time.Unix(0, seg.firstArr)
			break
		}
	}
	b.Last = shardlog.MakeSequenceNumber(s.visible.pos, s.index)
	b.LastArrival = time.Unix(0, s.visible.arrival)
	return b
}

// seal closes the shard for appends, once every written record is durable.
func (s *shard) seal() (shardlog.SequenceNumber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.rolling {
		s.synced.Wait()
	}
	if s.dropped {
		return shardlog.SequenceNumber{}, errDropped
	}
	if !s.sealed {
		s.sealed = true
		if s.werr == nil && (s.written.pos > s.durable.pos || len(s.pending) > 0) {
			s.syncLocked(false)
		}
		if s.werr != nil {
			return shardlog.SequenceNumber{}, s.werr
		}
		s.publishLocked(s.written)
		if s.watched {
			close(s.notify)
			s.notify = make(chan struct{})
			s.watched = false
		}
	}
	if s.written.pos == 0 {
		return shardlog.SequenceNumber{}, nil
	}
	return shardlog.MakeSequenceNumber(s.written.pos, s.index), nil
}

// trim deletes full segments whose records all arrived before t.
func (s *shard) trim(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tn := t.UnixNano()
	n := 0
	for n < len(s.segs)-1 && s.segs[n].full && s.segs[n].lastArr < tn {
		n++
	}
	if n == 0 {
		return nil
	}
	var removed int64
	for _, seg := range s.segs[:n] {
		removed += seg.count
		seg.removed.Store(true) // before the file goes: readers then skip it
		if err := s.e.fs.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := s.e.fs.Remove(indexPath(seg.path)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		seg.release()
	}
	s.segs = slices.Delete(s.segs, 0, n)
	s.written.count -= removed
	s.durable.count -= removed
	s.visible.count -= removed
	first := s.segs[0].base
	if s.segs[0].count > 0 {
		first = s.segs[0].firstPos
	}
	s.keys.pruneBelow(first)
	return s.e.fs.SyncDir(s.dir)
}

// watch returns the channel closed on the next publish or seal.
func (s *shard) watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped {
		return closedChan
	}
	s.watched = true
	return s.notify
}

// close syncs what was written and closes the files. dropped marks the
// state as gone (its files are being deleted).
func (s *shard) close(drop bool) error {
	_, err := s.shut(drop, false)
	return err
}

// shutState is what a closed shard leaves behind (see idleShard).
type shutState struct {
	notify chan struct{} // the channel Notify waiters hold, when park and watched
	sealed bool
	werr   error // the sticky error it had
	// When werr is nil: its bounds, and the arrival time after which Trim
	// has a segment to delete (math.MaxInt64: none).
	bounds   shardlog.ShardBounds
	trimFrom int64
}

// shut is close that, with park, keeps the Notify channel open for the
// shard's next opening instead of waking its waiters.
func (s *shard) shut(drop, park bool) (shutState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.syncing || s.rolling {
		s.synced.Wait()
	}
	var err error
	if !drop && s.werr == nil && (s.dirty || s.written.pos > s.durable.pos || len(s.pending) > 0) {
		err = s.syncLocked(false)
	}
	if !drop && s.failed.Load() == failedWrite && len(s.segs) > 0 {
		// A write failed: what was written before it (acknowledged under
		// SyncInterval and SyncNever) is synced now, as the interval
		// syncer no longer sees the shard once it is closed. A torn tail
		// synced with it is cut by recovery when the shard reopens.
		seg := s.active()
		if serr := seg.f.Sync(); serr != nil {
			err = &syncError{fmt.Errorf("shardlog/file: sync %s: %w", seg.path, serr)}
			s.failed.Store(failedSync)
			s.e.faults.note(s.e.logger, s.key(), seg.path, err, true)
		}
	}
	st := shutState{sealed: s.sealed, werr: s.werr, bounds: s.boundsLocked(), trimFrom: math.MaxInt64}
	if len(s.segs) > 1 && s.segs[0].full {
		st.trimFrom = s.segs[0].lastArr
	}
	s.dropped = true
	if s.werr == nil {
		s.werr = errDropped
	}
	if s.prepared != "" {
		_ = s.e.fs.Remove(s.prepared)
		s.prepared = ""
	}
	if park && s.watched {
		st.notify = s.notify
	} else {
		close(s.notify)
	}
	s.files(-int(s.nfiles.Load()))
	for _, seg := range s.segs {
		seg.removed.Store(true)
		seg.release()
	}
	s.segs = nil
	s.synced.Broadcast()
	return st, err
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
