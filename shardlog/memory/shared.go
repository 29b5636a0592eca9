package memory

import (
	"context"
	"fmt"

	"github.com/shoal-dev/shoal/shardlog"
)

// Attach returns another handle on the same in-memory log, as a second
// process would open it: records, metadata, seals and Notify are shared,
// while the handle has its own Close and its own change feed (Changes).
// Several Logs, each over its own handle, thus share one log within one
// process. Attaching to a closed handle works while another handle of the
// log is open; once every handle is closed, the log is released and
// Attach returns a closed handle.
func (e *Engine) Attach() *Engine {
	h := &Engine{st: e.st}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	if e.st.closed {
		h.closed.Store(true)
		h.feed.Close()
		return h
	}
	e.st.handles[h] = struct{}{}
	return h
}

// Changes returns the handle's change feed: the name of a stream after any
// handle of the log stored its metadata (SaveStream, UpdateStream) or
// dropped it (DropStream), the handle that made the change included. A
// name still waiting to be received is not queued twice, the engine never
// blocks on the channel, and a backlog of more than a thousand names is
// replaced by "" (reload every stream). The channel is closed when the
// handle is closed.
func (e *Engine) Changes() <-chan string { return e.feed.Channel() }

// lockUpdates takes the lock that serializes the metadata updates of one
// stream (UpdateStream, SaveStream, DropStream) and returns its release.
func (st *store) lockUpdates(ctx context.Context, name string) (func(), error) {
	st.updMu.Lock()
	sem := st.updates[name]
	if sem == nil {
		sem = make(chan struct{}, 1)
		st.updates[name] = sem
	}
	st.updMu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// LoadStream returns a copy of one stream's metadata as last stored, and
// false if there is no such stream.
func (e *Engine) LoadStream(ctx context.Context, name string) (shardlog.StreamMeta, bool, error) {
	if err := ctx.Err(); err != nil {
		return shardlog.StreamMeta{}, false, err
	}
	st := e.st
	st.mu.RLock()
	defer st.mu.RUnlock()
	if st.closed || e.closed.Load() {
		return shardlog.StreamMeta{}, false, errClosed
	}
	m, ok := st.streams[name]
	if !ok {
		return shardlog.StreamMeta{}, false, nil
	}
	return cloneMeta(m), true, nil
}

// UpdateStream runs fn on a copy of the stream's stored metadata (nil if
// there is none) and stores what it returns, as SharedEngine.UpdateStream
// says: updates of one stream, and its SaveStream and DropStream, run one
// at a time, and fn is called once. If fn returns an error, nothing is
// stored, no seal made through its MetaTx takes effect, and the error is
// returned as is. If fn returns nil metadata and no error, nothing is
// stored either and the stored metadata is returned (zero if none).
//
// A seal through the MetaTx locks the shard from the moment it reads the
// shard's last record until the update is stored or abandoned: appends
// to the shard meanwhile wait, then fail with shardlog.ErrShardSealed if
// the update was stored, or go ahead if it was not. So the last record
// Seal returns is the shard's last for good.
func (e *Engine) UpdateStream(ctx context.Context, name string, fn func(tx shardlog.MetaTx, cur *shardlog.StreamMeta) (*shardlog.StreamMeta, error)) (shardlog.StreamMeta, error) {
	if err := ctx.Err(); err != nil {
		return shardlog.StreamMeta{}, err
	}
	if e.closed.Load() {
		return shardlog.StreamMeta{}, errClosed
	}
	st := e.st
	unlock, err := st.lockUpdates(ctx, name)
	if err != nil {
		return shardlog.StreamMeta{}, err
	}
	defer unlock()

	cur, ok, err := e.LoadStream(ctx, name)
	if err != nil {
		return shardlog.StreamMeta{}, err
	}
	var curp *shardlog.StreamMeta
	if ok {
		curp = &cur
	}
	tx := &metaTx{e: e, stream: name, held: make(map[string]*shard)}
	defer tx.release()
	next, err := fn(tx, curp)
	tx.done = true
	if err != nil {
		return shardlog.StreamMeta{}, err
	}
	if next == nil {
		return cur, nil // zero if there is no stream
	}
	if next.Name != name {
		return shardlog.StreamMeta{}, fmt.Errorf("memory engine: UpdateStream of stream %q returned the metadata of stream %q: %w",
			name, next.Name, shardlog.ErrInvalidArgument)
	}
	meta := cloneMeta(*next)

	st.mu.Lock()
	if st.closed || e.closed.Load() {
		st.mu.Unlock()
		return shardlog.StreamMeta{}, errClosed
	}
	old := st.storeLocked(meta)
	// The shards' locks are held since Seal read their last records: the
	// seals take effect with the metadata, before any append can run.
	for _, s := range tx.order {
		if !s.sealed {
			s.sealed = true
			s.broadcast()
		}
	}
	st.mu.Unlock()
	tx.release()
	dropAll(old)
	return cloneMeta(meta), nil
}

// metaTx is the shardlog.MetaTx of one UpdateStream. It holds the lock of
// every shard it sealed until the update ends.
type metaTx struct {
	e      *Engine
	stream string
	held   map[string]*shard // by shard ID, locked
	order  []*shard          // held, in the order sealed
	done   bool              // fn returned: Seal is refused
}

// Seal locks the shard and returns its last record's sequence number (zero
// if none, even if trimmed since), as Engine.Seal does; the seal itself
// takes effect when UpdateStream stores the metadata. Sealing the same
// shard twice in one update returns the same number.
func (tx *metaTx) Seal(ctx context.Context, ref shardlog.ShardRef) (shardlog.SequenceNumber, error) {
	if err := ctx.Err(); err != nil {
		return shardlog.SequenceNumber{}, err
	}
	if tx.done {
		return shardlog.SequenceNumber{}, fmt.Errorf("memory engine: Seal of shard %s after its UpdateStream function returned: %w", ref.ID, shardlog.ErrInvalidArgument)
	}
	if ref.Stream != tx.stream {
		return shardlog.SequenceNumber{}, fmt.Errorf("memory engine: an update of stream %q cannot seal shard %s of stream %q: %w",
			tx.stream, ref.ID, ref.Stream, shardlog.ErrInvalidArgument)
	}
	if s := tx.held[ref.ID]; s != nil {
		return s.last, nil
	}
	s, err := tx.e.lock(ref, true)
	if err != nil {
		return shardlog.SequenceNumber{}, err
	}
	tx.held[ref.ID] = s
	tx.order = append(tx.order, s)
	return s.last, nil
}

// release unlocks the shards the update holds. It is idempotent.
func (tx *metaTx) release() {
	for _, s := range tx.order {
		s.mu.Unlock()
	}
	tx.order, tx.held = nil, nil
	tx.done = true
}
