package file

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/internal/durable"
	"github.com/shoal-dev/shoal/shardlog"
)

// Offline inspection and repair (shoal check). Check reads a data
// directory the way recovery would and reports what recovery would refuse;
// Repair moves the bytes that fail aside (salvage.go) so the engine opens
// again, or a stream directory the engine does not serve (owner.go). Both reuse the engine's own scanner and recovery decisions, so
// their verdicts are the engine's.

// quarantineDir holds the bytes Repair cut out of segments:
// DIR/quarantine/s-<stream>/<shard ID>/<segment name>.<offset>.bad.
const quarantineDir = "quarantine"

// CheckReport is what Check found in a data directory.
type CheckReport struct {
	// Dir is the directory checked, as given to Check.
	Dir string
	// Shards has one entry per shard listed in a readable stream.json, in
	// stream and shard order.
	Shards []ShardReport
	// Problems lists every problem found, in the order found: the shards'
	// ones, and the streams the engine does not serve: a damaged
	// stream.json (Path is the stream.json), shard data without its
	// stream.json (Path is the stream directory), shard data of another
	// stream ID (Path is its stream-id). The engine refuses the shard, or
	// leaves the stream out, until each of them is repaired.
	Problems []*CorruptError
	// Notes are findings outside any shard that need no repair: a stream
	// directory with neither stream.json nor shard data, data written
	// before stream-id existed, a shard directory the metadata does not
	// list.
	Notes []string
}

// Clean reports whether Check found no problem.
func (r *CheckReport) Clean() bool { return len(r.Problems) == 0 }

// ShardReport is Check's summary of one shard. The counts cover what
// recovery would keep: frames up to a torn tail, or up to the first
// problem of each segment.
type ShardReport struct {
	Stream  string
	ShardID string
	Index   uint32 // the shard's index, from stream.json
	Dir     string // the shard's directory (it may not exist: no records yet)
	// Segments is the number of segment files.
	Segments int
	// Records is the number of valid records.
	Records int64
	// Bytes is the size of the segments' headers and valid frames: the
	// zero-filled end of a preallocated segment, a torn tail and bytes
	// after a problem are not counted.
	Bytes int64
	// FirstPosition and LastPosition are the sequencer positions of the
	// first and last valid records (zero when there are none); see
	// shardlog.SequenceNumber.Position.
	FirstPosition uint64
	LastPosition  uint64
	// Problems are the corruptions the engine would refuse the shard for
	// (at most one per segment: the first; a segment is not read past it).
	Problems []*CorruptError
	// Notes are findings that need no repair: a torn tail recovery will
	// truncate, a missing or stale index recovery will rebuild.
	Notes []string
}

// Check inspects the data directory of a file engine and reports, per
// shard, its segments, records and positions, and every problem that would
// make the engine refuse a shard. It never writes anything, and it takes
// the directory lock (shared), so it fails with ErrLocked while an Engine
// has the directory open, and an Engine cannot open it while Check runs. (A
// directory without a LOCK file was never opened by an engine; Check reads
// it unlocked rather than create one.)
//
// Each stream directory must have a stream.json that parses, and its shard
// data must be that stream's (its stream-id names the stream.json's ID;
// see owner.go), or it is a problem. For every such stream and every shard
// it lists,
// Check reads every segment in order: it verifies the header, scans every
// frame (CRC, and positions strictly increasing within and across the
// shard's segments), and compares each full segment (every one but the
// last) with its index file. A missing or stale index is a note: the engine
// rebuilds it. An index the engine would trust but that disagrees with its
// segment is a problem (its Path is the index file). The active (last)
// segment's tail is judged as recovery judges it: zeros after the last
// frame are the unused end of a preallocated file; a torn tail (bad bytes
// with no valid frame after them, or an incomplete last batch) is a note,
// since recovery truncates it; a bad frame followed by a valid frame is a
// problem. A bad frame in a full segment is a problem.
//
// Each problem is a *CorruptError naming the file and the byte offset where
// the damage starts; pass it to Repair. An error is returned only when
// Check cannot do its job (the directory is locked or unreadable).
//
// Of the options, only WithFS is used.
func Check(dir string, opts ...Option) (*CheckReport, error) {
	o := toolOptions(opts)
	if _, err := o.fs.ReadDir(dir); err != nil {
		return nil, fmt.Errorf("shardlog/file: check %s: %w", dir, err)
	}
	lock, err := lockDirShared(dir)
	if err != nil {
		return nil, fmt.Errorf("shardlog/file: lock %s: %w", dir, err)
	}
	if lock != nil {
		defer durable.Unlock(lock)
	}
	c := &checker{
		fs:  o.fs,
		sh:  &shard{e: &Engine{dir: dir, fs: o.fs, logger: o.logger}},
		rep: &CheckReport{Dir: dir},
	}
	entries, err := o.fs.ReadDir(filepath.Join(dir, streamsDir))
	if errors.Is(err, fs.ErrNotExist) {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%s has no %s directory: no engine has used it", dir, streamsDir))
		return c.rep, nil
	}
	if err != nil {
		return nil, err
	}
	for _, de := range entries {
		if !de.IsDir() || !strings.HasPrefix(de.Name(), streamDirPrefix) {
			continue
		}
		if err := c.stream(filepath.Join(dir, streamsDir, de.Name())); err != nil {
			return nil, err
		}
	}
	return c.rep, nil
}

