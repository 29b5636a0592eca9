package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Salvage: what Repair keeps of a segment damaged in the middle. Frames
// are self-delimiting and each carries a CRC-32C, so after damage the
// scan resynchronises on the next offset where a valid frame starts, and
// the valid frames after the damage stay in the segment. Only the bytes
// that fail (and the frames of a damaged batch, which is all or nothing)
// go to quarantine.

// span is a byte range [off, end) of a segment file.
type span struct{ off, end int64 }

// salvagePlan says how to rewrite a damaged segment: the bytes before cut
// are kept as they are, then the keep spans; the bad spans go to
// quarantine.
type salvagePlan struct {
	keep     []span
	bad      []span
	salvaged int // frames kept after cut
}

// planSalvage plans the repair of segment bytes b (the whole file) whose
// frames before cut are valid and end a batch, and where the damage starts
// at off (cut <= off: cut is the start of off's batch). The frames of the
// batch holding a damaged frame go to quarantine with it: those before the
// damage, and those after it that share its arrival time (a batch's frames
// have one arrival time). A zero-filled end (the unused end of a
// preallocated file) is dropped, not quarantined. It returns nil if the
// frame at off is valid and in order: the problem is not in this segment's
// bytes (positions out of order with the segment before), and nothing can
// be salvaged.
func planSalvage(b []byte, base uint64, cut, off int64) *salvagePlan {
	n := int64(len(b))
	// The state after the frames kept as they are.
	lastPos, lastArr := uint64(0), int64(0)
	if base > 0 {
		lastPos = base - 1
	}
	for i := int64(segmentHeaderSize); i < cut; {
		fr, size, err := decodeFrame(b[i:cut])
		if err != nil {
			break // repairCut checked these frames
		}
		lastPos, lastArr = fr.Position, fr.Arrival
		i += int64(size)
	}
	// trim drops the zero-filled end of a span that reaches the end.
	trim := func(end int64) int64 {
		if end < n {
			return end
		}
		for end > 0 && b[end-1] == 0 {
			end--
		}
		return end
	}

	p := &salvagePlan{}
	// Garbage can announce plausible frames, each costing a CRC over up to
	// 10 MiB; past this budget the rest of the segment is given up on
	// (quarantined) rather than scanned for hours.
	budget := 16*n + 64<<20
	addBad := func(s span) {
		if s.end = trim(s.end); s.end <= s.off {
			return
		}
		if k := len(p.bad); k > 0 && p.bad[k-1].end == s.off {
			p.bad[k-1].end = s.end
			return
		}
		p.bad = append(p.bad, s)
	}
	var batch []span // the frames of the batch being read
	var batchArr int64
	i := cut
	for i < n {
		fr, size, ok := frameAt(b, i, lastPos)
		if ok && i == off {
			return nil
		}
		if ok {
			if len(batch) == 0 {
				batchArr = fr.Arrival
			}
			batch = append(batch, span{i, i + int64(size)})
			lastPos, lastArr = fr.Position, fr.Arrival
			i += int64(size)
			if !fr.More {
				p.keep = append(p.keep, batch...)
				p.salvaged += len(batch)
				batch = nil
			}
			continue
		}
		// Damage at i. The frames of its batch read so far go with it;
		// the arrival time tells the rest of that batch, after the damage.
		start, arr, haveArr := i, batchArr, len(batch) > 0
		if haveArr {
			start = batch[0].off
		} else if i+frameOverhead <= n {
			arr, haveArr = int64(binary.LittleEndian.Uint64(b[i+frameHeaderSize+8:])), true
		}
		batch = nil
		next := resync(b, i+1, lastPos, lastArr, &budget)
		if next < 0 {
			addBad(span{start, n})
			return p
		}
		addBad(span{start, next})
		i = next
		// Drop the rest of the damaged batch: frames of its arrival time,
		// up to the one that ends it.
		for haveArr && i < n {
			fr, size, ok := frameAt(b, i, lastPos)
			if !ok || fr.Arrival != arr {
				break
			}
			addBad(span{i, i + int64(size)})
			lastPos = fr.Position
			i += int64(size)
			if !fr.More {
				break
			}
		}
	}
	// A batch whose end is missing is not kept: appends are all or nothing.
	if len(batch) > 0 {
		addBad(span{batch[0].off, n})
	}
	return p
}

