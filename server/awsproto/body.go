package awsproto

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// MaxBodySize bounds a request body: PutRecords carries at most 10 MiB of
// data, about 13.4 MiB once base64-encoded, plus its keys and framing.
const MaxBodySize = 16 << 20

// readBody reads r's body, at most MaxBodySize bytes. A body whose
// Content-Length is larger is refused before a byte of it is read. An
// *Error from the body's reader (admission control's throttling or
// timeout) is returned as is; any other read error is a
// SerializationException. A body already read by Verifier.Wrap is not
// copied again.
func readBody(r *http.Request) ([]byte, *Error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if bb, ok := r.Body.(*bufferedBody); ok && bb.Len() == len(bb.b) {
		return bb.b, nil
	}
	if r.ContentLength > MaxBodySize {
		return nil, tooLarge()
	}
	var (
		body []byte
		err  error
	)
	if n := r.ContentLength; n >= 0 {
		// The size is known (and reserved by admission control): read
		// into a buffer of that size, not a growing one.
		body = make([]byte, n)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	}
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, Errorf(Serialization, "reading the body: %v", err)
	}
	if len(body) > MaxBodySize {
		return nil, tooLarge()
	}
	return body, nil
}

func tooLarge() *Error {
	return Errorf(Serialization, "the body is larger than %d bytes", MaxBodySize)
}

// bufferedBody is a body read in full, which readBody returns without a
// copy.
type bufferedBody struct {
	*bytes.Reader
	b []byte
}

// Close implements io.Closer.
func (*bufferedBody) Close() error { return nil }

// setBody replaces r's body with b, read in full.
func setBody(r *http.Request, b []byte) {
	r.Body = &bufferedBody{Reader: bytes.NewReader(b), b: b}
	r.ContentLength = int64(len(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// Target returns r's X-Amz-Target: the header, or else the X-Amz-Target
// query parameter (which a presigned request may carry, covered by its
// signature as part of the query string).
func Target(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t
	}
	if r.URL == nil || r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get("X-Amz-Target")
}
