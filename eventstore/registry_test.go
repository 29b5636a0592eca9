package eventstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/stretchr/testify/require"
)

func TestRegister(t *testing.T) {
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[opened](reg, "acct.opened"))
	// The same pair again is a no-op.
	require.NoError(t, eventstore.Register[opened](reg, "acct.opened"))
	require.NoError(t, eventstore.Register[opened](reg, "acct.opened", eventstore.SchemaVersion(1)))
	name, sv, ok := eventstore.Lookup[opened](reg)
	require.True(t, ok)
	require.Equal(t, "acct.opened", name)
	require.Equal(t, uint32(1), sv)

	// Conflicting pairs.
	require.Error(t, eventstore.Register[opened](reg, "acct.other"), "one type, two names")
	require.Error(t, eventstore.Register[opened](reg, "acct.opened", eventstore.SchemaVersion(2)), "one type, two schemas")
	require.Error(t, eventstore.Register[deposited](reg, "acct.opened"), "one name, two types")
	name, sv, ok = eventstore.Lookup[opened](reg)
	require.True(t, ok)
	require.Equal(t, "acct.opened", name)
	require.Equal(t, uint32(1), sv)
	_, _, ok = eventstore.Lookup[deposited](reg)
	require.False(t, ok)

	// Names and schema versions.
	require.Error(t, eventstore.Register[deposited](reg, ""))
	require.Error(t, eventstore.Register[deposited](reg, strings.Repeat("n", 256)))
	require.NoError(t, eventstore.Register[deposited](reg, strings.Repeat("n", 255)))
	require.Error(t, eventstore.Register[withdrawn](reg, "acct.withdrawn", eventstore.SchemaVersion(0)))
	require.NoError(t, eventstore.Register[withdrawn](reg, "acct.withdrawn", eventstore.SchemaVersion(4)))
	_, sv, _ = eventstore.Lookup[withdrawn](reg)
	require.Equal(t, uint32(4), sv)

	// Upcasters: not at the current schema, one per (name, schema).
	require.Error(t, eventstore.Upcast(reg, "acct.withdrawn", 4, func(o withdrawn) (withdrawn, error) { return o, nil }))
	require.NoError(t, eventstore.Upcast(reg, "acct.withdrawn", 3, func(o withdrawnV3) (withdrawn, error) { return withdrawn(o), nil }))
	require.Error(t, eventstore.Upcast(reg, "acct.withdrawn", 3, func(o withdrawnV3) (withdrawn, error) { return withdrawn(o), nil }))
}

// Old shapes of the events, as earlier releases registered them.
type (
	openedV1 struct {
		Name string `json:"name"`
	}
	openedV2 struct {
		Owner string `json:"owner"`
	}
	withdrawnV3 struct {
		Amount int `json:"amount"`
	}
	// creditedV1 is what "acct.credited" was before it was renamed
	// "acct.deposited".
	creditedV1 struct {
		Cents int `json:"cents"`
	}
)

var errBadOld = errors.New("old event is unreadable")

