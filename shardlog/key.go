package shardlog

import (
	"context"
	"errors"
	"iter"
	"time"
)

// AppendKeyInput is the input of AppendKey.
type AppendKeyInput struct {
	StreamName   string
	PartitionKey string
	// Data holds 1-500 records, each within the stream's max record size,
	// together within the PutRecords request size.
	Data [][]byte
	// ExpectedSequenceNumber is the key's latest sequence number the caller
	// last saw; the zero value means "the key has no records".
	ExpectedSequenceNumber SequenceNumber
	// Unconditional skips the check: the batch is still appended
	// atomically and contiguously.
	Unconditional bool
}

// AppendKeyOutput is the result of AppendKey. The records have consecutive
// positions: record i has sequence number SequenceNumber(i).
type AppendKeyOutput struct {
	ShardID          string
	First, Last      SequenceNumber
	ArrivalTimestamp time.Time
}

// SequenceNumber returns the sequence number of the i-th appended record.
func (o AppendKeyOutput) SequenceNumber(i int) SequenceNumber { return nth(o.First, i) }

// AppendKey appends a batch of records for one partition key atomically
// (all or none, contiguous, in one shard) if the key's latest sequence
// number is ExpectedSequenceNumber. It is Shoal's conditional put, the basis
// of optimistic concurrency: the check and the append happen under the
// shard's single sequencer, and a key whose history sits in parent shards
// after a reshard is checked against that history. A record past retention
// does not count: the key's latest sequence number is that of its latest
// record still readable by ReadKey. A failed check returns a *ConflictError
// (errors.Is(err, ErrKeyConflict)) carrying the actual latest number.
//
// Records are routed by the MD5 of the partition key; ReadKey finds them.
func (l *Log) AppendKey(ctx context.Context, in AppendKeyInput) (*AppendKeyOutput, error) {
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return nil, err
	}
	if n := len(in.Data); n < 1 || n > MaxPutRecordsEntries {
		return nil, invalid("Data", "%d records is outside 1-%d", n, MaxPutRecordsEntries)
	}
	if err := validatePartitionKey("PartitionKey", in.PartitionKey); err != nil {
		return nil, err // the input's one key, not a record's
	}
	hk, total, limit := HashKey{}, 0, s.maxRecordSize()
	entries := make([]Entry, len(in.Data))
	for i, d := range in.Data {
		if hk, err = entryHashKey("Data", i, in.PartitionKey, "", len(d), limit); err != nil {
			return nil, err
		}
		total += len(d) + len(in.PartitionKey)
		entries[i] = Entry{PartitionKey: in.PartitionKey, Data: d}
	}
	if total > MaxPutRecordsRequestSize {
		return nil, invalid("Data", "batch size %d bytes (data plus partition keys) exceeds the limit of %d bytes", total, MaxPutRecordsRequestSize)
	}
	for attempt := range maxRerouteAttempts {
		s.mu.RLock()
		if err := s.writableLocked(); err != nil {
			s.mu.RUnlock()
			return nil, err
		}
		sm := s.route(hk)
		ref := sm.Ref(&s.meta)
		ancestors := s.ancestors(sm, hk)
		horizon := l.horizonOf(s)
		th := s.throttle(sm.ID)
		s.writers.Add(1)
		s.mu.RUnlock()
		first, arrival, err := l.appendKeyTo(ctx, ref, ancestors, horizon, th, total, entries, in)
		s.writers.Done()
		if l.retryable(err) {
			if s, err = l.afterStale(ctx, s, attempt); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			var ce *ConflictError
			if errors.As(err, &ce) || errors.Is(err, ErrProvisionedThroughputExceeded) {
				return nil, err
			}
			return nil, engineError(err, "append key to %s/%s", s.name, ref.ID)
		}
		return &AppendKeyOutput{ShardID: ref.ID, First: first, Last: nth(first, len(entries)-1), ArrivalTimestamp: arrival}, nil
	}
	return nil, errReroute(s.name)
}

