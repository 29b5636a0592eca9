package file

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"strings"
	"testing"
)

// frameTestCase is one record to encode.
type frameTestCase struct {
	name    string
	pos     uint64
	arrival int64
	key     string
	data    []byte
}

// frameTestData returns n deterministic, non-constant bytes.
func frameTestData(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// frameTestCases are records covering the edges of the format. Keys are
// counted in code points: 256 of them is the largest key, up to 1 KiB.
func frameTestCases() []frameTestCase {
	return []frameTestCase{
		{name: "empty key and data"},
		{name: "empty key", pos: 1, arrival: 1, data: []byte("data")},
		{name: "empty data", pos: 2, arrival: 2, key: "k"},
		{name: "1 rune key", pos: 3, arrival: 3, key: "k", data: []byte("v")},
		{name: "256 ascii runes", pos: 4, arrival: 4, key: strings.Repeat("a", 256), data: []byte("v")},
		{name: "256 two-byte runes", pos: 5, key: strings.Repeat("é", 256), data: []byte("v")},
		{name: "256 three-byte runes", pos: 6, key: strings.Repeat("€", 256), data: []byte("v")},
		{name: "256 four-byte runes", pos: 7, key: strings.Repeat("😀", 256), data: frameTestData(100)},
		{name: "mixed runes", pos: 8, key: "aé€😀", data: frameTestData(33)},
		{name: "key with NUL", pos: 9, key: "a\x00b", data: []byte{0}},
		{name: "max position, min arrival", pos: math.MaxUint64, arrival: math.MinInt64, key: "k", data: []byte("v")},
		{name: "min position, max arrival", pos: 0, arrival: math.MaxInt64, key: "k", data: []byte("v")},
		{name: "negative arrival", pos: 10, arrival: -1, key: "k", data: []byte("v")},
		{name: "1 MiB data", pos: 11, arrival: 1_700_000_000_000_000_000, key: "big", data: frameTestData(1 << 20)},
	}
}

// smallFrameTestCases are the cases small enough to flip every bit of.
func smallFrameTestCases() []frameTestCase {
	var small []frameTestCase
	for _, tc := range frameTestCases() {
		if frameSize(len(tc.key), len(tc.data)) <= 2048 {
			small = append(small, tc)
		}
	}
	return small
}

// checkFrame fails the test unless fr holds tc's fields.
func checkFrame(t *testing.T, fr frame, tc frameTestCase) {
	t.Helper()
	if fr.Position != tc.pos || fr.Arrival != tc.arrival || string(fr.Key) != tc.key || !bytes.Equal(fr.Data, tc.data) {
		t.Fatalf("decoded {pos %d arrival %d key %q data %d bytes}, want {pos %d arrival %d key %q data %d bytes}",
			fr.Position, fr.Arrival, truncForLog(fr.Key), len(fr.Data), tc.pos, tc.arrival, truncForLog([]byte(tc.key)), len(tc.data))
	}
}

func truncForLog(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}

func TestFrameRoundTrip(t *testing.T) {
	for _, tc := range frameTestCases() {
		t.Run(tc.name, func(t *testing.T) {
			enc := appendFrame(nil, tc.pos, tc.arrival, tc.key, tc.data)
			if want := frameSize(len(tc.key), len(tc.data)); len(enc) != want {
				t.Fatalf("encoded %d bytes, frameSize says %d", len(enc), want)
			}
			fr, n, err := decodeFrame(enc)
			if err != nil {
				t.Fatalf("decodeFrame: %v", err)
			}
			if n != len(enc) {
				t.Fatalf("decodeFrame size %d, want %d", n, len(enc))
			}
			checkFrame(t, fr, tc)
			if l, err := frameLength(enc[:frameHeaderSize]); err != nil || l != n {
				t.Fatalf("frameLength = %d, %v; decodeFrame size %d", l, err, n)
			}

			// Appending after a prefix and decoding with bytes after it:
			// the frame is the same, and only its own bytes are consumed.
			prefix := []byte("prefix")
			two := appendFrame(append([]byte(nil), prefix...), tc.pos, tc.arrival, tc.key, tc.data)
			if !bytes.Equal(two[:len(prefix)], prefix) || !bytes.Equal(two[len(prefix):], enc) {
				t.Fatal("appendFrame after a prefix changed the prefix or the encoding")
			}
			two = appendFrame(two, tc.pos+1, tc.arrival, "next", []byte("frame"))
			fr, n, err = decodeFrame(two[len(prefix):])
			if err != nil || n != len(enc) {
				t.Fatalf("decodeFrame with a following frame = size %d, %v; want %d, nil", n, err, len(enc))
			}
			checkFrame(t, fr, tc)
			fr2, n2, err := decodeFrame(two[len(prefix)+n:])
			if err != nil || n2 != len(two)-len(prefix)-n {
				t.Fatalf("second frame: size %d, %v", n2, err)
			}
			checkFrame(t, fr2, frameTestCase{pos: tc.pos + 1, arrival: tc.arrival, key: "next", data: []byte("frame")})
		})
	}
}

// TestFrameKeyLengths round-trips every key length from 1 to 256 code
// points, in each UTF-8 width.
func TestFrameKeyLengths(t *testing.T) {
	for _, r := range []string{"a", "é", "€", "😀"} {
		for runes := 1; runes <= 256; runes++ {
			tc := frameTestCase{pos: uint64(runes), arrival: int64(runes), key: strings.Repeat(r, runes), data: []byte{byte(runes)}}
			enc := appendFrame(nil, tc.pos, tc.arrival, tc.key, tc.data)
			fr, n, err := decodeFrame(enc)
			if err != nil || n != len(enc) {
				t.Fatalf("%d × %q: size %d, %v", runes, r, n, err)
			}
			checkFrame(t, fr, tc)
		}
	}
}

// TestFrameMaxBody: the largest frame the format allows (1 KiB key, 10 MiB
// data) decodes; one byte more is refused as bad.
func TestFrameMaxBody(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 20 MiB")
	}
	key := strings.Repeat("😀", 256)
	data := frameTestData(10 << 20)
	enc := appendFrame(nil, 1, 2, key, data)
	if _, n, err := decodeFrame(enc); err != nil || n != len(enc) {
		t.Fatalf("largest frame: size %d, %v", n, err)
	}
	enc = appendFrame(nil, 1, 2, key, append(data, 0))
	if _, n, err := decodeFrame(enc); !errors.Is(err, errBadFrame) || n != 0 {
		t.Fatalf("one byte over: size %d, %v; want 0, errBadFrame", n, err)
	}
	if _, err := frameLength(enc); !errors.Is(err, errBadFrame) {
		t.Fatalf("frameLength one byte over: %v, want errBadFrame", err)
	}
}

