package eventstore

import (
	"context"
	"fmt"
	"iter"
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
		s.readFrom(ctx, streamID, max(from, 1), shardlog.SequenceNumber{}, yield)
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
		for ev, err := range s.readRaw(ctx, streamID, shardlog.SequenceNumber{}) {
			if err != nil {
				yield(Event{}, err)
				return
			}
			if from != 0 && ev.Version > from {
				break
			}
			evs = append(evs, ev)
		}
		lowest := uint64(1)
		if len(evs) > 0 {
			lowest = evs[0].Version
		} else if v, err := s.snapshotVersion(ctx, streamID); err != nil {
			yield(Event{}, err)
			return
		} else if v > 0 {
			lowest = min(v, from) + 1
			if from == 0 {
				lowest = v + 1
			}
		}
		for _, ev := range slices.Backward(evs) {
			if !yield(ev, nil) {
				return
			}
		}
		if lowest > 1 {
			var older []Event
			ok := s.fill(ctx, streamID, 1, lowest-1, func(ev Event, err error) bool {
				if err == nil {
					older = append(older, ev)
				}
				return true
			})
			for _, ev := range slices.Backward(older) {
				if !yield(ev, nil) {
					return
				}
			}
			if !ok {
				yield(Event{}, &ExpiredError{StreamID: streamID, From: 1, To: lowest - 1 - uint64(len(older))})
			}
		}
	}
}

// Last returns the stream's latest event. A stream with no events returns
// ErrStreamNotFound; one whose latest event is past retention (its
// version known from a snapshot) returns an *ExpiredError.
func (s *Store) Last(ctx context.Context, streamID string) (Event, error) {
	if err := validateStreamID(streamID); err != nil {
		return Event{}, err
	}
	r, ok, err := s.log.LastKey(ctx, s.stream, streamID)
	if err != nil {
		return Event{}, fmt.Errorf("eventstore: last event of %q: %w", streamID, err)
	}
	if ok {
		return s.toEvent(r)
	}
	v, err := s.snapshotVersion(ctx, streamID)
	if err != nil {
		return Event{}, err
	}
	if v > 0 {
		var last Event
		if s.fill(ctx, streamID, v, v, func(ev Event, err error) bool { last = ev; return err == nil }) {
			return last, nil
		}
		return Event{}, &ExpiredError{StreamID: streamID, From: v, To: v}
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
// the log after `after` and filling gaps from the archive. It reports
// whether it ran to the end.
func (s *Store) readFrom(ctx context.Context, streamID string, want uint64, after shardlog.SequenceNumber, yield func(Event, error) bool) bool {
	read := false
	for ev, err := range s.readRaw(ctx, streamID, after) {
		if err != nil {
			yield(Event{}, err)
			return false
		}
		read = true
		if ev.Version < want {
			continue
		}
		if ev.Version > want && !s.fill(ctx, streamID, want, ev.Version-1, yield) {
			return false
		}
		if !yield(ev, nil) {
			return false
		}
		want = ev.Version + 1
	}
	if !read {
		// No event is retained: the stream may be new, or all of it may
		// have expired after a snapshot recorded its version.
		v, err := s.snapshotVersion(ctx, streamID)
		if err != nil {
			yield(Event{}, err)
			return false
		}
		if v >= want {
			return s.fill(ctx, streamID, want, v, yield)
		}
	}
	return true
}

// fill yields versions a..b from the archive; when the archive is missing
// or lacks some of them it yields an *ExpiredError and reports false.
func (s *Store) fill(ctx context.Context, streamID string, a, b uint64, yield func(Event, error) bool) bool {
	if s.archive != nil {
		for r, err := range s.archive.ReadKey(ctx, s.stream, streamID, shardlog.SequenceNumber{}) {
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
				break
			}
			if !yield(ev, nil) {
				return false
			}
			if a++; a > b {
				return true
			}
		}
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
	if err != nil || !ok {
		return 0, err
	}
	return snap.Version, nil
}

// readRaw yields the retained events of a stream after a sequence
// number, as the log holds them: no gap check.
func (s *Store) readRaw(ctx context.Context, streamID string, after shardlog.SequenceNumber) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for r, err := range s.log.ReadKey(ctx, s.stream, streamID, after) {
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

// toEvent decodes a record's envelope.
func (s *Store) toEvent(r shardlog.Record) (Event, error) {
	h, payload, err := parseEnvelope(r.Data)
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
		store:         s,
	}, nil
}
