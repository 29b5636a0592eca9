package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/internal/changefeed"
)

// errClosed is returned by every call made on a closed handle.
var errClosed = fmt.Errorf("memory engine: %w", shardlog.ErrClosed)

// closedChan is what Notify returns once the handle is closed, so that
// waiters never block on an engine that will not change again.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Engine is a handle on an in-memory log: New makes the log and its first
// handle, Attach another handle on the same log. Its zero value is not
// usable. All methods are safe for concurrent use.
type Engine struct {
	st     *store
	closed atomic.Bool
	feed   changefeed.Feed // the handle's change feed (Changes)
}

var (
	_ shardlog.Engine       = (*Engine)(nil)
	_ shardlog.SharedEngine = (*Engine)(nil)
)

// store is the log that every handle of one New shares.
type store struct {
	mu      sync.RWMutex
	closed  bool                           // every handle was closed: the log is released
	handles map[*Engine]struct{}           // the open handles
	streams map[string]shardlog.StreamMeta // by stream name; deep copies
	shards  map[string]map[string]*shard   // by stream name, then shard ID

	updMu   sync.Mutex               // guards updates
	updates map[string]chan struct{} // per stream name: a one-slot lock of its metadata updates
}

// New returns an empty in-memory log and its first handle.
func New() *Engine {
	st := &store{
		handles: make(map[*Engine]struct{}),
		streams: make(map[string]shardlog.StreamMeta),
		shards:  make(map[string]map[string]*shard),
		updates: make(map[string]chan struct{}),
	}
	e := &Engine{st: st}
	st.handles[e] = struct{}{}
	return e
}

// checkRefLocked returns an error wrapping shardlog.ErrResourceNotFound if
// ref names an incarnation of its stream that is not the stored one (the
// stream was deleted, or deleted and created again). A ref with a zero
// StreamID is not checked. The caller holds st.mu.
func (st *store) checkRefLocked(ref shardlog.ShardRef) error {
	if ref.StreamID == 0 {
		return nil
	}
	if m, ok := st.streams[ref.Stream]; !ok || m.ID != ref.StreamID {
		return fmt.Errorf("memory engine: shard %s of stream %s (ID %d): the stream was deleted: %w",
			ref.ID, ref.Stream, ref.StreamID, shardlog.ErrResourceNotFound)
	}
	return nil
}

// closedInMetaLocked reports whether the stored metadata of ref's stream
// calls the shard closed. The caller holds st.mu.
func (st *store) closedInMetaLocked(ref shardlog.ShardRef) bool {
	m, ok := st.streams[ref.Stream]
	if !ok {
		return false
	}
	for i := range m.Shards {
		if m.Shards[i].ID == ref.ID {
			return m.Shards[i].Closed
		}
	}
	return false
}

// closedInMeta is closedInMetaLocked for a caller without the lock.
func (st *store) closedInMeta(ref shardlog.ShardRef) bool {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.closedInMetaLocked(ref)
}

