package delivery

import (
	"io"

	"github.com/shoal-dev/shoal/shardlog"
)

// Format encodes a batch's records into an object's bytes (before
// compression).
type Format interface {
	// Name is the format's name ("jsonl", "raw", "parquet").
	Name() string
	// Extension is the file extension its objects get (".json", "").
	Extension() string
	// Encode writes records to w. A nil w or b is a
	// *shardlog.ArgumentError naming it.
	Encode(w io.Writer, b *Batch) error
}

// checkEncode refuses a nil writer or batch, as Format.Encode says.
func checkEncode(w io.Writer, b *Batch) error {
	switch {
	case w == nil:
		return &shardlog.ArgumentError{Field: "w", Reason: "must not be nil"}
	case b == nil:
		return &shardlog.ArgumentError{Field: "Batch", Reason: "must not be nil"}
	}
	return nil
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