// appendKeyTo runs one attempt of AppendKey against the routed shard.
func (l *Log) appendKeyTo(ctx context.Context, ref ShardRef, ancestors []ShardRef, horizon time.Time, th *shardThrottle, total int, entries []Entry, in AppendKeyInput) (SequenceNumber, time.Time, error) {
	if th != nil && !th.takeWrite(l.now(), len(entries), total) {
		return SequenceNumber{}, time.Time{}, throughputExceeded(ref.Stream, ref.ID)
	}
	var cond *Condition
	if !in.Unconditional {
		inherited, err := l.inherited(ctx, ancestors, in.PartitionKey, horizon)
		if err != nil {
			return SequenceNumber{}, time.Time{}, err
		}
		cond = &Condition{PartitionKey: in.PartitionKey, Expected: in.ExpectedSequenceNumber, Inherited: inherited, Horizon: horizon}
	}
	return l.engine.Append(ctx, ref, l.now(), entries, cond)
}

// inherited returns the key's latest retained sequence number in the
// ancestor shards (nearest first), which are closed and so immutable.
func (l *Log) inherited(ctx context.Context, ancestors []ShardRef, key string, horizon time.Time) (SequenceNumber, error) {
	r, _, err := l.lastKeyIn(ctx, ancestors, key, horizon)
	return r.SequenceNumber, err
}

// lastKeyIn returns the key's latest record in the first shard of chain
// that has one, unless that record is past the horizon.
func (l *Log) lastKeyIn(ctx context.Context, chain []ShardRef, key string, horizon time.Time) (Record, bool, error) {
	for _, ref := range chain {
		r, ok, err := l.engine.LastKey(ctx, ref, key)
		if err != nil {
			return Record{}, false, engineError(err, "key lookup in %s/%s", ref.Stream, ref.ID)
		}
		if ok {
			if r.ApproximateArrivalTimestamp.Before(horizon) {
				return Record{}, false, nil
			}
			return r, true, nil
		}
	}
	return Record{}, false, nil
}

// ancestors returns the chain of shards that owned hash key h before sm,
// nearest first. Caller holds s.mu.
func (s *stream) ancestors(sm *ShardMeta, h HashKey) []ShardRef {
	var out []ShardRef
	for cur := sm; ; {
		var next *ShardMeta
		for _, id := range []string{cur.ParentShardID, cur.AdjacentParentShardID} {
			if id == "" {
				continue
			}
			if p, err := s.shard(id); err == nil && p.HashKeyRange.Contains(h) {
				next = p
				break
			}
		}
		if next == nil {
			return out
		}
		out = append(out, next.Ref(&s.meta))
		cur = next
	}
}

// LastKeyInput is the input of LastKey.
type LastKeyInput struct {
	StreamName   string
	PartitionKey string
}

// LastKeyOutput is the result of LastKey.
type LastKeyOutput struct {
	// Record is the key's latest retained record; the zero Record if
	// Found is false. Its SequenceNumber (zero when none) is the one
	// AppendKey compares ExpectedSequenceNumber with.
	Record Record
	Found  bool
}

// LastKey returns the key's latest retained record across reshards.
func (l *Log) LastKey(ctx context.Context, in LastKeyInput) (*LastKeyOutput, error) {
	streamName, partitionKey := in.StreamName, in.PartitionKey
	s, err := l.stream(ctx, streamName)
	if err != nil {
		return nil, err
	}
	if err := validatePartitionKey("PartitionKey", partitionKey); err != nil {
		return nil, err
	}
	hk := HashPartitionKey(partitionKey)
	for attempt := 0; ; attempt++ {
		s.mu.RLock()
		sm := s.route(hk)
		chain := append([]ShardRef{sm.Ref(&s.meta)}, s.ancestors(sm, hk)...)
		horizon := l.horizonOf(s)
		s.mu.RUnlock()
		if l.shared != nil && attempt < maxRerouteAttempts {
			// The open shard may have been resharded by another Log.
			r, found, sealed, err := l.shared.LastKeySealed(ctx, chain[0], partitionKey)
			if err != nil {
				return nil, engineError(err, "key lookup in %s/%s", s.name, chain[0].ID)
			}
			if sealed {
				if s, err = l.reload(ctx, s, attempt); err != nil {
					return nil, err
				}
				continue
			}
			if found {
				if r.ApproximateArrivalTimestamp.Before(horizon) {
					return &LastKeyOutput{}, nil
				}
				return &LastKeyOutput{Record: r, Found: true}, nil
			}
			chain = chain[1:]
		}
		r, found, err := l.lastKeyIn(ctx, chain, partitionKey, horizon)
		if err != nil {
			return nil, err
		}
		return &LastKeyOutput{Record: r, Found: found}, nil
	}
}

