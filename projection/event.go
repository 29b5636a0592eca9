package projection

import "github.com/shoal-dev/shoal/eventstore"

// Event is an event delivered to a handler registered for payload type E.
// The envelope (stream ID, version, type, metadata, position) is read
// without touching the payload; Data decodes the payload only when asked,
// and caches it.
type Event[E any] struct {
	*eventstore.Event
}

// Data decodes the payload as an E (running upcasters for an old schema).
func (e Event[E]) Data() (E, error) { return eventstore.DataAs[E](e.Event) }
