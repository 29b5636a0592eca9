//go:build unix

package file

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A segment mapped while it was large (preallocated) and cut afterwards
// (at its roll) has mapped pages past the end of its file. readFrameAt
// must never touch them, even for a frame whose length was damaged to
// point there: with the limit it reads with pread and reports corruption.
func TestReadFrameAtStaysInsideTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	seg := &segment{path: path, f: osFile{f}}
	seg.refs.Store(1)
	defer func() { seg.removed.Store(true); seg.release() }()

	frame := appendFrame(nil, 7, 1, "k", []byte("payload"))
	if err := f.Truncate(64 << 10); err != nil { // preallocated
		t.Fatal(err)
	}
	if _, err := f.WriteAt(frame, segmentHeaderSize); err != nil {
		t.Fatal(err)
	}
	if len(seg.mapped()) != 64<<10 {
		t.Fatalf("mapped %d bytes, want the whole file", len(seg.mapped()))
	}
	end := int64(segmentHeaderSize + len(frame))
	fr, err := seg.readFrameAt(segmentHeaderSize, end)
	if err != nil || fr.Position != 7 || string(fr.Data) != "payload" {
		t.Fatalf("readFrameAt = %+v, %v", fr, err)
	}
	if err := f.Truncate(end); err != nil { // the roll cuts the tail
		t.Fatal(err)
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], 40<<10) // past the file, inside the mapping
	if _, err := f.WriteAt(b[:], segmentHeaderSize); err != nil {
		t.Fatal(err)
	}
	_, err = seg.readFrameAt(segmentHeaderSize, end)
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("a length past the file: got %v, want a *CorruptError", err)
	}
}
