package delivery

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/shoal-dev/shoal/shardlog"
)

// supportedCompressions is named in errors.
const supportedCompressions = "UNCOMPRESSED, GZIP, ZSTD"

// ParseCompression parses a CompressionFormat as the Firehose wire API
// gives it: "UNCOMPRESSED", "GZIP" or "ZSTD". The empty string is
// Uncompressed, Firehose's default on the wire; note that in Go the zero
// Compression means GZIP, Shoal's default for objects. Firehose's ZIP, Snappy and
// HADOOP_SNAPPY, and anything else, are a *shardlog.ArgumentError naming
// CompressionFormat and the supported values.
func ParseCompression(s string) (Compression, error) {
	if s == "" {
		return Uncompressed, nil
	}
	c := Compression(s)
	if err := c.Validate(); err != nil {
		return "", err
	}
	return c, nil
}

// Validate reports whether c is a compression Shoal writes: the zero
// value (GZIP), Uncompressed, GZIP or ZSTD. Anything else is a
// *shardlog.ArgumentError naming CompressionFormat.
func (c Compression) Validate() error {
	switch c {
	case "", Uncompressed, GZIP, ZSTD:
		return nil
	case "ZIP", "Snappy", "HADOOP_SNAPPY":
		return &shardlog.ArgumentError{Field: "CompressionFormat", Reason: fmt.Sprintf("%s is not supported; supported are %s", string(c), supportedCompressions)}
	}
	return &shardlog.ArgumentError{Field: "CompressionFormat", Reason: fmt.Sprintf("unknown value %q; supported are %s", clipText(string(c), 40), supportedCompressions)}
}

// Extension is the compression's file extension: ".gz" for GZIP (and the
// zero value), ".zst" for ZSTD, "" for Uncompressed (and values that
// Validate rejects).
func (c Compression) Extension() string {
	switch c {
	case GZIP, "":
		return ".gz"
	case ZSTD:
		return ".zst"
	}
	return ""
}

// writer returns a writer that compresses into w; Close flushes it
// (without closing w).
func (c Compression) writer(w io.Writer) (io.WriteCloser, error) {
	switch c {
	case GZIP, "":
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(w)
		return &pooledWriter{w: zw, close: func() error {
			err := zw.Close()
			zw.Reset(io.Discard)
			gzipWriters.Put(zw)
			return err
		}}, nil
	case ZSTD:
		enc := zstdEncoders.Get().(*zstd.Encoder)
		enc.Reset(w)
		return &pooledWriter{w: enc, close: func() error {
			err := enc.Close()
			enc.Reset(nil)
			zstdEncoders.Put(enc)
			return err
		}}, nil
	case Uncompressed:
		return nopWriteCloser{w}, nil
	}
	return nil, c.Validate()
}

// reader returns a reader that decompresses r; Close releases it
// (without closing r).
func (c Compression) reader(r io.Reader) (io.ReadCloser, error) {
	switch c {
	case GZIP, "":
		return gzip.NewReader(r)
	case ZSTD:
		dec := zstdDecoders.Get().(*zstd.Decoder)
		if err := dec.Reset(r); err != nil {
			zstdDecoders.Put(dec)
			return nil, err
		}
		return &pooledReader{dec: dec}, nil
	case Uncompressed:
		return io.NopCloser(r), nil
	}
	return nil, c.Validate()
}

// Pools: a gzip writer holds about 800 KB of state and a zstd encoder or
// decoder several MB, so they are reused.
var (
	gzipWriters  = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}
	zstdEncoders = sync.Pool{New: func() any {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err) // only for invalid options
		}
		return enc
	}}
	zstdDecoders = sync.Pool{New: func() any {
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			panic(err) // only for invalid options
		}
		return dec
	}}
)

// errCompressorClosed is returned by a pooled writer or reader used after Close.
var errCompressorClosed = errors.New("delivery: compressor used after Close")

// pooledWriter returns its compressor to a pool on Close.
type pooledWriter struct {
	w     io.Writer
	close func() error
}

func (p *pooledWriter) Write(b []byte) (int, error) {
	if p.close == nil {
		return 0, errCompressorClosed
	}
	return p.w.Write(b)
}

func (p *pooledWriter) Close() error {
	if p.close == nil {
		return nil
	}
	closeFn := p.close
	p.close, p.w = nil, nil
	return closeFn()
}

// pooledReader returns its zstd decoder to the pool on Close.
type pooledReader struct {
	dec *zstd.Decoder
}

func (p *pooledReader) Read(b []byte) (int, error) {
	if p.dec == nil {
		return 0, errCompressorClosed
	}
	return p.dec.Read(b)
}

func (p *pooledReader) Close() error {
	if p.dec == nil {
		return nil
	}
	dec := p.dec
	p.dec = nil
	_ = dec.Reset(nil)
	zstdDecoders.Put(dec)
	return nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
