package shardlog

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// RetentionHolder is told nothing and asked one thing: how far a shard's
// records are durably kept elsewhere (an archive). While a holder is
// registered for a stream (Log.HoldRetention), the Log keeps, and keeps
// readable, every record of the stream not yet archived, even past the
// retention period, as Kafka's tiered storage keeps a segment until it is
// uploaded.
type RetentionHolder interface {
	// ArchivedThrough returns the sequence number of the last record of
	// the shard that is durably archived (zero: none).
	ArchivedThrough(ctx context.Context, stream, shardID string) (SequenceNumber, error)
}

// HoldStatus describes a stream's retention hold (Log.RetentionHold).
type HoldStatus struct {
	// Held is true while the hold keeps records past the retention
	// period: some record that expired by age is not archived yet.
	Held bool
	// Oldest is the arrival time from which records are kept: that of the
	// oldest record not archived by every holder when the hold was last
	// computed. Set only when Held.
	Oldest time.Time
	// Shard is the shard that holds the Oldest record. Set only when Held.
	Shard string
	// Behind is how long before the retention horizon Oldest lies: how far
	// the slowest holder's archive lags behind retention.
	Behind time.Duration
}

// retentionHold is the holders of one stream (by name) and the hold they
// last computed.
type retentionHold struct {
	computeMu sync.Mutex // serializes computations, so a stale one never overwrites a newer one

	mu      sync.Mutex // guards the fields below
	holders map[uint64]RetentionHolder
	next    uint64
	// The cached hold: records that arrived at or after at are kept, in
	// the stream whose metadata ID is streamID.
	valid    bool
	streamID uint64
	at       time.Time
	shard    string
}

// HoldRetention registers h for stream until release is called. While at
// least one holder is registered, a record of the stream that some holder
// has not archived yet (its sequence number is greater than that holder's
// ArchivedThrough for its shard) is neither trimmed nor hidden from reads:
// the stream's effective horizon becomes the earlier of the retention
// horizon and the arrival time of the oldest record not yet archived, over
// all shards and holders. A closed shard whose records all expired is
// dropped only once every holder archived it through its last record.
//
// The hold is computed now (if the stream exists), and again on every
// EnforceRetention (the background janitor); reads use the last computed
// value, so with the janitor off, call EnforceRetention to let the hold
// follow the archive. The effective horizon never moves back: a holder
// registered late keeps what is still readable when it registers, and
// cannot revive expired records. Holders are asked with a background
// context here and with EnforceRetention's context there; a holder that
// fails keeps the previous hold in place (nothing more is trimmed), and
// EnforceRetention returns its error.
//
// Several holders may hold one stream; the stream may not exist yet. The
// hold is by name: it applies to a stream re-created under that name.
// release is idempotent; once the last holder is released the stream's
// records expire by retention again. RetentionHold reports the hold.
func (l *Log) HoldRetention(stream string, h RetentionHolder) (release func()) {
	l.holdMu.Lock()
	rh := l.holds[stream]
	if rh == nil {
		rh = &retentionHold{holders: map[uint64]RetentionHolder{}}
		l.holds[stream] = rh
	}
	rh.mu.Lock()
	rh.next++
	id := rh.next
	rh.holders[id] = h
	rh.mu.Unlock()
	l.holdMu.Unlock()

	if s, err := l.stream(context.Background(), stream); err == nil {
		if _, err := l.computeHold(context.Background(), s, rh); err != nil {
			l.logger.Warn("shardlog: retention hold", "stream", stream, "err", err)
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.holdMu.Lock()
			defer l.holdMu.Unlock()
			rh.mu.Lock()
			defer rh.mu.Unlock()
			delete(rh.holders, id)
			if len(rh.holders) == 0 {
				rh.valid = false
				if l.holds[stream] == rh {
					delete(l.holds, stream)
				}
			}
		})
	}
}

