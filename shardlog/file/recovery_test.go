package file_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

// Recovery tests: write records through a shardlog.Log, close it, damage the
// files the way a crash (or the disk) would, reopen, and check what the
// engine's recovery contract promises.
//
// Offsets are computed from the on-disk layout (frame.go, segment.go); the
// constants below mirror the unexported ones there, and TestRecoveryLayout
// checks them against files the engine wrote, so a layout change fails
// there first rather than as a confusing offset mismatch elsewhere.
const (
	rtSegHeader     = 32     // segmentHeaderSize
	rtFrameHeader   = 8      // frameHeaderSize: length u32 + crc u32
	rtFrameOverhead = 8 + 18 // frameOverhead: header + position u64 + arrival i64 + key length u16
	rtSegSize       = 4 << 10
	rtDataSize      = 100
	rtStream        = "recov"
	rtShard0        = "shardId-000000000000"
	rtShard1        = "shardId-000000000001"
	// rtPerSeg is how many of the records rtRecord makes fit in one segment:
	// 32 + 31*130 = 4062 <= 4096 < 4192.
	rtPerSeg = (rtSegSize - rtSegHeader) / (rtFrameOverhead + 4 + rtDataSize)
)

var rtCtx = context.Background()

// rtOpen opens a Log over a file engine in dir with small segments.
func rtOpen(t testing.TB, dir string, opts ...file.Option) *shardlog.Log {
	t.Helper()
	l, err := rtTryOpen(dir, opts...)
	require.NoError(t, err)
	return l
}

func rtTryOpen(dir string, opts ...file.Option) (*shardlog.Log, error) {
	// These tests check exact file sizes, so segments are not preallocated
	// unless a test asks (TestRecoveryPreallocated, the fault tests).
	eng, err := file.Open(dir, append([]file.Option{file.WithSegmentSize(rtSegSize), file.WithPreallocation(false)}, opts...)...)
	if err != nil {
		return nil, err
	}
	l, err := shardlog.Open(rtCtx, eng, shardlog.WithRetentionInterval(0))
	if err != nil {
		eng.Close()
		return nil, err
	}
	return l, nil
}

func rtClose(t testing.TB, l *shardlog.Log) {
	t.Helper()
	require.NoError(t, l.Close())
}

// rtRec is a record put, as the test expects to read it back.
type rtRec struct {
	key  string
	data []byte
	seq  shardlog.SequenceNumber
}

// rtKey and rtData make record i: keys repeat (7 of them, 4 bytes each) so
// that ReadKey crosses segments; data is 100 bytes, distinct per record.
func rtKey(i int) string { return fmt.Sprintf("k%03d", i%7) }

func rtData(i int) []byte {
	b := make([]byte, rtDataSize)
	for j := range b {
		b[j] = byte(i*31 + j*7 + 1)
	}
	binary.LittleEndian.PutUint32(b, uint32(i))
	return b
}

// rtPutN puts records from..from+n-1 into the stream (routed by key; tests
// use one-shard streams unless they say otherwise).
func rtPutN(t testing.TB, l *shardlog.Log, stream string, from, n int) []rtRec {
	t.Helper()
	out := make([]rtRec, 0, n)
	for i := from; i < from+n; i++ {
		r := rtRec{key: rtKey(i), data: rtData(i)}
		res, err := l.PutRecord(rtCtx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: r.key, Data: r.data})
		require.NoError(t, err, "put %d", i)
		r.seq = res.SequenceNumber
		out = append(out, r)
	}
	return out
}

func rtCreate(t testing.TB, l *shardlog.Log, stream string, shards int) {
	t.Helper()
	require.NoError(t, l.CreateStream(rtCtx, shardlog.CreateStreamInput{StreamName: stream, ShardCount: shards}))
}

// rtSetup writes n records into a fresh one-shard stream and closes the
// Log; it returns the data directory and the records.
func rtSetup(t testing.TB, n int) (string, []rtRec) {
	t.Helper()
	dir := t.TempDir()
	l := rtOpen(t, dir, file.WithSync(file.SyncNever)) // Close syncs
	rtCreate(t, l, rtStream, 1)
	recs := rtPutN(t, l, rtStream, 0, n)
	rtClose(t, l)
	return dir, recs
}

