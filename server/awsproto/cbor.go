package awsproto

import (
	"net/http"
	"reflect"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// CBOR11 is the content type of AWS CBOR 1.1 requests and responses: the
// shapes of JSON 1.1 encoded as CBOR (RFC 8949), blobs as byte strings
// and timestamps as epoch milliseconds. The AWS Java SDK uses it for
// Kinesis by default.
const CBOR11 = "application/x-amz-cbor-1.1"

// cborDec decodes CBOR 1.1 request bodies into the operations' input
// structs, whose field names come from their json tags (fxamacker/cbor
// falls back to the json tag when a field has no cbor tag). Field names
// match case-insensitively, and unknown fields are ignored, as with
// encoding/json. Indefinite-length items (Jackson writes maps so) are
// accepted.
var cborDec = mustDecMode(cbor.DecOptions{
	DefaultMapType: reflect.TypeFor[map[string]any](),
	IndefLength:    cbor.IndefLengthAllowed,
	DupMapKey:      cbor.DupMapKeyQuiet,
	UTF8:           cbor.UTF8RejectInvalid,
})

// cborEnc encodes responses: []byte as byte strings, nil slices and maps
// as null (as encoding/json does), definite lengths.
var cborEnc = mustEncMode(cbor.EncOptions{
	IndefLength: cbor.IndefLengthForbidden,
})

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

// isCBOR reports whether r's body is CBOR 1.1 (its Content-Type), and so
// whether its response and errors must be.
func isCBOR(r *http.Request) bool {
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(mt), CBOR11)
}

// decodeCBOR decodes a CBOR 1.1 request document into v. An empty body
// is an empty document. Trailing bytes after the document are an error.
func decodeCBOR(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	return cborDec.Unmarshal(body, v)
}

// WriteErrorFor writes e in the encoding of r: CBOR for a CBOR 1.1
// request, JSON 1.1 (WriteError) otherwise.
func WriteErrorFor(w http.ResponseWriter, r *http.Request, e *Error) {
	if isCBOR(r) {
		writeCBORError(w, e)
		return
	}
	WriteError(w, e)
}

// writeCBORError writes e as an AWS CBOR 1.1 error response: a map with
// "__type" and "message", and the X-Amzn-ErrorType header.
func writeCBORError(w http.ResponseWriter, e *Error) { writeError(w, e, CBOR11, cborEnc.Marshal) }
