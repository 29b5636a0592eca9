package aggregate

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoal-dev/shoal/eventstore"
)

// ErrReadOnly: an aggregate loaded as of a point in its past
// (Repository.LoadAsOf) was asked to record or save events. The wrapping
// *ReadOnlyError names it and the point.
var ErrReadOnly = errors.New("aggregate: read-only")

// ReadOnlyError is returned by Save (and, through Err, set by Record) for
// an aggregate loaded as of a point in its past: history is not changed
// by rewriting it. Load the aggregate with Load to change it. It wraps
// ErrReadOnly.
type ReadOnlyError struct {
	Aggregate string // the aggregate type's name
	ID        string
	At        eventstore.Point
	// Version is the aggregate's version at the point.
	Version uint64
}

// Error implements error.
func (e *ReadOnlyError) Error() string {
	return fmt.Sprintf("aggregate %s %q was loaded as of %s (at version %d) and is read-only: load it with Load to change it", e.Aggregate, e.ID, e.At, e.Version)
}

// Unwrap returns ErrReadOnly.
func (e *ReadOnlyError) Unwrap() error { return ErrReadOnly }

// LoadAsOf rebuilds the aggregate as it was at the point at: after its
// first n events (eventstore.AtVersion(n)), or after every event the log
// recorded at or before an instant (eventstore.AtTime(t); see
// eventstore.Point for the time rule). A snapshot is used only when it
// lies at or before the point; otherwise the events are replayed from the
// first.
//
// The aggregate is read-only: Record does not change it and Save returns a
// *ReadOnlyError (errors.Is ErrReadOnly). A stream with no event at or
// before the point (it did not exist yet) returns an error wrapping
// eventstore.ErrStreamNotFound; a version past the stream's end an
// *eventstore.VersionNotFoundError; events past the log's retention that
// no archive holds an *eventstore.ExpiredError, never partial state; an
// invalid point a *shardlog.ArgumentError.
func (r *Repository[S]) LoadAsOf(ctx context.Context, id string, at eventstore.Point) (*S, error) {
	return r.loadAt(ctx, id, &at, func(sn eventstore.Snapshot) bool {
		return sn.Type == r.t.name && sn.SchemaVersion == r.t.snapshotSchema
	})
}
