package file_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

// FuzzRecoverSegment writes arbitrary bytes as the frames of a shard's only
// (so active) segment, after a valid header for shard 0, base 1, in a data
// directory holding valid stream metadata, then reopens the engine and
// reads the shard. It must never panic, and:
//
//   - if it succeeds, it returns exactly the input's leading run of valid
//     frames (CRC-checked, positions strictly increasing from the base), in
//     order, and the file is truncated right after them; the key index,
//     bounds and a further append agree, and a second recovery changes
//     nothing;
//   - if it fails, the error wraps file.ErrCorrupt, names the segment and the
//     offset of the first frame that is not part of that run, and the file is
//     untouched.
//
// Where the contract is unambiguous it must pick the right one: a tail that
// is empty, all zeros, or a frame cut short or damaged at the end of the
// file (with no valid frame after it) is recovered; a frame out of order, or
// a bad frame followed by a valid one, is corruption.
//
// The shard is read through the engine, not the Log: the Log would hide
// records whose (fuzzed) arrival times are past retention.
//
// Seeds: f.Add below, and testdata/fuzz/FuzzRecoverSegment (a valid run of
// frames as the engine wrote them, truncated, with a zero tail, with a
// flipped byte).
func FuzzRecoverSegment(f *testing.F) {
	// Valid stream metadata, made by a Log.
	tmpl := f.TempDir()
	l := rtOpen(f, tmpl, file.WithSync(file.SyncNever))
	rtCreate(f, l, "fz", 1)
	rtClose(f, l)
	meta, err := os.ReadFile(filepath.Join(tmpl, "streams", "s-fz", "stream.json"))
	require.NoError(f, err)
	hdr := rtSegmentHeader(0, 1)

	a := fzFrame(1, 10, "k", []byte("one"))
	b := fzFrame(2, 20, "key-2", bytes.Repeat([]byte{7}, 40))
	c := fzFrame(1<<40, -5, "", nil)
	ab := append(append([]byte(nil), a...), b...)
	abc := append(append([]byte(nil), ab...), c...)
	flipped := append([]byte(nil), abc...)
	flipped[len(a)+20] ^= 1
	f.Add([]byte{})
	f.Add(abc)
	f.Add(abc[:len(abc)-1])                         // torn last frame
	f.Add(append(append([]byte(nil), ab...), 0, 0)) // zero tail
	f.Add(flipped)                                  // bad frame, then a valid one
	f.Add(append(append([]byte(nil), b...), a...))  // out of order
	f.Add(make([]byte, 100))

	f.Fuzz(func(t *testing.T, in []byte) {
		dir := t.TempDir()
		sdir := filepath.Join(dir, "streams", "s-fz")
		shard := filepath.Join(sdir, "shards", "shardId-000000000000")
		require.NoError(t, os.MkdirAll(shard, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(sdir, "stream.json"), meta, 0o644))
		seg := filepath.Join(shard, "00000000000000000001.seg")
		content := append(append([]byte(nil), hdr...), in...)
		require.NoError(t, os.WriteFile(seg, content, 0o644))

		want, verdict := fzOracle(in)
		eng, err := file.Open(dir, file.WithFS(fzFS{file.OS()}), file.WithSync(file.SyncNever))
		require.NoError(t, err)
		defer eng.Close()
		lg, err := shardlog.Open(rtCtx, eng, shardlog.WithRetentionInterval(0))
		require.NoError(t, err)
		defer lg.Close()
		ref := shardlog.ShardRef{Stream: "fz", ID: "shardId-000000000000"}

		got, err := eng.Read(rtCtx, ref, shardlog.SequenceNumber{}, 1<<20, 1<<40)
		if err != nil {
			require.ErrorIs(t, err, file.ErrCorrupt)
			var ce *file.CorruptError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, seg, ce.Path)
			require.Equal(t, int64(rtSegHeader+want.end), ce.Offset, "offset of the first frame not recovered (%v)", err)
			require.NotEqual(t, fzRecover, verdict, "a torn tail must be recovered: %v", err)
			after, rerr := os.ReadFile(seg)
			require.NoError(t, rerr)
			require.Equal(t, content, after, "nothing truncated")
			_, _, aerr := eng.Append(rtCtx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "x"}}, nil)
			require.ErrorIs(t, aerr, file.ErrCorrupt, "the shard refuses appends too")
			return
		}
		require.NotEqual(t, fzCorrupt, verdict, "corruption must be reported")
		fzRequire(t, want.frames, got)
		after, err := os.ReadFile(seg)
		require.NoError(t, err)
		if int64(len(after)) != int64(rtSegHeader+want.end) {
			// Only a tail of zeros (a preallocated segment's) is kept.
			tail := after[min(len(after), rtSegHeader+want.end):]
			require.Equal(t, make([]byte, len(tail)), tail, "truncated after the last valid frame, or only zeros follow it")
		}

		b, err := eng.Bounds(rtCtx, ref)
		require.NoError(t, err)
		require.Equal(t, int64(len(want.frames)), b.Count)
		keys := map[string][]uint64{}
		for _, fr := range want.frames {
			keys[string(fr.key)] = append(keys[string(fr.key)], fr.pos)
		}
		for k, ps := range keys {
			recs, err := eng.ReadKey(rtCtx, ref, k, shardlog.SequenceNumber{}, 1<<20)
			require.NoError(t, err)
			require.Len(t, recs, len(ps))
			for i, r := range recs {
				require.Equal(t, ps[i], r.SequenceNumber.Position())
			}
			last, ok, err := eng.LastKey(rtCtx, ref, k)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, ps[len(ps)-1], last.SequenceNumber.Position())
		}
		if len(want.frames) > 0 {
			_, _, err := eng.SeekTime(rtCtx, ref, time.Unix(0, want.frames[len(want.frames)/2].arrival))
			require.NoError(t, err)
		}

		// An append lands after the recovered records (unless the fuzzed
		// positions leave no room above them).
		if len(want.frames) == 0 || want.frames[len(want.frames)-1].pos < 1<<62 {
			first, _, err := eng.Append(rtCtx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "new", Data: []byte("rec")}}, nil)
			require.NoError(t, err)
			if len(want.frames) > 0 {
				require.Greater(t, first.Position(), want.frames[len(want.frames)-1].pos)
			}
			want.frames = append(want.frames, fzFrameRec{pos: first.Position(), key: []byte("new"), data: []byte("rec")})
		}
		require.NoError(t, lg.Close())

		// Recovering again finds the same records.
		eng2, err := file.Open(dir, file.WithFS(fzFS{file.OS()}), file.WithSync(file.SyncNever))
		require.NoError(t, err)
		defer eng2.Close()
		got, err = eng2.Read(rtCtx, ref, shardlog.SequenceNumber{}, 1<<20, 1<<40)
		require.NoError(t, err)
		fzRequire(t, want.frames, got)
	})
}

