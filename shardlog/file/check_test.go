package file_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

// Check and Repair tests. They reuse the recovery tests' helpers and
// layout (recovery_test.go): 4 KiB segments, no preallocation unless a test
// asks, 130-byte frames, rtPerSeg frames per segment.

// ckTree returns every file under dir with a digest of its content, so a
// test can prove that Check wrote nothing.
func ckTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[path] = "dir"
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[path] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	}))
	return out
}

// ckCheck runs Check, proving it leaves the directory as it was.
func ckCheck(t *testing.T, dir string) *file.CheckReport {
	t.Helper()
	before := ckTree(t, dir)
	rep, err := file.Check(dir)
	require.NoError(t, err)
	require.Equal(t, before, ckTree(t, dir), "Check wrote to the directory")
	return rep
}

// ckRequireClean checks a report has no problem, and its one shard
// (rtShard0) holds want.
func ckRequireClean(t *testing.T, rep *file.CheckReport, want []rtRec) *file.ShardReport {
	t.Helper()
	require.Empty(t, rep.Problems, "problems")
	require.True(t, rep.Clean())
	require.Len(t, rep.Shards, 1)
	sh := &rep.Shards[0]
	require.Equal(t, rtStream, sh.Stream)
	require.Equal(t, rtShard0, sh.ShardID)
	require.Empty(t, sh.Problems)
	require.Equal(t, int64(len(want)), sh.Records)
	if len(want) > 0 {
		require.Equal(t, want[0].seq.Position(), sh.FirstPosition)
		require.Equal(t, want[len(want)-1].seq.Position(), sh.LastPosition)
	}
	return sh
}

// ckOneProblem checks a report has exactly one problem, at path and off,
// listed in its shard too.
func ckOneProblem(t *testing.T, rep *file.CheckReport, path string, off int64) *file.CorruptError {
	t.Helper()
	require.Len(t, rep.Problems, 1, "problems: %v", rep.Problems)
	require.False(t, rep.Clean())
	p := rep.Problems[0]
	require.Equal(t, path, p.Path, "%v", p)
	require.Equal(t, off, p.Offset, "%v", p)
	require.ErrorIs(t, p, file.ErrCorrupt)
	require.Len(t, rep.Shards, 1)
	require.Equal(t, []*file.CorruptError{p}, rep.Shards[0].Problems)
	return p
}

// ckQuarantine is where Repair puts the bytes cut from seg at off.
func ckQuarantine(dir, seg string, off int64) string {
	return filepath.Join(dir, "quarantine", "s-"+rtStream, rtShard0, fmt.Sprintf("%s.%d.bad", filepath.Base(seg), off))
}

// A directory written and closed by the engine checks clean: every record
// counted, positions and sizes right, nothing written.
func TestCheckClean(t *testing.T) {
	t.Parallel()
	n := 2*rtPerSeg + 5
	dir, recs := rtSetup(t, n)
	rep := ckCheck(t, dir)
	sh := ckRequireClean(t, rep, recs)
	require.Empty(t, sh.Notes)
	require.Empty(t, rep.Notes)
	segs := rtSegs(t, dir, rtStream, rtShard0)
	require.Equal(t, len(segs), sh.Segments)
	var size int64
	for _, seg := range segs {
		size += rtSize(t, seg)
	}
	require.Equal(t, size, sh.Bytes)
	require.Equal(t, uint32(0), sh.Index)
	require.Equal(t, rtShardDir(dir, rtStream, rtShard0), sh.Dir)

	// More streams and shards, one never written to.
	l := rtOpen(t, dir)
	rtCreate(t, l, "two", 2)
	_, err := l.PutRecord(rtCtx, shardlog.PutRecordInput{StreamName: "two", PartitionKey: "a", Data: []byte("b"), ExplicitHashKey: "0"})
	require.NoError(t, err)
	rtClose(t, l)
	rep = ckCheck(t, dir)
	require.True(t, rep.Clean())
	require.Len(t, rep.Shards, 3)
	var total int64
	for _, sh := range rep.Shards {
		total += sh.Records
	}
	require.Equal(t, int64(n+1), total)

	// A directory no engine opened: nothing to check, and no LOCK created.
	empty := t.TempDir()
	rep = ckCheck(t, empty)
	require.True(t, rep.Clean())
	require.Empty(t, rep.Shards)
	require.NoFileExists(t, filepath.Join(empty, "LOCK"))

	_, err = file.Check(filepath.Join(empty, "missing"))
	require.Error(t, err)
}

