package aggregate

import (
	"fmt"

	"github.com/shoal-dev/shoal/eventstore"
)

// Base is embedded in an aggregate's state struct. It holds the aggregate's
// ID, its version and the events recorded since it was loaded:
//
//	type Order struct {
//		aggregate.Base
//		Status string
//	}
//
// Base has no exported fields, so it adds nothing to a snapshot of the
// state.
type Base struct {
	id       string
	version  uint64 // version of the last event applied, recorded ones included
	loaded   uint64 // version in the store when loaded or last saved
	position eventstore.Position
	pending  []eventstore.Proposed
	apply    func(event any) error
	err      error          // the first Record failure; Save returns it
	readOnly *ReadOnlyError // set by Repository.LoadAsOf: Record and Save refuse
}

// root is implemented by every struct that embeds Base.
type root interface{ aggregateBase() *Base }

func (b *Base) aggregateBase() *Base { return b }

// ID returns the aggregate's ID: its event stream's ID.
func (b *Base) ID() string { return b.id }

// Version returns the version of the last event applied, including events
// recorded and not saved yet. A new aggregate is at version 0.
func (b *Base) Version() uint64 { return b.version }

// StoredVersion returns the version the store held when the aggregate was
// loaded or last saved: the expected version of the next Save.
func (b *Base) StoredVersion() uint64 { return b.loaded }

// Pending returns the data of the events recorded since the aggregate was
// loaded or last saved.
func (b *Base) Pending() []any {
	out := make([]any, len(b.pending))
	for i, p := range b.pending {
		out[i] = p.Data
	}
	return out
}

// ReadOnly reports whether the aggregate was loaded as of a point in its
// past (Repository.LoadAsOf), and which: Record and Save refuse such an
// aggregate with a *ReadOnlyError.
func (b *Base) ReadOnly() (eventstore.Point, bool) {
	if b.readOnly == nil {
		return eventstore.Point{}, false
	}
	return b.readOnly.At, true
}

// Err returns the first failure of Record, which the next Save returns.
func (b *Base) Err() error { return b.err }

// Record applies event to the aggregate's state (through the apply
// function its Type declares for the event's Go type) and keeps it for the
// next Save. Command methods call it after validating the command. Each
// event gets its ID now, so saving the same aggregate again after an
// uncertain failure is idempotent.
//
// An event type the aggregate's Type does not apply makes the next Save
// fail with an *UnhandledEventError, and the state does not change. After
// such a failure Record does nothing and the aggregate cannot be saved:
// load it again.
func (b *Base) Record(event any) { b.RecordWith(event, eventstore.Metadata{}) }

// RecordWith is Record with metadata for this event. Metadata given to Save
// fills in only what is empty here.
func (b *Base) RecordWith(event any, md eventstore.Metadata) {
	if b.err != nil {
		return
	}
	if b.readOnly != nil {
		b.err = b.readOnly
		return
	}
	if b.apply == nil {
		b.err = fmt.Errorf("aggregate: Record on an aggregate not made by a Repository or Type.New")
		return
	}
	if err := b.apply(event); err != nil {
		b.err = err
		return
	}
	b.version++
	b.pending = append(b.pending, eventstore.NewEvent(event, md))
}