// keyPage is how many records ReadKey asks an engine for at a time.
const keyPage = 1000

// ReadKeyInput is the input of ReadKey.
type ReadKeyInput struct {
	StreamName   string
	PartitionKey string
	// After reads the records after this sequence number; zero reads all.
	After SequenceNumber
}

// ReadKey returns the records of one partition key with sequence numbers
// greater than After, in order, across reshards: the oldest
// ancestor shard's first, the open shard's last. Records past retention are
// skipped. Its cost is proportional to the key's records. It searches the
// shards that owned the key's own MD5 hash key: a record put with an
// ExplicitHashKey is found only if it landed on that lineage.
func (l *Log) ReadKey(ctx context.Context, in ReadKeyInput) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		streamName, partitionKey, after := in.StreamName, in.PartitionKey, in.After
		s, err := l.stream(ctx, streamName)
		if err == nil {
			err = validatePartitionKey("PartitionKey", partitionKey)
		}
		if err != nil {
			yield(Record{}, err)
			return
		}
		hk := HashPartitionKey(partitionKey)
		s.mu.RLock()
		sm := s.route(hk)
		chain := s.ancestors(sm, hk)
		chain = append(chain, sm.Ref(&s.meta))
		// oldest first
		for i, j := 0, len(chain)-2; i < j; i, j = i+1, j-1 {
			chain[i], chain[j] = chain[j], chain[i]
		}
		horizon := l.horizonOf(s)
		s.mu.RUnlock()

		drained := "" // the last shard re-read after it was seen closed
		for i := 0; i < len(chain); i++ {
			ref := chain[i]
			sealed := false
			for {
				recs, sl, err := l.readKeyPage(ctx, ref, partitionKey, after, i == len(chain)-1)
				sealed = sl
				if err != nil {
					yield(Record{}, engineError(err, "read key in %s/%s", s.name, ref.ID))
					return
				}
				for _, r := range recs {
					after = r.SequenceNumber
					if r.ApproximateArrivalTimestamp.Before(horizon) {
						continue
					}
					if !yield(r, nil) {
						return
					}
				}
				if len(recs) < keyPage {
					break
				}
			}
			if i == len(chain)-1 {
				if sealed && !s.closed(ref.ID) {
					// Another Log resharded it: learn of the children.
					ns, err := l.refresh(ctx, s.name)
					if err != nil {
						yield(Record{}, err)
						return
					}
					if ns != s {
						return // the stream was deleted meanwhile
					}
				}
				// The open shard may have been split since: follow the key.
				s.mu.RLock()
				if cur, err := s.shard(ref.ID); err == nil && cur.Closed {
					if drained != ref.ID {
						// Records may have landed after the read above and
						// before the seal: read the shard, now immutable,
						// once more before following the key to a child.
						drained = ref.ID
						s.mu.RUnlock()
						i--
						continue
					}
					for _, c := range s.children(ref.ID) {
						if c.HashKeyRange.Contains(hk) {
							if cm, err := s.shard(c.ShardID); err == nil {
								chain = append(chain, cm.Ref(&s.meta))
							}
							break
						}
					}
				}
				s.mu.RUnlock()
			}
		}
	}
}

// readKeyPage reads one page of a key's records in shard ref. On a shared
// engine the last shard of a key's chain is read with its seal state
// (ReadKeySealed), so a reshard by another Log is not missed.
func (l *Log) readKeyPage(ctx context.Context, ref ShardRef, key string, after SequenceNumber, last bool) ([]Record, bool, error) {
	if l.shared != nil && last {
		return l.shared.ReadKeySealed(ctx, ref, key, after, keyPage)
	}
	recs, err := l.engine.ReadKey(ctx, ref, key, after, keyPage)
	return recs, false, err
}

// closed reports whether the stream's metadata calls shard id closed.
func (s *stream) closed(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sm, err := s.shard(id)
	return err == nil && sm.Closed
}