// RetentionHold reports whether the stream's retention hold (HoldRetention)
// keeps records past the retention period now, as last computed.
func (l *Log) RetentionHold(stream string) (HoldStatus, error) {
	s, err := l.stream(context.Background(), stream)
	if err != nil {
		return HoldStatus{}, err
	}
	s.mu.RLock()
	horizon := l.horizon(&s.meta)
	id := s.meta.ID
	s.mu.RUnlock()
	rh := l.hold(stream)
	if rh == nil {
		return HoldStatus{}, nil
	}
	rh.mu.Lock()
	defer rh.mu.Unlock()
	if !rh.activeLocked(id) || !rh.at.Before(horizon) {
		return HoldStatus{}, nil
	}
	return HoldStatus{Held: true, Oldest: rh.at, Shard: rh.shard, Behind: horizon.Sub(rh.at)}, nil
}

// hold returns the stream's holders, or nil.
func (l *Log) hold(stream string) *retentionHold {
	l.holdMu.RLock()
	defer l.holdMu.RUnlock()
	return l.holds[stream]
}

// activeLocked reports whether the cached hold applies to the stream with
// metadata ID id. Caller holds rh.mu.
func (rh *retentionHold) activeLocked(id uint64) bool {
	return len(rh.holders) > 0 && rh.valid && rh.streamID == id
}

// horizonOf returns the oldest arrival time still readable in s: the
// retention horizon, held back by a retention hold. Caller holds s.mu.
func (l *Log) horizonOf(s *stream) time.Time {
	return l.heldHorizon(s.name, s.meta.ID, l.horizon(&s.meta))
}

// heldHorizon returns the earlier of horizon and the stream's cached hold.
func (l *Log) heldHorizon(name string, id uint64, horizon time.Time) time.Time {
	rh := l.hold(name)
	if rh == nil {
		return horizon
	}
	rh.mu.Lock()
	defer rh.mu.Unlock()
	if rh.activeLocked(id) && rh.at.Before(horizon) {
		return rh.at
	}
	return horizon
}

// holdResult is one computation of a stream's hold.
type holdResult struct {
	held     bool                      // the stream has holders
	archived map[string]SequenceNumber // per shard: archived by every holder through
	// oldest is no later than the arrival of any record not archived
	// (before the hold was clamped to what is readable): a trim before
	// it removes only archived records.
	oldest time.Time
}

