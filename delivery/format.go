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
