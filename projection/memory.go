package projection

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// MemoryStore is a SharedStore in memory: for tests, and for several
// runners in one process. Nothing survives the process.
type MemoryStore struct {
	now func() time.Time

	mu      sync.Mutex
	cps     map[string]map[string]Progress // projection → shard → progress
	parked  map[string][]Parked
	leases  map[string]map[string]*memLease // projection → shard → lease
	members map[string]map[string]time.Time // projection → owner → expiry
}

type memLease struct {
	owner   string
	token   uint64
	expires time.Time
}

// MemoryStoreOption configures NewMemoryStore.
type MemoryStoreOption func(*MemoryStore)

// WithLeaseClock sets the clock a MemoryStore judges lease expiry by.
// Default, and when now is nil: time.Now.
func WithLeaseClock(now func() time.Time) MemoryStoreOption {
	return func(s *MemoryStore) { s.now = now }
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(opts ...MemoryStoreOption) *MemoryStore {
	s := &MemoryStore{
		now:     time.Now,
		cps:     map[string]map[string]Progress{},
		parked:  map[string][]Parked{},
		leases:  map[string]map[string]*memLease{},
		members: map[string]map[string]time.Time{},
	}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Checkpoints implements CheckpointStore.
func (m *MemoryStore) Checkpoints(_ context.Context, projection string) (map[string]Progress, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := maps.Clone(m.cps[projection])
	if out == nil {
		out = map[string]Progress{}
	}
	return out, nil
}

// fenced reports whether token may write shard's checkpoint; m.mu is held.
func (m *MemoryStore) fenced(projection, shard string, token uint64) error {
	if token == 0 {
		return nil
	}
	if l := m.leases[projection][shard]; l == nil || l.token != token {
		return fmt.Errorf("%w: %s/%s with token %d", ErrLeaseLost, projection, shard, token)
	}
	return nil
}

// SaveCheckpoint implements CheckpointStore.
func (m *MemoryStore) SaveCheckpoint(_ context.Context, projection, shard string, p Progress, token uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fenced(projection, shard, token); err != nil {
		return err
	}
	m.save(projection, shard, p)
	return nil
}

func (m *MemoryStore) save(projection, shard string, p Progress) {
	if m.cps[projection] == nil {
		m.cps[projection] = map[string]Progress{}
	}
	m.cps[projection][shard] = p
}

// Park implements CheckpointStore.
func (m *MemoryStore) Park(_ context.Context, projection string, ev Parked, p Progress, token uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fenced(projection, ev.Shard, token); err != nil {
		return err
	}
	list := m.parked[projection]
	i := slices.IndexFunc(list, func(x Parked) bool { return x.Shard == ev.Shard && x.SequenceNumber == ev.SequenceNumber })
	if i >= 0 {
		list[i] = ev
	} else {
		m.parked[projection] = append(list, ev)
	}
	m.save(projection, ev.Shard, p)
	return nil
}

// Parked implements CheckpointStore.
func (m *MemoryStore) Parked(_ context.Context, projection string) ([]Parked, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.parked[projection]), nil
}

// Reset implements CheckpointStore.
func (m *MemoryStore) Reset(_ context.Context, projection string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.cps, projection)
	delete(m.parked, projection)
	return nil
}

// Heartbeat implements LeaseStore.
func (m *MemoryStore) Heartbeat(_ context.Context, projection, owner string, ttl time.Duration) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	ms := m.members[projection]
	if ms == nil {
		ms = map[string]time.Time{}
		m.members[projection] = ms
	}
	if ttl > 0 {
		ms[owner] = now.Add(ttl)
	} else {
		delete(ms, owner)
	}
	var live []string
	for o, exp := range ms {
		if exp.After(now) {
			live = append(live, o)
		} else {
			delete(ms, o)
		}
	}
	slices.Sort(live)
	return live, nil
}

// Leases implements LeaseStore.
func (m *MemoryStore) Leases(_ context.Context, projection string) ([]Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := make([]Lease, 0, len(m.leases[projection]))
	for shard, l := range m.leases[projection] {
		out = append(out, Lease{Projection: projection, Shard: shard, Owner: l.owner, Token: l.token, Expired: l.owner == "" || !l.expires.After(now)})
	}
	slices.SortFunc(out, func(a, b Lease) int { return cmp.Compare(a.Shard, b.Shard) })
	return out, nil
}

// Acquire implements LeaseStore.
func (m *MemoryStore) Acquire(_ context.Context, projection, shard, owner string, ttl time.Duration) (Lease, error) {
	if err := CheckLeaseArgs(owner, ttl); err != nil {
		return Lease{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.leases[projection] == nil {
		m.leases[projection] = map[string]*memLease{}
	}
	l := m.leases[projection][shard]
	if l == nil {
		l = &memLease{}
		m.leases[projection][shard] = l
	}
	if l.owner != "" && l.expires.After(now) {
		return Lease{}, fmt.Errorf("%w: %s/%s by %s", ErrLeaseHeld, projection, shard, l.owner)
	}
	l.owner, l.token, l.expires = owner, l.token+1, now.Add(ttl)
	return Lease{Projection: projection, Shard: shard, Owner: owner, Token: l.token}, nil
}

// Renew implements LeaseStore.
func (m *MemoryStore) Renew(_ context.Context, l Lease, ttl time.Duration) (Lease, error) {
	if err := CheckLeaseArgs(l.Owner, ttl); err != nil {
		return Lease{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.leases[l.Projection][l.Shard]
	if cur == nil || cur.owner != l.Owner || cur.token != l.Token {
		return Lease{}, fmt.Errorf("%w: %s/%s token %d", ErrLeaseLost, l.Projection, l.Shard, l.Token)
	}
	cur.expires = m.now().Add(ttl)
	l.Expired = false
	return l, nil
}

// Release implements LeaseStore.
func (m *MemoryStore) Release(_ context.Context, l Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.leases[l.Projection][l.Shard]
	if cur == nil || cur.owner != l.Owner || cur.token != l.Token {
		return fmt.Errorf("%w: %s/%s token %d", ErrLeaseLost, l.Projection, l.Shard, l.Token)
	}
	cur.owner, cur.expires = "", time.Time{}
	return nil
}

// Expire makes every lease of projection held by owner expire now, and
// owner's heartbeat with it, as if the instance had died: for tests.
func (m *MemoryStore) Expire(projection, owner string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.leases[projection] {
		if l.owner == owner {
			l.expires = time.Time{}
		}
	}
	delete(m.members[projection], owner)
}
