package delivery

import (
	"compress/gzip"
	"fmt"
	"io"
)

// Extension is the compression's file extension (".gz", ".zst", "").
// TODO(keys): zstd.
func (c Compression) Extension() string {
	if c == GZIP || c == "" {
		return ".gz"
	}
	return ""
}

// writer returns a writer that compresses into w.
func (c Compression) writer(w io.Writer) (io.WriteCloser, error) {
	switch c {
	case GZIP, "":
		return gzip.NewWriter(w), nil
	case Uncompressed:
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("delivery: compression %q is not supported", c)
}

// reader returns a reader that decompresses r.
func (c Compression) reader(r io.Reader) (io.ReadCloser, error) {
	switch c {
	case GZIP, "":
		return gzip.NewReader(r)
	case Uncompressed:
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("delivery: compression %q is not supported", c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