// rtReadAll reads a whole shard with GetRecords from TRIM_HORIZON.
func rtReadAll(l *shardlog.Log, stream, shardID string) ([]shardlog.Record, error) {
	itOut, err := l.GetShardIterator(rtCtx, shardlog.GetShardIteratorInput{StreamName: stream, ShardID: shardID, ShardIteratorType: shardlog.TrimHorizon})
	if err != nil {
		return nil, err
	}
	it := itOut.ShardIterator
	var out []shardlog.Record
	for range 1000 {
		res, err := l.GetRecords(rtCtx, shardlog.GetRecordsInput{ShardIterator: it})
		if err != nil {
			return out, err
		}
		out = append(out, res.Records...)
		if len(res.Records) == 0 || res.NextShardIterator == "" {
			return out, nil
		}
		it = res.NextShardIterator
	}
	return out, errors.New("rtReadAll: too many batches")
}

// rtRequireRecords checks that got are exactly want, in order.
func rtRequireRecords(t testing.TB, want []rtRec, got []shardlog.Record) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].seq, got[i].SequenceNumber, "record %d", i)
		require.Equal(t, want[i].key, got[i].PartitionKey, "record %d", i)
		require.Equal(t, want[i].data, got[i].Data, "record %d", i)
	}
}

// rtRequireAll reads the one-shard stream and checks it holds want.
func rtRequireAll(t testing.TB, l *shardlog.Log, want []rtRec) {
	t.Helper()
	got, err := rtReadAll(l, rtStream, rtShard0)
	require.NoError(t, err)
	rtRequireRecords(t, want, got)
}

// rtReadKey collects ReadKey of one key from the start.
func rtReadKey(l *shardlog.Log, stream, key string) ([]shardlog.Record, error) {
	var out []shardlog.Record
	for r, err := range l.ReadKey(rtCtx, shardlog.ReadKeyInput{StreamName: stream, PartitionKey: key}) {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// rtRequireKeys checks ReadKey of every key against want.
func rtRequireKeys(t testing.TB, l *shardlog.Log, want []rtRec) {
	t.Helper()
	byKey := map[string][]rtRec{}
	for _, r := range want {
		byKey[r.key] = append(byKey[r.key], r)
	}
	for k := range 7 {
		key := rtKey(k)
		got, err := rtReadKey(l, rtStream, key)
		require.NoError(t, err, "ReadKey %s", key)
		rtRequireRecords(t, byKey[key], got)
	}
}

// rtLoc is where the layout puts a record: segment number and frame offset.
type rtLoc struct {
	seg  int
	off  int64
	size int64
}

// rtLayout replays the engine's roll rule (a single-record append rolls
// when it would pass the segment size and the segment is not empty) over
// recs, each appended alone.
func rtLayout(recs []rtRec) []rtLoc {
	out := make([]rtLoc, len(recs))
	seg, size, count := 0, int64(rtSegHeader), 0
	for i, r := range recs {
		n := int64(rtFrameOverhead + len(r.key) + len(r.data))
		if size+n > rtSegSize && count > 0 {
			seg, size, count = seg+1, rtSegHeader, 0
		}
		out[i] = rtLoc{seg: seg, off: size, size: n}
		size += n
		count++
	}
	return out
}

func rtShardDir(dir, stream, shardID string) string {
	return filepath.Join(dir, "streams", "s-"+stream, "shards", shardID)
}

// rtSegs lists a shard's segment files, oldest first.
func rtSegs(t testing.TB, dir, stream, shardID string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(rtShardDir(dir, stream, shardID), "*.seg"))
	require.NoError(t, err)
	slices.Sort(segs)
	return segs
}

func rtIdx(seg string) string { return strings.TrimSuffix(seg, ".seg") + ".idx" }

func rtSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Size()
}

func rtReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func rtWriteFile(t testing.TB, path string, b []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// rtFlip xors one byte of a file.
func rtFlip(t testing.TB, path string, off int64) {
	t.Helper()
	b := rtReadFile(t, path)
	require.Less(t, off, int64(len(b)))
	b[off] ^= 0x5a
	rtWriteFile(t, path, b)
}

func rtTruncate(t testing.TB, path string, size int64) {
	t.Helper()
	require.NoError(t, os.Truncate(path, size))
}

// rtCorrupt checks that err is a *file.CorruptError at path and offset.
func rtCorrupt(t testing.TB, err error, path string, off int64) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, file.ErrCorrupt)
	var ce *file.CorruptError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, path, ce.Path, "CorruptError.Path (%v)", err)
	require.Equal(t, off, ce.Offset, "CorruptError.Offset (%v)", err)
}

// rtSegmentHeader builds a segment header as segment.go's segmentHeader
// does: magic, version 1, shard index, base position, CRC-32C of the 24
// bytes before it, 4 zero bytes.
func rtSegmentHeader(shardIndex uint32, base uint64) []byte {
	h := make([]byte, rtSegHeader)
	copy(h, "SHOALSEG")
	binary.LittleEndian.PutUint32(h[8:], 1)
	binary.LittleEndian.PutUint32(h[12:], shardIndex)
	binary.LittleEndian.PutUint64(h[16:], base)
	binary.LittleEndian.PutUint32(h[24:], rtCRC(h[:24]))
	return h
}

