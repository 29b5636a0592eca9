package eventstore

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// envelopeCases are headers that cover every optional part of the
// envelope; they also seed FuzzParseEnvelope.
func envelopeCases() []struct {
	name    string
	h       header
	payload []byte
} {
	id := uuid.MustParse("0190d1a4-7c3e-7b2a-9f00-0123456789ab")
	first := uuid.MustParse("0190d1a4-7c3e-7b2a-9f00-ba9876543210")
	return []struct {
		name    string
		h       header
		payload []byte
	}{
		{"minimal", header{id: id, version: 1, schemaVersion: 1, typ: "t", codec: codecMsgpack}, []byte{0x80}},
		{"no payload", header{id: id, version: 2, schemaVersion: 1, typ: "acct.opened", codec: codecJSON}, nil},
		{"custom codec, big numbers", header{id: id, version: 1<<63 + 5, schemaVersion: 1<<32 - 1, typ: "x", codec: codecCustom}, []byte("payload")},
		{"empty type name", header{id: id, version: 3, schemaVersion: 2, codec: codecMsgpack}, []byte("{}")},
		{"long type name", header{id: id, version: 300, schemaVersion: 1, typ: strings.Repeat("n", 255), codec: codecJSON}, []byte(`{"a":1}`)},
		{"batch tail", header{id: id, version: 7, schemaVersion: 1, typ: "t", codec: codecMsgpack, batchCount: 500, batchFirst: first}, []byte{1, 2, 3}},
		{"correlation only", header{id: id, version: 1, schemaVersion: 1, typ: "t", codec: codecMsgpack, meta: Metadata{CorrelationID: "c"}}, []byte{0xc0}},
		{"causation only", header{id: id, version: 1, schemaVersion: 1, typ: "t", codec: codecMsgpack, meta: Metadata{CausationID: "d"}}, []byte{0xc0}},
		{"fields only", header{id: id, version: 1, schemaVersion: 1, typ: "t", codec: codecMsgpack, meta: Metadata{Fields: map[string]string{"k": "v"}}}, []byte{0xc0}},
		{"everything", header{id: id, version: 12345, schemaVersion: 9, typ: "acct.deposited", codec: codecJSON, batchCount: 2, batchFirst: first,
			meta: Metadata{CorrelationID: "corr", CausationID: "cause", Fields: map[string]string{"b": "2", "a": "1", "": "", "ü": "✓"}}}, []byte(`{"amount":5}`)},
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, tc := range envelopeCases() {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			b := appendEnvelope(bytes.Clone(prefix), &tc.h, tc.payload)
			require.Equal(t, prefix, b[:len(prefix)], "appendEnvelope appends")
			h, payload, err := parseEnvelope(b[len(prefix):], nil)
			require.NoError(t, err)
			require.Equal(t, tc.h, h)
			require.Equal(t, string(tc.payload), string(payload))

			// Deterministic: metadata fields are written in key order.
			require.Equal(t, b, appendEnvelope(bytes.Clone(prefix), &tc.h, tc.payload))

			// Every truncation of the header is refused as corrupt; none
			// panics.
			env := b[len(prefix) : len(b)-len(tc.payload)]
			for n := range len(env) {
				_, _, err := parseEnvelope(env[:n], nil)
				require.ErrorIs(t, err, ErrCorruptEvent, "%d of %d header bytes", n, len(env))
			}
		})
	}
}

func TestEnvelopeRejects(t *testing.T) {
	id := uuid.New()
	valid := appendEnvelope(nil, &header{id: id, version: 1, schemaVersion: 1, typ: "t", codec: codecMsgpack}, nil)
	for name, b := range map[string][]byte{
		"nil":                nil,
		"empty":              {},
		"other format":       append([]byte{2}, valid[1:]...),
		"version 0":          appendEnvelope(nil, &header{id: id, schemaVersion: 1, typ: "t"}, nil),
		"schema overflow":    append(append(append([]byte{envelopeV1, 0}, id[:]...), 1), 0x80, 0x80, 0x80, 0x80, 0x10, 1, 't'),
		"type too long":      append(append(append([]byte{envelopeV1, 0}, id[:]...), 1, 1), 50, 't'),
		"metadata missing":   append(append(append([]byte{envelopeV1, flagMetadata}, id[:]...), 1, 1), 1, 't'),
		"batch tail missing": append(append(append([]byte{envelopeV1, flagBatchTail}, id[:]...), 1, 1), 1, 't', 2),
		"too many fields":    append(append(append([]byte{envelopeV1, flagMetadata}, id[:]...), 1, 1), 1, 't', 0, 0, 0xff, 0xff, 0x03),
		"varint overflow":    append(append([]byte{envelopeV1, 0}, id[:]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	} {
		_, _, err := parseEnvelope(b, nil)
		require.ErrorIs(t, err, ErrCorruptEvent, name)
	}
	// The rejected bytes of "schema overflow" are fine below 2^32.
	ok := append(append(append([]byte{envelopeV1, 0}, id[:]...), 1), 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 't')
	h, _, err := parseEnvelope(ok, nil)
	require.NoError(t, err)
	require.Equal(t, uint32(1<<32-1), h.schemaVersion)
}

// FuzzParseEnvelope: no input panics, and whatever parses survives a
// round trip through appendEnvelope. The seed corpus is the round-trip
// cases, their truncations and testdata/fuzz/FuzzParseEnvelope.
func FuzzParseEnvelope(f *testing.F) {
	for _, tc := range envelopeCases() {
		b := appendEnvelope(nil, &tc.h, tc.payload)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{envelopeV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		h, payload, err := parseEnvelope(b, nil)
		require.Equal(t, in, b, "parseEnvelope modified its input")
		if err != nil {
			require.ErrorIs(t, err, ErrCorruptEvent)
			return
		}
		require.NotZero(t, h.version)
		require.True(t, bytes.HasSuffix(b, payload), "the payload is the tail of the record")
		// What parses is what appendEnvelope writes for it (the writer
		// omits a batch tail of fewer than two events and empty
		// metadata; the parser tolerates both).
		want := h
		if want.batchCount < 2 {
			want.batchCount, want.batchFirst = 0, uuid.UUID{}
		}
		if want.meta.isZero() {
			want.meta = Metadata{}
		}
		again, payload2, err := parseEnvelope(appendEnvelope(nil, &h, payload), nil)
		require.NoError(t, err)
		require.Equal(t, want, again)
		require.Equal(t, payload, payload2)
	})
}

func TestParseEnvelopeRejectsUnknownFlags(t *testing.T) {
	h := header{version: 1, schemaVersion: 1, typ: "t"}
	b := appendEnvelope(nil, &h, []byte("x"))
	b[1] |= 0x04
	_, _, err := parseEnvelope(b, nil)
	if !errors.Is(err, ErrCorruptEvent) {
		t.Fatalf("flag bit 2: got %v, want ErrCorruptEvent", err)
	}
}
