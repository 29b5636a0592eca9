package eventstore

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors from the log underneath keep their shardlog
// sentinels (shardlog.ErrResourceNotFound, shardlog.ErrInvalidArgument with
// a *shardlog.ArgumentError naming the field and the limit, ...).
var (
	// ErrWrongExpectedVersion: the stream was not at the version Append
	// expected. The wrapping *WrongExpectedVersionError carries both.
	ErrWrongExpectedVersion = errors.New("eventstore: wrong expected version")
	// ErrStreamNotFound: the stream has no events.
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrUnknownEventType: a Go type or a stored type name is not in the
	// store's registry. The wrapping *UnknownTypeError names it.
	ErrUnknownEventType = errors.New("eventstore: unknown event type")
	// ErrEventsExpired: events of a stream are past the log's retention and
	// neither a snapshot nor an archive covers them, so the stream cannot be
	// rebuilt in full. The wrapping *ExpiredError gives the missing versions.
	ErrEventsExpired = errors.New("eventstore: events expired")
	// ErrCorruptEvent: a stored record is not an event this package wrote.
	ErrCorruptEvent = errors.New("eventstore: corrupt event")
	// ErrCorruptSnapshot: a SnapshotStore holds a snapshot it cannot read.
	// Load then replays the stream's events instead (which fails with an
	// *ExpiredError if some are gone); Append fails, as the snapshot may
	// be the only record of the stream's version.
	ErrCorruptSnapshot = errors.New("eventstore: corrupt snapshot")
)

// WrongExpectedVersionError is returned by Append when the stream's version
// does not satisfy the expected one. It wraps ErrWrongExpectedVersion.
type WrongExpectedVersionError struct {
	StreamID string
	Expected ExpectedVersion
	// Actual is the stream's version when it was checked; 0: no events.
	Actual uint64
}

// Error implements error.
func (e *WrongExpectedVersionError) Error() string {
	return fmt.Sprintf("eventstore: stream %q: expected version %s, actual %d", e.StreamID, e.Expected, e.Actual)
}

// Unwrap returns ErrWrongExpectedVersion.
func (e *WrongExpectedVersionError) Unwrap() error { return ErrWrongExpectedVersion }

// UnknownTypeError names a Go type (on append) or a stored type name and
// schema version (on read) that the registry does not know. It wraps
// ErrUnknownEventType.
type UnknownTypeError struct {
	GoType        string // set on append
	Name          string // set on read
	SchemaVersion uint32 // set on read
}

// Error implements error.
func (e *UnknownTypeError) Error() string {
	if e.GoType != "" {
		return fmt.Sprintf("eventstore: Go type %s is not registered (eventstore.Register)", e.GoType)
	}
	return fmt.Sprintf("eventstore: event type %q schema %d is not registered and no upcaster reads it", e.Name, e.SchemaVersion)
}

// Unwrap returns ErrUnknownEventType.
func (e *UnknownTypeError) Unwrap() error { return ErrUnknownEventType }

// ExpiredError says which versions of a stream are gone: versions From to
// To (inclusive) are past the log's retention and no snapshot or archive
// holds them. It wraps ErrEventsExpired.
type ExpiredError struct {
	StreamID string
	From, To uint64
}

// Error implements error.
func (e *ExpiredError) Error() string {
	return fmt.Sprintf("eventstore: stream %q: versions %d-%d are past the log's retention and no snapshot or archive covers them", e.StreamID, e.From, e.To)
}

// Unwrap returns ErrEventsExpired.
func (e *ExpiredError) Unwrap() error { return ErrEventsExpired }

// corrupt returns an error wrapping ErrCorruptEvent.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorruptEvent}, args...)...)
}

// ErrVersionNotFound: a read or load as of a version past the stream's
// end. The wrapping *VersionNotFoundError gives both versions.
var ErrVersionNotFound = errors.New("eventstore: version not found")

// VersionNotFoundError is returned when a point (AtVersion) lies past the
// stream's end. It wraps ErrVersionNotFound.
type VersionNotFoundError struct {
	StreamID string
	// Requested is the point's version; Current the stream's version.
	Requested, Current uint64
}

// Error implements error.
func (e *VersionNotFoundError) Error() string {
	return fmt.Sprintf("eventstore: stream %q has no version %d: it is at version %d", e.StreamID, e.Requested, e.Current)
}

// Unwrap returns ErrVersionNotFound.
func (e *VersionNotFoundError) Unwrap() error { return ErrVersionNotFound }
