package projection

import (
	"context"
	"fmt"
	"reflect"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// HandlerFunc handles one event of any type: the form every typed handler
// is adapted to, and the fallback's.
type HandlerFunc func(ctx context.Context, ev *eventstore.Event) error

// Projection is a named read model's handlers. Its name keys its
// checkpoints, leases and parked events: give a changed projection a new
// name (orders-v2) to build it beside the old one and switch over when it
// has caught up.
type Projection struct {
	name     string
	typed    map[reflect.Type]typedHandler
	order    []reflect.Type // registration order, for stable errors
	fallback HandlerFunc
	reset    func(ctx context.Context) error
	needsTx  bool
}

// typedHandler is a handler for one payload type, and how to find that
// type's name in a registry.
type typedHandler struct {
	fn     HandlerFunc
	lookup func(*eventstore.Registry) (string, bool)
}

// New returns a projection with no handlers. An event with no handler and
// no fallback is skipped (and counted as done).
func New(name string) *Projection {
	return &Projection{name: name, typed: map[reflect.Type]typedHandler{}}
}

// Name returns the projection's name.
func (p *Projection) Name() string { return p.name }

// On registers fn for events whose payload type is E. E must be registered
// in the store's registry (eventstore.Register); the runner checks this
// when it starts. A later registration for the same E replaces fn.
func On[E any](p *Projection, fn func(ctx context.Context, ev Event[E]) error) {
	t := reflect.TypeFor[E]()
	if _, ok := p.typed[t]; !ok {
		p.order = append(p.order, t)
	}
	p.typed[t] = typedHandler{
		fn: func(ctx context.Context, ev *eventstore.Event) error { return fn(ctx, Event[E]{ev}) },
		lookup: func(reg *eventstore.Registry) (string, bool) {
			name, _, ok := eventstore.Lookup[E](reg)
			return name, ok
		},
	}
}

// OnOther registers fn for every event no typed handler takes: other
// types, and types the registry does not know (fn still gets the envelope
// and ev.Payload()).
func (p *Projection) OnOther(fn HandlerFunc) { p.fallback = fn }

// OnReset registers fn to clear the read model when the projection is
// reset for a rebuild (Reset, Rebuild). It runs before the checkpoints
// are deleted.
func (p *Projection) OnReset(fn func(ctx context.Context) error) { p.reset = fn }

// RequireTransactor marks p as writing through its checkpoint store's
// transaction (pgprojection.On and OnQueued call it): NewRunner, Rebuild
// and ReplayKey then refuse a store that is not a Transactor, instead of
// every event failing.
func (p *Projection) RequireTransactor() { p.needsTx = true }

// checkStore refuses a store p cannot run on.
func (p *Projection) checkStore(cps CheckpointStore) error {
	if _, ok := cps.(Transactor); p.needsTx && !ok {
		return &shardlog.ArgumentError{Field: "Checkpoints", Reason: fmt.Sprintf("projection %s writes through a transaction (pgprojection): %T is not a projection.Transactor", p.name, cps)}
	}
	return nil
}

// dispatch maps type names to handlers for one store's registry.
type dispatch struct {
	byName   map[string]HandlerFunc
	fallback HandlerFunc
}

// bind resolves the typed handlers against reg.
func (p *Projection) bind(reg *eventstore.Registry) (*dispatch, error) {
	d := &dispatch{byName: make(map[string]HandlerFunc, len(p.typed)), fallback: p.fallback}
	for _, t := range p.order {
		h := p.typed[t]
		name, ok := h.lookup(reg)
		if !ok {
			return nil, fmt.Errorf("projection %s: a handler takes %s, which the store's registry does not know: eventstore.Register it", p.name, t)
		}
		d.byName[name] = h.fn
	}
	return d, nil
}

// handler returns the handler for ev, or nil to skip it.
func (d *dispatch) handler(ev *eventstore.Event) HandlerFunc {
	if h, ok := d.byName[ev.Type]; ok {
		return h
	}
	return d.fallback
}