// TestFrameTruncated: every proper prefix of a valid frame is short.
func TestFrameTruncated(t *testing.T) {
	for _, tc := range frameTestCases() {
		t.Run(tc.name, func(t *testing.T) {
			enc := appendFrame(nil, tc.pos, tc.arrival, tc.key, tc.data)
			for i := 0; i < len(enc); i++ {
				fr, n, err := decodeFrame(enc[:i])
				if !errors.Is(err, errShortFrame) || n != 0 {
					t.Fatalf("prefix of %d/%d bytes: size %d, %v; want 0, errShortFrame", i, len(enc), n, err)
				}
				if fr.Key != nil || fr.Data != nil || fr.Position != 0 || fr.Arrival != 0 {
					t.Fatalf("prefix of %d bytes: non-zero frame with error", i)
				}
				l, err := frameLength(enc[:i])
				switch {
				case i < frameHeaderSize && !errors.Is(err, errShortFrame):
					t.Fatalf("frameLength of %d bytes: %v, want errShortFrame", i, err)
				case i >= frameHeaderSize && (err != nil || l != len(enc)):
					t.Fatalf("frameLength of %d bytes = %d, %v; want %d", i, l, err, len(enc))
				}
			}
		})
	}
}

// TestFrameBitFlips: flipping any single bit of a valid frame never yields
// a frame: the result is bad (length or CRC) or short (the length grew past
// the buffer). With more bytes after the frame, a grown length lands inside
// the buffer and must be caught by the CRC.
func TestFrameBitFlips(t *testing.T) {
	trailer := appendFrame(nil, 99, 99, "trailer", frameTestData(3000))
	for _, tc := range smallFrameTestCases() {
		t.Run(tc.name, func(t *testing.T) {
			enc := appendFrame(nil, tc.pos, tc.arrival, tc.key, tc.data)
			for _, tail := range [][]byte{nil, trailer} {
				buf := append(append([]byte(nil), enc...), tail...)
				for bit := 0; bit < len(enc)*8; bit++ {
					buf[bit/8] ^= 1 << (bit % 8)
					fr, n, err := decodeFrame(buf)
					if err == nil {
						t.Fatalf("bit %d flipped (tail %d bytes): decoded a frame of %d bytes (pos %d, key %q)",
							bit, len(tail), n, fr.Position, truncForLog(fr.Key))
					}
					if !errors.Is(err, errBadFrame) && !errors.Is(err, errShortFrame) {
						t.Fatalf("bit %d flipped: unexpected error %v", bit, err)
					}
					if n != 0 {
						t.Fatalf("bit %d flipped: size %d with error", bit, n)
					}
					if tail != nil && bit >= 32 && !errors.Is(err, errBadFrame) {
						t.Fatalf("bit %d flipped outside the length field: %v, want errBadFrame", bit, err)
					}
					buf[bit/8] ^= 1 << (bit % 8)
				}
				if _, n, err := decodeFrame(buf); err != nil || n != len(enc) {
					t.Fatalf("restored buffer: size %d, %v", n, err)
				}
			}
		})
	}
}