type fzFrameRec struct {
	pos     uint64
	arrival int64
	key     []byte
	data    []byte
}

type fzRun struct {
	frames []fzFrameRec
	end    int // bytes of in they take
}

type fzVerdict int

const (
	fzEither  fzVerdict = iota // the contract allows recovery or corruption
	fzRecover                  // a torn tail: must be recovered
	fzCorrupt                  // must be reported
)

// fzMaxBody mirrors frame.go's maxFrameBody.
const fzMaxBody = 18 + 1024 + 10<<20

var fzCRCTable = crc32.MakeTable(crc32.Castagnoli)

// fzDecode decodes the frame at the start of b as frame.go does: ok, or
// short (the buffer ends inside it), or bad (impossible length, bad CRC,
// key past the body). n is its size when the length is possible.
func fzDecode(b []byte) (fr fzFrameRec, n int, status string) {
	if len(b) < rtFrameHeader {
		return fr, 0, "short"
	}
	body := int(binary.LittleEndian.Uint32(b))
	if body < 18 || body > fzMaxBody {
		return fr, 0, "bad"
	}
	n = rtFrameHeader + body
	if len(b) < n {
		return fr, n, "short"
	}
	crc := crc32.Update(crc32.Update(0, fzCRCTable, b[:4]), fzCRCTable, b[rtFrameHeader:n])
	if binary.LittleEndian.Uint32(b[4:]) != crc {
		return fr, n, "bad"
	}
	kl := int(binary.LittleEndian.Uint16(b[24:]))
	if 18+kl > body {
		return fr, n, "bad"
	}
	return fzFrameRec{
		pos:     binary.LittleEndian.Uint64(b[8:]),
		arrival: int64(binary.LittleEndian.Uint64(b[16:])),
		key:     b[rtFrameOverhead : rtFrameOverhead+kl],
		data:    b[rtFrameOverhead+kl : n],
	}, n, "ok"
}

