package shardlog

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// PutRecordInput is the input of PutRecord.
type PutRecordInput struct {
	StreamName   string
	PartitionKey string // 1-256 Unicode characters
	Data         []byte // len(Data)+len(PartitionKey) ≤ the stream's max record size
	// ExplicitHashKey, if set, is a decimal hash key in [0, 2^128-1] that
	// routes the record instead of the partition key's MD5.
	ExplicitHashKey string
	// SequenceNumberForOrdering, if not zero, makes the record's sequence
	// number greater than it. Set it to the number of the previous record
	// of the same key to order a client's writes strictly.
	SequenceNumberForOrdering SequenceNumber
}

// PutRecordOutput is the result of PutRecord.
type PutRecordOutput struct {
	ShardID        string
	SequenceNumber SequenceNumber
}

// PutRecord appends one record to the shard that owns its hash key.
func (l *Log) PutRecord(ctx context.Context, in PutRecordInput) (*PutRecordOutput, error) {
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return nil, err
	}
	hk, err := entryHashKey("", -1, in.PartitionKey, in.ExplicitHashKey, len(in.Data), s.maxRecordSize())
	if err != nil {
		return nil, err
	}
	entries := []Entry{{PartitionKey: in.PartitionKey, Data: in.Data}}
	for attempt := range maxRerouteAttempts {
		s.mu.RLock()
		if err := s.writableLocked(); err != nil {
			s.mu.RUnlock()
			return nil, err
		}
		sm := s.route(hk)
		ref := sm.Ref(&s.meta)
		ref.Floor = max(ref.Floor, in.SequenceNumberForOrdering.pos)
		th := s.throttle(sm.ID)
		s.writers.Add(1)
		s.mu.RUnlock()
		if th != nil && !th.takeWrite(l.now(), 1, len(in.Data)+len(in.PartitionKey)) {
			s.writers.Done()
			return nil, throughputExceeded(s.name, ref.ID)
		}
		first, _, err := l.engine.Append(ctx, ref, l.now(), entries, nil)
		s.writers.Done()
		if l.retryable(err) {
			// Resharded under us: route again, on fresh metadata.
			if s, err = l.afterStale(ctx, s, attempt); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, engineError(err, "put to %s/%s", s.name, ref.ID)
		}
		return &PutRecordOutput{ShardID: ref.ID, SequenceNumber: first}, nil
	}
	return nil, errReroute(s.name)
}

// maxRerouteAttempts bounds how often an append is re-routed because a
// reshard sealed its shard; each reshard takes the stream lock, so a second
// attempt normally succeeds.
const maxRerouteAttempts = 100

func errReroute(stream string) error {
	return inUse("stream %s is resharding faster than puts can be routed", stream)
}

func throughputExceeded(stream, shard string) error {
	return fmt.Errorf("%w: rate exceeded for shard %s in stream %s", ErrProvisionedThroughputExceeded, shard, stream)
}

// maxRecordSize returns the stream's record size limit in bytes.
func (s *stream) maxRecordSize() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta.MaxRecordSizeKiB << 10
}

// entryHashKey validates one record against limit and returns its hash
// key. list and i name the entry in error fields ("Records.3.Data"); i < 0
// means a single record. Field names are built only on error: this runs
// once per record on the put path.
func entryHashKey(list string, i int, key, explicit string, dataLen, limit int) (HashKey, error) {
	if !validPartitionKey(key) {
		return HashKey{}, validatePartitionKey(entryField(list, i, "PartitionKey"), key)
	}
	if size := dataLen + len(key); size > limit {
		return HashKey{}, invalid(entryField(list, i, "Data"), "record size %d bytes (data plus partition key) exceeds the limit of %d bytes", size, limit)
	}
	if explicit == "" {
		return HashPartitionKey(key), nil
	}
	hk, err := ParseHashKey(explicit)
	if err != nil {
		return HashKey{}, invalid(entryField(list, i, "ExplicitHashKey"), "%q is not a decimal integer in [0, 2^128-1]", truncate(explicit, 64))
	}
	return hk, nil
}

func entryField(list string, i int, field string) string {
	if i < 0 {
		return field
	}
	return fmt.Sprintf("%s.%d.%s", list, i, field)
}

// PutRecordsInput is the input of PutRecords.
type PutRecordsInput struct {
	StreamName string
	Records    []PutRecordsEntry // 1-MaxPutRecordsEntries
}

// PutRecordsEntry is one record of a PutRecords request.
type PutRecordsEntry struct {
	PartitionKey    string
	Data            []byte
	ExplicitHashKey string
}

// PutRecordsResultEntry is the outcome of one entry: a shard and sequence
// number, or an error code and message.
type PutRecordsResultEntry struct {
	ShardID        string
	SequenceNumber SequenceNumber
	// ErrorCode is "ProvisionedThroughputExceededException" or
	// "InternalFailure" when the entry failed; ErrorMessage says why and Err
	// is the error (errors.Is works on it).
	ErrorCode    string
	ErrorMessage string
	Err          error
}

// PutRecordsOutput is the result of PutRecords: one entry per request
// entry, in request order.
type PutRecordsOutput struct {
	FailedRecordCount int
	Records           []PutRecordsResultEntry
}

// Error codes of failed PutRecords entries.
const (
	ErrorCodeThroughputExceeded = "ProvisionedThroughputExceededException"
	ErrorCodeInternalFailure    = "InternalFailure"
)