// toolOptions applies opts over the defaults Check and Repair use.
func toolOptions(opts []Option) options {
	o := options{fs: OS(), logger: slog.New(slog.DiscardHandler)}
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
	return o
}

// checker walks a data directory for Check.
type checker struct {
	fs  FS
	sh  *shard // a shard with no state, for the engine's scan and recovery helpers
	rep *CheckReport
}

func (c *checker) stream(sdir string) error {
	st, err := inspectStream(c.fs, sdir)
	if err != nil {
		return err
	}
	if p := st.problem(); p != nil {
		c.rep.Problems = append(c.rep.Problems, p)
		return nil
	}
	path := filepath.Join(sdir, metaFile)
	if st.metaMissing {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%s has no %s and no shard data (a creation that did not complete): the engine ignores it", sdir, metaFile))
		return nil
	}
	m := *st.meta
	if !st.hasOwner && st.hasData {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%s has no %s (written before it existed): the engine adopts the data for stream ID %d, as %s says, at its next start",
			filepath.Join(sdir, shardsDir), ownerFile, m.ID, metaFile))
	}
	if want := streamDirPrefix + m.Name; filepath.Base(sdir) != want {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%s names stream %q, whose directory would be %s: the engine does not read this one", path, m.Name, want))
		return nil
	}
	listed := map[string]bool{}
	for _, sm := range m.Shards {
		listed[sm.ID] = true
		if err := c.shard(m.Name, sm, filepath.Join(sdir, shardsDir, sm.ID)); err != nil {
			return err
		}
	}
	entries, err := c.fs.ReadDir(filepath.Join(sdir, shardsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, de := range entries {
		if de.IsDir() && !listed[de.Name()] {
			c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%s is not a shard of %s (a shard dropped by retention?): the engine never opens it; not checked",
				filepath.Join(sdir, shardsDir, de.Name()), path))
		}
	}
	return nil
}

// shardCheck is the state of one shard's check.
type shardCheck struct {
	*checker
	r    *ShardReport
	prev uint64 // the last valid position in the segments checked so far
}

func (sc *shardCheck) problem(p *CorruptError) {
	sc.r.Problems = append(sc.r.Problems, p)
	sc.rep.Problems = append(sc.rep.Problems, p)
}

func (sc *shardCheck) note(format string, args ...any) {
	sc.r.Notes = append(sc.r.Notes, fmt.Sprintf(format, args...))
}

// keep counts the valid frames of seg (its summary) in the shard's report.
func (sc *shardCheck) keep(seg *segment) {
	sc.r.Bytes += seg.size
	if seg.count == 0 {
		return
	}
	sc.r.Records += seg.count
	if sc.r.FirstPosition == 0 {
		sc.r.FirstPosition = seg.firstPos
	}
	sc.r.LastPosition = seg.lastPos
	sc.prev = seg.lastPos
}