func rtCRC(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// rtIdxValid reports whether an index file's trailing CRC-32C matches and
// the segment size it records is size.
func rtIdxValid(b []byte, size int64) bool {
	if len(b) < 8+4+8+4 {
		return false
	}
	n := len(b) - 4
	return rtCRC(b[:n]) == binary.LittleEndian.Uint32(b[n:]) &&
		string(b[:8]) == "SHOALIDX" && int64(binary.LittleEndian.Uint64(b[12:])) == size
}

// TestRecoveryLayout pins down the layout the other tests compute offsets
// from: segment names, sizes, index files and frame fields.
func TestRecoveryLayout(t *testing.T) {
	t.Parallel()
	n := 2*rtPerSeg + 5
	dir, recs := rtSetup(t, n)
	lay := rtLayout(recs)
	segs := rtSegs(t, dir, rtStream, rtShard0)
	require.Len(t, segs, lay[n-1].seg+1)
	require.Equal(t, 3, len(segs))
	require.Equal(t, "00000000000000000001.seg", filepath.Base(segs[0]))
	for _, seg := range segs {
		base, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(seg), ".seg"), 10, 64)
		require.NoError(t, err)
		require.Equal(t, rtSegmentHeader(0, base), rtReadFile(t, seg)[:rtSegHeader], "header of %s", seg)
	}
	for i, r := range recs {
		loc := lay[i]
		if loc.off == rtSegHeader && loc.seg > 0 {
			// A segment is named by a lower bound of its first position,
			// above the positions of the segment before it.
			base, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(segs[loc.seg]), ".seg"), 10, 64)
			require.NoError(t, err)
			require.LessOrEqual(t, base, r.seq.Position(), "base of %s", segs[loc.seg])
			require.Greater(t, base, recs[i-1].seq.Position(), "base of %s", segs[loc.seg])
		}
		b := rtReadFile(t, segs[loc.seg])
		fr := b[loc.off : loc.off+loc.size]
		require.Equal(t, uint32(loc.size-rtFrameHeader), binary.LittleEndian.Uint32(fr), "frame length of record %d", i)
		crc := rtCRC(append(append([]byte(nil), fr[:4]...), fr[rtFrameHeader:]...))
		require.Equal(t, crc, binary.LittleEndian.Uint32(fr[4:]), "frame CRC of record %d", i)
		require.Equal(t, r.seq.Position(), binary.LittleEndian.Uint64(fr[8:]), "frame position of record %d", i)
		require.Equal(t, uint16(len(r.key)), binary.LittleEndian.Uint16(fr[24:]))
		require.Equal(t, r.key, string(fr[rtFrameOverhead:rtFrameOverhead+len(r.key)]))
		require.Equal(t, r.data, fr[rtFrameOverhead+len(r.key):])
	}
	for s, seg := range segs {
		var end int64
		for i := range recs {
			if lay[i].seg == s {
				end = lay[i].off + lay[i].size
			}
		}
		require.Equal(t, end, rtSize(t, seg), "size of %s", seg)
		if s < len(segs)-1 {
			require.True(t, rtIdxValid(rtReadFile(t, rtIdx(seg)), end), "index of full segment %s", seg)
		} else {
			require.NoFileExists(t, rtIdx(seg), "the active segment has no index")
		}
	}
	l := rtOpen(t, dir)
	defer rtClose(t, l)
	rtRequireAll(t, l, recs)
	rtRequireKeys(t, l, recs)
}

// rtRequirePutWorks puts one more record after recovery and checks it is
// read back after the others and survives another reopen.
func rtRequirePutWorks(t testing.TB, dir string, l *shardlog.Log, want []rtRec) []rtRec {
	t.Helper()
	more := rtPutN(t, l, rtStream, 1000, 3)
	if len(want) > 0 {
		require.Positive(t, more[0].seq.Compare(want[len(want)-1].seq))
	}
	want = append(slices.Clone(want), more...)
	rtRequireAll(t, l, want)
	rtClose(t, l)
	l2 := rtOpen(t, dir)
	defer rtClose(t, l2)
	rtRequireAll(t, l2, want)
	rtRequireKeys(t, l2, want)
	return want
}