// PutRecords appends 1-500 records in one call. A bad entry fails the whole
// request with an *ArgumentError naming it; otherwise entries succeed or
// fail one by one (throttling, engine errors), the rest still commit, and
// the result lists them in request order. Entries routed to one shard are
// appended as one batch, in request order; different shards are written in
// parallel, so PutRecords does not order records across shards.
func (l *Log) PutRecords(ctx context.Context, in PutRecordsInput) (*PutRecordsOutput, error) {
	entries := in.Records
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return nil, err
	}
	if n := len(entries); n < 1 || n > MaxPutRecordsEntries {
		return nil, invalid("Records", "%d entries is outside 1-%d", n, MaxPutRecordsEntries)
	}
	limit := s.maxRecordSize()
	requestLimit := MaxPutRecordsRequestSize
	if limit > DefaultMaxRecordSizeKiB<<10 {
		requestLimit = MaxGetRecordsBytes // large-record streams take 10 MiB requests
	}
	hashes := make([]HashKey, len(entries))
	total := 0
	for i, e := range entries {
		total += len(e.Data) + len(e.PartitionKey)
		hk, err := entryHashKey("Records", i, e.PartitionKey, e.ExplicitHashKey, len(e.Data), limit)
		if err != nil {
			return nil, err
		}
		hashes[i] = hk
	}
	if total > requestLimit {
		return nil, invalid("Records", "request size %d bytes (data plus partition keys) exceeds the limit of %d bytes", total, requestLimit)
	}

	out := &PutRecordsOutput{Records: make([]PutRecordsResultEntry, len(entries))}
	pending := make([]int, len(entries))
	for i := range pending {
		pending[i] = i
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == maxRerouteAttempts {
			for _, i := range pending {
				out.fail(i, ErrorCodeInternalFailure, errReroute(s.name))
			}
			break
		}
		var groups []*shardGroup
		if attempt > 0 {
			// Some groups found their shard sealed: reroute them on
			// fresh metadata.
			s, err = l.afterStale(ctx, s, attempt-1)
		}
		if err == nil {
			groups, err = l.groupByShard(s, entries, hashes, pending, out)
		}
		if err != nil {
			if attempt == 0 {
				return nil, err
			}
			// Other entries are committed: report them, and fail only
			// those left to reroute.
			for _, i := range pending {
				out.fail(i, ErrorCodeInternalFailure, err)
			}
			break
		}
		defer s.writers.Done()
		pending = pending[:0]
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, g := range groups {
			run := func() {
				sealed := l.appendGroup(ctx, g, entries, out)
				if sealed {
					mu.Lock()
					pending = append(pending, g.idx...)
					mu.Unlock()
				}
			}
			if len(groups) == 1 {
				run()
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); run() }()
		}
		wg.Wait()
		// Groups refused by a sealed shard come back in completion order:
		// restore request order before they are routed again.
		slices.Sort(pending)
	}
	for i := range out.Records {
		if out.Records[i].ErrorCode != "" {
			out.FailedRecordCount++
		}
	}
	return out, nil
}

type shardGroup struct {
	ref ShardRef
	idx []int // entry indexes, in request order
}

// groupByShard routes pending entries, charging throttles; throttled entries
// are marked failed in out and left out of the groups.
func (l *Log) groupByShard(s *stream, entries []PutRecordsEntry, hashes []HashKey, pending []int, out *PutRecordsOutput) ([]*shardGroup, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.writableLocked(); err != nil {
		return nil, err
	}
	s.writers.Add(1) // released by PutRecords once its groups are appended
	now := l.now()
	byShard := map[string]*shardGroup{}
	var groups []*shardGroup
	for _, i := range pending {
		sm := s.route(hashes[i])
		if th := s.throttle(sm.ID); th != nil && !th.takeWrite(now, 1, len(entries[i].Data)+len(entries[i].PartitionKey)) {
			out.fail(i, ErrorCodeThroughputExceeded, throughputExceeded(s.name, sm.ID))
			continue
		}
		g := byShard[sm.ID]
		if g == nil {
			g = &shardGroup{ref: sm.Ref(&s.meta)}
			byShard[sm.ID] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
	}
	return groups, nil
}

// appendGroup appends one shard's entries as a batch and records the
// outcome; it reports true if the shard was sealed and the entries must be
// routed again.
func (l *Log) appendGroup(ctx context.Context, g *shardGroup, entries []PutRecordsEntry, out *PutRecordsOutput) (sealed bool) {
	batch := make([]Entry, len(g.idx))
	for j, i := range g.idx {
		batch[j] = Entry{PartitionKey: entries[i].PartitionKey, Data: entries[i].Data}
	}
	first, _, err := l.engine.Append(ctx, g.ref, l.now(), batch, nil)
	if l.retryable(err) {
		return true
	}
	for j, i := range g.idx {
		if err != nil {
			out.fail(i, ErrorCodeInternalFailure, engineError(err, "put to %s", g.ref.ID))
			continue
		}
		out.Records[i] = PutRecordsResultEntry{ShardID: g.ref.ID, SequenceNumber: nth(first, j)}
	}
	return false
}

func (o *PutRecordsOutput) fail(i int, code string, err error) {
	o.Records[i] = PutRecordsResultEntry{ErrorCode: code, ErrorMessage: err.Error(), Err: err}
}
