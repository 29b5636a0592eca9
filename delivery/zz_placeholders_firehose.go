package delivery

// Placeholders so that server/firehose compiles on its branch before the
// object stores, the formats and the key rules are merged. The integrator
// deletes this file at merge.

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/shoal-dev/shoal/eventstore"
)

// DirStore is the filesystem ObjectStore (placeholder).
type DirStore struct{ ObjectStore }

// NewDirStore opens a filesystem object store rooted at dir (placeholder).
func NewDirStore(dir string) (*DirStore, error) { return &DirStore{}, nil }

// ObjectOptions configures an ObjectDestination (placeholder).
type ObjectOptions struct {
	Layout      KeyLayout
	Format      Format
	Compression Compression
	IndexPrefix string
}

// ObjectDestination delivers batches as objects (placeholder).
type ObjectDestination struct{}

// NewObjectDestination returns a destination writing to store (placeholder).
func NewObjectDestination(store ObjectStore, opts ObjectOptions) (*ObjectDestination, error) {
	return &ObjectDestination{}, nil
}

// Deliver implements Destination (placeholder).
func (d *ObjectDestination) Deliver(ctx context.Context, b *Batch) error {
	return errors.New("delivery: not built yet")
}

// DeliverFailed implements ErrorOutput (placeholder).
func (d *ObjectDestination) DeliverFailed(ctx context.Context, outputType OutputType, records []FailedRecord) error {
	return errors.New("delivery: not built yet")
}

// JSONLines is the JSON-lines format (placeholder).
func JSONLines(events *eventstore.Store) Format { return placeholderFormat{} }

type placeholderFormat struct{}

func (placeholderFormat) Name() string                       { return "jsonl" }
func (placeholderFormat) Extension() string                  { return ".json" }
func (placeholderFormat) Encode(w io.Writer, b *Batch) error { return errors.New("not built yet") }

// ParseCompression parses a compression name (placeholder).
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case Uncompressed, GZIP, ZSTD:
		return Compression(s), nil
	case "":
		return GZIP, nil
	}
	return "", fmt.Errorf("delivery: compression %q is not supported", s)
}