// (a) A frame cut short at the end of the active segment is a torn write:
// recovery drops it, truncates the file at the last whole frame, and the
// shard takes puts again.
func TestRecoveryTornFrame(t *testing.T) {
	t.Parallel()
	n := rtPerSeg + 5 // a full segment and 5 records in the active one
	for _, cut := range []int64{1, 4, rtFrameHeader - 1, rtFrameHeader, rtFrameHeader + 1, rtFrameOverhead, rtFrameOverhead + 4, 129} {
		t.Run(fmt.Sprintf("cut%d", cut), func(t *testing.T) {
			t.Parallel()
			dir, recs := rtSetup(t, n)
			lay := rtLayout(recs)
			last := lay[n-1]
			require.Less(t, cut, last.size)
			active := rtSegs(t, dir, rtStream, rtShard0)[last.seg]
			require.Equal(t, last.off+last.size, rtSize(t, active))
			rtTruncate(t, active, last.off+cut)

			l := rtOpen(t, dir)
			rtRequireAll(t, l, recs[:n-1])
			require.Equal(t, last.off, rtSize(t, active), "the torn frame is truncated away")
			rtRequireKeys(t, l, recs[:n-1])
			rtRequirePutWorks(t, dir, l, recs[:n-1])
		})
	}
}

// (b) A tail of zeros (preallocated or unwritten blocks) is a torn write,
// and so is a last frame that was zeroed, or damaged as it was written.
func TestRecoveryZeroTail(t *testing.T) {
	t.Parallel()
	n := rtPerSeg + 5
	cases := []struct {
		name   string
		damage func(b []byte, last rtLoc) []byte
		keep   int // records recovered
	}{
		{"zeros-appended", func(b []byte, _ rtLoc) []byte { return append(b, make([]byte, 4096)...) }, n},
		{"zeros-appended-short", func(b []byte, _ rtLoc) []byte { return append(b, make([]byte, 5)...) }, n},
		{"last-frame-zeroed", func(b []byte, last rtLoc) []byte {
			clear(b[last.off:])
			return b
		}, n - 1},
		{"last-frame-zeroed-and-zeros-appended", func(b []byte, last rtLoc) []byte {
			clear(b[last.off:])
			return append(b, make([]byte, 1000)...)
		}, n - 1},
		{"last-frame-tail-zeroed", func(b []byte, last rtLoc) []byte {
			clear(b[last.off+40:]) // the length field survives; the CRC fails
			return b
		}, n - 1},
		{"last-frame-crc-bad", func(b []byte, last rtLoc) []byte {
			b[last.off+last.size-1] ^= 1
			return b
		}, n - 1},
		// A crash with unsynced appends can leave the last frame part
		// written and the file extended past it with zeros (the next
		// batch's blocks never written): a damaged last frame followed by
		// nothing but zeros is still a torn tail.
		{"last-frame-tail-zeroed-and-zeros-appended", func(b []byte, last rtLoc) []byte {
			clear(b[last.off+40:])
			return append(b, make([]byte, 1000)...)
		}, n - 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, recs := rtSetup(t, n)
			lay := rtLayout(recs)
			last := lay[n-1]
			active := rtSegs(t, dir, rtStream, rtShard0)[last.seg]
			rtWriteFile(t, active, tc.damage(rtReadFile(t, active), last))

			l := rtOpen(t, dir)
			got, err := rtReadAll(l, rtStream, rtShard0)
			if err != nil {
				l.Close()
				require.NoError(t, err, "a torn tail must be recovered, not reported")
			}
			rtRequireRecords(t, recs[:tc.keep], got)
			end := lay[tc.keep-1].off + lay[tc.keep-1].size
			// Torn bytes are cut off; a tail of nothing but zeros is left
			// in place (it is what a preallocated segment looks like).
			if size := rtSize(t, active); size != end {
				tail := rtReadFile(t, active)[end:]
				require.Equal(t, make([]byte, len(tail)), tail, "truncated at the last valid frame, or only zeros follow it")
			}
			rtRequirePutWorks(t, dir, l, recs[:tc.keep])
		})
	}
}