// lookup returns the state of ref's shard, creating it if create is set;
// otherwise it returns nil for a shard with no state. A shard's state is
// created sealed if the stored metadata calls the shard closed (so its
// seal outlives DropShard).
func (e *Engine) lookup(ref shardlog.ShardRef, create bool) (*shard, error) {
	st := e.st
	st.mu.RLock()
	if st.closed || e.closed.Load() {
		st.mu.RUnlock()
		return nil, errClosed
	}
	if err := st.checkRefLocked(ref); err != nil {
		st.mu.RUnlock()
		return nil, err
	}
	s := st.shards[ref.Stream][ref.ID]
	st.mu.RUnlock()
	if s != nil || !create {
		return s, nil
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || e.closed.Load() {
		return nil, errClosed
	}
	if err := st.checkRefLocked(ref); err != nil {
		return nil, err
	}
	byID := st.shards[ref.Stream]
	if byID == nil {
		byID = make(map[string]*shard)
		st.shards[ref.Stream] = byID
	}
	if s = byID[ref.ID]; s == nil {
		s = newShard(ref, st.closedInMetaLocked(ref))
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
	m.EncryptionKeyIDs = slices.Clone(m.EncryptionKeyIDs)
	return m
}

// LoadStreams returns copies of every stream's metadata, sorted by name.
func (e *Engine) LoadStreams(ctx context.Context) ([]shardlog.StreamMeta, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := e.st
	st.mu.RLock()
	defer st.mu.RUnlock()
	if st.closed || e.closed.Load() {
		return nil, errClosed
	}
	out := make([]shardlog.StreamMeta, 0, len(st.streams))
	for _, m := range st.streams {
		out = append(out, cloneMeta(m))
	}
	slices.SortFunc(out, func(a, b shardlog.StreamMeta) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// SaveStream stores a copy of meta under meta.Name, replacing any previous
// version at once, and tells every handle's change feed. It waits for an
// UpdateStream of the stream in progress. Metadata with another non-zero ID
// than the stored one's starts a new incarnation: the old one's records
// are dropped.
func (e *Engine) SaveStream(ctx context.Context, meta shardlog.StreamMeta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.closed.Load() {
		return errClosed
	}
	unlock, err := e.st.lockUpdates(ctx, meta.Name)
	if err != nil {
		return err
	}
	defer unlock()
	e.st.mu.Lock()
	if e.st.closed || e.closed.Load() {
		e.st.mu.Unlock()
		return errClosed
	}
	old := e.st.storeLocked(cloneMeta(meta))
	e.st.mu.Unlock()
	dropAll(old)
	return nil
}

// storeLocked stores meta and announces it on every open handle's change
// feed. If meta starts a new incarnation of the stream, it unlinks the old
// incarnation's shard states and returns them for the caller to drop once
// it has released st.mu. The caller holds st.mu for writing.
func (st *store) storeLocked(meta shardlog.StreamMeta) map[string]*shard {
	var old map[string]*shard
	if prev, ok := st.streams[meta.Name]; ok && prev.ID != 0 && meta.ID != 0 && prev.ID != meta.ID {
		old = st.shards[meta.Name]
		delete(st.shards, meta.Name)
	}
	st.streams[meta.Name] = meta
	st.announceLocked(meta.Name)
	return old
}

// announceLocked tells every open handle's change feed that the stream
// changed. It never blocks. The caller holds st.mu.
func (st *store) announceLocked(name string) {
	for h := range st.handles {
		h.feed.Push(name)
	}
}

// dropAll drops shard states already unlinked from the store.
func dropAll(byID map[string]*shard) {
	for _, s := range byID {
		s.mu.Lock()
		s.drop()
		s.mu.Unlock()
	}
}

// DropStream deletes the stream's metadata and the state of all its shards,
// and tells every handle's change feed. It waits for an UpdateStream of the
// stream in progress. Dropping an unknown stream is not an error.
func (e *Engine) DropStream(ctx context.Context, name string) error {
	return e.dropStream(ctx, name, 0)
}

// DropStreamID is DropStream of incarnation id only: if the stored stream
// is another incarnation, or none, it drops nothing and returns an error
// wrapping shardlog.ErrResourceNotFound.
func (e *Engine) DropStreamID(ctx context.Context, name string, id uint64) error {
	return e.dropStream(ctx, name, id)
}

// dropStream drops the stream, if id is zero or its incarnation.
func (e *Engine) dropStream(ctx context.Context, name string, id uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.closed.Load() {
		return errClosed
	}
	st := e.st
	unlock, err := st.lockUpdates(ctx, name)
	if err != nil {
		return err
	}
	defer unlock()
	st.mu.Lock()
	if st.closed || e.closed.Load() {
		st.mu.Unlock()
		return errClosed
	}
	m, existed := st.streams[name]
	if id != 0 && (!existed || m.ID != id) {
		st.mu.Unlock()
		return fmt.Errorf("memory: stream %s incarnation %d: %w", name, id, shardlog.ErrResourceNotFound)
	}
	delete(st.streams, name)
	byID := st.shards[name]
	delete(st.shards, name)
	if existed {
		st.announceLocked(name)
	}
	st.mu.Unlock()
	dropAll(byID)
	return nil
}

// DropShard deletes the shard's records and state: it is empty if used
// later, and unsealed unless the stored metadata calls it closed. Dropping
// a shard with no state is not an error.
func (e *Engine) DropShard(ctx context.Context, ref shardlog.ShardRef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st := e.st
	st.mu.Lock()
	if st.closed || e.closed.Load() {
		st.mu.Unlock()
		return errClosed
	}
	if err := st.checkRefLocked(ref); err != nil {
		st.mu.Unlock()
		return err
	}
	s := st.shards[ref.Stream][ref.ID]
	if s != nil {
		delete(st.shards[ref.Stream], ref.ID)
		if len(st.shards[ref.Stream]) == 0 {
			delete(st.shards, ref.Stream)
		}
	}
	st.mu.Unlock()

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
	recs, _, err := e.ReadKeySealed(ctx, ref, partitionKey, after, max)
	return recs, err
}

// ReadKeySealed is ReadKey that also reports whether the shard was sealed,
// read under the same lock as the records. A shard with no state is sealed
// if the stored metadata calls it closed.
func (e *Engine) ReadKeySealed(ctx context.Context, ref shardlog.ShardRef, partitionKey string, after shardlog.SequenceNumber, max int) ([]shardlog.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	s, err := e.lock(ref, false)
	if err != nil {
		return nil, false, err
	}
	if s == nil {
		return nil, e.st.closedInMeta(ref), nil
	}
	defer s.mu.Unlock()

	p := s.keyPositions(partitionKey)
	i := sort.Search(len(p), func(i int) bool { return s.at(p[i]).SequenceNumber.Compare(after) > 0 })
	n := min(max, len(p)-i)
	if n <= 0 {
		return nil, s.sealed, nil
	}
	out := make([]shardlog.Record, n)
	for j := range out {
		out[j] = *s.at(p[i+j])
	}
	return out, s.sealed, nil
}

// LastKey returns a copy of the key's latest live record in this shard,
// and false if it has none. Its Data is shared with the engine and must not
// be modified.
func (e *Engine) LastKey(ctx context.Context, ref shardlog.ShardRef, partitionKey string) (shardlog.Record, bool, error) {
	r, found, _, err := e.LastKeySealed(ctx, ref, partitionKey)
	return r, found, err
}

// LastKeySealed is LastKey that also reports whether the shard was sealed,
// read under the same lock as the record. A shard with no state is sealed
// if the stored metadata calls it closed.
func (e *Engine) LastKeySealed(ctx context.Context, ref shardlog.ShardRef, partitionKey string) (shardlog.Record, bool, bool, error) {
	if err := ctx.Err(); err != nil {
		return shardlog.Record{}, false, false, err
	}
	s, err := e.lock(ref, false)
	if err != nil {
		return shardlog.Record{}, false, false, err
	}
	if s == nil {
		return shardlog.Record{}, false, e.st.closedInMeta(ref), nil
	}
	defer s.mu.Unlock()
	if r := s.lastKey(partitionKey); r != nil {
		return *r, true, s.sealed, nil
	}
	return shardlog.Record{}, false, s.sealed, nil
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

	b := shardlog.ShardBounds{Sealed: s.sealed, Trimmed: s.trimmed}
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
	s.trimmed = live[n-1].SequenceNumber
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

// Close closes this handle: later calls on it, except Close, Notify and
// Changes, return an error wrapping shardlog.ErrClosed, Notify returns a
// closed channel and the Changes channel is closed. Every Notify waiter is
// woken (spuriously for those of other handles), so none waits for ever on
// a handle that will not change again. Other handles keep working; closing
// the last open handle releases every stream and shard. Closing twice is
// not an error.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	e.feed.Close()
	st := e.st
	st.mu.Lock()
	delete(st.handles, e)
	last := len(st.handles) == 0 && !st.closed
	all := st.shards
	if last {
		st.closed = true
		st.streams, st.shards = nil, nil
	} else {
		all = make(map[string]map[string]*shard, len(st.shards))
		for name, byID := range st.shards {
			all[name] = maps.Clone(byID)
		}
	}
	st.mu.Unlock()

	for _, byID := range all {
		for _, s := range byID {
			s.mu.Lock()
			if last {
				s.drop()
			} else {
				s.broadcast()
			}
			s.mu.Unlock()
		}
	}
	return nil
}
