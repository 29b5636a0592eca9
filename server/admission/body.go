package admission

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// body is an admitted request's body: it reserves what it reads past
// what was reserved for it, and bounds the time it takes to arrive.
type body struct {
	io.ReadCloser // the request's own body
	w             http.ResponseWriter
	r             *http.Request
	t             *ticket
	rc            *http.ResponseController

	read, reserved int64
	deadline       bool  // a read deadline is set
	err            error // sticky
}

// newBody wraps r's body, reserved bytes of which are already reserved,
// and sets its read deadline. The deadline is lifted once the body has
// been read to its end, as the response may then stream for long; a body
// left unread keeps it, which bounds the server's draining of it too.
func newBody(w http.ResponseWriter, r *http.Request, t *ticket, reserved int64) *body {
	b := &body{ReadCloser: r.Body, w: w, r: r, t: t, rc: http.NewResponseController(w), reserved: reserved}
	// http.ResponseController reaches the connection (HTTP/1) or the
	// stream (HTTP/2); a writer that has neither (a test recorder) gets
	// no deadline.
	b.deadline = b.rc.SetReadDeadline(time.Now().Add(t.c.bodyTimeout)) == nil
	return b
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.read >= b.reserved {
		// Past the reservation (a chunked body): reserve the next piece.
		if !b.t.reserve(pieceSize) {
			b.err = b.t.c.throttle(b.r, fmt.Sprintf("the request body passed %d bytes, which do not fit in the bytes in flight now (the limit is %d); retry with backoff", b.read, b.t.c.maxBytes))
			return 0, b.err
		}
		b.reserved += pieceSize
	}
	if room := b.reserved - b.read; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	switch {
	case err == io.EOF || (err == nil && b.read == b.r.ContentLength):
		// The whole body is in (a reader of a known length, such as
		// io.ReadFull, may never see io.EOF).
		b.lift()
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.t.c.timedOut()
		if b.r.ProtoMajor == 1 {
			b.w.Header().Set("Connection", "close")
		}
		err = &awsproto.Error{Status: http.StatusBadRequest, Type: RequestTimeout,
			Message: fmt.Sprintf("the request body did not arrive within %s", b.t.c.bodyTimeout)}
		b.err = err
	case err != nil:
		b.err = err
	}
	return n, err
}

// lift removes the read deadline.
func (b *body) lift() {
	if b.deadline {
		b.deadline = false
		_ = b.rc.SetReadDeadline(time.Time{})
	}
}