// (c) A bad frame in the middle of the active segment, with valid frames
// after it, is corruption: a *CorruptError at that frame, for every
// operation on the shard, and nothing truncated.
func TestRecoveryCorruptActive(t *testing.T) {
	t.Parallel()
	n := rtPerSeg + 10
	mid := rtPerSeg + 5 // the 6th of 10 frames in the active segment
	cases := []struct {
		name string
		at   func(loc rtLoc) int64 // byte to flip
	}{
		{"data", func(loc rtLoc) int64 { return loc.off + rtFrameOverhead + 4 + 50 }},
		{"key", func(loc rtLoc) int64 { return loc.off + rtFrameOverhead + 1 }},
		{"position", func(loc rtLoc) int64 { return loc.off + rtFrameHeader + 2 }},
		{"crc", func(loc rtLoc) int64 { return loc.off + 5 }},
		{"length-impossible", func(loc rtLoc) int64 { return loc.off + 3 }}, // 0x5a<<24: > max frame
		{"length-shorter", func(loc rtLoc) int64 { return loc.off }},        // 122^0x5a = 32: fits, CRC fails
		// A flipped length that now reaches past the end of the file must
		// not pass for a torn last frame: five acknowledged frames follow.
		{"length-past-eof", func(loc rtLoc) int64 { return loc.off + 1 }}, // 122 + 0x5a00: past the 650 bytes left
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, recs := rtSetup(t, n)
			lay := rtLayout(recs)
			loc := lay[mid]
			require.Equal(t, 1, loc.seg)
			segs := rtSegs(t, dir, rtStream, rtShard0)
			active := segs[1]
			rtFlip(t, active, tc.at(loc))
			before := rtReadFile(t, active)

			l := rtOpen(t, dir)
			defer l.Close()
			_, err := rtReadAll(l, rtStream, rtShard0)
			rtCorrupt(t, err, active, loc.off)
			_, err = l.PutRecord(rtCtx, shardlog.PutRecordInput{StreamName: rtStream, PartitionKey: "x", Data: []byte("y")})
			rtCorrupt(t, err, active, loc.off)
			_, err = l.GetShardIterator(rtCtx, shardlog.GetShardIteratorInput{StreamName: rtStream, ShardID: rtShard0, ShardIteratorType: shardlog.Latest})
			rtCorrupt(t, err, active, loc.off)
			_, err = rtReadKey(l, rtStream, rtKey(0))
			rtCorrupt(t, err, active, loc.off)
			_, err = l.LastKey(rtCtx, shardlog.LastKeyInput{StreamName: rtStream, PartitionKey: rtKey(0)})
			rtCorrupt(t, err, active, loc.off)
			_, err = rtReadAll(l, rtStream, rtShard0) // still refused
			rtCorrupt(t, err, active, loc.off)

			require.Equal(t, before, rtReadFile(t, active), "nothing truncated or rewritten")
			require.Equal(t, segs, rtSegs(t, dir, rtStream, rtShard0))
		})
	}
}

