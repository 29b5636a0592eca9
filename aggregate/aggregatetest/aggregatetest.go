// Package aggregatetest tests aggregates in the given/when/then style, in
// one expression and without a store:
//
//	aggregatetest.Given(Orders, OrderPlaced{Customer: "ann"}, ItemAdded{SKU: "a", Quantity: 1}).
//		When(func(o *Order) error { return o.Ship("ups") }).
//		Then(t, OrderShipped{Carrier: "ups"})
//
// Given events are applied as history; When runs a command on the
// resulting aggregate; Then compares the events the command recorded with
// the expected ones and prints a diff when they differ, and ThenError
// checks the command's error (errors.Is) and that nothing was recorded.
package aggregatetest

import (
	"errors"
	"testing"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/stretchr/testify/assert"
)

// Scenario is a given/when/then test of one aggregate type.
type Scenario[S any] struct {
	typ   *aggregate.Type[S]
	id    string
	given []any
	when  func(*S) error
}

// Given starts a scenario with an aggregate of type t that has the events
// as its history (none: a new aggregate).
func Given[S any](t *aggregate.Type[S], events ...any) *Scenario[S] {
	return &Scenario[S]{typ: t, id: "aggregatetest", given: events}
}

// WithID sets the aggregate's ID (default "aggregatetest").
func (s *Scenario[S]) WithID(id string) *Scenario[S] {
	s.id = id
	return s
}

// When sets the command to run.
func (s *Scenario[S]) When(command func(*S) error) *Scenario[S] {
	s.when = command
	return s
}

// run builds the aggregate from the given events and runs the command.
func (s *Scenario[S]) run(t testing.TB) (*S, []any, error) {
	t.Helper()
	agg, err := s.typ.Replay(s.id, s.given...)
	if err != nil {
		t.Fatalf("given: %v", err)
	}
	if s.when == nil {
		t.Fatalf("the scenario has no When")
	}
	cmdErr := s.when(agg)
	b := any(agg).(interface {
		Pending() []any
		Err() error
	})
	if err := b.Err(); err != nil {
		t.Fatalf("when: recording an event failed: %v", err)
	}
	return agg, b.Pending(), cmdErr
}

// Then asserts that the command succeeded and recorded exactly events, in
// order. It returns the aggregate for further checks of its state.
func (s *Scenario[S]) Then(t testing.TB, events ...any) *S {
	t.Helper()
	agg, got, err := s.run(t)
	if err != nil {
		t.Fatalf("when: the command failed: %v\nwant events: %#v", err, events)
	}
	if events == nil {
		events = []any{}
	}
	assert.Equal(t, events, got, "the command recorded other events than expected")
	return agg
}

// ThenError asserts that the command failed with an error matching target
// (errors.Is) and recorded nothing.
func (s *Scenario[S]) ThenError(t testing.TB, target error) {
	t.Helper()
	_, got, err := s.run(t)
	if err == nil {
		t.Fatalf("when: the command succeeded (recording %#v); want an error matching %v", got, target)
	}
	if !errors.Is(err, target) {
		t.Errorf("when: the command failed with %v; want an error matching %v", err, target)
	}
	if len(got) > 0 {
		t.Errorf("when: the command failed but recorded %#v; a failed command must record nothing", got)
	}
}