// Check and Repair refuse a directory an engine has open, and work once it
// is closed.
func TestCheckLocked(t *testing.T) {
	t.Parallel()
	dir, recs := rtSetup(t, 10)
	eng, err := file.Open(dir)
	require.NoError(t, err)
	_, err = file.Check(dir)
	require.ErrorIs(t, err, file.ErrLocked)
	seg := rtSegs(t, dir, rtStream, rtShard0)[0]
	_, err = file.Repair(dir, &file.CorruptError{Path: seg, Offset: rtSegHeader})
	require.ErrorIs(t, err, file.ErrLocked)
	require.NoError(t, eng.Close())

	ckRequireClean(t, ckCheck(t, dir), recs)
	_, err = os.Stat(filepath.Join(dir, "quarantine"))
	require.ErrorIs(t, err, fs.ErrNotExist, "a refused repair moved nothing")
}

// A flipped byte in a full segment is one problem, at that frame. Repair
// salvages: only the damaged frame goes to quarantine, the valid frames
// after it stay in the segment (rewritten, with a new index); then the
// directory checks clean, the engine opens, and every other record reads
// back in order.
func TestCheckRepairFullSegment(t *testing.T) {
	t.Parallel()
	n := 2*rtPerSeg + 5
	bad := rtPerSeg + 10 // 11th frame of the second (full) segment
	dir, recs := rtSetup(t, n)
	lay := rtLayout(recs)
	loc := lay[bad]
	require.Equal(t, 1, loc.seg)
	segs := rtSegs(t, dir, rtStream, rtShard0)
	full := segs[1]
	rtFlip(t, full, loc.off+rtFrameOverhead+4+30)
	damaged := rtReadFile(t, full)

	// The engine trusts the index and fails only when a read reaches the
	// frame; Check scans every frame anyway.
	rep := ckCheck(t, dir)
	p := ckOneProblem(t, rep, full, loc.off)
	sh := rep.Shards[0]
	require.Equal(t, int64(n-(rtPerSeg-10)), sh.Records, "records before the damage, and those of the other segments")
	require.Equal(t, 3, sh.Segments)

	res, err := file.Repair(dir, p)
	require.NoError(t, err)
	q := ckQuarantine(dir, full, loc.off)
	require.Equal(t, &file.RepairResult{
		Path: full, Offset: loc.off, Quarantine: q, Bytes: loc.size, Files: []string{q},
		Salvaged: rtPerSeg - 10 - 1, IndexRebuilt: true,
	}, res)
	require.Equal(t, damaged[loc.off:loc.off+loc.size], rtReadFile(t, q), "only the damaged frame is in quarantine")
	require.Equal(t, append(slices.Clone(damaged[:loc.off]), damaged[loc.off+loc.size:]...), rtReadFile(t, full))
	require.FileExists(t, rtIdx(full), "rebuilt")
	require.FileExists(t, rtIdx(segs[0]), "other segments untouched")

	kept := append(slices.Clone(recs[:bad]), recs[bad+1:]...)
	rep = ckCheck(t, dir)
	sh2 := ckRequireClean(t, rep, kept)
	require.Empty(t, sh2.Notes, "the rebuilt index is right")

	l := rtOpen(t, dir)
	rtRequireAll(t, l, kept)
	rtRequireKeys(t, l, kept)
	kept = rtRequirePutWorks(t, dir, l, kept)
	ckRequireClean(t, ckCheck(t, dir), kept)
}

