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
// must be safe for concurrent use.
type SnapshotStore interface {
	// LoadSnapshot returns the stream's snapshot, and false if it has none.
	LoadSnapshot(ctx context.Context, streamID string) (Snapshot, bool, error)
	// SaveSnapshot stores snap unless the store holds one of the stream at
	// a higher version already (then it is a no-op, not an error).
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
