package projection

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// ErrAsOfReadModel is returned by Runner.Run for a projection whose
// checkpoints carry an as-of marker (RebuildAsOf): its read model is the
// state as of a point in time, and running it live would carry it past
// that point. Reset or Rebuild the projection first to make it live.
var ErrAsOfReadModel = errors.New("projection: the read model was rebuilt as of a point in time; Reset or Rebuild it to run it live")

// asOfPrefix starts the checkpoint key of the as-of marker; no shard ID
// starts with it ("shardId-…").
const asOfPrefix = "as-of "

// asOfKey is the checkpoint key recording that a projection was rebuilt
// as of at.
func asOfKey(at time.Time) string { return asOfPrefix + at.UTC().Format(time.RFC3339Nano) }

// asOfMarker finds the as-of marker among a projection's checkpoints.
func asOfMarker(cps map[string]Progress) (time.Time, bool, error) {
	for k := range cps {
		if s, ok := strings.CutPrefix(k, asOfPrefix); ok {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return time.Time{}, false, fmt.Errorf("projection: the as-of marker %q: %w", k, err)
			}
			return t, true, nil
		}
	}
	return time.Time{}, false, nil
}

// AsOf reports the point in time a projection's read model was rebuilt as
// of (RebuildAsOf), read from its checkpoints in cps; ok is false for a
// live projection (or one never run). The marker is kept with the
// checkpoints, so it survives restarts and is cleared by Reset. A nil cps
// is a *shardlog.ArgumentError.
func AsOf(ctx context.Context, cps CheckpointStore, projection string) (at time.Time, ok bool, err error) {
	if cps == nil {
		return time.Time{}, false, &shardlog.ArgumentError{Field: "cps", Reason: "a checkpoint store is required"}
	}
	m, err := cps.Checkpoints(ctx, projection)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("projection %s: checkpoints: %w", projection, err)
	}
	return asOfMarker(m)
}

// RebuildAsOf resets p (see Reset) and replays every shard into it up to
// the instant at, as Rebuild does to the current end: it builds the read
// model as it was at at, for a report or an audit, beside the live one.
// Give p a name of its own (projection.New("totals@2026-03-31"), say) and
// handlers that write to a read model of its own (other tables, other
// keys): the live projection's checkpoints and read model are untouched.
// A name with checkpoints of a live run (no as-of marker) is refused, so a
// live read model is not reset by mistake; one rebuilt as of another
// instant before is rebuilt again.
//
// An event is applied if its RecordedAt (the log's arrival time) is at or
// before at, in each shard's order, and nothing after it: a batch that
// straddles at is cut there, and a shard's checkpoint stops at its last
// event at or before at. A closed shard whose events are all at or before
// at is finished (Done), and its children then start, as in a live run; a
// shard that reached an event after at stops there and its children are
// not started. Children start above their parents' last event in time as
// in sequence number, so with a clock that does not go backwards they hold
// nothing at or before at anyway; if the log's clock did go back across a
// reshard, a child's events recorded before at are still left out: they
// follow, in their streams, an event of the parent recorded after at, and
// applying them would leave a gap in those streams' versions. Every
// stream is thus applied up to a prefix of its versions, never with a gap.
// An open shard is read to its current end: with at later than the log's
// present, events appended during the rebuild are included while each
// shard is read, and later ones are not.
//
// Past the log's retention, the store's archive (eventstore.WithArchive)
// supplies the expired events, as for Rebuild; without one, the rebuild
// starts, as Rebuild does, at each shard's oldest retained event, so the
// read model misses the expired events and no gap is reported (a read
// from the trim horizon has no position to have a gap after): do not
// rebuild as of a time older than the log's retention without an archive.
//
// at must not be the zero time, and its year (in UTC) must be 0 to 9999,
// which the marker can record. opts is as for Rebuild (Checkpoints is
// required, Owner must be empty: a rebuild runs alone); progress (if not nil) is called at most every
// interval and once at the end, and estimates against at rather than the
// shards' newest events. The checkpoints record, besides each shard's last
// applied event, the instant at (read it back with AsOf): Runner.Run
// refuses the projection with ErrAsOfReadModel until it is Reset or
// Rebuilt, so no live run carries the read model past at by mistake.
func RebuildAsOf(ctx context.Context, store *eventstore.Store, p *Projection, opts Options, at time.Time, interval time.Duration, progress func(RebuildProgress)) error {
	if at.IsZero() {
		return &shardlog.ArgumentError{Field: "at", Reason: "the zero time is no point in time: pass the instant to rebuild the read model as of"}
	}
	if y := at.UTC().Year(); y < 0 || y > 9999 {
		// The marker records at in RFC 3339, which has four-digit years:
		// one it could not read back would block the name until Reset.
		return &shardlog.ArgumentError{Field: "at", Reason: fmt.Sprintf("year %d is outside 0-9999, which the as-of marker (RFC 3339) can record", y)}
	}
	if opts.Owner != "" {
		return &shardlog.ArgumentError{Field: "Owner", Reason: "a rebuild runs alone: unset Owner (no leases)"}
	}
	if opts.Checkpoints != nil && p != nil && p.name != "" {
		cps, err := opts.Checkpoints.Checkpoints(ctx, p.name)
		if err != nil {
			return fmt.Errorf("projection %s: checkpoints: %w", p.name, err)
		}
		if _, asOf, err := asOfMarker(cps); err != nil {
			return fmt.Errorf("projection %s: %w", p.name, err)
		} else if len(cps) > 0 && !asOf {
			return &shardlog.ArgumentError{Field: "p", Reason: fmt.Sprintf("projection %q has live checkpoints: give the as-of rebuild a name of its own (or Reset it first to rebuild it in place)", p.name)}
		}
	}
	// Compare wall clocks, as the log records them: no monotonic reading.
	return rebuild(ctx, store, p, opts, at.Round(0), interval, progress)
}

// pastCut returns how many of events (in shard order) were recorded at or
// before until: they are applied, the rest are not. Arrival times never go
// backwards within a shard, so the first event after until ends the cut.
func pastCut(events []eventstore.Event, until time.Time) (int, bool) {
	for i := range events {
		if events[i].RecordedAt.After(until) {
			return i, true
		}
	}
	return len(events), false
}