// (d) A byte flipped inside a frame of a full segment whose index is valid:
// the shard opens (full segments are not scanned), reads before the frame
// work, and any read that reaches the frame fails with a *CorruptError
// naming the segment and the frame — the frame is never skipped.
func TestRecoveryCorruptFullSegment(t *testing.T) {
	t.Parallel()
	n := 2*rtPerSeg + 5
	bad := rtPerSeg + 10 // 11th frame of the second (full) segment
	dir, recs := rtSetup(t, n)
	lay := rtLayout(recs)
	loc := lay[bad]
	require.Equal(t, 1, loc.seg)
	segs := rtSegs(t, dir, rtStream, rtShard0)
	full := segs[1]
	rtFlip(t, full, loc.off+rtFrameOverhead+4+30) // in the data: the size and index stay valid
	idxBefore := rtReadFile(t, rtIdx(full))

	l := rtOpen(t, dir)
	defer l.Close()

	// Bounds (and so the shard's opening) work.
	itOut, err := l.GetShardIterator(rtCtx, shardlog.GetShardIteratorInput{StreamName: rtStream, ShardID: rtShard0, ShardIteratorType: shardlog.TrimHorizon})
	require.NoError(t, err)
	it := itOut.ShardIterator
	res, err := l.GetRecords(rtCtx, shardlog.GetRecordsInput{ShardIterator: it, Limit: bad})
	require.NoError(t, err, "records before the bad frame are readable")
	rtRequireRecords(t, recs[:bad], res.Records)
	_, err = l.GetRecords(rtCtx, shardlog.GetRecordsInput{ShardIterator: res.NextShardIterator})
	rtCorrupt(t, err, full, loc.off)
	require.ErrorIs(t, err, shardlog.ErrInternalFailure, "through the Log, an engine failure is an InternalFailure too")
	_, err = rtReadAll(l, rtStream, rtShard0)
	rtCorrupt(t, err, full, loc.off)

	// Starting at the bad record reaches it. Starting after it may or may
	// not scan through it (the sparse index decides): an error, or the
	// right records — never a record skipped.
	itOut, err = l.GetShardIterator(rtCtx, shardlog.GetShardIteratorInput{StreamName: rtStream, ShardID: rtShard0,
		ShardIteratorType: shardlog.AtSequenceNumber, StartingSequenceNumber: recs[bad].seq})
	require.NoError(t, err)
	it = itOut.ShardIterator
	_, err = l.GetRecords(rtCtx, shardlog.GetRecordsInput{ShardIterator: it})
	rtCorrupt(t, err, full, loc.off)
	itOut, err = l.GetShardIterator(rtCtx, shardlog.GetShardIteratorInput{StreamName: rtStream, ShardID: rtShard0,
		ShardIteratorType: shardlog.AtSequenceNumber, StartingSequenceNumber: recs[bad+1].seq})
	require.NoError(t, err)
	it = itOut.ShardIterator
	if res, err := l.GetRecords(rtCtx, shardlog.GetRecordsInput{ShardIterator: it}); err != nil {
		rtCorrupt(t, err, full, loc.off)
	} else {
		rtRequireRecords(t, recs[bad+1:], res.Records)
	}

	// Records of the next segment do not touch the bad frame.
	next := 2 * rtPerSeg
	require.Equal(t, 2, lay[next].seg)
	itOut, err = l.GetShardIterator(rtCtx, shardlog.GetShardIteratorInput{StreamName: rtStream, ShardID: rtShard0,
		ShardIteratorType: shardlog.AtSequenceNumber, StartingSequenceNumber: recs[next].seq})
	require.NoError(t, err)
	it = itOut.ShardIterator
	res, err = l.GetRecords(rtCtx, shardlog.GetRecordsInput{ShardIterator: it})
	require.NoError(t, err)
	rtRequireRecords(t, recs[next:], res.Records)

	// ReadKey of the bad record's key fails (after yielding, at most, some
	// of its records before the bad one); keys with no record in that frame
	// read normally.
	badKey := recs[bad].key
	got, err := rtReadKey(l, rtStream, badKey)
	rtCorrupt(t, err, full, loc.off)
	var before []rtRec
	for _, r := range recs[:bad] {
		if r.key == badKey {
			before = append(before, r)
		}
	}
	require.LessOrEqual(t, len(got), len(before))
	rtRequireRecords(t, before[:len(got)], got)
	for k := range 7 {
		key := rtKey(k)
		if key == badKey {
			continue
		}
		var want []rtRec
		for _, r := range recs {
			if r.key == key {
				want = append(want, r)
			}
		}
		got, err := rtReadKey(l, rtStream, key)
		require.NoError(t, err, "ReadKey %s", key)
		rtRequireRecords(t, want, got)
	}

	// Puts still work (the active segment is fine), and nothing was
	// "repaired" behind our back.
	rtPutN(t, l, rtStream, 1000, 1)
	require.Equal(t, idxBefore, rtReadFile(t, rtIdx(full)))
	require.Equal(t, lay[n-1].seg+1, len(rtSegs(t, dir, rtStream, rtShard0)))
}

// (d') The same damage in a full segment whose index is gone: the segment
// is scanned when the shard opens, and the bad frame fails the opening.
func TestRecoveryCorruptFullSegmentNoIndex(t *testing.T) {
	t.Parallel()
	n := 2*rtPerSeg + 5
	bad := rtPerSeg + 10
	dir, recs := rtSetup(t, n)
	loc := rtLayout(recs)[bad]
	full := rtSegs(t, dir, rtStream, rtShard0)[1]
	rtFlip(t, full, loc.off+rtFrameOverhead+4+30)
	require.NoError(t, os.Remove(rtIdx(full)))
	before := rtReadFile(t, full)

	l := rtOpen(t, dir)
	defer l.Close()
	_, err := rtReadAll(l, rtStream, rtShard0)
	rtCorrupt(t, err, full, loc.off)
	_, err = l.PutRecord(rtCtx, shardlog.PutRecordInput{StreamName: rtStream, PartitionKey: "x", Data: []byte("y")})
	rtCorrupt(t, err, full, loc.off)
	require.Equal(t, before, rtReadFile(t, full))
	require.NoFileExists(t, rtIdx(full), "no index is written for a corrupt segment")
}

