package filesnapshot

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// ErrCorrupt is wrapped by the error of LoadSnapshot and SaveSnapshot when a
// stream's snapshot file is not one this package can read: damaged,
// truncated, of an unknown format, or holding another stream's snapshot.
// The error names the file.
var ErrCorrupt = eventstore.ErrCorruptSnapshot

const (
	magic         = "SHOALSNP"
	formatVersion = 1
	// headerSize is magic, crc32c, format and body length.
	headerSize = len(magic) + 4 + 4 + 4
	// crcStart is where the bytes covered by the CRC start.
	crcStart = len(magic) + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encode returns the file content of snap.
func encode(snap eventstore.Snapshot) ([]byte, error) {
	size := uint64(4+len(snap.StreamID)) + 8 +
		uint64(4+len(snap.Position.ShardID)) + 8 + 4 +
		uint64(4+len(snap.Type)) + 4 + 8 + 4 +
		uint64(4+len(snap.Data))
	if size > math.MaxUint32 {
		return nil, fmt.Errorf("snapshot of %d bytes exceeds the 4 GiB limit of a snapshot file", size)
	}
	b := make([]byte, headerSize, uint64(headerSize)+size)
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[12:], formatVersion)
	binary.LittleEndian.PutUint32(b[16:], uint32(size))

	le := binary.LittleEndian
	b = appendBytes(b, snap.StreamID)
	b = le.AppendUint64(b, snap.Version)
	b = appendBytes(b, snap.Position.ShardID)
	b = le.AppendUint64(b, snap.Position.SequenceNumber.Position())
	b = le.AppendUint32(b, snap.Position.SequenceNumber.ShardIndex())
	b = appendBytes(b, snap.Type)
	b = le.AppendUint32(b, snap.SchemaVersion)
	b = le.AppendUint64(b, uint64(snap.TakenAt.Unix()))
	b = le.AppendUint32(b, uint32(snap.TakenAt.Nanosecond()))
	b = appendBytes(b, snap.Data)

	binary.LittleEndian.PutUint32(b[len(magic):], crc32.Checksum(b[crcStart:], castagnoli))
	return b, nil
}

func appendBytes[S string | []byte](b []byte, s S) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// decode parses a file's content. Its errors wrap ErrCorrupt. The returned
// Data aliases b.
func decode(b []byte) (eventstore.Snapshot, error) {
	if len(b) < headerSize {
		if n := min(len(b), len(magic)); string(b[:n]) == magic[:n] {
			return eventstore.Snapshot{}, corruptf("truncated to %d bytes", len(b))
		}
		return eventstore.Snapshot{}, corruptf("%d bytes, not a snapshot file", len(b))
	}
	if string(b[:len(magic)]) != magic {
		return eventstore.Snapshot{}, corruptf("bad magic %q, not a snapshot file", b[:len(magic)])
	}
	if f := binary.LittleEndian.Uint32(b[12:]); f != formatVersion {
		return eventstore.Snapshot{}, corruptf("unknown format version %d (this package reads %d)", f, formatVersion)
	}
	if n := binary.LittleEndian.Uint32(b[16:]); uint64(n) != uint64(len(b)-headerSize) {
		return eventstore.Snapshot{}, corruptf("header says %d bytes of body, the file has %d (truncated or extended)", n, len(b)-headerSize)
	}
	if want, got := binary.LittleEndian.Uint32(b[len(magic):]), crc32.Checksum(b[crcStart:], castagnoli); want != got {
		return eventstore.Snapshot{}, corruptf("CRC-32C mismatch (header %08x, content %08x)", want, got)
	}

	r := reader{b: b[headerSize:]}
	var snap eventstore.Snapshot
	snap.StreamID = string(r.bytes("stream ID"))
	snap.Version = r.u64("version")
	snap.Position.ShardID = string(r.bytes("shard ID"))
	pos := r.u64("sequence number")
	shard := r.u32("sequence number")
	snap.Position.SequenceNumber = shardlog.MakeSequenceNumber(pos, shard)
	snap.Type = string(r.bytes("type"))
	snap.SchemaVersion = r.u32("schema version")
	sec := int64(r.u64("taken at"))
	nsec := r.u32("taken at")
	if r.err == nil && nsec >= 1e9 {
		r.err = corruptf("taken at: %d nanoseconds", nsec)
	}
	snap.TakenAt = time.Unix(sec, int64(nsec)).UTC()
	if data := r.bytes("data"); len(data) > 0 {
		snap.Data = data
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = corruptf("%d bytes after the data", len(r.b))
	}
	if r.err != nil {
		return eventstore.Snapshot{}, r.err
	}
	return snap, nil
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// reader reads the body's fields. After the first error it returns zero
// values, and err names the field that ran past the body.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(field string, n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = corruptf("%s: needs %d bytes, %d left in the body", field, n, len(r.b))
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u32(field string) uint32 {
	if b := r.take(field, 4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if b := r.take(field, 8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) bytes(field string) []byte {
	n := r.u32(field)
	return r.take(field, uint64(n))
}
