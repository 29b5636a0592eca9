package projection

import (
	"errors"
	"fmt"

	"github.com/shoal-dev/shoal/eventstore"
)

// ErrLeaseLost is returned when a write carries a fencing token that is no
// longer the shard's current lease token, or a renewal or release finds the
// lease held by another owner: another instance took the shard over, and
// this one must stop processing it.
var ErrLeaseLost = errors.New("projection: lease lost")

// ErrLeaseHeld is returned by LeaseStore.Acquire when another owner holds a
// live lease on the shard.
var ErrLeaseHeld = errors.New("projection: lease held by another owner")

// ErrTransient marks a Transactor failure that is the store's, not the
// event's (a dropped connection during a handler's write): the runner
// retries the batch as it retries a failing store, and parks nothing for
// it.
var ErrTransient = errors.New("projection: transient store failure")

// HandlerError is a handler's failure on one event after every retry. The
// runner parks the event (see Parked) and, under StopOnPark, stops with
// this error.
type HandlerError struct {
	Projection string
	Position   eventstore.Position
	StreamID   string
	Version    uint64
	Type       string
	Attempts   int
	Err        error
}

// Error implements error.
func (e *HandlerError) Error() string {
	return fmt.Sprintf("projection %s: event %s v%d of %q at %s failed %d times: %v",
		e.Projection, e.Type, e.Version, e.StreamID, e.Position, e.Attempts, e.Err)
}

// Unwrap returns the handler's error.
func (e *HandlerError) Unwrap() error { return e.Err }

// EventError attributes a Transactor's failure to one event of a batch:
// a read-model write that the event's handler queued failed when the
// batch's writes were sent (pgprojection.OnQueued). The runner treats it
// as that event's handler error: retried, then parked.
type EventError struct {
	Position eventstore.Position
	Err      error
}

// Error implements error.
func (e *EventError) Error() string { return fmt.Sprintf("event at %s: %v", e.Position, e.Err) }

// Unwrap returns the write's error.
func (e *EventError) Unwrap() error { return e.Err }
