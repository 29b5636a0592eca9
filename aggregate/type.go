package aggregate

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/shoal-dev/shoal/eventstore"
)

// Type describes an aggregate: its name, how each event changes its state,
// and the shape of its snapshots. S is the user's state struct, which
// embeds Base. Define builds one.
type Type[S any] struct {
	name           string
	handlers       map[reflect.Type]func(*S, any)
	order          []reflect.Type // events in declaration order
	register       []func(*eventstore.Registry) error
	snapshotSchema uint32
}

// TypeOption configures a Type.
type TypeOption[S any] func(*Type[S])

// Define returns the Type of aggregates with state S, named name (the name
// is stored with snapshots). S must embed Base; NewRepository and New
// report an error if it does not.
//
//	var Orders = aggregate.Define[Order]("order",
//		aggregate.Apply(func(o *Order, e OrderPlaced) { o.Status = "placed" }),
//		aggregate.Apply(func(o *Order, e OrderShipped) { o.Status = "shipped" }),
//	)
func Define[S any](name string, opts ...TypeOption[S]) *Type[S] {
	t := &Type[S]{name: name, handlers: map[reflect.Type]func(*S, any){}, snapshotSchema: 1}
	for _, o := range opts {
		if o != nil {
			o(t)
		}
	}
	return t
}

// Apply declares how an event of Go type E changes the state. The function
// must only change state: validation belongs in the command methods, which
// run before an event is recorded. When a Repository is made, E is
// registered in the store's registry under its Go type name, unless the
// registry knows E already (register it yourself, with eventstore.Register,
// to choose a name that survives renaming the Go type).
func Apply[S, E any](fn func(state *S, event E)) TypeOption[S] {
	return func(t *Type[S]) {
		et := reflect.TypeFor[E]()
		if _, dup := t.handlers[et]; !dup {
			t.order = append(t.order, et)
		}
		t.handlers[et] = func(s *S, e any) { fn(s, e.(E)) }
		t.register = append(t.register, func(r *eventstore.Registry) error {
			if _, _, ok := eventstore.Lookup[E](r); ok {
				return nil
			}
			if et.Name() == "" {
				return fmt.Errorf("event type %s has no name to register it under: register it with eventstore.Register", et)
			}
			return eventstore.Register[E](r, et.Name())
		})
	}
}

// SnapshotSchema sets the version of the state's shape in snapshots
// (default 1). Raise it when S changes incompatibly: older snapshots are
// then ignored and the aggregate is rebuilt from its events.
func SnapshotSchema[S any](v uint32) TypeOption[S] {
	return func(t *Type[S]) { t.snapshotSchema = v }
}

// Name returns the aggregate type's name.
func (t *Type[S]) Name() string { return t.name }

// Events returns the Go types of the events the Type applies, in the
// order they were declared.
func (t *Type[S]) Events() []reflect.Type { return slices.Clone(t.order) }

// New returns a new aggregate with the given ID, at version 0, ready to
// record events.
func (t *Type[S]) New(id string) (*S, error) {
	s := new(S)
	b, err := baseOf(s)
	if err != nil {
		return nil, err
	}
	b.id = id
	b.apply = func(e any) error { return t.apply(s, e) }
	return s, nil
}

// Replay returns an aggregate with the given ID rebuilt from history:
// events applied in order as versions 1..len(events), none pending. Tests
// use it for "given" events; it is also how to fold events read some
// other way.
func (t *Type[S]) Replay(id string, events ...any) (*S, error) {
	s, err := t.New(id)
	if err != nil {
		return nil, err
	}
	b, _ := baseOf(s)
	for _, e := range events {
		if err := t.apply(s, e); err != nil {
			return nil, err
		}
		b.version++
	}
	b.loaded = b.version
	return s, nil
}

// apply runs the handler of e's Go type on s.
func (t *Type[S]) apply(s *S, e any) error {
	h, ok := t.handlers[reflect.TypeOf(e)]
	if !ok {
		return &UnhandledEventError{Aggregate: t.name, Event: fmt.Sprintf("%T", e)}
	}
	h(s, e)
	return nil
}

// baseOf returns the Base embedded in *s.
func baseOf[S any](s *S) (*Base, error) {
	r, ok := any(s).(root)
	if !ok {
		return nil, fmt.Errorf("aggregate: %T does not embed aggregate.Base", s)
	}
	b := r.aggregateBase()
	if b == nil {
		// S embeds *Base: the promoted method runs on a nil pointer.
		return nil, fmt.Errorf("aggregate: %T embeds *aggregate.Base; embed aggregate.Base (not a pointer)", s)
	}
	return b, nil
}

// UnhandledEventError reports an event the aggregate's Type has no Apply
// for: recorded by a command, or found in the stream on load.
type UnhandledEventError struct {
	Aggregate string
	Event     string // the event's Go type
}

// Error implements error.
func (e *UnhandledEventError) Error() string {
	return fmt.Sprintf("aggregate %s: no Apply for event %s", e.Aggregate, e.Event)
}
