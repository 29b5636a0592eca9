package eventstore

import (
	"context"
	"sync"
	"time"
)

// Snapshot is a stream's folded state at a version, so that loading it
// reads only the events after that version.
type Snapshot struct {
	StreamID string
	// Version is the version of the last event folded into Data, and
	// Position that event's place in the log.
	Version  uint64
	Position Position
	// Type names the state's shape (the aggregate type) and SchemaVersion
	// its version; a loader ignores a snapshot whose shape it no longer
	// reads, and replays the events instead.
	Type          string
	SchemaVersion uint32
	Data          []byte
	TakenAt       time.Time
}

// SnapshotStore keeps the latest snapshot of each stream. Implementations
// must be safe for concurrent use and follow these rules, which
// eventstore/snapshottest checks:
//   - SaveSnapshot keeps snap unless the stream's stored snapshot has a
//     higher version (then it is a no-op, not an error); an equal version
//     replaces it. Concurrent saves to one stream end with the highest.
//   - Neither side keeps the other's Data: a store copies on save, and
//     loaded Data belongs to the caller. Nil and empty Data are the same.
//   - TakenAt comes back as the same instant to within a microsecond.
//   - A snapshot the store cannot read is reported with an error wrapping
//     ErrCorruptSnapshot.
//
// Stores may refuse values they cannot hold (the PostgreSQL store takes
// versions up to 2^63-1 and stream IDs without NUL) with an error.
type SnapshotStore interface {
	// LoadSnapshot returns the stream's snapshot, and false if it has none.
	LoadSnapshot(ctx context.Context, streamID string) (Snapshot, bool, error)
	// SaveSnapshot stores snap unless a snapshot of the stream at a higher
	// version is stored already.
	SaveSnapshot(ctx context.Context, snap Snapshot) error
}

// MemorySnapshots is a SnapshotStore in memory, for tests and examples.
type MemorySnapshots struct {
	mu    sync.RWMutex
	snaps map[string]Snapshot
}

// NewMemorySnapshots returns an empty in-memory snapshot store.
func NewMemorySnapshots() *MemorySnapshots {
	return &MemorySnapshots{snaps: map[string]Snapshot{}}
}

// LoadSnapshot implements SnapshotStore.
func (m *MemorySnapshots) LoadSnapshot(ctx context.Context, streamID string) (Snapshot, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.snaps[streamID]
	if ok {
		s.Data = append([]byte(nil), s.Data...)
	}
	return s, ok, nil
}

// SaveSnapshot implements SnapshotStore.
func (m *MemorySnapshots) SaveSnapshot(ctx context.Context, snap Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.snaps[snap.StreamID]; ok && old.Version > snap.Version {
		return nil
	}
	snap.Data = append([]byte(nil), snap.Data...)
	m.snaps[snap.StreamID] = snap
	return nil
}
