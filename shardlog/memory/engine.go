package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// errClosed is returned by every call made after Close.
var errClosed = fmt.Errorf("memory engine: %w", shardlog.ErrClosed)

// closedChan is what Notify returns once the engine is closed, so that
// waiters never block on an engine that will not change again.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Engine is an in-memory shardlog.Engine. Its zero value is not usable; call
// New. All methods are safe for concurrent use.
type Engine struct {
	mu      sync.RWMutex
	closed  bool
	streams map[string]shardlog.StreamMeta // by stream name; deep copies
	shards  map[string]map[string]*shard   // by stream name, then shard ID
}

var _ shardlog.Engine = (*Engine)(nil)

// New returns an empty in-memory engine.
func New() *Engine {
	return &Engine{
		streams: make(map[string]shardlog.StreamMeta),
		shards:  make(map[string]map[string]*shard),
	}
}

// shard is one shard's state. Every field is guarded by mu.
//
// Records are addressed by absolute index: the n-th record ever appended to
// the shard has index n-1, whatever was trimmed since. records[0] has index
// base, and records with index below trim are dead (trimmed) but may still
// sit in the slice until the next compaction.
type shard struct {
	mu      sync.Mutex
	dropped bool // the state was removed from the engine; look it up again
	sealed  bool
	seq     *shardlog.Sequencer
	records []shardlog.Record
	base    int // absolute index of records[0]
	trim    int // absolute index of the first live record; base <= trim <= end
	last    shardlog.SequenceNumber
	keys    map[string][]int // partition key -> ascending absolute indices
	notify  chan struct{}
	watched bool // notify was handed out since it was made
}

func newShard(ref shardlog.ShardRef) *shard {
	return &shard{
		seq:    shardlog.NewSequencer(ref.Index, ref.Floor, 0, time.Time{}),
		keys:   make(map[string][]int),
		notify: make(chan struct{}),
	}
}

// end returns the absolute index one past the last record.
func (s *shard) end() int { return s.base + len(s.records) }

// at returns the record at absolute index i.
func (s *shard) at(i int) *shardlog.Record { return &s.records[i-s.base] }

// live returns the records not trimmed.
func (s *shard) live() []shardlog.Record { return s.records[s.trim-s.base:] }

// broadcast wakes every waiter of Notify and arms a fresh channel.
// A channel nobody took from Notify is kept: appends with no waiter cost
// no allocation.
func (s *shard) broadcast() {
	if !s.watched {
		return
	}
	close(s.notify)
	s.notify = make(chan struct{})
	s.watched = false
}

// drop marks the state as removed from the engine and wakes its waiters.
// The caller holds s.mu.
func (s *shard) drop() {
	if s.dropped {
		return
	}
	s.dropped = true
	close(s.notify)
	s.records, s.keys = nil, nil
}

// keyPositions returns the live absolute indices of key's records, pruning
// the trimmed ones from the index on the way.
func (s *shard) keyPositions(key string) []int {
	p := s.keys[key]
	if len(p) == 0 {
		return nil
	}
	if p[0] < s.trim {
		i := sort.SearchInts(p, s.trim)
		if i == len(p) {
			delete(s.keys, key)
			return nil
		}
		p = p[i:]
		s.keys[key] = p
	}
	return p
}

// lastKey returns key's latest live record, or nil.
func (s *shard) lastKey(key string) *shardlog.Record {
	p := s.keyPositions(key)
	if len(p) == 0 {
		return nil
	}
	return s.at(p[len(p)-1])
}

// compact drops dead records from the slice once they are more than half of
// it, and prunes the key index alongside. It costs at most twice the number
// of records trimmed since the last compaction, so amortized constant time
// per record.
func (s *shard) compact() {
	dead := s.trim - s.base
	if dead == 0 || dead <= len(s.records)/2 {
		return
	}
	s.records = slices.Clone(s.records[dead:])
	s.base = s.trim
	for k, p := range s.keys {
		i := sort.SearchInts(p, s.trim)
		switch {
		case i == len(p):
			delete(s.keys, k)
		case i > 0:
			s.keys[k] = slices.Clone(p[i:])
		}
	}
}

