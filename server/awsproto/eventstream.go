package awsproto

// The AWS event-stream binary framing ("application/vnd.amazon.eventstream")
// of streaming responses such as Kinesis SubscribeToShard.
//
// A message is
//
//	prelude:  total length (uint32 BE) | headers length (uint32 BE) | CRC32 of those 8 bytes
//	headers:  zero or more of: name length (uint8) | name | type (uint8) | value
//	payload:  total length - headers length - 16 bytes
//	trailer:  CRC32 of everything before it
//
// with CRC32 the IEEE polynomial. A header value is encoded by type:
//
//	0 bool true, 1 bool false       no value bytes
//	2 byte                          1 byte (int8)
//	3 int16, 4 int32, 5 int64       2, 4, 8 bytes BE
//	6 bytes, 7 string               uint16 BE length + bytes
//	8 timestamp                     int64 BE milliseconds since the epoch
//	9 uuid                          16 bytes

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"sync"
	"time"
)

// EventStreamContentType is the HTTP Content-Type of an event-stream
// response body.
const EventStreamContentType = "application/vnd.amazon.eventstream"

// EventContentType is the :content-type header of the JSON events and
// exceptions EventWriter writes. The aws-sdk-go-v2 JSON 1.1 event-stream
// codec uses "application/json" for event payloads (not the HTTP-level
// "application/x-amz-json-1.1"), and its reader does not check the header.
const EventContentType = "application/json"

// The format's limits.
const (
	// MaxMessageLen bounds a whole message, prelude and CRCs included.
	MaxMessageLen = 16 << 20
	// MaxHeadersLen bounds a message's encoded headers.
	MaxHeadersLen = 128 << 10
	// MaxHeaderNameLen bounds a header name, in bytes.
	MaxHeaderNameLen = 255
	// MaxHeaderValueLen bounds a string or bytes header value, in bytes:
	// the wire allows 65535 but the AWS SDKs' encoders stop at 32767.
	MaxHeaderValueLen = 1<<15 - 1
	// minMessageLen is a message with no headers and no payload: the
	// prelude (8 bytes), its CRC (4) and the message CRC (4).
	minMessageLen = 16
)

// The header value types.
const (
	headerTrue      = 0
	headerFalse     = 1
	headerByte      = 2
	headerInt16     = 3
	headerInt32     = 4
	headerInt64     = 5
	headerBytes     = 6
	headerString    = 7
	headerTimestamp = 8
	headerUUID      = 9
)

// The standard header names.
const (
	HeaderMessageType   = ":message-type"
	HeaderEventType     = ":event-type"
	HeaderExceptionType = ":exception-type"
	HeaderContentType   = ":content-type"
	HeaderErrorCode     = ":error-code"
	HeaderErrorMessage  = ":error-message"
)

// InitialResponseEventType is the :event-type of the first message of an
// RPC-protocol (AWS JSON) event stream, which carries the operation's
// non-streaming output.
const InitialResponseEventType = "initial-response"

var (
	// ErrChecksum: a message's prelude or message CRC does not match.
	ErrChecksum = errors.New("awsproto: event-stream checksum mismatch")
	// ErrLimit: a message, its headers, a header name or a header value
	// is larger than the format allows.
	ErrLimit = errors.New("awsproto: event-stream limit exceeded")
	// ErrMalformed: a message's lengths or headers are inconsistent, or a
	// header has an unknown type.
	ErrMalformed = errors.New("awsproto: malformed event-stream message")
	// ErrStreamEnded: an EventWriter was used after it wrote an exception.
	ErrStreamEnded = errors.New("awsproto: the event stream has ended")
)

// UUID is the value of a uuid (type 9) header.
type UUID [16]byte

// Header is one event-stream header. The Go type of Value picks the wire
// type: bool (true 0 / false 1), int8 (byte, 2), int16 (3), int32 (4),
// int64 (5), []byte (6), string (7), time.Time (timestamp, 8: whole
// milliseconds since the epoch), UUID (9). ReadMessage returns the same
// types, timestamps in UTC.
type Header struct {
	Name  string
	Value any
}