// (e, f) A missing or stale index is rebuilt by scanning its segment when
// the shard is first used; reads, ReadKey and puts then work as before.
func TestRecoveryIndexRebuilt(t *testing.T) {
	t.Parallel()
	n := 2*rtPerSeg + 5
	cases := []struct {
		name   string
		damage func(t *testing.T, idx string, b []byte)
	}{
		{"deleted", func(t *testing.T, idx string, _ []byte) { require.NoError(t, os.Remove(idx)) }},
		{"flipped-middle", func(t *testing.T, idx string, b []byte) { rtFlip(t, idx, int64(len(b)/2)) }},
		{"flipped-header", func(t *testing.T, idx string, _ []byte) { rtFlip(t, idx, 0) }},
		{"flipped-crc", func(t *testing.T, idx string, b []byte) { rtFlip(t, idx, int64(len(b)-1)) }},
		{"truncated-half", func(t *testing.T, idx string, b []byte) { rtTruncate(t, idx, int64(len(b)/2)) }},
		{"truncated-crc", func(t *testing.T, idx string, b []byte) { rtTruncate(t, idx, int64(len(b)-4)) }},
		{"empty", func(t *testing.T, idx string, _ []byte) { rtTruncate(t, idx, 0) }},
		{"garbage-appended", func(t *testing.T, idx string, b []byte) { rtWriteFile(t, idx, append(b, 1, 2, 3)) }},
		{"stale-size", func(t *testing.T, idx string, b []byte) {
			// A well-formed index (valid CRC) recording another segment size.
			b = slices.Clone(b)
			binary.LittleEndian.PutUint64(b[12:], binary.LittleEndian.Uint64(b[12:])+130)
			binary.LittleEndian.PutUint32(b[len(b)-4:], rtCRC(b[:len(b)-4]))
			rtWriteFile(t, idx, b)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, recs := rtSetup(t, n)
			segs := rtSegs(t, dir, rtStream, rtShard0)
			require.Len(t, segs, 3)
			var sizes []int64
			for _, seg := range segs[:2] {
				idx := rtIdx(seg)
				orig := rtReadFile(t, idx)
				sizes = append(sizes, int64(len(orig)))
				tc.damage(t, idx, orig)
				if b, err := os.ReadFile(idx); err == nil {
					require.False(t, rtIdxValid(b, rtSize(t, seg)), "the damaged index must be stale")
				}
			}

			l := rtOpen(t, dir)
			for _, seg := range segs[:2] {
				if tc.name == "deleted" {
					require.NoFileExists(t, rtIdx(seg), "shards open lazily")
				}
			}
			rtRequireAll(t, l, recs)
			for i, seg := range segs[:2] {
				b := rtReadFile(t, rtIdx(seg))
				require.True(t, rtIdxValid(b, rtSize(t, seg)), "index of %s rewritten", seg)
				require.Equal(t, sizes[i], int64(len(b)))
			}
			rtRequireKeys(t, l, recs)
			// Seeks through the rebuilt sparse index.
			for _, i := range []int{0, rtPerSeg - 1, rtPerSeg, rtPerSeg + 17, 2 * rtPerSeg, n - 1} {
				itOut, err := l.GetShardIterator(rtCtx, shardlog.GetShardIteratorInput{StreamName: rtStream, ShardID: rtShard0,
					ShardIteratorType: shardlog.AtSequenceNumber, StartingSequenceNumber: recs[i].seq})
				require.NoError(t, err)
				it := itOut.ShardIterator
				res, err := l.GetRecords(rtCtx, shardlog.GetRecordsInput{ShardIterator: it, Limit: 3})
				require.NoError(t, err)
				rtRequireRecords(t, recs[i:min(i+3, n)], res.Records)
			}
			rtRequirePutWorks(t, dir, l, recs)
		})
	}
}

// (g) A stream.json.tmp left by a crash in the middle of a metadata save is
// ignored: the old metadata loads.
func TestRecoveryMetaTmp(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		tmp  func(old []byte) []byte
	}{
		{"partial", func(old []byte) []byte { return old[:len(old)/2] }},
		{"empty", func([]byte) []byte { return nil }},
		{"garbage", func([]byte) []byte { return []byte{0xff, 0, 0x7b, 1} }},
		{"new-version", func(old []byte) []byte {
			// Complete, but never renamed into place.
			return bytes.Replace(old, []byte(`"retentionHours":24`), []byte(`"retentionHours":48`), 1)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, recs := rtSetup(t, 10)
			meta := filepath.Join(dir, "streams", "s-"+rtStream, "stream.json")
			old := rtReadFile(t, meta)
			require.Contains(t, string(old), `"retentionHours":24`)
			rtWriteFile(t, meta+".tmp", tc.tmp(old))

			l := rtOpen(t, dir)
			d, err := l.DescribeStream(rtCtx, shardlog.DescribeStreamInput{StreamName: rtStream})
			require.NoError(t, err)
			require.Equal(t, 24, d.RetentionPeriodHours)
			require.Len(t, d.Shards, 1)
			require.Equal(t, old, rtReadFile(t, meta))
			rtRequireAll(t, l, recs)
			// The next save replaces the leftover.
			require.NoError(t, l.IncreaseStreamRetentionPeriod(rtCtx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: rtStream, RetentionPeriodHours: 36}))
			rtClose(t, l)
			l = rtOpen(t, dir)
			defer rtClose(t, l)
			d, err = l.DescribeStream(rtCtx, shardlog.DescribeStreamInput{StreamName: rtStream})
			require.NoError(t, err)
			require.Equal(t, 36, d.RetentionPeriodHours)
			rtRequireAll(t, l, recs)
		})
	}

	// A crash in CreateStream before the first rename: the stream does not
	// exist, and can be created.
	t.Run("never-created", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		l := rtOpen(t, dir)
		rtCreate(t, l, "other", 1)
		rtClose(t, l)
		sdir := filepath.Join(dir, "streams", "s-"+rtStream)
		require.NoError(t, os.MkdirAll(sdir, 0o755))
		rtWriteFile(t, filepath.Join(sdir, "stream.json.tmp"), []byte(`{"id": 7, "name": "rec`))

		l = rtOpen(t, dir)
		defer rtClose(t, l)
		_, err := l.DescribeStream(rtCtx, shardlog.DescribeStreamInput{StreamName: rtStream})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		_, err = l.DescribeStream(rtCtx, shardlog.DescribeStreamInput{StreamName: "other"})
		require.NoError(t, err)
		rtCreate(t, l, rtStream, 1)
		recs := rtPutN(t, l, rtStream, 0, 3)
		rtRequireAll(t, l, recs)
	})
}