func TestUpcast(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := e.ctx

		// Release 1 writes schema 1 of acct.opened and acct.credited.
		old := eventstore.NewRegistry()
		require.NoError(t, eventstore.Register[openedV1](old, "acct.opened"))
		require.NoError(t, eventstore.Register[creditedV1](old, "acct.credited"))
		require.NoError(t, eventstore.Register[notRegistered](old, "acct.frozen"))
		s1 := e.store(eventstore.WithRegistry(old))
		_, err := s1.Append(ctx, "a", eventstore.NoStream, openedV1{Name: "ann"}, creditedV1{Cents: 250}, notRegistered{X: 1})
		require.NoError(t, err)
		_, err = s1.Append(ctx, "broken", eventstore.NoStream, openedV1{Name: "bad"})
		require.NoError(t, err)

		// Release 2 writes schema 2.
		mid := eventstore.NewRegistry()
		require.NoError(t, eventstore.Register[openedV2](mid, "acct.opened", eventstore.SchemaVersion(2)))
		s2 := e.store(eventstore.WithRegistry(mid))
		_, err = s2.Append(ctx, "a", eventstore.Exact(3), openedV2{Owner: "bob"})
		require.NoError(t, err)

		// Release 3: schema 3 (the opened type), upcasters v1 → v2 → v3,
		// and acct.credited renamed acct.deposited.
		reg := eventstore.NewRegistry()
		require.NoError(t, eventstore.Register[opened](reg, "acct.opened", eventstore.SchemaVersion(3)))
		require.NoError(t, eventstore.Register[deposited](reg, "acct.deposited"))
		require.NoError(t, eventstore.Upcast(reg, "acct.opened", 1, func(o openedV1) (openedV2, error) {
			if o.Name == "bad" {
				return openedV2{}, errBadOld
			}
			return openedV2{Owner: strings.ToUpper(o.Name)}, nil
		}))
		require.NoError(t, eventstore.Upcast(reg, "acct.opened", 2, func(o openedV2) (opened, error) {
			return opened{Owner: o.Owner, Limit: 100}, nil
		}))
		require.NoError(t, eventstore.Upcast(reg, "acct.credited", 1, func(o creditedV1) (deposited, error) {
			return deposited{Amount: o.Cents / 100, Note: "credited"}, nil
		}))
		s3 := e.store(eventstore.WithRegistry(reg))
		_, err = s3.Append(ctx, "a", eventstore.Exact(4), opened{Owner: "cy", Limit: 7}, deposited{Amount: 3})
		require.NoError(t, err)

		evs := mustReadAll(t, s3.Read(ctx, "a", 0))
		require.Len(t, evs, 6)
		want := []struct {
			typ    string
			schema uint32
			data   any
		}{
			{"acct.opened", 1, opened{Owner: "ANN", Limit: 100}},         // v1 → v2 → v3
			{"acct.credited", 1, deposited{Amount: 2, Note: "credited"}}, // a rename
			{"acct.frozen", 1, nil},                                      // unknown
			{"acct.opened", 2, opened{Owner: "bob", Limit: 100}},         // v2 → v3
			{"acct.opened", 3, opened{Owner: "cy", Limit: 7}},            // current
			{"acct.deposited", 1, deposited{Amount: 3}},
		}
		for i, w := range want {
			ev := evs[i]
			require.Equal(t, w.typ, ev.Type, "v%d", ev.Version)
			require.Equal(t, w.schema, ev.SchemaVersion, "v%d", ev.Version)
			d, err := ev.Data()
			if w.data == nil {
				require.ErrorIs(t, err, eventstore.ErrUnknownEventType)
				var ue *eventstore.UnknownTypeError
				require.True(t, errors.As(err, &ue))
				require.Equal(t, eventstore.UnknownTypeError{Name: "acct.frozen", SchemaVersion: 1}, *ue)
				require.NotEmpty(t, ev.Payload(), "the bytes of an unknown type are still there")
				var raw notRegistered
				require.NoError(t, eventstore.Msgpack().Unmarshal(ev.Payload(), &raw))
				require.Equal(t, notRegistered{X: 1}, raw)
				_, err = eventstore.DataAs[opened](&ev)
				require.ErrorIs(t, err, eventstore.ErrUnknownEventType)
				continue
			}
			require.NoError(t, err, "v%d", ev.Version)
			require.Equal(t, w.data, d, "v%d", ev.Version)
		}
		o, err := eventstore.DataAs[opened](&evs[0])
		require.NoError(t, err)
		require.Equal(t, opened{Owner: "ANN", Limit: 100}, o)
		_, err = eventstore.DataAs[openedV2](&evs[0])
		require.Error(t, err, "upcasting ends at the registered type")

		// An upcaster's error surfaces.
		ev, err := s3.Last(ctx, "broken")
		require.NoError(t, err)
		_, err = ev.Data()
		require.ErrorIs(t, err, errBadOld)
		require.Contains(t, err.Error(), "acct.opened")

		// The old store reads schema 2 and 3 events as unknown.
		evs = mustReadAll(t, s1.Read(ctx, "a", 0))
		_, err = evs[3].Data()
		var ue *eventstore.UnknownTypeError
		require.True(t, errors.As(err, &ue))
		require.Equal(t, eventstore.UnknownTypeError{Name: "acct.opened", SchemaVersion: 2}, *ue)
		_, err = evs[5].Data()
		require.True(t, errors.As(err, &ue))
		require.Equal(t, eventstore.UnknownTypeError{Name: "acct.deposited", SchemaVersion: 1}, *ue)

		// A chain that stops at a type neither registered nor upcast.
		dead := eventstore.NewRegistry()
		require.NoError(t, eventstore.Upcast(dead, "acct.opened", 1, func(o openedV1) (openedV2, error) { return openedV2{Owner: o.Name}, nil }))
		s4 := e.store(eventstore.WithRegistry(dead))
		ev, err = s4.Last(ctx, "broken")
		require.NoError(t, err)
		_, err = ev.Data()
		require.Error(t, err)
		require.Contains(t, err.Error(), "openedV2")
	})
}

func TestUpcastInputTypeUsedOnce(t *testing.T) {
	type shape struct{ A int }
	type target struct{ B int }
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[target](reg, "target"))
	require.NoError(t, eventstore.Upcast(reg, "old-a", 1, func(s shape) (target, error) { return target{s.A}, nil }))
	err := eventstore.Upcast(reg, "old-b", 1, func(s shape) (target, error) { return target{-s.A}, nil })
	require.Error(t, err, "a second upcaster from the same Go type would make chains ambiguous")
	require.Contains(t, err.Error(), "input of another upcaster")
}
