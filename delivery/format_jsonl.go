package delivery

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// JSONLinesName is the Name of the JSONLines format, as sidecar index
// objects record it.
const JSONLinesName = "jsonl"

// JSONLines returns the JSON lines format: one JSON object per record, each
// on its own "\n"-terminated line. It is the default format and the one
// ObjectArchive reads back.
//
// Every line has the record's position:
//
//	shardId, sequenceNumber (decimal string), partitionKey,
//	approximateArrivalTimestamp (RFC 3339, UTC, with nanoseconds)
//
// With events nil (or for a record events cannot decode as an event
// envelope) the line has the record's bytes as "data", base64. With an
// event store, an event's line has the decoded envelope: streamId,
// version, type, eventId, time (RFC 3339, UTC, nanoseconds), metadata
// (correlationId, causationId, fields; absent when empty), "data" (the
// payload decoded with the store's registry and marshalled as JSON) and
// "record" (the record's exact bytes, base64, so the archive replays the
// event as stored). A payload whose type is not registered, fails to
// decode or does not marshal as JSON is written as "payload" (its encoded
// bytes, base64) instead of "data": an event never fails its batch.
func JSONLines(events *eventstore.Store) Format { return &jsonLines{events: events} }

type jsonLines struct {
	events *eventstore.Store
}

// Name implements Format.
func (*jsonLines) Name() string { return JSONLinesName }

// Extension implements Format.
func (*jsonLines) Extension() string { return ".json" }

// jsonlFlush is how many encoded bytes are collected before a write to
// the (compressing) writer.
const jsonlFlush = 64 << 10

var jsonlBufs = sync.Pool{New: func() any { b := make([]byte, 0, jsonlFlush+4096); return &b }}