// lookup returns the state of ref's shard, creating it if create is set;
// otherwise it returns nil for a shard with no state.
func (e *Engine) lookup(ref shardlog.ShardRef, create bool) (*shard, error) {
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return nil, errClosed
	}
	s := e.shards[ref.Stream][ref.ID]
	e.mu.RUnlock()
	if s != nil || !create {
		return s, nil
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errClosed
	}
	byID := e.shards[ref.Stream]
	if byID == nil {
		byID = make(map[string]*shard)
		e.shards[ref.Stream] = byID
	}
	if s = byID[ref.ID]; s == nil {
		s = newShard(ref)
		byID[ref.ID] = s
	}
	return s, nil
}

// lock returns ref's shard state with its lock held, or nil (and no lock)
// if the shard has no state and create is not set. It retries when it
// catches a state that DropShard, DropStream or Close removed meanwhile.
func (e *Engine) lock(ref shardlog.ShardRef, create bool) (*shard, error) {
	for {
		s, err := e.lookup(ref, create)
		if err != nil || s == nil {
			return nil, err
		}
		s.mu.Lock()
		if !s.dropped {
			return s, nil
		}
		s.mu.Unlock()
	}
}

// cloneMeta returns a copy of m that shares no map or slice with it.
func cloneMeta(m shardlog.StreamMeta) shardlog.StreamMeta {
	m.Tags = maps.Clone(m.Tags)
	m.Shards = slices.Clone(m.Shards)
	m.Consumers = slices.Clone(m.Consumers)
	m.ScalingEvents = slices.Clone(m.ScalingEvents)
	m.ModeChanges = slices.Clone(m.ModeChanges)
	m.EnhancedMonitoring = slices.Clone(m.EnhancedMonitoring)
	return m
}

// LoadStreams returns copies of every stream's metadata, sorted by name.
func (e *Engine) LoadStreams(ctx context.Context) ([]shardlog.StreamMeta, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, errClosed
	}
	out := make([]shardlog.StreamMeta, 0, len(e.streams))
	for _, m := range e.streams {
		out = append(out, cloneMeta(m))
	}
	slices.SortFunc(out, func(a, b shardlog.StreamMeta) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// SaveStream stores a copy of meta under meta.Name, replacing any previous
// version at once.
func (e *Engine) SaveStream(ctx context.Context, meta shardlog.StreamMeta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	meta = cloneMeta(meta)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	e.streams[meta.Name] = meta
	return nil
}

// DropStream deletes the stream's metadata and the state of all its shards.
// Dropping an unknown stream is not an error.
func (e *Engine) DropStream(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return errClosed
	}
	delete(e.streams, name)
	byID := e.shards[name]
	delete(e.shards, name)
	e.mu.Unlock()

	for _, s := range byID {
		s.mu.Lock()
		s.drop()
		s.mu.Unlock()
	}
	return nil
}

// DropShard deletes the shard's records and state: it is empty and unsealed
// again if used later. Dropping a shard with no state is not an error.
func (e *Engine) DropShard(ctx context.Context, ref shardlog.ShardRef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return errClosed
	}
	s := e.shards[ref.Stream][ref.ID]
	if s != nil {
		delete(e.shards[ref.Stream], ref.ID)
		if len(e.shards[ref.Stream]) == 0 {
			delete(e.shards, ref.Stream)
		}
	}
	e.mu.Unlock()

	if s != nil {
		s.mu.Lock()
		s.drop()
		s.mu.Unlock()
	}
	return nil
}

