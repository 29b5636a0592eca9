package delivery

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func compressBytes(t testing.TB, c Compression, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := c.writer(&buf)
	require.NoError(t, err)
	// Several writes, as a format makes them.
	for len(data) > 0 {
		n := min(len(data), 1000)
		_, err := w.Write(data[:n])
		require.NoError(t, err)
		data = data[n:]
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func decompressBytes(t testing.TB, c Compression, data []byte) []byte {
	t.Helper()
	r, err := c.reader(bytes.NewReader(data))
	require.NoError(t, err)
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	return out
}

func compressPayload(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefgh\n"[rng.IntN(9)]
	}
	return b
}

func TestCompressionRoundTrip(t *testing.T) {
	for _, c := range []Compression{"", Uncompressed, GZIP, ZSTD} {
		for _, n := range []int{0, 1, 5000, 300_000} {
			data := compressPayload(n)
			packed := compressBytes(t, c, data)
			assert.Equal(t, data, decompressBytes(t, c, packed), "%q, %d bytes", c, n)
			if c != Uncompressed && n == 300_000 {
				assert.Less(t, len(packed), n/2, "%q compresses", c)
			}
		}
	}
}

func TestCompressionIsTheStandardFormat(t *testing.T) {
	data := compressPayload(10000)

	// GZIP (and the zero value) is readable by compress/gzip.
	for _, c := range []Compression{"", GZIP} {
		zr, err := gzip.NewReader(bytes.NewReader(compressBytes(t, c, data)))
		require.NoError(t, err)
		got, err := io.ReadAll(zr)
		require.NoError(t, err)
		assert.Equal(t, data, got)
	}

	// ZSTD is a standard zstd frame.
	dec, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer dec.Close()
	got, err := dec.DecodeAll(compressBytes(t, ZSTD, data), nil)
	require.NoError(t, err)
	assert.Equal(t, data, got)

	// Uncompressed is the bytes themselves.
	assert.Equal(t, data, compressBytes(t, Uncompressed, data))
}

func TestCompressionPoolsAreSafe(t *testing.T) {
	// Concurrent writers and readers from the pools never mix streams.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				c := []Compression{GZIP, ZSTD}[(i+j)%2]
				data := compressPayload(1000 + 100*i + j)
				packed := compressBytes(t, c, data)
				assert.Equal(t, data, decompressBytes(t, c, packed))
			}
		})
	}
	wg.Wait()
}

func TestCompressionUseAfterClose(t *testing.T) {
	for _, c := range []Compression{GZIP, ZSTD} {
		var buf bytes.Buffer
		w, err := c.writer(&buf)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		require.NoError(t, w.Close(), "a second Close is harmless")
		_, err = w.Write([]byte("x"))
		assert.ErrorIs(t, err, errCompressorClosed)
	}
	r, err := ZSTD.reader(bytes.NewReader(compressBytes(t, ZSTD, []byte("abc"))))
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
	_, err = r.Read(make([]byte, 1))
	assert.ErrorIs(t, err, errCompressorClosed)
}

func TestCompressionCorruptInput(t *testing.T) {
	packed := compressBytes(t, ZSTD, compressPayload(5000))
	packed[len(packed)/2] ^= 0xff
	r, err := ZSTD.reader(bytes.NewReader(packed))
	if err == nil {
		_, err = io.ReadAll(r)
		r.Close()
	}
	assert.Error(t, err)

	_, err = GZIP.reader(bytes.NewReader([]byte("not gzip")))
	assert.Error(t, err)
}

func TestCompressionExtension(t *testing.T) {
	assert.Equal(t, ".gz", Compression("").Extension())
	assert.Equal(t, ".gz", GZIP.Extension())
	assert.Equal(t, ".zst", ZSTD.Extension())
	assert.Equal(t, "", Uncompressed.Extension())
}

func TestParseCompression(t *testing.T) {
	for in, want := range map[string]Compression{
		"":             Uncompressed, // Firehose's wire default
		"UNCOMPRESSED": Uncompressed,
		"GZIP":         GZIP,
		"ZSTD":         ZSTD,
	} {
		got, err := ParseCompression(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for in, reason := range map[string]string{
		"ZIP":           "ZIP is not supported; supported are UNCOMPRESSED, GZIP, ZSTD",
		"Snappy":        "Snappy is not supported; supported are UNCOMPRESSED, GZIP, ZSTD",
		"HADOOP_SNAPPY": "HADOOP_SNAPPY is not supported; supported are UNCOMPRESSED, GZIP, ZSTD",
		"gzip":          `unknown value "gzip"; supported are UNCOMPRESSED, GZIP, ZSTD`,
		"LZ4":           `unknown value "LZ4"`,
	} {
		_, err := ParseCompression(in)
		requireFieldError(t, err, "CompressionFormat", reason)
		// writer and reader refuse it the same way.
		_, err = Compression(in).writer(io.Discard)
		requireFieldError(t, err, "CompressionFormat", reason)
		_, err = Compression(in).reader(bytes.NewReader(nil))
		requireFieldError(t, err, "CompressionFormat", reason)
	}
	assert.NoError(t, Compression("").Validate(), "the zero value is GZIP")
}

func BenchmarkCompression(b *testing.B) {
	data := compressPayload(4 << 20)
	for _, c := range []Compression{GZIP, ZSTD} {
		b.Run(string(c), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				w, _ := c.writer(io.Discard)
				w.Write(data)
				w.Close()
			}
		})
	}
}