// (h) A segment file whose header was never completely written (a crash
// right after it was created) is recovered: its header is rewritten and
// appends go into it.
func TestRecoveryPartialHeader(t *testing.T) {
	t.Parallel()
	for _, hdr := range []int{0, 10, rtSegHeader - 1} {
		// A roll created the next segment, then the process died.
		t.Run(fmt.Sprintf("after-roll-%d", hdr), func(t *testing.T) {
			t.Parallel()
			n := rtPerSeg + 5
			dir, recs := rtSetup(t, n)
			segs := rtSegs(t, dir, rtStream, rtShard0)
			require.Len(t, segs, 2)
			first := rtReadFile(t, segs[0])
			base := recs[n-1].seq.Position() + 1
			newSeg := filepath.Join(rtShardDir(dir, rtStream, rtShard0), fmt.Sprintf("%020d.seg", base))
			rtWriteFile(t, newSeg, first[:hdr]) // magic and version are the same in every header

			l := rtOpen(t, dir)
			rtRequireAll(t, l, recs)
			require.Equal(t, int64(rtSegHeader), rtSize(t, newSeg), "header rewritten")
			rtRequireKeys(t, l, recs)
			want := rtRequirePutWorks(t, dir, l, recs)
			require.Equal(t, append(slices.Clone(segs), newSeg), rtSegs(t, dir, rtStream, rtShard0))
			require.Equal(t, int64(rtSegHeader+3*(rtFrameOverhead+4+rtDataSize)), rtSize(t, newSeg), "appends went into it")
			require.FileExists(t, rtIdx(segs[1]), "the segment before it is full now, and indexed")
			require.Len(t, want, n+3)
		})
		// The first segment of a shard, created on its first use.
		t.Run(fmt.Sprintf("first-segment-%d", hdr), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			l := rtOpen(t, dir)
			rtCreate(t, l, rtStream, 1)
			rtClose(t, l)
			sdir := rtShardDir(dir, rtStream, rtShard0)
			require.NoDirExists(t, sdir, "shards are created on first use")
			require.NoError(t, os.MkdirAll(sdir, 0o755))
			seg := filepath.Join(sdir, "00000000000000000001.seg") // base: the shard's floor (0) + 1
			rtWriteFile(t, seg, rtSegmentHeader(0, 1)[:hdr])

			l = rtOpen(t, dir)
			rtRequireAll(t, l, nil)
			require.Equal(t, rtSegmentHeader(0, 1), rtReadFile(t, seg), "header rewritten")
			rtRequirePutWorks(t, dir, l, nil)
		})
	}
}

// A header cut short can only precede nothing: frames are written after the
// header is synced. A damaged header in front of frames is corruption, not
// a torn write, and recovery must not discard the frames.
func TestRecoveryDamagedHeaderBeforeData(t *testing.T) {
	t.Parallel()
	dir, _ := rtSetup(t, 3)
	seg := rtSegs(t, dir, rtStream, rtShard0)[0]
	b := rtReadFile(t, seg)
	clear(b[10:rtSegHeader]) // looks like a header write cut short
	rtWriteFile(t, seg, b)

	l := rtOpen(t, dir)
	defer l.Close()
	_, err := rtReadAll(l, rtStream, rtShard0)
	rtCorrupt(t, err, seg, 0)
	require.Equal(t, b, rtReadFile(t, seg), "nothing truncated")
}