// frameAt decodes the frame at b[i:] if it is valid and its position
// is above last.
func frameAt(b []byte, i int64, last uint64) (frame, int, bool) {
	fr, size, err := decodeFrame(b[i:])
	if err != nil || fr.Position <= last {
		return frame{}, 0, false
	}
	return fr, size, true
}

// resync returns the first offset at or after from where a frame starts
// that could follow the last valid one: a sane length that fits, a key
// that fits in it, a position above lastPos, an arrival time not before
// lastArr, and a CRC that matches. It returns -1 if there is none, or when
// the CRCs computed pass *budget bytes. The cheap field checks come first,
// so a CRC is computed only for rare candidates.
func resync(b []byte, from int64, lastPos uint64, lastArr int64, budget *int64) int64 {
	end := int64(len(b))
	for i := from; i+frameOverhead <= end; i++ {
		h := b[i:]
		bodyLen := int64(binary.LittleEndian.Uint32(h))
		if bodyLen < frameFixedBody || bodyLen > maxFrameBody || i+frameHeaderSize+bodyLen > end {
			continue
		}
		pos := binary.LittleEndian.Uint64(h[frameHeaderSize:])
		arr := int64(binary.LittleEndian.Uint64(h[frameHeaderSize+8:]))
		keyLen := int64(binary.LittleEndian.Uint16(h[frameHeaderSize+16:]) &^ moreFlag)
		if pos <= lastPos || arr < lastArr || frameFixedBody+keyLen > bodyLen {
			continue
		}
		if *budget -= bodyLen; *budget < 0 {
			return -1
		}
		if _, _, err := decodeFrame(b[i:]); err == nil {
			return i
		}
	}
	return -1
}

// salvageSegment carries out plan on seg (whose bytes are b): it saves
// each bad span to quarantine (durably), then replaces the segment
// atomically by its header and frames before cut followed by the kept
// frames, and rebuilds the index of a full segment (an active one has
// none).
func salvageSegment(o options, q *quarantine, seg *segment, b []byte, cut int64, plan *salvagePlan, res *RepairResult) (*RepairResult, error) {
	for _, s := range plan.bad {
		if err := q.save(b[s.off:s.end], s.off, res); err != nil {
			return nil, err
		}
	}
	res.Offset = cut
	if len(plan.bad) > 0 {
		res.Offset = plan.bad[0].off
	}
	res.Salvaged = plan.salvaged
	out := make([]byte, 0, int64(len(b)))
	out = append(out, b[:cut]...)
	for _, s := range plan.keep {
		out = append(out, b[s.off:s.end]...)
	}
	// The index goes first: a stale one would be rebuilt anyway, as its
	// size no longer matches.
	switch err := o.fs.Remove(indexPath(seg.path)); {
	case err == nil:
		res.IndexRemoved = true
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if err := writeFileAtomic(o.fs, seg.path, out, true); err != nil {
		return nil, fmt.Errorf("shardlog/file: rewrite %s: %w", seg.path, err)
	}
	full, err := laterSegment(o.fs, seg)
	if err != nil || !full {
		return res, err
	}
	f, err := o.fs.OpenFile(seg.path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ns := &segment{path: seg.path, base: seg.base, f: f, size: segmentHeaderSize}
	sh := &shard{e: &Engine{dir: q.dir, fs: o.fs, logger: o.logger}}
	locs, err := sh.scan(ns, int64(len(out)))
	if err != nil {
		return nil, fmt.Errorf("shardlog/file: rescan %s: %w", seg.path, err)
	}
	if err := writeIndex(o.fs, ns, groupLocs(locs)); err != nil {
		return nil, err
	}
	res.IndexRemoved, res.IndexRebuilt = false, true
	return res, nil
}

// laterSegment reports whether seg's shard has a segment after it (seg is
// full, not the active one).
func laterSegment(fsys FS, seg *segment) (bool, error) {
	entries, err := fsys.ReadDir(filepath.Dir(seg.path))
	if err != nil {
		return false, err
	}
	for _, de := range entries {
		if b, ok := parseSegmentName(de.Name()); ok && b > seg.base {
			return true, nil
		}
	}
	return false, nil
}