// Append stores records at the end of the shard, as Engine.Append says. The
// data of each entry is copied, so the caller may reuse its buffers. An
// empty batch stores nothing and returns the zero sequence number, once the
// shard's seal and cond were checked. Positions are greater than both the
// shard's previous ones and ref.Floor.
func (e *Engine) Append(ctx context.Context, ref shardlog.ShardRef, now time.Time, records []shardlog.Entry, cond *shardlog.Condition) (shardlog.SequenceNumber, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return shardlog.SequenceNumber{}, time.Time{}, err
	}
	s, err := e.lock(ref, true)
	if err != nil {
		return shardlog.SequenceNumber{}, time.Time{}, err
	}
	defer s.mu.Unlock()

	if s.sealed {
		return shardlog.SequenceNumber{}, time.Time{}, shardlog.ErrShardSealed
	}
	if cond != nil {
		// Arrivals never decrease, so if the key's latest record is past
		// the horizon, all its records are: the key has none here.
		actual := cond.Inherited
		if r := s.lastKey(cond.PartitionKey); r != nil && !r.ApproximateArrivalTimestamp.Before(cond.Horizon) {
			actual = r.SequenceNumber
		}
		if actual != cond.Expected {
			return shardlog.SequenceNumber{}, time.Time{}, &shardlog.ConflictError{
				PartitionKey: cond.PartitionKey,
				Expected:     cond.Expected,
				Actual:       actual,
			}
		}
	}
	if len(records) == 0 {
		return shardlog.SequenceNumber{}, time.Time{}, nil
	}

	// One buffer holds the batch's data: the batch shares an arrival time,
	// so its records are trimmed together and the buffer is freed at once.
	total := 0
	for i := range records {
		total += len(records[i].Data)
	}
	buf := make([]byte, total)

	first, arrival := s.seq.Next(len(records), now, ref.Floor)
	idx := s.end()
	s.records = slices.Grow(s.records, len(records))
	off := 0
	for i := range records {
		n := copy(buf[off:], records[i].Data)
		sn := shardlog.MakeSequenceNumber(first.Position()+uint64(i), first.ShardIndex())
		s.records = append(s.records, shardlog.Record{
			SequenceNumber:              sn,
			ApproximateArrivalTimestamp: arrival,
			PartitionKey:                records[i].PartitionKey,
			Data:                        buf[off : off+n : off+n],
		})
		off += n
		s.keys[records[i].PartitionKey] = append(s.keys[records[i].PartitionKey], idx+i)
		s.last = sn
	}
	s.broadcast()
	return first, arrival, nil
}

// Seal closes the shard for appends and returns the sequence number of the
// last record ever appended to it (zero if none), even if Trim removed it.
// Sealing a sealed shard changes nothing and returns the same number.
func (e *Engine) Seal(ctx context.Context, ref shardlog.ShardRef) (shardlog.SequenceNumber, error) {
	if err := ctx.Err(); err != nil {
		return shardlog.SequenceNumber{}, err
	}
	s, err := e.lock(ref, true)
	if err != nil {
		return shardlog.SequenceNumber{}, err
	}
	defer s.mu.Unlock()
	if !s.sealed {
		s.sealed = true
		s.broadcast()
	}
	return s.last, nil
}

// Read returns copies of the shard's live records with sequence numbers >=
// from: at most max of them, within maxBytes (data plus partition key)
// except that the first one is returned whatever its size. The records'
// Data is shared with the engine and must not be modified.
func (e *Engine) Read(ctx context.Context, ref shardlog.ShardRef, from shardlog.SequenceNumber, max, maxBytes int) ([]shardlog.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := e.lock(ref, false)
	if err != nil || s == nil {
		return nil, err
	}
	defer s.mu.Unlock()

	live := s.live()
	i := sort.Search(len(live), func(i int) bool { return live[i].SequenceNumber.Compare(from) >= 0 })
	n := min(max, len(live)-i)
	if n <= 0 {
		return nil, nil
	}
	out := make([]shardlog.Record, 0, min(n, max))
	size := 0
	for _, r := range live[i : i+n] {
		size += r.Size()
		if len(out) > 0 && size > maxBytes {
			break
		}
		out = append(out, r)
	}
	return out, nil
}

// SeekTime returns the sequence number of the first live record that
// arrived at or after t, and false if there is none.
func (e *Engine) SeekTime(ctx context.Context, ref shardlog.ShardRef, t time.Time) (shardlog.SequenceNumber, bool, error) {
	if err := ctx.Err(); err != nil {
		return shardlog.SequenceNumber{}, false, err
	}
	s, err := e.lock(ref, false)
	if err != nil || s == nil {
		return shardlog.SequenceNumber{}, false, err
	}
	defer s.mu.Unlock()

	live := s.live()
	i := sort.Search(len(live), func(i int) bool { return !live[i].ApproximateArrivalTimestamp.Before(t) })
	if i == len(live) {
		return shardlog.SequenceNumber{}, false, nil
	}
	return live[i].SequenceNumber, true, nil
}

