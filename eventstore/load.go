package eventstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
)

// Loaded is a stream ready to fold into state: its latest usable snapshot,
// if any, and the events after it.
type Loaded struct {
	// Snapshot is nil when there is none (or accept refused it).
	Snapshot *Snapshot
	// Events yields the events after the snapshot (all of them without
	// one), with the same gap rule as Read: a version past retention that
	// no archive holds ends the sequence with an *ExpiredError, so partial
	// state is never returned silently.
	Events iter.Seq2[Event, error]
}

// Load returns the stream's latest snapshot accepted by accept (nil
// accepts any) and the events after it. Without a snapshot store it is
// Read from version 1. A snapshot that the log contradicts (an event after
// its position has a version it covers) makes Events yield an error
// wrapping ErrCorruptSnapshot; load again refusing it to replay instead.
func (s *Store) Load(ctx context.Context, streamID string, accept func(Snapshot) bool) (Loaded, error) {
	if err := validateStreamID(streamID); err != nil {
		return Loaded{}, err
	}
	var snap *Snapshot
	var snapVersion uint64 // of the stored snapshot, used or not (0: none, or unreadable)
	if s.snapshots != nil {
		sn, ok, err := s.snapshots.LoadSnapshot(ctx, streamID)
		if errors.Is(err, ErrCorruptSnapshot) {
			// Replay instead: the gap check still refuses partial state.
			s.logger.WarnContext(ctx, "eventstore: ignoring a corrupt snapshot", "stream", streamID, "err", err)
			ok, err = false, nil
		}
		if err != nil {
			return Loaded{}, fmt.Errorf("eventstore: load the snapshot of %q: %w", streamID, err)
		}
		if ok {
			snapVersion = sn.Version
		}
		if ok && (accept == nil || accept(sn)) {
			snap = &sn
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
				// Every event after the snapshot's position must be newer
				// than the snapshot. One that is not means the snapshot
				// belongs to another history (a stream deleted and created
				// again under the same name, a restored backup): say so
				// instead of skipping events.
				below = func(ev Event) error {
					return fmt.Errorf("%w: the snapshot of %q is at version %d, but version %d follows its position %s in the log", ErrCorruptSnapshot, streamID, snap.Version, ev.Version, snap.Position)
				}
			}
			s.readFrom(ctx, streamID, want, after.SequenceNumber, below, &snapVersion, yield)
		},
	}, nil
}