func (c *checker) shard(stream string, sm shardlog.ShardMeta, dir string) error {
	c.rep.Shards = append(c.rep.Shards, ShardReport{Stream: stream, ShardID: sm.ID, Index: sm.Index, Dir: dir})
	r := &c.rep.Shards[len(c.rep.Shards)-1]
	entries, err := c.fs.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // created on first use
	}
	if err != nil {
		return err
	}
	var bases []uint64
	for _, de := range entries {
		if b, ok := parseSegmentName(de.Name()); ok {
			bases = append(bases, b)
		}
	}
	slices.Sort(bases)
	r.Segments = len(bases)
	sc := &shardCheck{checker: c, r: r}
	for i, base := range bases {
		if err := sc.segment(filepath.Join(dir, segmentName(base)), sm.Index, base, i == len(bases)-1); err != nil {
			return err
		}
	}
	return nil
}

// segment checks one segment file, as openShard would open it.
func (sc *shardCheck) segment(path string, shardIndex uint32, base uint64, last bool) error {
	f, err := sc.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fileSize := st.Size()
	seg := &segment{path: path, base: base, f: f, size: segmentHeaderSize}

	// The header, as openSegment and openShard judge it.
	noHeader := &CorruptError{Path: path, Reason: "segment without a header before the last one"}
	if fileSize < segmentHeaderSize {
		if !last {
			sc.problem(noHeader)
		} else {
			sc.note("%s: header incomplete (%d bytes), recovery will rewrite it", path, fileSize)
		}
		return nil
	}
	h := make([]byte, segmentHeaderSize)
	if _, err := f.ReadAt(h, 0); err != nil {
		return err
	}
	want := segmentHeader(shardIndex, base)
	if tornHeader(h, want) {
		if !last {
			sc.problem(noHeader)
			return nil
		}
		// Recovery rewrites such a header and truncates the file to it:
		// right for a prepared file (only zeros follow), not for data.
		zero, err := zeroTail(seg, segmentHeaderSize, fileSize)
		if err != nil {
			return err
		}
		if !zero {
			sc.problem(&CorruptError{Path: path, Reason: "segment header cut short, with data after it (recovery would discard the data)"})
			return nil
		}
		sc.note("%s: header incomplete, recovery will rewrite it", path)
		sc.r.Bytes += segmentHeaderSize
		return nil
	}
	if !bytes.Equal(h, want) {
		sc.problem(&CorruptError{Path: path, Reason: "segment header does not match its name and shard"})
		return nil
	}
	if last {
		return sc.active(seg, fileSize)
	}
	return sc.full(seg, fileSize)
}

// orderProblem reports the first frame of seg if it is not above the
// positions of the shard's earlier segments (recovery checks order only
// within a segment).
func (sc *shardCheck) orderProblem(seg *segment) *CorruptError {
	if seg.count > 0 && seg.firstPos <= sc.prev {
		return &CorruptError{Path: seg.path, Offset: segmentHeaderSize,
			Reason: fmt.Sprintf("position %d is not above %d, the last one of the segment before", seg.firstPos, sc.prev)}
	}
	return nil
}

// full checks a full segment as loadSealed would scan it, then compares it
// with its index file.
func (sc *shardCheck) full(seg *segment, fileSize int64) error {
	locs, _, err := sc.sh.scanBatches(seg, fileSize)
	if p := sc.orderProblem(seg); p != nil {
		sc.problem(p)
		sc.r.Bytes += segmentHeaderSize
		return nil
	}
	var fe *frameError
	var ce *CorruptError
	switch {
	case err == nil:
	case errors.As(err, &fe):
		zero, zerr := zeroTail(seg, seg.size, fileSize)
		if zerr != nil {
			return zerr
		}
		if !zero {
			sc.problem(fe.CorruptError)
			sc.keep(seg)
			return nil
		}
		sc.note("%s: %d zero bytes after the last frame of a full segment (a roll cut short), recovery will truncate them",
			seg.path, fileSize-seg.size)
	case errors.As(err, &ce):
		sc.problem(ce)
		sc.keep(seg)
		return nil
	default:
		return err
	}
	sc.keep(seg)
	return sc.index(seg, fileSize, locs)
}

