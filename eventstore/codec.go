package eventstore

import (
	"bytes"
	"encoding/json"

	"github.com/vmihailenco/msgpack/v5"
)

// Codec turns event payloads (and aggregate snapshots) into bytes and back.
// Implementations must be safe for concurrent use.
type Codec interface {
	// Name identifies the codec: "msgpack", "json", or a custom name.
	Name() string
	// Marshal encodes an event's data or metadata.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes what Marshal encoded into v, a pointer.
	Unmarshal(data []byte, v any) error
}

// Codec IDs stored in each envelope, so that events written with one codec
// stay readable after a store switches to another. A custom codec is
// stored as codecCustom and read back with the store's codec.
const (
	codecCustom  = 0
	codecMsgpack = 1
	codecJSON    = 2
)

// Msgpack returns the default codec: MessagePack via vmihailenco/msgpack,
// with structs encoded as maps keyed by field name, so fields can be added
// and removed without breaking old events. Field names come from `msgpack`
// tags, else `json` tags, else the Go name.
func Msgpack() Codec { return msgpackCodec{} }

// JSON returns a codec using encoding/json.
func JSON() Codec { return jsonCodec{} }

type msgpackCodec struct{}

func (msgpackCodec) Name() string { return "msgpack" }

func (msgpackCodec) Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (msgpackCodec) Unmarshal(data []byte, v any) error {
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(bytes.NewReader(data))
	dec.SetCustomStructTag("json")
	return dec.Decode(v)
}

type jsonCodec struct{}

func (jsonCodec) Name() string                       { return "json" }
func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// codecID returns the envelope ID of c.
func codecID(c Codec) byte {
	switch c.(type) {
	case msgpackCodec:
		return codecMsgpack
	case jsonCodec:
		return codecJSON
	}
	return codecCustom
}

// codecFor returns the codec an envelope's ID names; custom falls back to
// the store's own.
func codecFor(id byte, own Codec) Codec {
	switch id {
	case codecMsgpack:
		return msgpackCodec{}
	case codecJSON:
		return jsonCodec{}
	}
	return own
}