// Encode implements Format. Lines are built in a pooled buffer and written
// to w in blocks of about 64 KiB.
func (f *jsonLines) Encode(w io.Writer, b *Batch) error {
	if err := checkEncode(w, b); err != nil {
		return err
	}
	bp := jsonlBufs.Get().(*[]byte)
	defer jsonlBufs.Put(bp)
	buf := (*bp)[:0]
	defer func() { *bp = buf[:0] }()
	for i := range b.Records {
		r := &b.Records[i]
		buf = f.appendLine(buf, b, r)
		if len(buf) >= jsonlFlush {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// appendLine appends r's line.
func (f *jsonLines) appendLine(buf []byte, b *Batch, r *shardlog.Record) []byte {
	shard := b.Shard.ShardID
	if shard == "" {
		shard = r.SequenceNumber.ShardID()
	}
	buf = append(buf, `{"shardId":`...)
	buf = appendJSONString(buf, shard)
	buf = append(buf, `,"sequenceNumber":"`...)
	buf = append(buf, r.SequenceNumber.String()...)
	buf = append(buf, `","partitionKey":`...)
	buf = appendJSONString(buf, r.PartitionKey)
	buf = append(buf, `,"approximateArrivalTimestamp":"`...)
	buf = r.ApproximateArrivalTimestamp.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, '"')
	if f.events != nil {
		if ev, err := f.events.DecodeRecord(*r); err == nil {
			return appendEvent(buf, &ev, r)
		}
	}
	buf = append(buf, `,"data":"`...)
	buf = base64.StdEncoding.AppendEncode(buf, r.Data)
	return append(buf, "\"}\n"...)
}

// jsonMetadata is an event's metadata in a line.
type jsonMetadata struct {
	CorrelationID string            `json:"correlationId,omitempty"`
	CausationID   string            `json:"causationId,omitempty"`
	Fields        map[string]string `json:"fields,omitempty"`
}

// appendEvent appends the event fields of ev (decoded from r) and ends
// the line.
func appendEvent(buf []byte, ev *eventstore.Event, r *shardlog.Record) []byte {
	buf = append(buf, `,"streamId":`...)
	buf = appendJSONString(buf, ev.StreamID)
	buf = append(buf, `,"version":`...)
	buf = strconv.AppendUint(buf, ev.Version, 10)
	buf = append(buf, `,"type":`...)
	buf = appendJSONString(buf, ev.Type)
	buf = append(buf, `,"eventId":"`...)
	buf = append(buf, ev.ID.String()...)
	buf = append(buf, `","time":"`...)
	buf = ev.RecordedAt.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, '"')
	md := ev.Metadata
	if md.CorrelationID != "" || md.CausationID != "" || len(md.Fields) > 0 {
		if j, err := json.Marshal(jsonMetadata{md.CorrelationID, md.CausationID, md.Fields}); err == nil {
			buf = append(buf, `,"metadata":`...)
			buf = append(buf, j...)
		}
	}
	var data []byte
	if v, err := ev.Data(); err == nil {
		data, _ = json.Marshal(v)
	}
	if data != nil {
		buf = append(buf, `,"data":`...)
		buf = append(buf, data...)
	} else {
		buf = append(buf, `,"payload":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, ev.Payload())
		buf = append(buf, '"')
	}
	buf = append(buf, `,"record":"`...)
	buf = base64.StdEncoding.AppendEncode(buf, r.Data)
	return append(buf, "\"}\n"...)
}

// appendJSONString appends s as a JSON string, escaping as encoding/json
// does except for HTML characters; invalid UTF-8 becomes U+FFFD.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// jsonLineIn is what decodeJSONLines reads of a line.
type jsonLineIn struct {
	SequenceNumber              string          `json:"sequenceNumber"`
	PartitionKey                string          `json:"partitionKey"`
	ApproximateArrivalTimestamp string          `json:"approximateArrivalTimestamp"`
	Data                        json.RawMessage `json:"data"`
	Record                      []byte          `json:"record"`
}

// maxJSONLine bounds one line: a 1,000 KiB record, base64 twice (data
// and record), with room for the envelope.
const maxJSONLine = 8 << 20

// decodeJSONLines reads JSONLines-encoded bytes back into the records
// they were written from, exactly as stored: an event line's "record", a
// raw line's "data". It calls yield for each, in order, until yield
// returns false. A malformed line is an error naming its line number.
func decodeJSONLines(r io.Reader, yield func(shardlog.Record) bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if len(line) > 0 {
			rec, derr := decodeJSONLine(line)
			if derr != nil {
				return fmt.Errorf("line %d: %w", n, derr)
			}
			if !yield(rec) {
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine returns the next line without its "\n".
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(long) > maxJSONLine {
				return nil, fmt.Errorf("line longer than %d bytes", maxJSONLine)
			}
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	return bytes.TrimSuffix(line, []byte("\n")), err
}

// decodeJSONLine decodes one line.
func decodeJSONLine(line []byte) (shardlog.Record, error) {
	var in jsonLineIn
	if err := json.Unmarshal(line, &in); err != nil {
		return shardlog.Record{}, err
	}
	seq, err := shardlog.ParseSequenceNumber("sequenceNumber", in.SequenceNumber)
	if err != nil {
		return shardlog.Record{}, err
	}
	at, err := time.Parse(time.RFC3339Nano, in.ApproximateArrivalTimestamp)
	if err != nil {
		return shardlog.Record{}, fmt.Errorf("approximateArrivalTimestamp: %w", err)
	}
	rec := shardlog.Record{SequenceNumber: seq, ApproximateArrivalTimestamp: at, PartitionKey: in.PartitionKey}
	switch {
	case in.Record != nil:
		rec.Data = in.Record
	case in.Data != nil:
		if err := json.Unmarshal(in.Data, &rec.Data); err != nil {
			return shardlog.Record{}, fmt.Errorf("data: %w", err)
		}
	default:
		return shardlog.Record{}, errors.New(`neither "record" nor "data"`)
	}
	if rec.Data == nil {
		rec.Data = []byte{}
	}
	return rec, nil
}
