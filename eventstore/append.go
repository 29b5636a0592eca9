package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/shardlog"
)

// AppendResult describes the events an Append stored, or had stored
// already when it recognised a retry.
type AppendResult struct {
	StreamID string
	// FirstVersion and LastVersion are the versions of the appended
	// events; LastVersion is the stream's version after the append, the
	// expected version of the next one.
	FirstVersion, LastVersion uint64
	// First and Last are the positions of the first and last event.
	// The events of one append are contiguous in one shard.
	First, Last Position
	// RecordedAt is when the log accepted the events.
	RecordedAt time.Time
	// Deduplicated is true when the events were stored by an earlier
	// Append with the same event IDs and nothing was written now.
	Deduplicated bool
}

// maxAppendAttempts bounds how often Append re-reads the stream's version
// after losing a race to another writer.
const maxAppendAttempts = 64

// Append adds events to the stream streamID if its version satisfies
// expected. The events get the next versions and land atomically: all or
// none, contiguous, in one shard, in one conditional append to the log.
// Each event is a registered value, or a Proposed to choose its ID and
// metadata; at most 500 events per call.
//
// A stream not at the expected version returns a *WrongExpectedVersionError.
// Any and StreamExists still give the events the next versions: if another
// writer appends in between, Append re-reads the version and tries again.
//
// Appends are idempotent on event IDs, as KurrentDB's are:
//   - With Exact(n) or NoStream (Exact(0)), re-sending events whose IDs are
//     stored at versions n+1..n+k returns the original result and writes
//     nothing, however many events were appended after them. If only some
//     of them match, or others are there, it is a version conflict.
//   - With Any or StreamExists, a re-sent append is recognised while it is
//     still the stream's latest append (the same first and last event IDs
//     and count). Once another append followed it, the events are appended
//     again, with new versions.
func (s *Store) Append(ctx context.Context, streamID string, expected ExpectedVersion, events ...any) (AppendResult, error) {
	if err := validateStreamID(streamID); err != nil {
		return AppendResult{}, err
	}
	if n := len(events); n < 1 || n > shardlog.MaxPutRecordsEntries {
		return AppendResult{}, &shardlog.ArgumentError{Field: "events", Reason: fmt.Sprintf("%d events is outside 1-%d", n, shardlog.MaxPutRecordsEntries)}
	}
	batch, err := s.prepare(events)
	if err != nil {
		return AppendResult{}, err
	}
	// Start from the cached head if there is one; decide anything but
	// "append" only on a fresh read.
	hd, cached := s.heads.get(streamID)
	if !cached {
		if hd, err = s.head(ctx, streamID); err != nil {
			return AppendResult{}, err
		}
	}
	refresh := func() error {
		cached = false
		hd, err = s.head(ctx, streamID)
		return err
	}
	for attempt := 1; ; attempt++ {
		if expected.kind == expectAny || expected.kind == expectExists {
			if res, ok := hd.replays(streamID, batch); ok {
				if !cached {
					return res, nil
				}
				if err := refresh(); err != nil {
					return AppendResult{}, err
				}
				continue
			}
		}
		if !expected.admits(hd.version) {
			if !cached {
				return s.conflict(ctx, streamID, expected, hd, batch)
			}
			if err := refresh(); err != nil {
				return AppendResult{}, err
			}
			continue
		}
		out, err := s.log.AppendKey(ctx, shardlog.AppendKeyInput{
			StreamName:             s.stream,
			PartitionKey:           streamID,
			Data:                   encodeBatch(batch, hd.version),
			ExpectedSequenceNumber: hd.seq,
		})
		if err == nil {
			n := uint64(len(batch))
			s.heads.put(streamID, head{version: hd.version + n, seq: out.Last, last: batch[n-1].h, arrival: out.ArrivalTimestamp})
			return AppendResult{
				StreamID:     streamID,
				FirstVersion: hd.version + 1,
				LastVersion:  hd.version + n,
				First:        Position{out.ShardID, out.First},
				Last:         Position{out.ShardID, out.Last},
				RecordedAt:   out.ArrivalTimestamp,
			}, nil
		}
		var ce *shardlog.ConflictError
		if !errors.As(err, &ce) {
			s.heads.drop(streamID)
			return AppendResult{}, fmt.Errorf("eventstore: append to %q: %w", streamID, renameDataField(err))
		}
		if err := refresh(); err != nil {
			return AppendResult{}, err
		}
		if attempt >= maxAppendAttempts {
			return AppendResult{}, &WrongExpectedVersionError{StreamID: streamID, Expected: expected.withoutHint(), Actual: hd.version}
		}
	}
}

// proposed is one event of an append, encoded.
type proposed struct {
	h       header
	payload []byte
}

