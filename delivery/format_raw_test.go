package delivery

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
)

func TestRawFormat(t *testing.T) {
	f := Raw()
	assert.Equal(t, "raw", f.Name())
	assert.Equal(t, "", f.Extension())

	b := &Batch{Records: []shardlog.Record{
		{Data: []byte(`{"a":1}`)},
		{Data: []byte(`{"b":2}` + "\n")},
		{Data: nil},
		{Data: []byte("tail")},
	}}
	var buf bytes.Buffer
	require.NoError(t, f.Encode(&buf, b))
	// No delimiter is added, as Firehose's.
	assert.Equal(t, `{"a":1}{"b":2}`+"\ntail", buf.String())

	buf.Reset()
	require.NoError(t, f.Encode(&buf, &Batch{}))
	assert.Empty(t, buf.Bytes())

	// A write error is returned.
	boom := errors.New("disk full")
	assert.ErrorIs(t, f.Encode(rawFailingWriter{boom}, b), boom)

	// Through a compression, as destinations write it.
	buf.Reset()
	w, err := ZSTD.writer(&buf)
	require.NoError(t, err)
	require.NoError(t, f.Encode(w, b))
	require.NoError(t, w.Close())
	assert.Equal(t, `{"a":1}{"b":2}`+"\ntail", string(decompressBytes(t, ZSTD, buf.Bytes())))
}

type rawFailingWriter struct{ err error }

func (w rawFailingWriter) Write([]byte) (int, error) { return 0, w.err }