// computeHold asks the holders of s how far each shard is archived, finds
// the oldest record not archived, and caches its arrival time as the
// stream's hold, never earlier than what is readable now. On error the
// previous hold stays (or, if there was none, the current horizon is
// pinned).
func (l *Log) computeHold(ctx context.Context, s *stream, rh *retentionHold) (holdResult, error) {
	rh.computeMu.Lock()
	defer rh.computeMu.Unlock()
	rh.mu.Lock()
	holders := make([]RetentionHolder, 0, len(rh.holders))
	for _, h := range rh.holders {
		holders = append(holders, h)
	}
	rh.mu.Unlock()
	if len(holders) == 0 {
		return holdResult{}, nil
	}

	s.mu.RLock()
	if s.deleted {
		s.mu.RUnlock()
		return holdResult{}, nil
	}
	id := s.meta.ID
	type shardInfo struct {
		ref    ShardRef
		closed bool
	}
	shards := make([]shardInfo, len(s.meta.Shards))
	for i := range s.meta.Shards {
		shards[i] = shardInfo{s.meta.Shards[i].Ref(&s.meta), s.meta.Shards[i].Closed}
	}
	s.mu.RUnlock()

	now := l.now()
	// Records appended from now on are not archived: the hold is at most now.
	at, atShard := now, ""
	res := holdResult{held: true, archived: make(map[string]SequenceNumber, len(shards))}
	err := func() error {
		for _, sh := range shards {
			var through SequenceNumber
			for i, h := range holders {
				t, err := h.ArchivedThrough(ctx, s.name, sh.ref.ID)
				if err != nil {
					return fmt.Errorf("shardlog: retention holder of %s/%s: %w", s.name, sh.ref.ID, err)
				}
				if !t.IsZero() && t.ShardIndex() != sh.ref.Index {
					return fmt.Errorf("shardlog: retention holder of %s/%s: archived through %s, a sequence number of another shard", s.name, sh.ref.ID, t)
				}
				if i == 0 || t.Compare(through) < 0 {
					through = t
				}
			}
			res.archived[sh.ref.ID] = through
			from := through.Next()
			if through.IsZero() {
				from = MakeSequenceNumber(0, sh.ref.Index)
			}
			recs, err := l.engine.Read(ctx, sh.ref, from, 1, 1)
			if err != nil {
				return engineError(err, "read %s/%s", s.name, sh.ref.ID)
			}
			if len(recs) > 0 && recs[0].ApproximateArrivalTimestamp.Before(at) {
				at, atShard = recs[0].ApproximateArrivalTimestamp, sh.ref.ID
			}
		}
		return nil
	}()

	s.mu.RLock()
	horizon := l.horizon(&s.meta)
	s.mu.RUnlock()
	rh.mu.Lock()
	defer rh.mu.Unlock()
	// What is readable now stays readable: the hold never moves back
	// past the effective horizon.
	floor := horizon
	if rh.valid && rh.streamID == id && rh.at.Before(floor) {
		floor = rh.at
	}
	if err != nil {
		if !rh.valid || rh.streamID != id {
			rh.valid, rh.streamID, rh.at, rh.shard = true, id, floor, ""
		}
		return holdResult{}, err
	}
	res.oldest = at
	if at.Before(floor) {
		at = floor
	}
	rh.valid, rh.streamID, rh.at, rh.shard = true, id, at, atShard
	return res, nil
}

// noteTrim records what a trim of shard sm at horizon removed, for
// readers' gap checks: under a hold whose oldest unarchived record is not
// before horizon, only records the holders archived (through
// hold.archived[sm.ID]) were removed. first is the shard's first record
// before the trim (zero if none). Caller holds s.mu for writing.
func (s *stream) noteTrim(id string, horizon time.Time, hold holdResult, holdOK bool, first SequenceNumber) {
	through, ok := hold.archived[id]
	if !hold.held || !holdOK || !ok || horizon.After(hold.oldest) {
		delete(s.trimmedThrough, id) // this trim may have removed anything before horizon
		return
	}
	prev, known := s.trimmedThrough[id]
	switch {
	case known:
		// Earlier trims removed nothing after prev; this one nothing after through.
		if prev.Compare(through) > 0 {
			through = prev
		}
	case first.IsZero() || through.Compare(first) < 0:
		// Trims before this Log's knowledge removed what lies before
		// first; through does not reach it, so they may have removed
		// records after through.
		return
	}
	s.trimmedThrough[id] = through
}

// expiredBetween reports whether records with sequence numbers in
// [from, kept) may have expired: kept is the first readable record at or
// after from, and first is the engine's first record (it removed every
// record before it). known and through are the shard's trimmedThrough.
func (l *Log) expiredBetween(ctx context.Context, ref ShardRef, from, kept, first SequenceNumber, through SequenceNumber, known bool) (bool, error) {
	if from.Compare(first) < 0 && !(known && from.Compare(through) > 0) {
		return true, nil // trimmed records may have been there
	}
	// Records the engine holds but the horizon hides lie in [from, kept)
	// if the engine's first record at or after from is before kept.
	at := from
	if at.Compare(first) < 0 {
		at = first
	}
	if at.Compare(kept) >= 0 {
		return false, nil
	}
	recs, err := l.engine.Read(ctx, ref, at, 1, 1)
	if err != nil {
		return false, engineError(err, "read %s/%s", ref.Stream, ref.ID)
	}
	return len(recs) > 0 && recs[0].SequenceNumber.Compare(kept) < 0, nil
}