// ReadKey returns copies of the partition key's live records in this shard
// with sequence numbers > after, in order, at most max. It walks only the
// key's own index, so its cost does not depend on the shard's other keys.
func (e *Engine) ReadKey(ctx context.Context, ref shardlog.ShardRef, partitionKey string, after shardlog.SequenceNumber, max int) ([]shardlog.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := e.lock(ref, false)
	if err != nil || s == nil {
		return nil, err
	}
	defer s.mu.Unlock()

	p := s.keyPositions(partitionKey)
	i := sort.Search(len(p), func(i int) bool { return s.at(p[i]).SequenceNumber.Compare(after) > 0 })
	n := min(max, len(p)-i)
	if n <= 0 {
		return nil, nil
	}
	out := make([]shardlog.Record, n)
	for j := range out {
		out[j] = *s.at(p[i+j])
	}
	return out, nil
}

// LastKey returns a copy of the key's latest live record in this shard,
// and false if it has none. Its Data is shared with the engine and must not
// be modified.
func (e *Engine) LastKey(ctx context.Context, ref shardlog.ShardRef, partitionKey string) (shardlog.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return shardlog.Record{}, false, err
	}
	s, err := e.lock(ref, false)
	if err != nil || s == nil {
		return shardlog.Record{}, false, err
	}
	defer s.mu.Unlock()
	if r := s.lastKey(partitionKey); r != nil {
		return *r, true, nil
	}
	return shardlog.Record{}, false, nil
}

// Bounds describes the shard's live records and whether it is sealed. A
// shard with no state is empty and unsealed.
func (e *Engine) Bounds(ctx context.Context, ref shardlog.ShardRef) (shardlog.ShardBounds, error) {
	if err := ctx.Err(); err != nil {
		return shardlog.ShardBounds{}, err
	}
	s, err := e.lock(ref, false)
	if err != nil || s == nil {
		return shardlog.ShardBounds{}, err
	}
	defer s.mu.Unlock()

	b := shardlog.ShardBounds{Sealed: s.sealed}
	if live := s.live(); len(live) > 0 {
		first, last := &live[0], &live[len(live)-1]
		b.Count = int64(len(live))
		b.First, b.FirstArrival = first.SequenceNumber, first.ApproximateArrivalTimestamp
		b.Last, b.LastArrival = last.SequenceNumber, last.ApproximateArrivalTimestamp
	}
	return b, nil
}

// Trim deletes the shard's records that arrived before t. The memory they
// held is reclaimed once trimmed records are most of the shard's.
func (e *Engine) Trim(ctx context.Context, ref shardlog.ShardRef, before time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s, err := e.lock(ref, false)
	if err != nil || s == nil {
		return err
	}
	defer s.mu.Unlock()

	live := s.live()
	n := sort.Search(len(live), func(i int) bool { return !live[i].ApproximateArrivalTimestamp.Before(before) })
	if n == 0 {
		return nil
	}
	clear(live[:n]) // let the data go even before compaction
	s.trim += n
	s.compact()
	return nil
}

// Notify returns a channel closed by the shard's next successful Append or
// its Seal, or by DropShard, DropStream or Close (spurious wake-ups, after
// which a reader finds no new records). After Close it returns a closed
// channel.
func (e *Engine) Notify(ref shardlog.ShardRef) <-chan struct{} {
	s, err := e.lock(ref, true)
	if err != nil {
		return closedChan
	}
	defer s.mu.Unlock()
	s.watched = true
	return s.notify
}

// Close releases every stream and shard and wakes all Notify waiters. Later
// calls, except Close and Notify, return an error wrapping
// shardlog.ErrClosed. Closing twice is not an error.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	all := e.shards
	e.streams, e.shards = nil, nil
	e.mu.Unlock()

	for _, byID := range all {
		for _, s := range byID {
			s.mu.Lock()
			s.drop()
			s.mu.Unlock()
		}
	}
	return nil
}
