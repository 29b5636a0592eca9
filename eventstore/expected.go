package eventstore

import (
	"fmt"

	"github.com/shoal-dev/shoal/shardlog"
)

// ExpectedVersion is what Append requires of a stream before it writes:
// Any, NoStream, StreamExists or Exact(n).
type ExpectedVersion struct {
	kind    expectKind
	version uint64
	at      shardlog.SequenceNumber // where version was read; see At
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectExists
	expectExact
)

var (
	// Any appends whatever the stream's version. The new events still get
	// the next versions: the append is conditional on the version read.
	Any = ExpectedVersion{kind: expectAny}
	// NoStream appends only if the stream has no events.
	NoStream = ExpectedVersion{kind: expectNoStream}
	// StreamExists appends only if the stream has at least one event.
	StreamExists = ExpectedVersion{kind: expectExists}
)

// Exact appends only if the stream's current version (its last event's
// version) is v. Exact(0) is NoStream.
func Exact(v uint64) ExpectedVersion {
	if v == 0 {
		return NoStream
	}
	return ExpectedVersion{kind: expectExact, version: v}
}

// At tells Append where the caller read version n of Exact(n): the
// position of that event (a repository knows it from loading). When the
// stream turns out to be past n, the idempotency check then reads only the
// events after p instead of the whole stream. A wrong position can only
// turn a recognised retry into a version conflict, never write anything.
// It has no effect on the other kinds.
func (e ExpectedVersion) At(p Position) ExpectedVersion {
	if e.kind == expectExact {
		e.at = p.SequenceNumber
	}
	return e
}

// Version returns n for Exact(n), 0 for NoStream, and false for Any and
// StreamExists.
func (e ExpectedVersion) Version() (uint64, bool) {
	switch e.kind {
	case expectExact:
		return e.version, true
	case expectNoStream:
		return 0, true
	}
	return 0, false
}

// String returns "any", "no stream", "stream exists" or the version.
func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectExists:
		return "stream exists"
	case expectExact:
		return fmt.Sprint(e.version)
	}
	return "any"
}

// admits reports whether a stream at version current satisfies e.
func (e ExpectedVersion) admits(current uint64) bool {
	switch e.kind {
	case expectNoStream:
		return current == 0
	case expectExists:
		return current > 0
	case expectExact:
		return current == e.version
	}
	return true
}

// withoutHint returns e without its At position, as errors report it.
func (e ExpectedVersion) withoutHint() ExpectedVersion {
	e.at = shardlog.SequenceNumber{}
	return e
}