// appendHeaders appends the encoded headers to dst.
func appendHeaders(dst []byte, headers []Header) ([]byte, error) {
	for _, h := range headers {
		if len(h.Name) == 0 {
			return nil, fmt.Errorf("%w: empty header name", ErrMalformed)
		}
		if len(h.Name) > MaxHeaderNameLen {
			return nil, fmt.Errorf("%w: header name of %d bytes (at most %d)", ErrLimit, len(h.Name), MaxHeaderNameLen)
		}
		dst = append(dst, byte(len(h.Name)))
		dst = append(dst, h.Name...)
		switch v := h.Value.(type) {
		case bool:
			if v {
				dst = append(dst, headerTrue)
			} else {
				dst = append(dst, headerFalse)
			}
		case int8:
			dst = append(dst, headerByte, byte(v))
		case int16:
			dst = append(dst, headerInt16)
			dst = binary.BigEndian.AppendUint16(dst, uint16(v))
		case int32:
			dst = append(dst, headerInt32)
			dst = binary.BigEndian.AppendUint32(dst, uint32(v))
		case int64:
			dst = append(dst, headerInt64)
			dst = binary.BigEndian.AppendUint64(dst, uint64(v))
		case []byte:
			if len(v) > MaxHeaderValueLen {
				return nil, fmt.Errorf("%w: header %s: value of %d bytes (at most %d)", ErrLimit, h.Name, len(v), MaxHeaderValueLen)
			}
			dst = append(dst, headerBytes)
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
			dst = append(dst, v...)
		case string:
			if len(v) > MaxHeaderValueLen {
				return nil, fmt.Errorf("%w: header %s: value of %d bytes (at most %d)", ErrLimit, h.Name, len(v), MaxHeaderValueLen)
			}
			dst = append(dst, headerString)
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
			dst = append(dst, v...)
		case time.Time:
			dst = append(dst, headerTimestamp)
			dst = binary.BigEndian.AppendUint64(dst, uint64(v.UnixMilli()))
		case UUID:
			dst = append(dst, headerUUID)
			dst = append(dst, v[:]...)
		default:
			return nil, fmt.Errorf("awsproto: header %s: unsupported value type %T", h.Name, h.Value)
		}
	}
	return dst, nil
}

// AppendMessage appends the encoded message to dst. On error dst is
// returned unchanged.
func AppendMessage(dst []byte, headers []Header, payload []byte) ([]byte, error) {
	start := len(dst)
	// Encode the headers in place after a prelude placeholder.
	out := append(dst, make([]byte, 12)...)
	out, err := appendHeaders(out, headers)
	if err != nil {
		return dst, err
	}
	headersLen := len(out) - start - 12
	if headersLen > MaxHeadersLen {
		return dst, fmt.Errorf("%w: headers of %d bytes (at most %d)", ErrLimit, headersLen, MaxHeadersLen)
	}
	total := minMessageLen + headersLen + len(payload)
	if total > MaxMessageLen {
		return dst, fmt.Errorf("%w: message of %d bytes (at most %d)", ErrLimit, total, MaxMessageLen)
	}
	p := out[start : start+12]
	binary.BigEndian.PutUint32(p[0:4], uint32(total))
	binary.BigEndian.PutUint32(p[4:8], uint32(headersLen))
	binary.BigEndian.PutUint32(p[8:12], crc32.ChecksumIEEE(p[0:8]))
	out = append(out, payload...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:])), nil
}

// EncodeMessage writes one message to w in a single Write; on an encoding
// error (a limit, an unsupported header value) it writes nothing.
func EncodeMessage(w io.Writer, headers []Header, payload []byte) error {
	b, err := AppendMessage(nil, headers, payload)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ReadMessage reads one message from r and verifies both its CRCs. At a
// clean end of the stream (no byte of a next message) it returns io.EOF;
// a message cut short is io.ErrUnexpectedEOF. Checksum failures wrap
// ErrChecksum, out-of-limit lengths ErrLimit, and inconsistent lengths or
// headers ErrMalformed. The returned payload is nil when empty.
func ReadMessage(r io.Reader) (headers []Header, payload []byte, err error) {
	var prelude [12]byte
	if _, err := io.ReadFull(r, prelude[:]); err != nil {
		return nil, nil, err // io.EOF if nothing was read
	}
	if got, want := crc32.ChecksumIEEE(prelude[0:8]), binary.BigEndian.Uint32(prelude[8:12]); got != want {
		return nil, nil, fmt.Errorf("%w: prelude CRC %08x, computed %08x", ErrChecksum, want, got)
	}
	total := binary.BigEndian.Uint32(prelude[0:4])
	headersLen := binary.BigEndian.Uint32(prelude[4:8])
	switch {
	case total > MaxMessageLen:
		return nil, nil, fmt.Errorf("%w: message of %d bytes (at most %d)", ErrLimit, total, MaxMessageLen)
	case headersLen > MaxHeadersLen:
		return nil, nil, fmt.Errorf("%w: headers of %d bytes (at most %d)", ErrLimit, headersLen, MaxHeadersLen)
	case total < minMessageLen || headersLen > total-minMessageLen:
		return nil, nil, fmt.Errorf("%w: total length %d, headers length %d", ErrMalformed, total, headersLen)
	}
	rest := make([]byte, total-12)
	if _, err := io.ReadFull(r, rest); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, err
	}
	body := rest[:len(rest)-4]
	crc := crc32.Update(crc32.ChecksumIEEE(prelude[:]), crc32.IEEETable, body)
	if want := binary.BigEndian.Uint32(rest[len(rest)-4:]); crc != want {
		return nil, nil, fmt.Errorf("%w: message CRC %08x, computed %08x", ErrChecksum, want, crc)
	}
	headers, err = parseHeaders(body[:headersLen])
	if err != nil {
		return nil, nil, err
	}
	if p := body[headersLen:]; len(p) > 0 {
		payload = p
	}
	return headers, payload, nil
}