// frameTestWithLength returns a valid frame whose length field is then
// overwritten with bodyLen (the CRC is left as it was).
func frameTestWithLength(bodyLen uint32) []byte {
	enc := appendFrame(nil, 1, 2, "key", []byte("data"))
	binary.LittleEndian.PutUint32(enc, bodyLen)
	return enc
}

func TestFrameBadLength(t *testing.T) {
	for _, bodyLen := range []uint32{0, 1, frameFixedBody - 1, maxFrameBody + 1, 1 << 31, math.MaxUint32} {
		enc := frameTestWithLength(bodyLen)
		// Whatever follows the header, including nothing at all.
		for _, b := range [][]byte{enc, enc[:frameHeaderSize], append(enc, make([]byte, 64)...)} {
			if _, n, err := decodeFrame(b); !errors.Is(err, errBadFrame) || n != 0 {
				t.Errorf("length %d, %d bytes: decodeFrame size %d, %v; want 0, errBadFrame", bodyLen, len(b), n, err)
			}
			if l, err := frameLength(b); !errors.Is(err, errBadFrame) || l != 0 {
				t.Errorf("length %d, %d bytes: frameLength = %d, %v; want 0, errBadFrame", bodyLen, len(b), l, err)
			}
		}
	}
	// The smallest and largest legal lengths are not bad, just short here.
	for _, bodyLen := range []uint32{frameFixedBody, maxFrameBody} {
		hdr := frameTestWithLength(bodyLen)[:frameHeaderSize]
		if _, _, err := decodeFrame(hdr); !errors.Is(err, errShortFrame) {
			t.Errorf("length %d, header only: %v, want errShortFrame", bodyLen, err)
		}
		if l, err := frameLength(hdr); err != nil || l != frameHeaderSize+int(bodyLen) {
			t.Errorf("length %d: frameLength = %d, %v", bodyLen, l, err)
		}
	}
}

