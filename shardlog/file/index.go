package file

import (
	"encoding/binary"
	"errors"
	"sort"
	"strings"
)

// keyLoc locates one record of a partition key: its position and the
// offset of its frame in the segment that holds the position.
type keyLoc struct {
	pos uint64
	off uint32
}

// keyIndex maps each partition key of a shard to its records, in order.
// It is the engine's one structure that grows with the number of records:
// per key, the Go map entry and key string; per record, 16 bytes.
type keyIndex map[string][]keyLoc

func (k keyIndex) add(key string, loc keyLoc) {
	k[key] = append(k[key], loc)
}

// after returns the key's locations with positions greater than after.
func (k keyIndex) after(key string, after uint64) []keyLoc {
	locs := k[key]
	i := sort.Search(len(locs), func(i int) bool { return locs[i].pos > after })
	return locs[i:]
}

// pruneBelow drops locations with positions below first (trimmed records).
func (k keyIndex) pruneBelow(first uint64) {
	for key, locs := range k {
		i := sort.Search(len(locs), func(i int) bool { return locs[i].pos >= first })
		switch {
		case i == len(locs):
			delete(k, key)
		case i > 0:
			k[key] = append([]keyLoc(nil), locs[i:]...)
		}
	}
}

// Index sidecar file ("<base>.idx"), written when a segment is rolled, so
// opening a shard reads indexes instead of scanning sealed segments:
//
//	magic "SHOALIDX" | version u32 | segment size u64 | count u64
//	first pos u64 | last pos u64 | first arrival i64 | last arrival i64
//	sparse count u32 | sparse entries (pos u64, arrival i64, offset u32)...
//	key count u32 | per key: key length u16, key, n u32, n × (pos u64, offset u32)
//	CRC-32C u32 of all the bytes before it
//
// An index whose CRC or segment size does not match is stale: the segment
// is scanned and the index written again.
const (
	indexMagic   = "SHOALIDX"
	indexVersion = 1
)

func indexPath(segPath string) string { return strings.TrimSuffix(segPath, segmentExt) + indexExt }

// encodeIndex serializes a full segment's summary, sparse index and keys.
func encodeIndex(s *segment, keys map[string][]keyLoc) []byte {
	b := make([]byte, 0, 64+len(s.sparse)*20+len(keys)*32)
	b = append(b, indexMagic...)
	b = binary.LittleEndian.AppendUint32(b, indexVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.size))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.count))
	b = binary.LittleEndian.AppendUint64(b, s.firstPos)
	b = binary.LittleEndian.AppendUint64(b, s.lastPos)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.firstArr))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.lastArr))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.sparse)))
	for _, e := range s.sparse {
		b = binary.LittleEndian.AppendUint64(b, e.pos)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.arrival))
		b = binary.LittleEndian.AppendUint32(b, e.off)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keys)))
	for key, locs := range keys {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(key)))
		b = append(b, key...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(locs)))
		for _, l := range locs {
			b = binary.LittleEndian.AppendUint64(b, l.pos)
			b = binary.LittleEndian.AppendUint32(b, l.off)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32c(b))
}

var errStaleIndex = errors.New("stale index")

// decodeIndex loads an index into s and keys; it fails with errStaleIndex
// on any mismatch, never panicking.
func decodeIndex(b []byte, s *segment, fileSize int64, keys keyIndex) error {
	if len(b) < 4+len(indexMagic) || crc32c(b[:len(b)-4]) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return errStaleIndex
	}
	r := reader{b: b[:len(b)-4]}
	if string(r.bytes(len(indexMagic))) != indexMagic || r.u32() != indexVersion {
		return errStaleIndex
	}
	size := int64(r.u64())
	if size != fileSize {
		return errStaleIndex
	}
	s.size = size
	s.count = int64(r.u64())
	s.firstPos, s.lastPos = r.u64(), r.u64()
	s.firstArr, s.lastArr = int64(r.u64()), int64(r.u64())
	n := int(r.u32())
	if n > len(r.b)/20 {
		return errStaleIndex
	}
	s.sparse = make([]sparseEntry, 0, n)
	for range n {
		s.sparse = append(s.sparse, sparseEntry{pos: r.u64(), arrival: int64(r.u64()), off: r.u32()})
	}
	nk := int(r.u32())
	staged := make(map[string][]keyLoc, min(nk, 1<<16))
	for range nk {
		key := string(r.bytes(int(r.u16())))
		m := int(r.u32())
		if r.bad || m > len(r.b)/12 {
			return errStaleIndex
		}
		locs := make([]keyLoc, m)
		for i := range locs {
			locs[i] = keyLoc{pos: r.u64(), off: r.u32()}
		}
		staged[key] = locs
	}
	if r.bad || len(r.b) != 0 {
		return errStaleIndex
	}
	for k, locs := range staged {
		keys[k] = append(keys[k], locs...)
	}
	if len(s.sparse) > 0 {
		s.lastMark = int64(s.sparse[len(s.sparse)-1].off)
	}
	return nil
}

// writeIndex writes a full segment's index file atomically. Losing it is
// harmless (it is rebuilt by a scan), so the directory is not synced.
func writeIndex(fsys FS, s *segment, keys map[string][]keyLoc) error {
	return writeFileAtomic(fsys, indexPath(s.path), encodeIndex(s, keys), false)
}

// reader decodes little-endian fields, turning any overrun into bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if n > len(r.b) || r.bad {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}
