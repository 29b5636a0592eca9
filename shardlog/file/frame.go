package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"

	"github.com/shoal-dev/shoal/shardlog"
)

// Frame layout (little-endian); see doc.go for the picture.
const (
	frameHeaderSize = 8         // length u32 + crc u32
	frameFixedBody  = 8 + 8 + 2 // position u64 + arrival i64 + key length u16
	frameOverhead   = frameHeaderSize + frameFixedBody
	maxFrameBody    = frameFixedBody + 1024 + 10<<20 // largest key (256 code points ≤ 1 KiB) + 10 MiB data
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// frame is one decoded record frame. Key and Data alias the buffer decoded.
type frame struct {
	Position uint64
	Arrival  int64 // Unix nanoseconds
	Key      []byte
	Data     []byte
	// More is set on every frame of a batch but the last, so recovery can
	// drop a batch torn between frames: appends are all or nothing.
	More bool
}

// moreFlag is the top bit of the key length field; keys are at most 1 KiB.
const moreFlag = 1 << 15

// frameSize returns the encoded size of a record.
func frameSize(keyLen, dataLen int) int { return frameOverhead + keyLen + dataLen }

// appendFrame encodes a frame that ends its batch at the end of b.
func appendFrame(b []byte, pos uint64, arrival int64, key string, data []byte) []byte {
	return appendFrameMore(b, pos, arrival, key, data, false)
}

// appendFrameMore encodes a frame, marking whether more frames of its batch
// follow.
func appendFrameMore(b []byte, pos uint64, arrival int64, key string, data []byte, more bool) []byte {
	bodyLen := frameFixedBody + len(key) + len(data)
	keyField := uint16(len(key))
	if more {
		keyField |= moreFlag
	}
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(bodyLen))
	b = append(b, 0, 0, 0, 0) // crc, filled below
	b = binary.LittleEndian.AppendUint64(b, pos)
	b = binary.LittleEndian.AppendUint64(b, uint64(arrival))
	b = binary.LittleEndian.AppendUint16(b, keyField)
	b = append(b, key...)
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[start+4:], frameCRC(b[start:]))
	return b
}

// frameCRC is CRC-32C over the length field and the body: a damaged length
// cannot pass as a shorter frame.
func frameCRC(f []byte) uint32 {
	c := crc32.Update(0, crcTable, f[0:4])
	return crc32.Update(c, crcTable, f[frameHeaderSize:])
}

// Decoding outcomes that are not a frame.
var (
	// errShortFrame: the buffer ends inside the frame (a torn tail, or a
	// read that must fetch more bytes).
	errShortFrame = errors.New("short frame")
	// errBadFrame: the bytes are not a valid frame (bad length or CRC).
	errBadFrame = errors.New("bad frame")
)

// decodeFrame decodes the frame at the start of b and returns it with its
// encoded size. It never panics on any input.
func decodeFrame(b []byte) (frame, int, error) {
	if len(b) < frameHeaderSize {
		return frame{}, 0, errShortFrame
	}
	bodyLen := int(binary.LittleEndian.Uint32(b))
	if bodyLen < frameFixedBody || bodyLen > maxFrameBody {
		return frame{}, 0, errBadFrame
	}
	n := frameHeaderSize + bodyLen
	if len(b) < n {
		return frame{}, 0, errShortFrame
	}
	if binary.LittleEndian.Uint32(b[4:]) != frameCRC(b[:n]) {
		return frame{}, 0, errBadFrame
	}
	body := b[frameHeaderSize:n]
	keyField := binary.LittleEndian.Uint16(body[16:])
	keyLen := int(keyField &^ moreFlag)
	if frameFixedBody+keyLen > bodyLen {
		return frame{}, 0, errBadFrame
	}
	return frame{
		Position: binary.LittleEndian.Uint64(body),
		Arrival:  int64(binary.LittleEndian.Uint64(body[8:])),
		Key:      body[frameFixedBody : frameFixedBody+keyLen],
		Data:     body[frameFixedBody+keyLen:],
		More:     keyField&moreFlag != 0,
	}, n, nil
}

// frameLength returns the encoded size announced by a frame header, or an
// error if the header is short or the length impossible.
func frameLength(hdr []byte) (int, error) {
	if len(hdr) < frameHeaderSize {
		return 0, errShortFrame
	}
	bodyLen := int(binary.LittleEndian.Uint32(hdr))
	if bodyLen < frameFixedBody || bodyLen > maxFrameBody {
		return 0, errBadFrame
	}
	return frameHeaderSize + bodyLen, nil
}

// CorruptError reports damaged data the engine will not skip: a bad frame
// in the middle of a segment, a segment whose header is wrong, or a frame
// out of order. It names the file and the byte offset.
type CorruptError struct {
	Path   string
	Offset int64
	Reason string
}

// Error implements error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("shardlog/file: corrupt data in %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Is reports whether target is shardlog.ErrCorrupt, so callers of the Log
// (such as the Kinesis server) tell damaged data apart without importing
// this package.
func (e *CorruptError) Is(target error) bool { return target == shardlog.ErrCorrupt }

// CorruptAt implements shardlog.Corruption: the file's name with its
// parent directory's (for a segment, "<shard ID>/<segment file>"), and the
// offset.
func (e *CorruptError) CorruptAt() (string, int64) {
	return filepath.Join(filepath.Base(filepath.Dir(e.Path)), filepath.Base(e.Path)), e.Offset
}

// ErrCorrupt is wrapped by every *CorruptError.
var ErrCorrupt = errors.New("shardlog/file: corrupt data")

func frameCRCRaw(b []byte) uint32 { return crc32.Checksum(b, crcTable) }