// prepare validates and encodes the payloads once; envelopes are encoded
// per attempt, as versions may change.
func (s *Store) prepare(events []any) ([]proposed, error) {
	batch := make([]proposed, len(events))
	seen := make(map[uuid.UUID]int, len(events))
	for i, ev := range events {
		p, ok := ev.(Proposed)
		if !ok {
			p = Proposed{Data: ev}
		}
		field := fmt.Sprintf("events[%d]", i)
		if p.Data == nil {
			return nil, &shardlog.ArgumentError{Field: field, Reason: "the event data is nil"}
		}
		e, err := s.reg.nameOf(p.Data)
		if err != nil {
			return nil, fmt.Errorf("eventstore: %s: %w", field, err)
		}
		payload, err := s.codec.Marshal(p.Data)
		if err != nil {
			return nil, fmt.Errorf("eventstore: %s: encode %s: %w", field, e.name, err)
		}
		if p.ID == uuid.Nil {
			if p.ID, err = uuid.NewV7(); err != nil {
				return nil, fmt.Errorf("eventstore: %s: new ID: %w", field, err)
			}
		}
		if j, dup := seen[p.ID]; dup {
			return nil, &shardlog.ArgumentError{Field: field, Reason: fmt.Sprintf("event ID %s is also the ID of events[%d]", p.ID, j)}
		}
		seen[p.ID] = i
		batch[i] = proposed{
			h:       header{id: p.ID, schemaVersion: e.schemaVersion, typ: e.name, codec: s.codecID, meta: p.Metadata},
			payload: payload,
		}
	}
	if n := len(batch); n > 1 {
		batch[n-1].h.batchCount = uint64(n)
		batch[n-1].h.batchFirst = batch[0].h.id
	}
	return batch, nil
}

// encodeBatch returns the records of batch as versions after current.
func encodeBatch(batch []proposed, current uint64) [][]byte {
	size := 0
	for i := range batch {
		size += 64 + len(batch[i].h.typ) + len(batch[i].payload)
	}
	buf := make([]byte, 0, size)
	out := make([][]byte, len(batch))
	for i := range batch {
		batch[i].h.version = current + uint64(i) + 1
		start := len(buf)
		buf = appendEnvelope(buf, &batch[i].h, batch[i].payload)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

// conflict handles a stream that is not at the expected version: a retry
// of events stored already (Exact or NoStream) returns their original
// result; anything else is a *WrongExpectedVersionError.
func (s *Store) conflict(ctx context.Context, streamID string, expected ExpectedVersion, hd head, batch []proposed) (AppendResult, error) {
	wrong := &WrongExpectedVersionError{StreamID: streamID, Expected: expected.withoutHint(), Actual: hd.version}
	n, exact := expected.Version()
	k := uint64(len(batch))
	if !exact || hd.version < n+k {
		return AppendResult{}, wrong
	}
	if hd.version == n+k {
		if res, ok := hd.replays(streamID, batch); ok {
			return res, nil
		}
	}
	// Read versions n+1..n+k and compare IDs. This reads the stream from
	// its start, or from where the caller read version n (At): the cost of
	// a conflict, not of an append.
	var res AppendResult
	i := uint64(0)
	for ev, err := range s.readRaw(ctx, streamID, expected.at) {
		if err != nil {
			return AppendResult{}, err
		}
		if ev.Version <= n {
			continue
		}
		if ev.ID != batch[i].h.id {
			return AppendResult{}, wrong
		}
		if i == 0 {
			res = AppendResult{StreamID: streamID, FirstVersion: ev.Version, First: ev.Position, RecordedAt: ev.RecordedAt, Deduplicated: true}
		}
		if i++; i == k {
			res.LastVersion, res.Last = ev.Version, ev.Position
			return res, nil
		}
	}
	return AppendResult{}, wrong
}

// validateStreamID checks a stream ID against the partition-key rules.
func validateStreamID(id string) error {
	if n := utf8.RuneCountInString(id); n < 1 || n > shardlog.MaxPartitionKeyLength {
		return &shardlog.ArgumentError{Field: "streamID", Reason: fmt.Sprintf("length %d is outside 1-%d characters (it is the partition key)", n, shardlog.MaxPartitionKeyLength)}
	}
	return nil
}

// renameDataField turns the log's field names for AppendKey's Data ("Data"
// for the batch, "Data.i.Data" for record i) into Append's ("events",
// "events[i]").
func renameDataField(err error) error {
	var ae *shardlog.ArgumentError
	if !errors.As(err, &ae) || !strings.HasPrefix(ae.Field, "Data") {
		return err
	}
	field := "events"
	if rest, ok := strings.CutPrefix(ae.Field, "Data."); ok {
		i, _, _ := strings.Cut(rest, ".")
		field = "events[" + i + "]"
	}
	return &shardlog.ArgumentError{Field: field, Reason: ae.Reason, Err: ae.Err}
}
