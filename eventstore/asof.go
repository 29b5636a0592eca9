package eventstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// Point is a position in a stream's history: a version (AtVersion) or an
// instant (AtTime). The zero Point names nothing; reads given it fail with
// a *shardlog.ArgumentError on the field "at".
//
// A time point follows the log's arrival times (Event.RecordedAt), not a
// time the writer supplies: the state of a stream as of T is the longest
// prefix of the stream, by version, whose events all have RecordedAt at or
// before T. The read stops at the first event recorded after T, even if a
// later version carries an earlier time. Arrival times are assigned by one
// sequencer per shard, which never lets them go backwards within a shard,
// and a child shard's records arrive after its parents were sealed, so
// the prefix is in practice every event recorded up to T. Writers' clocks
// differ and a time a writer chooses is metadata (put it in
// Metadata.Fields and project on it), so neither orders a stream.
type Point struct {
	version uint64
	at      time.Time
	isTime  bool
}

// AtVersion returns the point just after the event with version v was
// applied: the stream's first v events. v must be 1 or more.
func AtVersion(v uint64) Point { return Point{version: v} }

// AtTime returns the point at instant t: every event recorded (by the
// log's arrival time) at or before t, compared by wall clock; t must not
// be the zero time.
func AtTime(t time.Time) Point { return Point{at: t.Round(0), isTime: true} }

// Version returns the point's version, and false for a time point.
func (p Point) Version() (uint64, bool) { return p.version, !p.isTime }

// Time returns the point's instant, and false for a version point.
func (p Point) Time() (time.Time, bool) { return p.at, p.isTime }

// IsZero reports whether p is the zero Point (or AtVersion(0)), which
// names no point.
func (p Point) IsZero() bool { return !p.isTime && p.version == 0 }

// String returns "version N" or "time T" (RFC 3339 with nanoseconds).
func (p Point) String() string {
	switch {
	case p.isTime:
		return "time " + p.at.UTC().Format(time.RFC3339Nano)
	case p.version == 0:
		return "no point"
	default:
		return fmt.Sprintf("version %d", p.version)
	}
}

// validate returns a *shardlog.ArgumentError for a point that names
// nothing.
func (p Point) validate() error {
	switch {
	case p.isTime && p.at.IsZero():
		return &shardlog.ArgumentError{Field: "at", Reason: "AtTime of the zero time.Time names no point in time"}
	case p.IsZero():
		return &shardlog.ArgumentError{Field: "at", Reason: "the zero Point (or AtVersion(0)) names no point: versions start at 1; use AtVersion(v >= 1) or AtTime(t)"}
	}
	return nil
}

// includes reports whether ev lies at or before the point.
func (p Point) includes(ev Event) bool {
	if p.isTime {
		return !ev.RecordedAt.After(p.at)
	}
	return ev.Version <= p.version
}

// ReadAsOf yields the events of a stream with versions from `from` on (0 or
// 1: all) up to and including the point at, in order: Read, stopped at the
// point. It reads no further than the point, with Read's guarantees (no
// gap, no duplicate, across reshards, through the archive; a gap nothing
// covers ends the sequence with an *ExpiredError). Read from version 1, a
// stream with no event at or before the point (it does not exist, or its
// first event was recorded after a time point) ends with an error wrapping
// ErrStreamNotFound; a version past the stream's end ends with a
// *VersionNotFoundError after the stream's events. A `from` past the point
// (a version point below it, or a time point before version `from` was
// recorded) yields nothing, with no error.
func (s *Store) ReadAsOf(ctx context.Context, streamID string, from uint64, at Point) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := validateStreamID(streamID); err != nil {
			yield(Event{}, err)
			return
		}
		if err := at.validate(); err != nil {
			yield(Event{}, err)
			return
		}
		s.readAsOf(ctx, streamID, max(from, 1), shardlog.SequenceNumber{}, nil, nil, at, yield)
	}
}