// A torn tail of the active segment is a note (recovery truncates it), not
// a problem; a zero tail is nothing at all.
func TestCheckTornTail(t *testing.T) {
	t.Parallel()
	n := rtPerSeg + 5
	dir, recs := rtSetup(t, n)
	last := rtLayout(recs)[n-1]
	active := rtSegs(t, dir, rtStream, rtShard0)[1]
	rtTruncate(t, active, last.off+40)

	rep := ckCheck(t, dir)
	sh := ckRequireClean(t, rep, recs[:n-1])
	require.Len(t, sh.Notes, 1)
	require.Contains(t, sh.Notes[0], "torn tail of 40 bytes")
	require.Contains(t, sh.Notes[0], "recovery will truncate it")
	require.Contains(t, sh.Notes[0], active)

	// Zeros after the last frame: what a preallocated segment looks like.
	rtWriteFile(t, active, append(rtReadFile(t, active)[:last.off], make([]byte, 3000)...))
	sh = ckRequireClean(t, ckCheck(t, dir), recs[:n-1])
	require.Empty(t, sh.Notes)

	l := rtOpen(t, dir)
	rtRequireAll(t, l, recs[:n-1])
	rtClose(t, l)
}

// A bad frame followed by valid frames in the active segment is a problem
// (the engine refuses the shard); Repair quarantines that frame only, and
// the engine opens with the others.
func TestCheckRepairActive(t *testing.T) {
	t.Parallel()
	n := rtPerSeg + 10
	mid := rtPerSeg + 5
	dir, recs := rtSetup(t, n)
	loc := rtLayout(recs)[mid]
	active := rtSegs(t, dir, rtStream, rtShard0)[1]
	rtFlip(t, active, loc.off+5) // the CRC
	damaged := rtReadFile(t, active)

	l := rtOpen(t, dir)
	_, err := rtReadAll(l, rtStream, rtShard0)
	rtCorrupt(t, err, active, loc.off)
	rtClose(t, l)

	p := ckOneProblem(t, ckCheck(t, dir), active, loc.off)
	res, err := file.Repair(dir, p)
	require.NoError(t, err)
	require.Equal(t, loc.off, res.Offset)
	require.Equal(t, 0, res.Frames)
	require.Equal(t, 10-5-1, res.Salvaged)
	require.False(t, res.IndexRemoved, "the active segment has no index")
	require.False(t, res.IndexRebuilt, "the active segment has no index")
	require.Equal(t, damaged[loc.off:loc.off+loc.size], rtReadFile(t, res.Quarantine))

	kept := append(slices.Clone(recs[:mid]), recs[mid+1:]...)
	ckRequireClean(t, ckCheck(t, dir), kept)
	l = rtOpen(t, dir)
	rtRequireAll(t, l, kept)
	rtRequirePutWorks(t, dir, l, kept)
}

// A problem inside a batch: Repair cuts at the start of the batch, so the
// batch is all gone (to quarantine), never half there — as recovery would
// have it.
func TestCheckRepairBatch(t *testing.T) {
	t.Parallel()
	n := rtPerSeg + 2
	dir, recs := rtSetup(t, n)
	l := rtOpen(t, dir)
	entries := make([]shardlog.PutRecordsEntry, 8)
	for i := range entries {
		entries[i] = shardlog.PutRecordsEntry{PartitionKey: rtKey(n + i), Data: rtData(n + i)}
	}
	out, err := l.PutRecords(rtCtx, shardlog.PutRecordsInput{StreamName: rtStream, Records: entries})
	require.NoError(t, err)
	require.Zero(t, out.FailedRecordCount)
	rtClose(t, l)

	active := rtSegs(t, dir, rtStream, rtShard0)[1]
	frame := int64(rtFrameOverhead + 4 + rtDataSize)
	start := int64(rtSegHeader) + 2*frame // the batch's first frame
	bad := start + 4*frame
	require.Equal(t, start+8*frame, rtSize(t, active))
	rtFlip(t, active, bad+rtFrameOverhead+4+10)

	p := ckOneProblem(t, ckCheck(t, dir), active, bad)
	res, err := file.Repair(dir, p)
	require.NoError(t, err)
	require.Equal(t, start, res.Offset, "cut at the start of the batch")
	require.Equal(t, 8*frame, res.Bytes)
	require.Equal(t, 7, res.Frames)
	require.Equal(t, ckQuarantine(dir, active, start), res.Quarantine)

	ckRequireClean(t, ckCheck(t, dir), recs)
	l = rtOpen(t, dir)
	rtRequireAll(t, l, recs)
	rtRequirePutWorks(t, dir, l, recs)
}

