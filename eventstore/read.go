package eventstore

import (
	"context"
	"fmt"
	"iter"
	"math"
	"slices"

	"github.com/shoal-dev/shoal/shardlog"
)

// Read yields the events of a stream with versions from `from` on (0 or 1:
// all), in order. Its cost is proportional to the stream's events, not the
// log's. Events past the log's retention come from the archive when the
// store has one; a gap nothing covers ends the sequence with an
// *ExpiredError rather than skipping events. A stream with no events
// yields nothing.
func (s *Store) Read(ctx context.Context, streamID string, from uint64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := validateStreamID(streamID); err != nil {
			yield(Event{}, err)
			return
		}
		s.readFrom(ctx, streamID, max(from, 1), shardlog.SequenceNumber{}, nil, nil, yield)
	}
}

// ReadBackward yields the events of a stream from version `from` (0: the
// last event) down to version 1. It reads the stream forward and holds its
// events in memory, so its cost is that of Read. A gap below the retained
// events is filled from the archive or ends the sequence with an
// *ExpiredError once the retained events were yielded.
func (s *Store) ReadBackward(ctx context.Context, streamID string, from uint64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := validateStreamID(streamID); err != nil {
			yield(Event{}, err)
			return
		}
		var evs []Event
		above := false // the log retains events above from
		for ev, err := range s.readRaw(ctx, streamID, shardlog.SequenceNumber{}) {
			if err != nil {
				yield(Event{}, err)
				return
			}
			if from != 0 && ev.Version > from {
				above = true
				break
			}
			evs = append(evs, ev)
		}
		// lowest is the version above the gap to fill, if any.
		var lowest uint64
		var older []Event // archived events below lowest, oldest first
		haveOlder := false
		switch {
		case len(evs) > 0:
			lowest = evs[0].Version
		case above:
			lowest = from + 1
		default:
			// The log retains nothing up to from: the stream may be new,
			// or all of it may have expired. The snapshot and the archive
			// know its version.
			v, err := s.snapshotVersion(ctx, streamID)
			if err != nil {
				yield(Event{}, err)
				return
			}
			if s.archive != nil {
				if older, err = s.archived(ctx, streamID, math.MaxUint64); err != nil {
					yield(Event{}, err)
					return
				}
				haveOlder = true
				if n := len(older); n > 0 {
					v = max(v, older[n-1].Version)
				}
			}
			if from != 0 {
				v = min(v, from)
			}
			lowest = v + 1
		}
		for _, ev := range slices.Backward(evs) {
			if !yield(ev, nil) {
				return
			}
		}
		if lowest <= 1 {
			return
		}
		if !haveOlder && s.archive != nil {
			var err error
			if older, err = s.archived(ctx, streamID, lowest); err != nil {
				yield(Event{}, err)
				return
			}
		}
		// Yield the archived versions lowest-1, lowest-2, ... down to the
		// first one missing.
		want := lowest - 1
		i := len(older) - 1
		for ; i >= 0 && want > 0; i-- {
			ev := older[i]
			if ev.Version > want {
				continue
			}
			if ev.Version < want {
				break
			}
			if !yield(ev, nil) {
				return
			}
			want--
		}
		if want > 0 {
			gap := uint64(1) // the missing versions are gap..want
			for ; i >= 0; i-- {
				if older[i].Version < want {
					gap = older[i].Version + 1
					break
				}
			}
			yield(Event{}, &ExpiredError{StreamID: streamID, From: gap, To: want})
		}
	}
}

// archived returns the archived events of a stream with versions below
// `below`, oldest first.
func (s *Store) archived(ctx context.Context, streamID string, below uint64) ([]Event, error) {
	var out []Event
	for r, err := range s.archive.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: s.stream, PartitionKey: streamID}) {
		if err != nil {
			return nil, fmt.Errorf("eventstore: archive read of %q: %w", streamID, err)
		}
		ev, err := s.toEvent(r)
		if err != nil {
			return nil, err
		}
		if ev.Version >= below {
			break
		}
		out = append(out, ev)
	}
	return out, nil
}

// Last returns the stream's latest event. A stream with no events returns
// ErrStreamNotFound. When every event is past retention it comes from the
// archive; one that is nowhere (its version known from a snapshot) returns
// an *ExpiredError.
func (s *Store) Last(ctx context.Context, streamID string) (Event, error) {
	if err := validateStreamID(streamID); err != nil {
		return Event{}, err
	}
	lk, err := s.log.LastKey(ctx, shardlog.LastKeyInput{StreamName: s.stream, PartitionKey: streamID})
	if err != nil {
		return Event{}, fmt.Errorf("eventstore: last event of %q: %w", streamID, err)
	}
	r, ok := lk.Record, lk.Found
	if ok {
		return s.toEvent(r)
	}
	v, err := s.retiredVersion(ctx, streamID)
	if err != nil {
		return Event{}, err
	}
	if v > 0 {
		var last Event
		var ferr error
		if s.fill(ctx, streamID, v, v, false, func(ev Event, err error) bool { last, ferr = ev, err; return err == nil }) {
			return last, nil
		}
		return Event{}, ferr
	}
	return Event{}, fmt.Errorf("%w: %q", ErrStreamNotFound, streamID)
}

// Version returns the stream's current version: its last event's version,
// or 0 if it has none (the stream does not exist). When every event of a
// stream is past retention, the version comes from its snapshot.
func (s *Store) Version(ctx context.Context, streamID string) (uint64, error) {
	if err := validateStreamID(streamID); err != nil {
		return 0, err
	}
	hd, err := s.head(ctx, streamID)
	return hd.version, err
}