// index compares a full segment's index file with what a scan found.
func (sc *shardCheck) index(seg *segment, fileSize int64, locs []activeLoc) error {
	path := indexPath(seg.path)
	b, err := sc.fs.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		sc.note("%s: no index, the engine rebuilds it by a scan", seg.path)
		return nil
	}
	if err != nil {
		return err
	}
	got := &segment{path: seg.path, base: seg.base}
	keys := keyIndex{}
	if decodeIndex(b, got, fileSize, keys) != nil {
		sc.note("%s: stale index, the engine rebuilds it by a scan", path)
		return nil
	}
	want := groupLocs(locs)
	var what string
	switch {
	case got.size != seg.size || got.count != seg.count:
		what = fmt.Sprintf("%d records in %d bytes, the segment has %d in %d", got.count, got.size, seg.count, seg.size)
	case got.firstPos != seg.firstPos || got.lastPos != seg.lastPos || got.firstArr != seg.firstArr || got.lastArr != seg.lastArr:
		what = "first or last position or arrival time"
	case !slices.Equal(got.sparse, seg.sparse):
		what = "sparse index"
	case len(keys) != len(want):
		what = fmt.Sprintf("%d partition keys, the segment has %d", len(keys), len(want))
	default:
		for k, l := range want {
			if !slices.Equal(keys[k], l) {
				what = fmt.Sprintf("records of partition key %q", k)
				break
			}
		}
	}
	if what != "" {
		sc.problem(&CorruptError{Path: path, Reason: "index disagrees with its segment (" + what + "); the engine would trust it"})
	}
	return nil
}

// active checks the active segment and judges its tail as recoverActive
// would, without truncating anything.
func (sc *shardCheck) active(seg *segment, fileSize int64) error {
	_, batchEnd, err := sc.sh.scanBatches(seg, fileSize)
	if p := sc.orderProblem(seg); p != nil {
		sc.problem(p)
		sc.r.Bytes += segmentHeaderSize
		return nil
	}
	var fe *frameError
	if err != nil && !errors.As(err, &fe) {
		var ce *CorruptError
		if !errors.As(err, &ce) {
			return err
		}
		sc.problem(ce) // positions out of order
		sc.keep(seg)
		return nil
	}
	if fe != nil && batchEnd == seg.size {
		zero, zerr := zeroTail(seg, seg.size, fileSize)
		if zerr != nil {
			return zerr
		}
		if zero {
			fe, fileSize = nil, seg.size // the unused end of a preallocated file
		}
	}
	if fe != nil {
		torn, terr := sc.sh.tornTail(seg, fe, fileSize)
		if terr != nil {
			return terr
		}
		if !torn {
			sc.problem(fe.CorruptError)
			sc.keep(seg)
			return nil
		}
	}
	if batchEnd < seg.size {
		// Recovery drops the frames of a batch whose last frame is missing.
		*seg = segment{path: seg.path, base: seg.base, f: seg.f, size: segmentHeaderSize}
		if _, err := sc.sh.scan(seg, batchEnd); err != nil {
			return err
		}
	}
	if seg.size < fileSize {
		sc.note("%s: torn tail of %d bytes at offset %d, recovery will truncate it", seg.path, fileSize-seg.size, seg.size)
	}
	sc.keep(seg)
	return nil
}

// RepairResult says what Repair did.
type RepairResult struct {
	// Path is the file repaired: the segment (or index file) of the
	// problem, or the Path of a stream's problem.
	Path string
	// Offset is where the first bytes moved to quarantine start: the
	// problem's offset, or the start of the batch holding it when frames
	// of that batch come before it (batches are all or nothing). Zero when
	// the whole file was moved aside.
	Offset int64
	// Quarantine is the first file holding bytes moved aside (see Files),
	// or where a stream directory went.
	Quarantine string
	// Bytes is how many bytes were moved to quarantine, in all.
	Bytes int64
	// Frames is how many complete, valid frames were found in those bytes
	// (best effort: a scan for frames at every offset; in long runs of
	// garbage it gives up early, so it is then a lower bound).
	Frames int
	// Removed is set when the whole file was moved aside: the problem was
	// in a segment's header, or it was an index file.
	Removed bool
	// IndexRemoved is set when the segment's index file was deleted (the
	// engine rebuilds it by a scan).
	IndexRemoved bool
	// IndexRebuilt is set when a full segment was salvaged and its index
	// file written anew.
	IndexRebuilt bool
	// Salvaged is how many valid frames after the damage were kept in the
	// segment.
	Salvaged int
	// Files are the quarantine files written, in offset order (Quarantine
	// is the first): one per run of bad bytes.
	Files []string
	// Stream is set when the problem was a whole stream's (its stream.json
	// missing with shard data left, damaged, or of another stream ID): its
	// directory was moved, whole, to Quarantine, under DIR/orphans. Removed
	// is set too.
	Stream bool
}