// A damaged segment header: Repair moves the whole segment aside.
func TestCheckRepairHeader(t *testing.T) {
	t.Parallel()
	n := 2*rtPerSeg + 5
	dir, recs := rtSetup(t, n)
	segs := rtSegs(t, dir, rtStream, rtShard0)
	rtFlip(t, segs[1], 20) // the base position
	damaged := rtReadFile(t, segs[1])

	p := ckOneProblem(t, ckCheck(t, dir), segs[1], 0)
	res, err := file.Repair(dir, p)
	require.NoError(t, err)
	require.True(t, res.Removed)
	require.True(t, res.IndexRemoved)
	require.Equal(t, rtPerSeg, res.Frames)
	require.Equal(t, damaged, rtReadFile(t, res.Quarantine))
	require.NoFileExists(t, segs[1])

	kept := append(slices.Clone(recs[:rtPerSeg]), recs[2*rtPerSeg:]...)
	ckRequireClean(t, ckCheck(t, dir), kept)
	l := rtOpen(t, dir)
	rtRequireAll(t, l, kept)
	rtRequirePutWorks(t, dir, l, kept)
}

// An index file the engine would trust (valid CRC, right size) that
// disagrees with its segment is a problem; Repair moves it aside and the
// engine rebuilds it.
func TestCheckRepairIndex(t *testing.T) {
	t.Parallel()
	n := 2*rtPerSeg + 5
	dir, recs := rtSetup(t, n)
	idx := rtIdx(rtSegs(t, dir, rtStream, rtShard0)[0])
	b := rtReadFile(t, idx)
	// magic 8 | version 4 | size 8 | count 8 | first pos 8 | last pos 8 | first arrival 8
	binary.LittleEndian.PutUint64(b[44:], binary.LittleEndian.Uint64(b[44:])+1)
	binary.LittleEndian.PutUint32(b[len(b)-4:], rtCRC(b[:len(b)-4]))
	rtWriteFile(t, idx, b)

	p := ckOneProblem(t, ckCheck(t, dir), idx, 0)
	require.Contains(t, p.Reason, "index disagrees")
	res, err := file.Repair(dir, p)
	require.NoError(t, err)
	require.True(t, res.Removed)
	require.Equal(t, b, rtReadFile(t, res.Quarantine))
	require.NoFileExists(t, idx)

	ckRequireClean(t, ckCheck(t, dir), recs)
	l := rtOpen(t, dir)
	rtRequireAll(t, l, recs)
	rtClose(t, l)
	require.FileExists(t, idx, "rebuilt")
	ckRequireClean(t, ckCheck(t, dir), recs)
}

