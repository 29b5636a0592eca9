package admission

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// Handler returns next behind c. A request is refused at once, with the
// throttling error, if all slots are taken or its Content-Length does not
// fit the byte budget. Otherwise it holds a slot and its body's bytes
// until next returns (or Detach). Its body, wrapped, reserves in pieces
// what it reads past its Content-Length (all of a chunked body), fails
// with the throttling error once that does not fit, and fails with
// RequestTimeout once the body timeout has passed. Errors are written in
// the request's protocol (JSON 1.1 or CBOR 1.1).
func (c *Controller) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.acquire() {
			awsproto.WriteErrorFor(w, r, c.throttle(r, fmt.Sprintf("too many requests in flight (the limit is %d); retry with backoff", c.maxRequests)))
			return
		}
		t := &ticket{c: c, r: r, slot: true}
		defer t.done()
		r2 := r.WithContext(context.WithValue(r.Context(), ticketKey{}, t))
		if r.Body != nil && r.Body != http.NoBody {
			var reserved int64
			if n := r.ContentLength; n > 0 && (c.maxBody <= 0 || n <= c.maxBody) {
				if !t.reserve(n) {
					awsproto.WriteErrorFor(w, r, c.throttle(r, fmt.Sprintf("a request body of %d bytes does not fit in the bytes in flight now (the limit is %d); retry with backoff", n, c.maxBytes)))
					return
				}
				reserved = n
			}
			r2.Body = newBody(w, r, t, reserved)
		}
		next.ServeHTTP(w, r2)
	})
}

// throttle is the refusal of r, with message msg.
func (c *Controller) throttle(r *http.Request, msg string) *awsproto.Error {
	typ := DefaultThrottleType
	if c.throttleType != nil {
		typ = c.throttleType(r)
	}
	return &awsproto.Error{Status: http.StatusBadRequest, Type: typ, Message: msg}
}

// ticketKey is the context key of a request's ticket.
type ticketKey struct{}

// ticket is what one admitted request holds of its Controller.
type ticket struct {
	c *Controller
	r *http.Request

	mu    sync.Mutex
	slot  bool  // holds a request slot
	bytes int64 // reserved
}

func (t *ticket) reserve(n int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.c.reserve(n, true) {
		return false
	}
	t.bytes += n
	return true
}

func (t *ticket) release(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n = min(n, t.bytes)
	t.bytes -= n
	t.c.release(n)
}

// done releases the slot and every byte held.
func (t *ticket) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.c.release(t.bytes)
	t.bytes = 0
	if t.slot {
		t.slot = false
		t.c.releaseSlot()
	}
}

func ticketOf(ctx context.Context) *ticket {
	t, _ := ctx.Value(ticketKey{}).(*ticket)
	return t
}

// Reserve takes n more bytes of the byte budget for the request of ctx,
// before the handler allocates them (a response it is about to build),
// and holds them until the handler returns. It returns the request's
// throttling *awsproto.Error if they do not fit. Without a Controller in
// ctx (a handler served without one) it does nothing.
func Reserve(ctx context.Context, n int64) error {
	t := ticketOf(ctx)
	if t == nil || n <= 0 {
		return nil
	}
	if !t.reserve(n) {
		return t.c.throttle(t.r, fmt.Sprintf("a response of up to %d bytes does not fit in the bytes in flight now (the limit is %d); retry with backoff", n, t.c.maxBytes))
	}
	return nil
}

// Release gives back up to n bytes reserved with Reserve before the
// handler returns, once it knows it needs less.
func Release(ctx context.Context, n int64) {
	if t := ticketOf(ctx); t != nil && n > 0 {
		t.release(n)
	}
}

// Detach releases the slot and the bytes of the request of ctx now,
// though its handler goes on: for a long-lived streaming response
// (SubscribeToShard), which must not hold a slot for minutes. Bytes
// reserved afterwards are held until the handler returns.
func Detach(ctx context.Context) {
	if t := ticketOf(ctx); t != nil {
		t.done()
	}
}
