package delivery

import (
	"bytes"
	"io"
)

// DecodeJSONLines exposes the archive's JSON lines decoder to the tests.
var DecodeJSONLines = decodeJSONLines

// Decompress undoes c.
func Decompress(c Compression, b []byte) ([]byte, error) {
	r, err := c.reader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}