// Repair refuses what is not a segment problem under dir, or an offset
// that is not where valid frames end, and then changes nothing.
func TestRepairRefuses(t *testing.T) {
	t.Parallel()
	dir, recs := rtSetup(t, rtPerSeg+5)
	segs := rtSegs(t, dir, rtStream, rtShard0)
	before := ckTree(t, dir)
	other := t.TempDir()
	rtWriteFile(t, filepath.Join(other, "00000000000000000001.seg"), rtReadFile(t, segs[0]))
	link := filepath.Join(filepath.Dir(segs[0]), fmt.Sprintf("%020d.seg", 5))
	require.NoError(t, os.Symlink(filepath.Join(other, "00000000000000000001.seg"), link))
	for _, tc := range []struct {
		p    *file.CorruptError
		want string
	}{
		{nil, "no problem given"},
		{&file.CorruptError{Path: filepath.Join(dir, "streams", "s-"+rtStream, "stream.json")}, "has no problem now"},
		{&file.CorruptError{Path: filepath.Join(other, "00000000000000000001.seg"), Offset: rtSegHeader}, "outside the directory"},
		{&file.CorruptError{Path: filepath.Join(dir, "streams", "s-"+rtStream, "shards", rtShard0, "..", rtShard0, "x.seg"), Offset: rtSegHeader}, "not a segment or index file name"},
		{&file.CorruptError{Path: filepath.Join(dir, "LOCK")}, "not a segment"},
		{&file.CorruptError{Path: segs[0], Offset: rtSegHeader + 1}, "does not follow a valid frame"},
		{&file.CorruptError{Path: segs[0], Offset: rtSize(t, segs[0]) + 1}, "outside"},
		{&file.CorruptError{Path: segs[0], Offset: rtSize(t, segs[0])}, "nothing after"},
		{&file.CorruptError{Path: filepath.Join(filepath.Dir(segs[0]), fmt.Sprintf("%020d.seg", 7))}, "no such file"},
		{&file.CorruptError{Path: link}, "not a regular file"},
	} {
		_, err := file.Repair(dir, tc.p)
		require.ErrorContains(t, err, tc.want, "%v", tc.p)
	}
	require.NoError(t, os.Remove(link))
	after := ckTree(t, dir)
	delete(after, filepath.Join(dir, "LOCK")) // Repair takes the lock, creating LOCK if need be
	delete(before, filepath.Join(dir, "LOCK"))
	require.Equal(t, before, after)
	ckRequireClean(t, ckCheck(t, dir), recs)
}

// With preallocation on, active segments end in zeros: not a problem, not
// even a note. A bad frame with valid frames after it is still a problem,
// and Repair still makes the shard open.
func TestCheckPreallocated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := rtOpen(t, dir, file.WithPreallocation(true))
	rtCreate(t, l, rtStream, 1)
	// The last roll must find its prepared file ready: it is made in the
	// background once the active segment is half full, so wait for it
	// before the roll (on a loaded machine the roll could come first, and
	// would then create an unprepared file).
	recs := rtPutN(t, l, rtStream, 0, 3*rtPerSeg)
	ckWaitPrepared(t, dir)
	recs = append(recs, rtPutN(t, l, rtStream, 3*rtPerSeg, 10)...)
	rtClose(t, l)
	segs := rtSegs(t, dir, rtStream, rtShard0)
	require.Len(t, segs, 4)
	active := segs[3]
	require.Equal(t, int64(rtSegSize), rtSize(t, active), "the active segment is a prepared, zero-filled file")

	sh := ckRequireClean(t, ckCheck(t, dir), recs)
	require.Empty(t, sh.Notes)

	lay := rtLayout(recs)
	mid := 3*rtPerSeg + 5
	require.Equal(t, 3, lay[mid].seg)
	rtFlip(t, active, lay[mid].off+rtFrameOverhead+4+50)
	p := ckOneProblem(t, ckCheck(t, dir), active, lay[mid].off)
	res, err := file.Repair(dir, p)
	require.NoError(t, err)
	require.Equal(t, lay[mid].size, res.Bytes, "the damaged frame, not the zero-filled end")
	require.Equal(t, 0, res.Frames)
	require.Equal(t, 4, res.Salvaged)

	kept := append(slices.Clone(recs[:mid]), recs[mid+1:]...)
	ckRequireClean(t, ckCheck(t, dir), kept)
	l = rtOpen(t, dir, file.WithPreallocation(true))
	rtRequireAll(t, l, kept)
	more := rtPutN(t, l, rtStream, 1000, rtPerSeg+3) // rolls, onto a prepared file
	rtClose(t, l)
	want := append(kept, more...)
	ckRequireClean(t, ckCheck(t, dir), want)
	l = rtOpen(t, dir)
	rtRequireAll(t, l, want)
	rtClose(t, l)
}