// parseHeaders decodes encoded headers; b must hold whole headers.
func parseHeaders(b []byte) ([]Header, error) {
	var hs []Header
	short := func(what string) error {
		return fmt.Errorf("%w: headers end inside a %s", ErrMalformed, what)
	}
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 {
			return nil, fmt.Errorf("%w: empty header name", ErrMalformed)
		}
		if len(b) < 1+n+1 {
			return nil, short("header name")
		}
		name := string(b[1 : 1+n])
		typ := b[1+n]
		b = b[1+n+1:]
		var v any
		fixed := func(size int) ([]byte, error) {
			if len(b) < size {
				return nil, short("value of header " + name)
			}
			f := b[:size]
			b = b[size:]
			return f, nil
		}
		switch typ {
		case headerTrue:
			v = true
		case headerFalse:
			v = false
		case headerByte:
			f, err := fixed(1)
			if err != nil {
				return nil, err
			}
			v = int8(f[0])
		case headerInt16:
			f, err := fixed(2)
			if err != nil {
				return nil, err
			}
			v = int16(binary.BigEndian.Uint16(f))
		case headerInt32:
			f, err := fixed(4)
			if err != nil {
				return nil, err
			}
			v = int32(binary.BigEndian.Uint32(f))
		case headerInt64, headerTimestamp:
			f, err := fixed(8)
			if err != nil {
				return nil, err
			}
			n := int64(binary.BigEndian.Uint64(f))
			if typ == headerInt64 {
				v = n
			} else {
				v = time.UnixMilli(n).UTC()
			}
		case headerUUID:
			f, err := fixed(16)
			if err != nil {
				return nil, err
			}
			v = UUID(f)
		case headerBytes, headerString:
			l, err := fixed(2)
			if err != nil {
				return nil, err
			}
			f, err := fixed(int(binary.BigEndian.Uint16(l)))
			if err != nil {
				return nil, err
			}
			if typ == headerString {
				v = string(f)
			} else {
				v = bytes.Clone(f)
			}
		default:
			return nil, fmt.Errorf("%w: header %s has unknown type %d", ErrMalformed, name, typ)
		}
		hs = append(hs, Header{Name: name, Value: v})
	}
	return hs, nil
}

// HeaderValue returns the value of the first header named name, or nil.
func HeaderValue(headers []Header, name string) any {
	for _, h := range headers {
		if h.Name == name {
			return h.Value
		}
	}
	return nil
}

// EventWriter writes an event stream to an HTTP response, one message
// per Write, flushing after each. It is safe for concurrent use; messages
// never interleave. After an Exception, or once a write fails, every
// further call returns an error.
type EventWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController

	mu  sync.Mutex
	buf []byte
	err error // sticky: a write failure or ErrStreamEnded
}

// NewEventWriter returns an EventWriter on w and sets the response's
// Content-Type to EventStreamContentType (unless already set). The
// status (200 unless the caller calls w.WriteHeader first) goes out with
// the first message.
func NewEventWriter(w http.ResponseWriter) *EventWriter {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", EventStreamContentType)
	}
	return &EventWriter{w: w, rc: http.NewResponseController(w)}
}

// InitialResponse writes the initial-response event that AWS JSON
// event streams begin with: :event-type initial-response, and the
// operation's non-streaming output as a JSON payload ("{}" for Kinesis
// SubscribeToShard, whose output has only the event stream). aws-sdk-go-v2
// requires it as the first message of the stream.
func (e *EventWriter) InitialResponse(payload []byte) error {
	return e.Event(InitialResponseEventType, payload)
}

// Event writes an event: :message-type event, :event-type eventType
// (the event-stream union member, e.g. "SubscribeToShardEvent"),
// :content-type EventContentType, and the JSON payload.
func (e *EventWriter) Event(eventType string, payload []byte) error {
	return e.write([]Header{
		{HeaderEventType, eventType},
		{HeaderContentType, EventContentType},
		{HeaderMessageType, "event"},
	}, payload, false)
}

// Exception writes a modeled exception and ends the stream: :message-type
// exception, :exception-type exceptionType (e.g.
// "ResourceInUseException"), :content-type EventContentType, and the
// JSON payload (e.g. {"message":"..."}).
func (e *EventWriter) Exception(exceptionType string, payload []byte) error {
	return e.write([]Header{
		{HeaderExceptionType, exceptionType},
		{HeaderContentType, EventContentType},
		{HeaderMessageType, "exception"},
	}, payload, true)
}

func (e *EventWriter) write(headers []Header, payload []byte, last bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	b, err := AppendMessage(e.buf[:0], headers, payload)
	if err != nil {
		return err // nothing written: the stream is still usable
	}
	e.buf = b
	if len(e.buf) > 64<<10 {
		defer func() { e.buf = nil }() // don't pin a large buffer
	}
	if _, err := e.w.Write(b); err != nil {
		e.err = err
		return err
	}
	if err := e.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		e.err = err
		return err
	}
	if last {
		e.err = ErrStreamEnded
	}
	return nil
}
