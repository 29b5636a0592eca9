package eventstore

import (
	"encoding/binary"
	"slices"

	"github.com/google/uuid"
)

// The envelope is how one event is laid out in one shardlog record. It is
// hand-encoded (no reflection) so that reading a stream's versions and IDs
// costs a few bytes of parsing per event and the payload is decoded only
// when asked for:
//
//	byte     format (envelopeV1)
//	byte     flags: bit 0 metadata follows, bit 1 batch tail follows,
//	         bits 4-7 the payload codec (codecID)
//	[16]     event ID
//	uvarint  version (1-based within the stream)
//	uvarint  schema version of the payload
//	uvarint  len(type name), type name
//	if batch tail (the last event of an append of two or more):
//	  uvarint  events in the append
//	  [16]     ID of the append's first event
//	if metadata:
//	  uvarint len, correlation ID; uvarint len, causation ID
//	  uvarint n, then n × (uvarint len, key; uvarint len, value), keys sorted
//	...      payload: the event data as the codec wrote it
//
// The stream ID is the record's partition key, the recorded-at time its
// arrival timestamp and the position its shard and sequence number, so
// none of them is repeated here.
const envelopeV1 = 1

const (
	flagMetadata  = 1 << 0
	flagBatchTail = 1 << 1
)

// header is an envelope without its payload.
type header struct {
	id            uuid.UUID
	version       uint64
	schemaVersion uint32
	typ           string
	codec         byte
	batchCount    uint64    // 0 unless this is a batch tail
	batchFirst    uuid.UUID // set with batchCount
	meta          Metadata
}

// appendEnvelope appends the encoding of h and payload to dst.
func appendEnvelope(dst []byte, h *header, payload []byte) []byte {
	flags := h.codec << 4
	hasMeta := !h.meta.isZero()
	if hasMeta {
		flags |= flagMetadata
	}
	if h.batchCount > 1 {
		flags |= flagBatchTail
	}
	dst = append(dst, envelopeV1, flags)
	dst = append(dst, h.id[:]...)
	dst = binary.AppendUvarint(dst, h.version)
	dst = binary.AppendUvarint(dst, uint64(h.schemaVersion))
	dst = appendString(dst, h.typ)
	if h.batchCount > 1 {
		dst = binary.AppendUvarint(dst, h.batchCount)
		dst = append(dst, h.batchFirst[:]...)
	}
	if hasMeta {
		dst = appendString(dst, h.meta.CorrelationID)
		dst = appendString(dst, h.meta.CausationID)
		keys := make([]string, 0, len(h.meta.Fields))
		for k := range h.meta.Fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = binary.AppendUvarint(dst, uint64(len(keys)))
		for _, k := range keys {
			dst = appendString(dst, k)
			dst = appendString(dst, h.meta.Fields[k])
		}
	}
	return append(dst, payload...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// parseEnvelope decodes b's header and returns the payload, which aliases b.
// names interns type names (nil: no interning).
func parseEnvelope(b []byte, names *Registry) (h header, payload []byte, err error) {
	if len(b) < 18 || b[0] != envelopeV1 {
		return h, nil, corrupt("record of %d bytes is not an event envelope", len(b))
	}
	flags := b[1]
	if flags&^(flagMetadata|flagBatchTail|0xf0) != 0 {
		return h, nil, corrupt("event envelope has unknown flags %#x", flags)
	}
	h.codec = flags >> 4
	copy(h.id[:], b[2:18])
	r := reader{b: b, off: 18, ok: true}
	h.version = r.uvarint()
	sv := r.uvarint()
	if sv > 1<<32-1 {
		r.fail()
	}
	h.schemaVersion = uint32(sv)
	h.typ = r.name(names)
	if flags&flagBatchTail != 0 {
		h.batchCount = r.uvarint()
		copy(h.batchFirst[:], r.bytes(16))
	}
	if flags&flagMetadata != 0 {
		h.meta.CorrelationID = r.string()
		h.meta.CausationID = r.string()
		if n := r.uvarint(); n > 0 && r.ok {
			if n > uint64(len(b)-r.off)/2 { // each field takes two bytes at least
				r.fail()
			} else {
				h.meta.Fields = make(map[string]string, n)
				for range n {
					k := r.string()
					h.meta.Fields[k] = r.string()
				}
			}
		}
	}
	if !r.ok || h.version == 0 {
		return header{}, nil, corrupt("event envelope of %d bytes is truncated or malformed", len(b))
	}
	return h, b[r.off:], nil
}

// reader reads an envelope; the first failure sticks.
type reader struct {
	b   []byte
	off int
	ok  bool
}

func (r *reader) fail() { r.ok = false; r.off = len(r.b) }

func (r *reader) uvarint() uint64 {
	if !r.ok {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail()
		return 0
	}
	r.off += n
	return v
}

func (r *reader) bytes(n int) []byte {
	if !r.ok || n > len(r.b)-r.off {
		r.fail()
		return nil
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

// name reads a type name, returning the registry's copy when it has one,
// so that reading a stream allocates no name per event.
func (r *reader) name(names *Registry) string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	b := r.bytes(int(n))
	if names != nil {
		if s, ok := names.intern(b); ok {
			return s
		}
	}
	return string(b)
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	return string(r.bytes(int(n)))
}
