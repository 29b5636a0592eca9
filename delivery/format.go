package delivery

import "io"

// Format encodes a batch's records into an object's bytes (before
// compression).
type Format interface {
	// Name is the format's name ("jsonl", "raw", "parquet").
	Name() string
	// Extension is the file extension its objects get (".json", "").
	Extension() string
	// Encode writes records to w.
	Encode(w io.Writer, b *Batch) error
}

// Compression is how objects are compressed.
type Compression string

// The compressions, named as Firehose's CompressionFormat (ZSTD is
// Shoal's addition).
const (
	Uncompressed Compression = "UNCOMPRESSED"
	GZIP         Compression = "GZIP"
	ZSTD         Compression = "ZSTD"
)

// jsonLine is one line of the JSONLines format: one record. Every line
// carries the record's position; a line of an event-store stream also
// carries the decoded event, and Record holds the record's exact bytes so
// that the archive can replay it (see ObjectArchive).
type jsonLine struct {
	ShardID                     string `json:"shardId"`
	SequenceNumber              string `json:"sequenceNumber"`
	PartitionKey                string `json:"partitionKey"`
	ApproximateArrivalTimestamp string `json:"approximateArrivalTimestamp"` // RFC 3339, UTC, nanoseconds

	// A raw (non-event) record: its data, base64.
	Data []byte `json:"data,omitempty"`

	// An event (eventstore envelope), decoded.
	StreamID string         `json:"streamId,omitempty"`
	Version  uint64         `json:"version,omitempty"`
	Type     string         `json:"type,omitempty"`
	EventID  string         `json:"eventId,omitempty"`
	Time     string         `json:"time,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
	Event    any            `json:"event,omitempty"` // the payload as JSON
	// Record is the event's record bytes, base64, for replay.
	Record []byte `json:"record,omitempty"`
}