// frameTestRaw builds a frame with a correct CRC from a raw body.
func frameTestRaw(body []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	b = append(b, 0, 0, 0, 0)
	b = append(b, body...)
	binary.LittleEndian.PutUint32(b[4:], frameCRC(b))
	return b
}

// frameTestBody is a fixed body part with the given key length field,
// followed by rest.
func frameTestBody(keyLen uint16, rest []byte) []byte {
	body := binary.LittleEndian.AppendUint64(nil, 7)
	body = binary.LittleEndian.AppendUint64(body, 8)
	body = binary.LittleEndian.AppendUint16(body, keyLen)
	return append(body, rest...)
}

// TestFrameKeyBeyondBody: a frame whose CRC is right but whose key length
// runs past the body is bad, not a panic nor a frame.
func TestFrameKeyBeyondBody(t *testing.T) {
	for _, tc := range []struct {
		keyLen uint16
		rest   string
		ok     bool
	}{
		{0, "", true},
		{1, "", false},
		{3, "ab", false},
		{3, "abc", true},
		{3, "abcd", true},
		{math.MaxUint16, "abc", false},
	} {
		enc := frameTestRaw(frameTestBody(tc.keyLen, []byte(tc.rest)))
		fr, n, err := decodeFrame(enc)
		if !tc.ok {
			if !errors.Is(err, errBadFrame) || n != 0 {
				t.Errorf("key length %d, %d bytes after: size %d, %v; want errBadFrame", tc.keyLen, len(tc.rest), n, err)
			}
			continue
		}
		if err != nil || n != len(enc) {
			t.Errorf("key length %d, %d bytes after: size %d, %v", tc.keyLen, len(tc.rest), n, err)
			continue
		}
		if want := tc.rest[:tc.keyLen]; string(fr.Key) != want || string(fr.Data) != tc.rest[tc.keyLen:] || fr.Position != 7 || fr.Arrival != 8 {
			t.Errorf("key length %d: got key %q data %q", tc.keyLen, fr.Key, fr.Data)
		}
	}
}

func TestFrameBadCRC(t *testing.T) {
	enc := appendFrame(nil, 1, 2, "key", []byte("data"))
	binary.LittleEndian.PutUint32(enc[4:], binary.LittleEndian.Uint32(enc[4:])+1)
	if _, n, err := decodeFrame(enc); !errors.Is(err, errBadFrame) || n != 0 {
		t.Fatalf("bad CRC: size %d, %v; want errBadFrame", n, err)
	}
	// The CRC covers the length field: a valid body under a CRC computed
	// without it does not pass.
	body := enc[frameHeaderSize:]
	binary.LittleEndian.PutUint32(enc[4:], crc32.Checksum(body, crcTable))
	if _, _, err := decodeFrame(enc); !errors.Is(err, errBadFrame) {
		t.Fatalf("CRC of the body alone: %v, want errBadFrame", err)
	}
}

// TestFrameLengthAgrees: for any header, frameLength and decodeFrame agree
// on the size or on the length being bad.
func TestFrameLengthAgrees(t *testing.T) {
	for _, tc := range smallFrameTestCases() {
		enc := appendFrame(nil, tc.pos, tc.arrival, tc.key, tc.data)
		_, n, err := decodeFrame(enc)
		l, lerr := frameLength(enc)
		if err != nil || lerr != nil || n != l {
			t.Errorf("%s: decodeFrame %d, %v; frameLength %d, %v", tc.name, n, err, l, lerr)
		}
	}
	for i := 0; i < frameHeaderSize; i++ {
		if _, err := frameLength(make([]byte, i)); !errors.Is(err, errShortFrame) {
			t.Errorf("frameLength of %d bytes: %v, want errShortFrame", i, err)
		}
	}
}