// fzOracle returns the leading run of valid frames of in, and what the
// contract says of the bytes after it.
func fzOracle(in []byte) (fzRun, fzVerdict) {
	var run fzRun
	prev := uint64(0)
	for run.end < len(in) {
		fr, n, st := fzDecode(in[run.end:])
		if st != "ok" || fr.pos <= prev || fr.pos < 1 {
			break
		}
		run.frames = append(run.frames, fr)
		prev = fr.pos
		run.end += n
	}
	rest := in[run.end:]
	if len(rest) == 0 {
		return run, fzRecover
	}
	_, n, st := fzDecode(rest)
	if st == "ok" {
		return run, fzCorrupt // a valid frame out of order
	}
	// The extent of the bad frame: to the end if cut short, its length if
	// that is possible, its header if not.
	extent := len(rest)
	switch {
	case st == "bad" && n > 0:
		extent = n
	case st == "bad":
		extent = min(rtFrameHeader, len(rest))
	}
	validAfter := false
	for i := 1; i < len(rest); i++ {
		if _, _, st := fzDecode(rest[i:]); st == "ok" {
			validAfter = true
			if i >= extent {
				// A bad frame followed by a valid one.
				return run, fzCorrupt
			}
		}
	}
	nonZeroAfter := bytes.ContainsFunc(rest[extent:], func(r rune) bool { return r != 0 })
	if !validAfter && (st == "short" || !nonZeroAfter) {
		return run, fzRecover
	}
	return run, fzEither
}

func fzRequire(t *testing.T, want []fzFrameRec, got []shardlog.Record) {
	t.Helper()
	require.Len(t, got, len(want))
	for i, r := range got {
		require.Equal(t, want[i].pos, r.SequenceNumber.Position(), "record %d", i)
		require.Equal(t, uint32(0), r.SequenceNumber.ShardIndex())
		require.Equal(t, string(want[i].key), r.PartitionKey, "record %d", i)
		require.True(t, bytes.Equal(want[i].data, r.Data), "record %d data", i)
		if want[i].arrival != 0 {
			require.Equal(t, want[i].arrival, r.ApproximateArrivalTimestamp.UnixNano(), "record %d", i)
		}
		if i > 0 {
			require.Positive(t, r.SequenceNumber.Compare(got[i-1].SequenceNumber), "sequence numbers increase")
		}
	}
}

// fzFrame encodes a frame as frame.go's appendFrame does.
func fzFrame(pos uint64, arrival int64, key string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(18+len(key)+len(data)))
	b = append(b, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint64(b, pos)
	b = binary.LittleEndian.AppendUint64(b, uint64(arrival))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[4:], rtCRC(append(append([]byte(nil), b[:4]...), b[rtFrameHeader:]...)))
	return b
}

// fzFS is the OS file system without syncs: recovery is the subject here,
// not durability, and fsync would slow the fuzzer down a hundredfold.
type fzFS struct{ file.FS }

func (f fzFS) OpenFile(name string, flag int, perm fs.FileMode) (file.File, error) {
	ff, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return fzFile{ff}, nil
}

func (fzFS) SyncDir(string) error { return nil }

type fzFile struct{ file.File }

func (fzFile) Sync() error { return nil }

// TestRecoverSegmentOracle checks the fuzz test's oracle on inputs whose
// answer is known.
func TestRecoverSegmentOracle(t *testing.T) {
	t.Parallel()
	a := fzFrame(1, 10, "k", []byte("one"))
	b := fzFrame(2, 20, "key-2", []byte("two"))
	ab := append(append([]byte(nil), a...), b...)
	flipped := append([]byte(nil), ab...)
	flipped[5] ^= 1 // a's CRC
	cases := []struct {
		name    string
		in      []byte
		frames  int
		end     int
		verdict fzVerdict
	}{
		{"empty", nil, 0, 0, fzRecover},
		{"valid", ab, 2, len(ab), fzRecover},
		{"cut", ab[:len(ab)-1], 1, len(a), fzRecover},
		{"cut-in-header", ab[:len(a)+3], 1, len(a), fzRecover},
		{"zero-tail", append(append([]byte(nil), ab...), 0, 0, 0), 2, len(ab), fzRecover},
		{"last-damaged", append(append([]byte(nil), a...), flipped[:len(a)]...), 1, len(a), fzRecover},
		{"bad-then-valid", flipped, 0, 0, fzCorrupt},
		{"out-of-order", append(append([]byte(nil), b...), a...), 1, len(b), fzCorrupt},
		{"position-zero", fzFrame(0, 1, "", nil), 0, 0, fzCorrupt},
	}
	for _, tc := range cases {
		run, v := fzOracle(tc.in)
		require.Len(t, run.frames, tc.frames, tc.name)
		require.Equal(t, tc.end, run.end, tc.name)
		require.Equal(t, tc.verdict, v, tc.name)
	}
}
