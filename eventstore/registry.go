package eventstore

import (
	"fmt"
	"reflect"
	"sync"
)

// Registry maps Go types to event type names and back, and holds the
// upcasters that turn old shapes of an event into the current one. Each
// Store has its own (there is no process-global registry). It is safe for
// concurrent use.
type Registry struct {
	mu      sync.RWMutex
	byType  map[reflect.Type]*entry
	current map[string]*entry           // type name → its current registration
	oldKeys map[typeKey]upcastStep      // stored (name, schema) → first step
	byInput map[reflect.Type]upcastStep // intermediate Go type → next step
}

// entry is one registered event type.
type entry struct {
	name          string
	schemaVersion uint32
	goType        reflect.Type
	decode        func(c Codec, data []byte) (any, error)
}

type typeKey struct {
	name    string
	version uint32
}

// upcastStep reads one old shape (from stored bytes, or from the previous
// step's value) and returns the next shape.
type upcastStep struct {
	fromBytes func(c Codec, data []byte) (any, error)
	fromValue func(v any) (any, error)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		byType:  map[reflect.Type]*entry{},
		current: map[string]*entry{},
		oldKeys: map[typeKey]upcastStep{},
		byInput: map[reflect.Type]upcastStep{},
	}
}

// TypeOption configures a registration.
type TypeOption func(*entry)

// SchemaVersion sets the schema version stored with events of the type
// (default 1). Raise it when the type's shape changes, and register an
// Upcast from the previous version.
func SchemaVersion(v uint32) TypeOption { return func(e *entry) { e.schemaVersion = v } }

// Register maps the Go type T to the event type name. Events of type T are
// stored under name and read back as T values. A type or name can be
// registered once; registering the same pair again is a no-op.
func Register[T any](r *Registry, name string, opts ...TypeOption) error {
	t := reflect.TypeFor[T]()
	e := &entry{name: name, schemaVersion: 1, goType: t, decode: func(c Codec, data []byte) (any, error) {
		var v T
		if err := c.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		return v, nil
	}}
	for _, o := range opts {
		if o != nil {
			o(e)
		}
	}
	if name == "" || len(name) > 255 {
		return fmt.Errorf("eventstore: Register %s: the name must be 1-255 bytes, got %d", t, len(name))
	}
	if e.schemaVersion == 0 {
		return fmt.Errorf("eventstore: Register %s: schema versions start at 1", t)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.byType[t]; ok {
		if old.name == name && old.schemaVersion == e.schemaVersion {
			return nil
		}
		return fmt.Errorf("eventstore: Register %s as %q: already registered as %q schema %d", t, name, old.name, old.schemaVersion)
	}
	if old, ok := r.current[name]; ok {
		return fmt.Errorf("eventstore: Register %s as %q: the name belongs to %s", t, name, old.goType)
	}
	r.byType[t] = e
	r.current[name] = e
	return nil
}

// Upcast registers fn to read events stored as (name, schemaVersion) with
// the Go shape Old and turn them into New. New is either a registered type
// (the chain ends) or the Old of another Upcast (the chain goes on), so
// v1 → v2 → v3 chains are written one step at a time. A rename is an
// upcast whose New is registered under another name.
func Upcast[Old, New any](r *Registry, name string, schemaVersion uint32, fn func(Old) (New, error)) error {
	k := typeKey{name, schemaVersion}
	step := upcastStep{
		fromBytes: func(c Codec, data []byte) (any, error) {
			var o Old
			if err := c.Unmarshal(data, &o); err != nil {
				return nil, err
			}
			return fn(o)
		},
		fromValue: func(v any) (any, error) { return fn(v.(Old)) },
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.current[name]; ok && e.schemaVersion == schemaVersion {
		return fmt.Errorf("eventstore: Upcast %q schema %d: that is the current schema of %s", name, schemaVersion, e.goType)
	}
	if _, ok := r.oldKeys[k]; ok {
		return fmt.Errorf("eventstore: Upcast %q schema %d: an upcaster is registered already", name, schemaVersion)
	}
	// A chain continues from a value by its Go type, so one Go type may be
	// the input of one upcaster only: two would make the next step depend
	// on registration order.
	in := reflect.TypeFor[Old]()
	if _, ok := r.byInput[in]; ok {
		return fmt.Errorf("eventstore: Upcast %q schema %d: %s is the input of another upcaster already; give each old shape its own Go type", name, schemaVersion, in)
	}
	r.oldKeys[k] = step
	r.byInput[in] = step
	return nil
}

// intern returns the registered type name equal to b, if any.
func (r *Registry) intern(b []byte) (string, bool) {
	r.mu.RLock()
	e, ok := r.current[string(b)]
	r.mu.RUnlock()
	if ok {
		return e.name, true
	}
	return "", false
}

// nameOf returns the registration of v's Go type.
func (r *Registry) nameOf(v any) (*entry, error) {
	t := reflect.TypeOf(v)
	r.mu.RLock()
	e, ok := r.byType[t]
	r.mu.RUnlock()
	if !ok {
		return nil, &UnknownTypeError{GoType: fmt.Sprint(t)}
	}
	return e, nil
}

// Lookup returns the type name and schema version T is registered under.
func Lookup[T any](r *Registry) (name string, schemaVersion uint32, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.byType[reflect.TypeFor[T]()]
	if !ok {
		return "", 0, false
	}
	return e.name, e.schemaVersion, true
}

// maxUpcastChain bounds an upcaster chain (a cycle is a bug, not a loop).
const maxUpcastChain = 32

// decode turns a stored payload into the current Go value of its type.
func (r *Registry) decode(c Codec, name string, schemaVersion uint32, data []byte) (any, error) {
	r.mu.RLock()
	e, ok := r.current[name]
	if ok && e.schemaVersion == schemaVersion {
		r.mu.RUnlock()
		return e.decode(c, data)
	}
	step, ok := r.oldKeys[typeKey{name, schemaVersion}]
	r.mu.RUnlock()
	if !ok {
		return nil, &UnknownTypeError{Name: name, SchemaVersion: schemaVersion}
	}
	v, err := step.fromBytes(c, data)
	for i := 0; err == nil; i++ {
		t := reflect.TypeOf(v)
		r.mu.RLock()
		_, done := r.byType[t]
		next, more := r.byInput[t]
		r.mu.RUnlock()
		switch {
		case done:
			return v, nil
		case !more || i == maxUpcastChain:
			return nil, fmt.Errorf("eventstore: upcasting %q schema %d stops at %s, which is neither registered nor upcast", name, schemaVersion, t)
		}
		v, err = next.fromValue(v)
	}
	return nil, fmt.Errorf("eventstore: upcasting %q schema %d: %w", name, schemaVersion, err)
}