// ReadBackwardAsOf yields the events of a stream from the point at down to
// version 1. It reads forward to the point (ReadAsOf) and holds the events
// in memory, as ReadBackward does, since where a time point ends is known
// only from the front. It yields all of them or none: an error (an
// *ExpiredError, a not-found error) comes alone.
func (s *Store) ReadBackwardAsOf(ctx context.Context, streamID string, at Point) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		var evs []Event
		for ev, err := range s.ReadAsOf(ctx, streamID, 1, at) {
			if err != nil {
				yield(Event{}, err)
				return
			}
			evs = append(evs, ev)
		}
		for _, ev := range slices.Backward(evs) {
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// LoadAsOf is Load as of the point at: the stream's snapshot, if accept
// takes it and it lies at or before the point, and the events after it up
// to the point. A snapshot store keeps a stream's latest snapshot only, so
// a point before it replays from version 1. For a time point the snapshot
// is used only if its event's recorded time, read from the log at the
// snapshot's position (or from the archive), is at or before the point;
// when that event is nowhere, the snapshot is not used. (Only the
// snapshot's own event is checked: should a clock have stepped back across
// a reshard before the snapshot, an earlier version recorded after the
// point goes unseen.) Events ends with
// the errors of ReadAsOf: a stream with no event at or before the point
// wraps ErrStreamNotFound, a version past the end is a
// *VersionNotFoundError, and a gap is an *ExpiredError, never partial
// state.
func (s *Store) LoadAsOf(ctx context.Context, streamID string, at Point, accept func(Snapshot) bool) (Loaded, error) {
	if err := validateStreamID(streamID); err != nil {
		return Loaded{}, err
	}
	if err := at.validate(); err != nil {
		return Loaded{}, err
	}
	var snap *Snapshot
	var snapVersion uint64 // of the stored snapshot, used or not (0: none, or unreadable)
	if s.snapshots != nil {
		sn, ok, err := s.snapshots.LoadSnapshot(ctx, streamID)
		if errors.Is(err, ErrCorruptSnapshot) {
			s.logger.WarnContext(ctx, "eventstore: ignoring a corrupt snapshot", "stream", streamID, "err", err)
			ok, err = false, nil
		}
		if err != nil {
			return Loaded{}, fmt.Errorf("eventstore: load the snapshot of %q: %w", streamID, err)
		}
		if ok {
			snapVersion = sn.Version
		}
		if ok && sn.Version > 0 && (accept == nil || accept(sn)) {
			use, err := s.snapshotAt(ctx, sn, at)
			if err != nil {
				return Loaded{}, err
			}
			if use {
				snap = &sn
			}
		}
	}
	want, after := uint64(1), Position{}
	if snap != nil {
		want, after = snap.Version+1, snap.Position
	}
	return Loaded{
		Snapshot: snap,
		Events: func(yield func(Event, error) bool) {
			var below func(Event) error
			if snap != nil {
				below = func(ev Event) error {
					return fmt.Errorf("%w: the snapshot of %q is at version %d, but version %d follows its position %s in the log", ErrCorruptSnapshot, streamID, snap.Version, ev.Version, snap.Position)
				}
			}
			s.readAsOf(ctx, streamID, want, after.SequenceNumber, below, &snapVersion, at, yield)
		},
	}, nil
}

// snapshotAt reports whether sn lies at or before the point. For a time
// point it looks up the recorded time of the snapshot's event: in the log
// at the snapshot's position, else in the archive. An event found nowhere
// (expired, or the snapshot names a position that is not its event's)
// makes the snapshot unusable.
func (s *Store) snapshotAt(ctx context.Context, sn Snapshot, at Point) (bool, error) {
	if !at.isTime {
		return sn.Version <= at.version, nil
	}
	seq := sn.Position.SequenceNumber
	if seq.Position() == 0 {
		return false, nil
	}
	// The record just before the snapshot's position in its shard: the
	// first record after it is the snapshot's own.
	after := shardlog.MakeSequenceNumber(seq.Position()-1, seq.ShardIndex())
	match := func(ev Event) bool { return ev.Version == sn.Version && ev.Position == sn.Position }
	for ev, err := range s.readRaw(ctx, sn.StreamID, after) {
		if err != nil {
			return false, err
		}
		if match(ev) {
			return at.includes(ev), nil
		}
		break
	}
	if s.archive != nil {
		for r, err := range s.archive.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: s.stream, PartitionKey: sn.StreamID, After: after}) {
			if err != nil {
				return false, fmt.Errorf("eventstore: archive read of %q: %w", sn.StreamID, err)
			}
			ev, err := s.toEvent(r)
			if err != nil {
				return false, err
			}
			if match(ev) {
				return at.includes(ev), nil
			}
			break
		}
	}
	s.logger.DebugContext(ctx, "eventstore: the snapshot's event is nowhere to tell its time; replaying instead", "stream", sn.StreamID, "version", sn.Version)
	return false, nil
}

// readAsOf is readFrom stopped at the point at, ending with a not-found
// or *VersionNotFoundError when the stream does not reach it.
func (s *Store) readAsOf(ctx context.Context, streamID string, want uint64, after shardlog.SequenceNumber, below func(Event) error, snapVersion *uint64, at Point, yield func(Event, error) bool) {
	if !at.isTime && want > at.version {
		return // a snapshot at the point, or a from past it
	}
	var (
		last    uint64 // the last version yielded
		reached bool   // the read stopped at the point
		done    bool   // an error was yielded, or the caller stopped
	)
	s.readFrom(ctx, streamID, want, after, below, snapVersion, func(ev Event, err error) bool {
		if err != nil {
			done = true
			yield(Event{}, err)
			return false
		}
		if !at.includes(ev) {
			reached = true
			return false
		}
		last = ev.Version
		if !yield(ev, nil) {
			done = true
			return false
		}
		if !at.isTime && ev.Version == at.version {
			reached = true
			return false
		}
		return true
	})
	if done || (reached && (last > 0 || want > 1)) {
		return
	}
	if reached {
		// A time point before the stream's first event.
		yield(Event{}, fmt.Errorf("%w: %q has no event recorded at or before %s", ErrStreamNotFound, streamID, at.at.UTC().Format(time.RFC3339Nano)))
		return
	}
	current := last
	if current == 0 && want > 1 {
		v, err := s.Version(ctx, streamID)
		if err != nil {
			yield(Event{}, err)
			return
		}
		current = v
	}
	if current == 0 {
		yield(Event{}, fmt.Errorf("%w: %q", ErrStreamNotFound, streamID))
		return
	}
	if !at.isTime {
		yield(Event{}, &VersionNotFoundError{StreamID: streamID, Requested: at.version, Current: current})
	}
}
