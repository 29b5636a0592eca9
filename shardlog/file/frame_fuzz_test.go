package file

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzDecodeFrame checks decodeFrame on arbitrary bytes: it never panics;
// it either fails with errShortFrame or errBadFrame and size 0, or returns
// a frame whose re-encoding is exactly the bytes it consumed; and
// frameLength agrees with it.
//
// Seeds come from f.Add below and from testdata/fuzz/FuzzDecodeFrame.
func FuzzDecodeFrame(f *testing.F) {
	a := appendFrame(nil, 1, 1_700_000_000_000_000_000, "key", []byte("data"))
	b := appendFrame(nil, 2, -1, "", nil)
	c := appendFrame(nil, 1<<40, 5, "é€😀", frameTestData(200))
	f.Add(a)
	f.Add(b)
	f.Add(c)
	f.Add(append(append(append([]byte(nil), a...), b...), c...)) // a segment's worth
	f.Add(a[:len(a)-1])                                          // torn tail
	f.Add(c[:frameHeaderSize])                                   // header only
	f.Add(c[:frameHeaderSize-1])                                 // inside the header
	f.Add([]byte{})
	f.Add(make([]byte, 64)) // zeroed (preallocated) space
	flipped := append([]byte(nil), a...)
	flipped[frameHeaderSize+3] ^= 0x10
	f.Add(flipped)
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{7, 8, 26, 100} {
		junk := make([]byte, n)
		for i := range junk {
			junk[i] = byte(r.Uint32())
		}
		f.Add(junk)
	}

	f.Fuzz(func(t *testing.T, in []byte) {
		fr, n, err := decodeFrame(in)
		l, lerr := frameLength(in)
		if err != nil {
			if !errors.Is(err, errShortFrame) && !errors.Is(err, errBadFrame) {
				t.Fatalf("unexpected error %v", err)
			}
			if n != 0 {
				t.Fatalf("size %d with error %v", n, err)
			}
			switch {
			case errors.Is(lerr, errBadFrame) && !errors.Is(err, errBadFrame):
				t.Fatalf("frameLength says bad, decodeFrame says %v", err)
			case errors.Is(err, errShortFrame) && lerr == nil && l <= len(in):
				t.Fatalf("decodeFrame short, but frameLength %d fits in %d bytes", l, len(in))
			}
			return
		}
		if n < frameOverhead || n > len(in) {
			t.Fatalf("size %d out of range [%d, %d]", n, frameOverhead, len(in))
		}
		if lerr != nil || l != n {
			t.Fatalf("frameLength = %d, %v; decodeFrame size %d", l, lerr, n)
		}
		re := appendFrameMore(nil, fr.Position, fr.Arrival, string(fr.Key), fr.Data, fr.More)
		if !bytes.Equal(re, in[:n]) {
			t.Fatalf("re-encoding differs from the %d bytes consumed:\n got %x\nwant %x", n, re, in[:n])
		}
	})
}
