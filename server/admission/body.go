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
	deadline       bool      // a read deadline is set
	end            time.Time // the body timeout's deadline
	start          time.Time // the rate's reference: the handler's start
	dl             time.Time // the read deadline set: end, or earlier for the rate
	err            error     // sticky
}

// rateStep is how much later than due the read deadline is set when the
// minimum rate moves it, so that it is moved at most once per rateStep of
// the body (each rate × rateStep bytes), never earlier than due.
const rateStep = time.Second

// newBody wraps r's body, reserved bytes of which are already reserved,
// and sets its read deadline: the body timeout's, or earlier the minimum
// rate's (the grace period, then later as the body's bytes arrive). The
// deadline is lifted once the body has been read to its end, as the
// response may then stream for long; a body left unread keeps it, which
// bounds the server's draining of it too.
func newBody(w http.ResponseWriter, r *http.Request, t *ticket, reserved int64) *body {
	b := &body{ReadCloser: r.Body, w: w, r: r, t: t, rc: http.NewResponseController(w), reserved: reserved}
	b.start = time.Now()
	b.end = b.start.Add(t.c.bodyTimeout)
	b.dl = b.end
	if t.c.minRate > 0 {
		b.dl = minTime(b.rateDue(), b.end)
	}
	// http.ResponseController reaches the connection (HTTP/1) or the
	// stream (HTTP/2); a writer that has neither (a test recorder) gets
	// no deadline.
	b.deadline = b.rc.SetReadDeadline(b.dl) == nil
	return b
}

// rateDue is when the body, b.read bytes in, falls below the minimum
// rate: the grace period, plus a second for each rate's worth of bytes.
func (b *body) rateDue() time.Time {
	c := b.t.c
	earned := float64(b.read) / float64(c.minRate) * float64(time.Second)
	if earned >= float64(c.bodyTimeout) { // past the body timeout (and no overflow)
		return b.end
	}
	return b.start.Add(c.rateGrace + time.Duration(earned))
}

// moveDeadline pushes the read deadline later as the body's bytes arrive,
// when the minimum rate set it earlier than the body timeout.
func (b *body) moveDeadline() {
	if !b.deadline || b.t.c.minRate <= 0 || !b.dl.Before(b.end) {
		return
	}
	due := b.rateDue()
	if due.Before(b.dl) {
		return
	}
	b.dl = minTime(due.Add(rateStep), b.end)
	_ = b.rc.SetReadDeadline(b.dl)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
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
		c := b.t.c
		tooSlow := b.dl.Before(b.end)
		c.timedOut(tooSlow)
		if b.r.ProtoMajor == 1 {
			b.w.Header().Set("Connection", "close")
		}
		msg := fmt.Sprintf("the request body did not arrive within %s", c.bodyTimeout)
		if tooSlow {
			msg = fmt.Sprintf("the request body arrived too slowly: %d bytes in %s, below the minimum of %d bytes a second after the first %s",
				b.read, time.Since(b.start).Round(time.Millisecond), c.minRate, c.rateGrace)
		}
		err = &awsproto.Error{Status: http.StatusBadRequest, Type: RequestTimeout, Message: msg}
		b.err = err
	case err != nil:
		b.err = err
	case n > 0:
		b.moveDeadline()
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