// Repair repairs one problem that Check reported, so that the engine opens
// the shard normally again. It takes the directory lock (ErrLocked while an
// Engine has the directory open).
//
// For a problem in a segment, Repair salvages. From the problem's offset it
// looks for the next offset where a valid frame starts (a sane length that
// fits, a position above the last valid one, an arrival time not before
// it, a matching CRC-32C), and goes on reading frames from there; every
// run of bytes that fails is copied to
// DIR/quarantine/s-<stream>/<shard ID>/<segment name>.<offset>.bad (the
// file, then its directories, synced). A batch is all or nothing: the
// frames of the damaged frame's batch go with it, those before it (the
// cut moves back to the batch's start) and those after it (they share its
// arrival time). A zero-filled end (an unused preallocated tail) is
// dropped. Then the segment is replaced atomically (a new file, synced,
// renamed over it, the directory synced) by its header, the frames before
// the damage and the valid frames after it; the index file of a full
// segment is rewritten, an active segment's removed. If the frame at the
// offset is valid (positions out of order with the segment before), the
// segment is truncated at the offset instead, as nothing in it can be
// trusted. A problem in the segment header (offset below 32) moves the
// whole segment file to quarantine. A problem whose Path is an index file
// moves that file to quarantine.
//
// Repair loses only what fails: the damaged frames and the rest of their
// batches. The bytes are kept in quarantine for forensics;
// RepairResult.Frames says how many complete frames they held (the valid
// frames of a damaged batch) and RepairResult.Salvaged how many valid
// frames after the damage stayed in the log. Later segments are left
// untouched. After a repair the engine opens normally; Check reports the
// shard clean unless it has another problem.
//
// For a problem of a whole stream (Path its directory, stream.json or
// stream-id: shard data without stream.json, damaged stream.json, shard
// data of another stream ID), Repair moves the stream directory, whole, to
// DIR/orphans/s-<stream>.<what>.<UTC time> (what: orphan-of-stream-<ID>,
// orphan, damaged-metadata); nothing is deleted.
//
// Repair refuses (returns an error, changing nothing) when p.Path is not a
// segment or index file of a shard under dir, or a stream's, when p.Offset
// is past the end of the segment, or when it is not the end of the valid
// frames before it, or when a stream's problem is gone (the directory
// changed since the check, or p did not come from Check). Of the options,
// only WithFS is used.
func Repair(dir string, p *CorruptError, opts ...Option) (*RepairResult, error) {
	if p == nil {
		return nil, errors.New("shardlog/file: repair: no problem given")
	}
	o := toolOptions(opts)
	if sdir, ok := streamTarget(dir, p.Path); ok {
		return repairStream(dir, sdir, p, o)
	}
	streamName, shardID, name, err := repairTarget(dir, p.Path)
	if err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("shardlog/file: lock %s: %w", dir, err)
	}
	if lock != nil {
		defer durable.Unlock(lock)
	}
	shardDir := filepath.Join(dir, streamsDir, streamName, shardsDir, shardID)
	path := filepath.Join(shardDir, name)
	if st, err := os.Lstat(path); err != nil {
		return nil, fmt.Errorf("shardlog/file: repair: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("shardlog/file: repair: %s is not a regular file", p.Path)
	}
	q := &quarantine{fs: o.fs, dir: dir, sub: []string{quarantineDir, streamName, shardID}, name: name}
	res := &RepairResult{Path: p.Path}

	if strings.HasSuffix(name, indexExt) {
		// An index the engine would trust wrongly: move it aside whole.
		b, err := o.fs.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := q.save(b, 0, res); err != nil {
			return nil, err
		}
		if err := o.fs.Remove(path); err != nil {
			return nil, err
		}
		res.Removed = true
		return res, o.fs.SyncDir(shardDir)
	}

	base, _ := parseSegmentName(name)
	f, err := o.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	fileSize := st.Size()
	if p.Offset < 0 || p.Offset > fileSize {
		return nil, fmt.Errorf("shardlog/file: repair: offset %d is outside %s (%d bytes)", p.Offset, p.Path, fileSize)
	}
	seg := &segment{path: path, base: base, f: f}
	cut := int64(0) // the whole file, for a header problem
	if p.Offset >= segmentHeaderSize {
		if cut, err = repairCut(seg, p.Offset); err != nil {
			return nil, err
		}
	}
	if cut == fileSize && cut > 0 {
		return nil, fmt.Errorf("shardlog/file: repair: nothing after offset %d in %s", cut, p.Path)
	}
	if cut > 0 {
		b := make([]byte, fileSize)
		if _, err := f.ReadAt(b, 0); err != nil {
			return nil, fmt.Errorf("shardlog/file: read %s: %w", path, err)
		}
		if plan := planSalvage(b, base, cut, p.Offset); plan != nil {
			return salvageSegment(o, q, seg, b, cut, plan, res)
		}
	}
	b := make([]byte, fileSize-cut)
	if _, err := f.ReadAt(b, cut); err != nil {
		return nil, fmt.Errorf("shardlog/file: read %s: %w", path, err)
	}
	if err := q.save(b, cut, res); err != nil {
		return nil, err
	}
	res.Offset = cut
	// The quarantine copy is durable: now cut. The index goes first (a
	// stale one would be rebuilt anyway, as its size no longer matches).
	switch err := o.fs.Remove(indexPath(path)); {
	case err == nil:
		res.IndexRemoved = true
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if cut == 0 {
		if err := o.fs.Remove(path); err != nil {
			return nil, err
		}
		res.Removed = true
	} else {
		if err := f.Truncate(cut); err != nil {
			return nil, fmt.Errorf("shardlog/file: truncate %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("shardlog/file: sync %s: %w", path, err)
		}
	}
	if err := o.fs.SyncDir(shardDir); err != nil {
		return nil, err
	}
	return res, nil
}

// streamTarget reports whether path is a stream directory under dir, its
// stream.json or its stream-id: the Paths of the problems of a whole
// stream. It returns the stream directory.
func streamTarget(dir, path string) (string, bool) {
	absDir, err1 := filepath.Abs(dir)
	absPath, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return "", false
	}
	rel, err := filepath.Rel(absDir, absPath)
	if err != nil || !filepath.IsLocal(rel) {
		return "", false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) < 2 || parts[0] != streamsDir || !strings.HasPrefix(parts[1], streamDirPrefix) {
		return "", false
	}
	switch {
	case len(parts) == 2,
		len(parts) == 3 && parts[2] == metaFile,
		len(parts) == 4 && parts[2] == shardsDir && parts[3] == ownerFile:
		return filepath.Join(dir, streamsDir, parts[1]), true
	}
	return "", false
}

// repairStream moves a stream directory the engine does not serve to
// DIR/orphans, after checking that it still has a problem.
func repairStream(dir, sdir string, p *CorruptError, o options) (*RepairResult, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("shardlog/file: lock %s: %w", dir, err)
	}
	if lock != nil {
		defer durable.Unlock(lock)
	}
	st, err := inspectStream(o.fs, sdir)
	if err != nil {
		return nil, fmt.Errorf("shardlog/file: repair: %w", err)
	}
	if st.problem() == nil {
		return nil, fmt.Errorf("shardlog/file: repair: %s has no problem now (changed since the check?): nothing moved", sdir)
	}
	dst, err := moveAside(o.fs, dir, sdir, st.asideName(), time.Now())
	if err != nil {
		return nil, fmt.Errorf("shardlog/file: repair: move %s aside: %w", sdir, err)
	}
	return &RepairResult{Path: p.Path, Quarantine: dst, Removed: true, Stream: true}, nil
}

