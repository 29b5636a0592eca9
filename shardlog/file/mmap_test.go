package file_test

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

// Reads by key go through a mapping of the segment. A frame whose length
// is damaged while the engine runs (the disk, or another process) must be
// reported as corruption, never read past the end of the file through the
// mapping, which would crash the process.
func TestReadKeyDamagedFrameUnderMapping(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bodyLen uint32
	}{
		{"length past the file's end", 1 << 20},
		{"length past any frame", 0xffffffff},
		{"length of zero", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := rtOpen(t, dir, file.WithSync(file.SyncAlways), file.WithPreallocation(false))
			defer rtClose(t, l)
			rtCreate(t, l, rtStream, 1)
			recs := rtPutN(t, l, rtStream, 0, 20)
			// A first read maps the segment.
			got, err := rtReadKey(l, rtStream, recs[0].key)
			require.NoError(t, err)
			require.NotEmpty(t, got)

			segs := rtSegs(t, dir, rtStream, rtShard0)
			f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
			require.NoError(t, err)
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], tc.bodyLen)
			_, err = f.WriteAt(b[:], rtSegHeader) // the first frame's length
			require.NoError(t, err)
			require.NoError(t, f.Close())

			_, err = rtReadKey(l, rtStream, recs[0].key)
			require.ErrorIs(t, err, file.ErrCorrupt)
		})
	}
}
