package file_test

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

// svFrame is the size of the frames rtPutN writes.
const svFrame = rtFrameOverhead + 4 + rtDataSize

// A flipped byte in a middle frame of a full 36-frame segment: Repair
// keeps the 35 others (and later segments), quarantines only the damaged
// frame's bytes, and reads return every kept record in order.
func TestRepairSalvage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opt := file.WithSegmentSize(rtSegHeader + 36*svFrame)
	l := rtOpen(t, dir, opt)
	rtCreate(t, l, rtStream, 1)
	recs := rtPutN(t, l, rtStream, 0, 40)
	rtClose(t, l)
	segs := rtSegs(t, dir, rtStream, rtShard0)
	require.Len(t, segs, 2)
	require.Equal(t, int64(rtSegHeader+36*svFrame), rtSize(t, segs[0]), "36 frames")

	const bad = 17
	off := int64(rtSegHeader + bad*svFrame)
	rtFlip(t, segs[0], off+rtFrameOverhead+4+60)
	damaged := rtReadFile(t, segs[0])

	p := ckOneProblem(t, ckCheck(t, dir), segs[0], off)
	res, err := file.Repair(dir, p)
	require.NoError(t, err)
	require.Equal(t, off, res.Offset)
	require.Equal(t, int64(svFrame), res.Bytes, "only the damaged frame's bytes")
	require.Equal(t, 36-bad-1, res.Salvaged)
	require.Len(t, res.Files, 1)
	require.Equal(t, damaged[off:off+svFrame], rtReadFile(t, res.Quarantine))
	require.Equal(t, filepath.Join(dir, "quarantine", "s-"+rtStream, rtShard0), filepath.Dir(res.Quarantine))

	kept := append(slices.Clone(recs[:bad]), recs[bad+1:]...)
	require.Len(t, kept, 39)
	ckRequireClean(t, ckCheck(t, dir), kept)
	l = rtOpen(t, dir, opt)
	got, err := rtReadAll(l, rtStream, rtShard0)
	require.NoError(t, err)
	rtRequireRecords(t, kept, got)
	// 35 of the damaged segment, then the 4 of the next one.
	rtRequireKeys(t, l, kept)
	rtClose(t, l)
}

// Damage inside a batch in the middle of a segment: the whole batch goes
// to quarantine (all or nothing), frames before and after it stay.
func TestRepairSalvageBatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := rtOpen(t, dir, file.WithSegmentSize(64<<10))
	rtCreate(t, l, rtStream, 1)
	before := rtPutN(t, l, rtStream, 0, 5)
	entries := make([]shardlog.PutRecordsEntry, 6)
	for i := range entries {
		entries[i] = shardlog.PutRecordsEntry{PartitionKey: rtKey(100 + i), Data: rtData(100 + i)}
	}
	out, err := l.PutRecords(rtCtx, shardlog.PutRecordsInput{StreamName: rtStream, Records: entries})
	require.NoError(t, err)
	require.Zero(t, out.FailedRecordCount)
	after := rtPutN(t, l, rtStream, 200, 7)
	rtClose(t, l)

	seg := rtSegs(t, dir, rtStream, rtShard0)[0]
	start := int64(rtSegHeader + 5*svFrame)
	bad := start + 2*svFrame // the batch's third frame
	rtFlip(t, seg, bad+rtFrameOverhead+4+10)
	damaged := rtReadFile(t, seg)

	p := ckOneProblem(t, ckCheck(t, dir), seg, bad)
	res, err := file.Repair(dir, p)
	require.NoError(t, err)
	require.Equal(t, start, res.Offset, "from the start of the batch")
	require.Equal(t, int64(6*svFrame), res.Bytes, "the whole batch")
	require.Equal(t, 5, res.Frames, "its valid frames")
	require.Equal(t, 7, res.Salvaged)
	require.Equal(t, damaged[start:start+6*svFrame], rtReadFile(t, res.Quarantine))

	kept := append(slices.Clone(before), after...)
	ckRequireClean(t, ckCheck(t, dir), kept)
	l = rtOpen(t, dir)
	rtRequireAll(t, l, kept)
	rtRequireKeys(t, l, kept)
	rtRequirePutWorks(t, dir, l, kept)
}

// Random bytes over three frames and a flipped byte further on, in one
// segment: one repair quarantines the two runs of bad bytes (one file
// each) and keeps every valid frame around them.
func TestRepairSalvageGarbage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opt := file.WithSegmentSize(rtSegHeader + 36*svFrame)
	l := rtOpen(t, dir, opt)
	rtCreate(t, l, rtStream, 1)
	recs := rtPutN(t, l, rtStream, 0, 38)
	rtClose(t, l)
	seg := rtSegs(t, dir, rtStream, rtShard0)[0]
	b := rtReadFile(t, seg)
	rnd := rand.New(rand.NewPCG(1, 2))
	first := int64(rtSegHeader + 10*svFrame)
	for i := first; i < first+3*svFrame; i++ {
		b[i] = byte(rnd.Uint32())
	}
	second := int64(rtSegHeader + 25*svFrame)
	b[second+rtFrameOverhead+50] ^= 0x01
	rtWriteFile(t, seg, b)

	p := ckOneProblem(t, ckCheck(t, dir), seg, first)
	res, err := file.Repair(dir, p)
	require.NoError(t, err)
	require.Len(t, res.Files, 2)
	require.Equal(t, int64(4*svFrame), res.Bytes)
	require.Equal(t, b[first:first+3*svFrame], rtReadFile(t, res.Files[0]))
	require.Equal(t, b[second:second+svFrame], rtReadFile(t, res.Files[1]))
	require.Equal(t, 36-10-4, res.Salvaged)

	var kept []rtRec
	for i, r := range recs {
		if (i < 10 || i > 12) && i != 25 {
			kept = append(kept, r)
		}
	}
	ckRequireClean(t, ckCheck(t, dir), kept)
	l = rtOpen(t, dir, opt)
	rtRequireAll(t, l, kept)
	rtRequirePutWorks(t, dir, l, kept)
}