// repairTarget checks that path is a segment or index file of a shard
// under dir, and returns its stream directory name (s-<stream>), shard ID
// and file name.
func repairTarget(dir, path string) (streamDirName, shardID, name string, err error) {
	refuse := func(why string) (string, string, string, error) {
		return "", "", "", fmt.Errorf("shardlog/file: repair: %s is not a segment of a shard in %s: %s", path, dir, why)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", "", "", err
	}
	absPath, err := filepath.Abs(path)
	if err != nil {
		return "", "", "", err
	}
	rel, err := filepath.Rel(absDir, absPath)
	if err != nil || !filepath.IsLocal(rel) {
		return refuse("outside the directory")
	}
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) != 5 || parts[0] != streamsDir || !strings.HasPrefix(parts[1], streamDirPrefix) || parts[2] != shardsDir {
		return refuse("not at " + filepath.Join(streamsDir, streamDirPrefix+"<stream>", shardsDir, "<shard>", "<file>"))
	}
	name = parts[4]
	segName := name
	if stem, ok := strings.CutSuffix(name, indexExt); ok {
		segName = stem + segmentExt
	}
	if _, ok := parseSegmentName(segName); !ok {
		return refuse("not a segment or index file name")
	}
	return parts[1], parts[3], name, nil
}

// repairCut returns where to cut seg for a problem at off: off itself, or
// the start of the batch holding the frame at off. The frames before off
// must be valid and in order, and off must be where one ends.
func repairCut(seg *segment, off int64) (int64, error) {
	sc := newScanner(seg, segmentHeaderSize, off)
	batchEnd := int64(segmentHeaderSize)
	var prev uint64
	for {
		fr, at, n, ok := sc.next()
		if !ok {
			break
		}
		if fr.Position <= prev || fr.Position < seg.base {
			return 0, fmt.Errorf("shardlog/file: repair: %s has positions out of order at offset %d, before %d: repair that first",
				seg.path, at, off)
		}
		prev = fr.Position
		if !fr.More {
			batchEnd = at + int64(n)
		}
	}
	if sc.err != nil {
		return 0, fmt.Errorf("shardlog/file: repair: offset %d in %s does not follow a valid frame (changed since the check?): %w", off, seg.path, sc.err)
	}
	return batchEnd, nil
}