// Exists reports whether the stream has events.
func (s *Store) Exists(ctx context.Context, streamID string) (bool, error) {
	v, err := s.Version(ctx, streamID)
	return v > 0, err
}

// readFrom yields the stream's events with versions from want on, reading
// the log after `after` and filling gaps from the archive. An event below
// want is skipped, or, when below is set, ends the read with below's
// error. It reports whether it ran to the end.
//
// When the log holds none of the stream's events, snapVersion gives the
// version its snapshot knows (nil: read the snapshot store).
func (s *Store) readFrom(ctx context.Context, streamID string, want uint64, after shardlog.SequenceNumber, below func(Event) error, snapVersion *uint64, yield func(Event, error) bool) bool {
	read := false
	var last Event // the last event the log holds, once the read ends
	for ev, err := range s.readRaw(ctx, streamID, after) {
		if err != nil {
			yield(Event{}, err)
			return false
		}
		read, last = true, ev
		if ev.Version < want {
			if below != nil {
				yield(Event{}, below(ev))
				return false
			}
			continue
		}
		if ev.Version > want && !s.fill(ctx, streamID, want, ev.Version-1, false, yield) {
			return false
		}
		if !yield(ev, nil) {
			return false
		}
		want = ev.Version + 1
	}
	if read {
		// The stream's latest event: an Append that follows needs not
		// read it again.
		s.heads.put(streamID, head{
			version: last.Version,
			seq:     last.Position.SequenceNumber,
			last:    header{id: last.ID, version: last.Version, batchCount: last.batchCount, batchFirst: last.batchFirst},
			arrival: last.RecordedAt,
		})
	}
	if !read {
		// No event is retained: the stream may be new, or all of it may
		// have expired after a snapshot recorded its version. The
		// archive may hold versions after the snapshot's as well.
		var v uint64
		if snapVersion != nil {
			v = *snapVersion
		} else {
			var err error
			if v, err = s.snapshotVersion(ctx, streamID); err != nil {
				yield(Event{}, err)
				return false
			}
		}
		if v >= want || s.archive != nil {
			return s.fill(ctx, streamID, want, v, true, yield)
		}
	}
	return true
}

// fill yields versions a..b from the archive and, with rest, the archived
// versions after b as well. Versions the archive lacks (or all of them,
// without an archive) end the sequence with an *ExpiredError naming them,
// and fill reports false.
func (s *Store) fill(ctx context.Context, streamID string, a, b uint64, rest bool, yield func(Event, error) bool) bool {
	if s.archive != nil {
		for r, err := range s.archive.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: s.stream, PartitionKey: streamID}) {
			if err != nil {
				yield(Event{}, fmt.Errorf("eventstore: archive read of %q: %w", streamID, err))
				return false
			}
			ev, err := s.toEvent(r)
			if err != nil {
				yield(Event{}, err)
				return false
			}
			if ev.Version < a {
				continue
			}
			if ev.Version > a {
				// Versions a..ev.Version-1 are nowhere.
				if rest || ev.Version <= b {
					b = ev.Version - 1
				}
				break
			}
			if !yield(ev, nil) {
				return false
			}
			if a++; a > b && !rest {
				return true
			}
		}
	}
	if a > b {
		return true
	}
	yield(Event{}, &ExpiredError{StreamID: streamID, From: a, To: b})
	return false
}

// snapshotVersion returns the version of the stream's snapshot, or 0.
func (s *Store) snapshotVersion(ctx context.Context, streamID string) (uint64, error) {
	if s.snapshots == nil {
		return 0, nil
	}
	snap, ok, err := s.snapshots.LoadSnapshot(ctx, streamID)
	if err != nil {
		return 0, fmt.Errorf("eventstore: read the snapshot of %q: %w", streamID, err)
	}
	if !ok {
		return 0, nil
	}
	return snap.Version, nil
}

// readRaw yields the retained events of a stream after a sequence
// number, as the log holds them: no gap check.
func (s *Store) readRaw(ctx context.Context, streamID string, after shardlog.SequenceNumber) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for r, err := range s.log.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: s.stream, PartitionKey: streamID, After: after}) {
			if err != nil {
				yield(Event{}, fmt.Errorf("eventstore: read %q: %w", streamID, err))
				return
			}
			ev, err := s.toEvent(r)
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// DecodeRecord decodes a record of the store's stream into an Event (its
// payload stays encoded until Event.Data): what a consumer that reads the
// shardlog stream itself, such as a delivery stream, needs to see events.
func (s *Store) DecodeRecord(r shardlog.Record) (Event, error) { return s.toEvent(r) }

// toEvent decodes a record's envelope.
func (s *Store) toEvent(r shardlog.Record) (Event, error) {
	h, payload, err := parseEnvelope(r.Data, s.reg)
	if err != nil {
		return Event{}, fmt.Errorf("eventstore: record %s of %q: %w", r.SequenceNumber, r.PartitionKey, err)
	}
	return Event{
		ID:            h.id,
		StreamID:      r.PartitionKey,
		Type:          h.typ,
		SchemaVersion: h.schemaVersion,
		Version:       h.version,
		Metadata:      h.meta,
		RecordedAt:    r.ApproximateArrivalTimestamp,
		Position:      Position{r.SequenceNumber.ShardID(), r.SequenceNumber},
		payload:       payload,
		codec:         h.codec,
		batchCount:    h.batchCount,
		batchFirst:    h.batchFirst,
		store:         s,
	}, nil
}
