// Package parquet is the Parquet output format of delivery streams, the
// counterpart of Firehose's record format conversion: each batch becomes
// one Parquet file whose schema is declared by a Go struct type. It lives
// in its own package so that programs that do not write Parquet do not
// compile parquet-go.
//
// As with Firehose's conversion, the object's outer compression must be
// delivery.Uncompressed: the file compresses its pages itself (Snappy by
// default). CheckCompression (also a method of the returned Format,
// delivery.CompressionChecker) says so with a typed error.
package parquet

import (
	"fmt"
	"io"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
)

// Option configures the Parquet format.
type Option func(*config)

type config struct {
	codec   compress.Codec
	options []pq.WriterOption
}

// WithCodec sets the page compression codec (default: Snappy, as
// Firehose's; parquet-go's Zstd is the denser choice).
func WithCodec(c compress.Codec) Option {
	return func(cfg *config) { cfg.codec = c }
}

// WithWriterOptions passes options to parquet-go's writer (page and row
// group sizes, key-value metadata, …), after the codec and schema.
func WithWriterOptions(opts ...pq.WriterOption) Option {
	return func(cfg *config) { cfg.options = append(cfg.options, opts...) }
}

// Format returns a delivery.Format that writes each batch as one Parquet
// file of rows of type T (whose struct tags declare the schema, as
// parquet-go's), made from the batch's records by toRow. Its Name is
// "parquet" and its Extension ".parquet".
//
// When toRow fails for some records, Encode writes nothing and returns a
// *delivery.ConversionError naming every such record (its index, sequence
// number and toRow's error), which the delivery stream sends to the error
// output as format-conversion-failed before encoding the rest. A T that
// has no Parquet schema (not a struct, or with unsupported fields), or a
// nil toRow, makes every Encode and CheckCompression fail with a
// *shardlog.ArgumentError.
func Format[T any](toRow func(shardlog.Record) (T, error), opts ...Option) delivery.Format {
	f := &format[T]{toRow: toRow, cfg: config{codec: &pq.Snappy}}
	for _, o := range opts {
		o(&f.cfg)
	}
	switch {
	case toRow == nil:
		f.err = &shardlog.ArgumentError{Field: "toRow", Reason: "is nil"}
	case f.cfg.codec == nil:
		f.err = &shardlog.ArgumentError{Field: "Codec", Reason: "is nil"}
	default:
		f.schema, f.err = schemaOf[T]()
	}
	return f
}

// schemaOf derives T's schema; parquet-go panics on a type it cannot map.
func schemaOf[T any]() (schema *pq.Schema, err error) {
	var zero T
	defer func() {
		if p := recover(); p != nil {
			err = &shardlog.ArgumentError{Field: "T", Reason: fmt.Sprintf("%T has no Parquet schema: %v", zero, p)}
		}
	}()
	return pq.SchemaOf(zero), nil
}

// CheckCompression returns nil for delivery.Uncompressed and a
// *shardlog.ArgumentError naming CompressionFormat for anything else
// (including the zero Compression, which means GZIP): a Parquet file
// compresses itself and must not be compressed again, as Firehose
// requires UNCOMPRESSED with record format conversion.
func CheckCompression(c delivery.Compression) error {
	if c == delivery.Uncompressed {
		return nil
	}
	name := string(c)
	if name == "" {
		name = "the default (GZIP)"
	}
	return &shardlog.ArgumentError{Field: "CompressionFormat", Reason: fmt.Sprintf("must be %s with the Parquet format, which compresses its pages itself; got %s", delivery.Uncompressed, name)}
}

type format[T any] struct {
	toRow  func(shardlog.Record) (T, error)
	cfg    config
	schema *pq.Schema
	err    error // a bad configuration
}

// Name is "parquet".
func (f *format[T]) Name() string { return "parquet" }

// Extension is ".parquet".
func (f *format[T]) Extension() string { return ".parquet" }

// CheckCompression implements delivery.CompressionChecker: see the
// package's CheckCompression; a bad configuration of the format is
// reported too.
func (f *format[T]) CheckCompression(c delivery.Compression) error {
	if f.err != nil {
		return f.err
	}
	return CheckCompression(c)
}

// Encode converts every record with toRow, then writes them as one
// Parquet file.
func (f *format[T]) Encode(w io.Writer, b *delivery.Batch) error {
	if f.err != nil {
		return f.err
	}
	switch {
	case w == nil:
		return &shardlog.ArgumentError{Field: "w", Reason: "must not be nil"}
	case b == nil:
		return &shardlog.ArgumentError{Field: "Batch", Reason: "must not be nil"}
	}
	rows := make([]T, 0, len(b.Records))
	var failures []delivery.ConversionFailure
	for i, r := range b.Records {
		row, err := f.toRow(r)
		if err != nil {
			failures = append(failures, delivery.ConversionFailure{Index: i, SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey, Err: err})
			continue
		}
		rows = append(rows, row)
	}
	if failures != nil {
		return &delivery.ConversionError{Failures: failures}
	}
	options := append([]pq.WriterOption{f.schema, pq.Compression(f.cfg.codec)}, f.cfg.options...)
	pw := pq.NewGenericWriter[T](w, options...)
	if _, err := pw.Write(rows); err != nil {
		return fmt.Errorf("parquet: write rows: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("parquet: close file: %w", err)
	}
	return nil
}

var _ delivery.CompressionChecker = (*format[struct{}])(nil)