// quarantine writes the bytes Repair moves aside.
type quarantine struct {
	fs   FS
	dir  string   // the data directory
	sub  []string // the quarantine directory's path under dir
	name string   // the repaired file's name
}

// save writes b, cut from offset off of the file, to a new quarantine file,
// durably (the file, then its directory and every directory up to dir), and
// adds it to res.
func (q *quarantine) save(b []byte, off int64, res *RepairResult) error {
	qdir := filepath.Join(append([]string{q.dir}, q.sub...)...)
	if err := q.fs.MkdirAll(qdir, 0o700); err != nil {
		return err
	}
	var path string
	for i := 0; ; i++ {
		suffix := ""
		if i > 0 {
			suffix = "." + strconv.Itoa(i)
		}
		path = filepath.Join(qdir, fmt.Sprintf("%s.%d%s.bad", q.name, off, suffix))
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			break
		} else if err != nil {
			return err
		}
	}
	if err := writeFileAtomic(q.fs, path, b, false); err != nil {
		return fmt.Errorf("shardlog/file: quarantine %s: %w", path, err)
	}
	for d := qdir; ; d = filepath.Dir(d) {
		if err := q.fs.SyncDir(d); err != nil {
			return err
		}
		if d == filepath.Clean(q.dir) || d == filepath.Dir(d) {
			break
		}
	}
	if res.Quarantine == "" {
		res.Quarantine = path
	}
	res.Files = append(res.Files, path)
	res.Bytes += int64(len(b))
	res.Frames += countFrames(b)
	return nil
}

// countFrames counts the valid frames in b, looking for one at every offset
// after bytes that are not one. Garbage can announce plausible lengths, each
// costing a CRC over up to that many bytes, so the work is bounded: past it
// the count is a lower bound.
func countFrames(b []byte) int {
	n, budget := 0, 16*int64(len(b))+64<<20
	for i := 0; i+frameOverhead <= len(b); {
		size, err := frameLength(b[i:])
		if err == nil && size <= len(b)-i {
			if budget -= int64(size); budget < 0 {
				break
			}
			if _, _, err := decodeFrame(b[i:]); err == nil {
				n++
				i += size
				continue
			}
		}
		i++
	}
	return n
}
