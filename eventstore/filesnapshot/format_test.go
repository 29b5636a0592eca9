package filesnapshot

import (
	"bytes"
	"hash/crc32"
	"math"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// TestFormatLayout pins the documented layout: a change to it needs a new
// format version.
func TestFormatLayout(t *testing.T) {
	snap := eventstore.Snapshot{
		StreamID: "s",
		Version:  2,
		Position: eventstore.Position{ShardID: "sh", SequenceNumber: shardlog.MakeSequenceNumber(3, 4)},
		Type:     "t",
		// schema version 5
		SchemaVersion: 5,
		Data:          []byte("dd"),
		TakenAt:       time.Unix(6, 7),
	}
	b, err := encode(snap)
	require.NoError(t, err)
	body := []byte{
		1, 0, 0, 0, 's',
		2, 0, 0, 0, 0, 0, 0, 0,
		2, 0, 0, 0, 's', 'h',
		3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0,
		1, 0, 0, 0, 't',
		5, 0, 0, 0,
		6, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0,
		2, 0, 0, 0, 'd', 'd',
	}
	require.Equal(t, []byte("SHOALSNP"), b[:8])
	require.Equal(t, []byte{1, 0, 0, 0}, b[12:16], "format version")
	require.Equal(t, []byte{byte(len(body)), 0, 0, 0}, b[16:20], "body length")
	require.Equal(t, body, b[20:])
	require.Equal(t, crcOf(b[12:]), uint32(b[8])|uint32(b[9])<<8|uint32(b[10])<<16|uint32(b[11])<<24)
}

func FuzzDecode(f *testing.F) {
	for _, snap := range []eventstore.Snapshot{
		{},
		testSnapshot("order-1", 7),
		{StreamID: "x", Version: math.MaxUint64, SchemaVersion: math.MaxUint32, Data: make([]byte, 300),
			Position: eventstore.Position{SequenceNumber: shardlog.MakeSequenceNumber(math.MaxUint64, math.MaxUint32)}},
	} {
		b, err := encode(snap)
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("SHOALSNP"))
	f.Fuzz(func(t *testing.T, b []byte) {
		snap, err := decode(b)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		// What decodes is canonical: it encodes to the same bytes.
		again, err := encode(snap)
		require.NoError(t, err)
		require.True(t, bytes.Equal(b, again))
	})
}