// ckWaitPrepared waits until the shard's next segment file is prepared:
// zero-filled to the segment size (it is handed over a moment after).
func ckWaitPrepared(t *testing.T, dir string) {
	t.Helper()
	require.Eventually(t, func() bool {
		next, _ := filepath.Glob(filepath.Join(rtShardDir(dir, rtStream, rtShard0), "next-*.tmp"))
		return len(next) == 1 && rtSize(t, next[0]) == int64(rtSegSize)
	}, 10*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // its preparer closes it and hands it to the shard
}

// Positions must increase across segments too (recovery checks them only
// within a segment): a segment holding positions of the one before it is
// a problem at its first frame.
func TestCheckRepairOrder(t *testing.T) {
	t.Parallel()
	n := 2*rtPerSeg + 5
	dir, recs := rtSetup(t, n)
	segs := rtSegs(t, dir, rtStream, rtShard0)
	// A copy of the first segment, named (and headed) base 2: it sorts
	// second, and its positions are not above the first segment's.
	dup := filepath.Join(filepath.Dir(segs[0]), fmt.Sprintf("%020d.seg", 2))
	b := rtReadFile(t, segs[0])
	rtWriteFile(t, dup, append(rtSegmentHeader(0, 2), b[rtSegHeader:]...))

	p := ckOneProblem(t, ckCheck(t, dir), dup, rtSegHeader)
	require.Contains(t, p.Reason, "not above")
	res, err := file.Repair(dir, p)
	require.NoError(t, err)
	require.Equal(t, int64(rtSegHeader), res.Offset)
	require.Equal(t, rtPerSeg, res.Frames)
	require.Equal(t, int64(rtSegHeader), rtSize(t, dup))

	sh := ckRequireClean(t, ckCheck(t, dir), recs)
	require.Equal(t, 4, sh.Segments)
	l := rtOpen(t, dir)
	rtRequireAll(t, l, recs)
	rtRequirePutWorks(t, dir, l, recs)
}

// Headers: a headerless segment before the last one is a problem (Repair
// moves it aside whole); a last segment whose header was cut short is a
// note (recovery rewrites it) if only zeros follow, and a problem if data
// does (recovery would discard it).
func TestCheckHeaders(t *testing.T) {
	t.Parallel()
	n := rtPerSeg + 5
	cases := []struct {
		name   string
		damage func(t *testing.T, segs []string) (path string, problem bool)
		keep   int // records left
	}{
		{"headerless-before-last", func(t *testing.T, segs []string) (string, bool) {
			path := filepath.Join(filepath.Dir(segs[0]), fmt.Sprintf("%020d.seg", 2))
			rtWriteFile(t, path, rtSegmentHeader(0, 2)[:10])
			return path, true
		}, n},
		{"last-torn-header-zeros", func(t *testing.T, segs []string) (string, bool) {
			b := rtReadFile(t, segs[1])
			clear(b[20:])
			rtWriteFile(t, segs[1], b)
			return segs[1], false
		}, rtPerSeg},
		{"last-torn-header-data", func(t *testing.T, segs []string) (string, bool) {
			b := rtReadFile(t, segs[1])
			clear(b[20:rtSegHeader])
			rtWriteFile(t, segs[1], b)
			return segs[1], true
		}, rtPerSeg},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, recs := rtSetup(t, n)
			path, problem := tc.damage(t, rtSegs(t, dir, rtStream, rtShard0))
			rep := ckCheck(t, dir)
			if !problem {
				sh := ckRequireClean(t, rep, recs[:tc.keep])
				require.Len(t, sh.Notes, 1)
				require.Contains(t, sh.Notes[0], "recovery will rewrite it")
				l := rtOpen(t, dir)
				rtRequireAll(t, l, recs[:tc.keep])
				rtClose(t, l)
				ckRequireClean(t, ckCheck(t, dir), recs[:tc.keep])
				return
			}
			p := ckOneProblem(t, rep, path, 0)
			res, err := file.Repair(dir, p)
			require.NoError(t, err)
			require.True(t, res.Removed)
			require.NoFileExists(t, path)
			ckRequireClean(t, ckCheck(t, dir), recs[:tc.keep])
			l := rtOpen(t, dir)
			rtRequireAll(t, l, recs[:tc.keep])
			rtRequirePutWorks(t, dir, l, recs[:tc.keep])
		})
	}
}
