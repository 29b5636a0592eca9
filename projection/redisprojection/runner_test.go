package redisprojection_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/projection/redisprojection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type itemAdded struct {
	N int `json:"n"`
}

// newEventStore returns a store on an in-memory log of shards shards.
func newEventStore(t *testing.T, shards int) *eventstore.Store {
	t.Helper()
	ctx := context.Background()
	l, err := shardlog.Open(ctx, memory.New())
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[itemAdded](reg, "item.added"))
	s, err := eventstore.Open(ctx, l, "events", eventstore.WithRegistry(reg),
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: shards}))
	require.NoError(t, err)
	return s
}

// mortal is a store one runner instance uses; once dead, every call fails,
// as if its process had died.
type mortal struct {
	*redisprojection.Store
	dead atomic.Bool
}

var errDead = errors.New("instance is dead")

func (m *mortal) err() error {
	if m.dead.Load() {
		return errDead
	}
	return nil
}

func (m *mortal) Checkpoints(ctx context.Context, p string) (map[string]projection.Progress, error) {
	if err := m.err(); err != nil {
		return nil, err
	}
	return m.Store.Checkpoints(ctx, p)
}

func (m *mortal) SaveCheckpoint(ctx context.Context, p, shard string, pr projection.Progress, token uint64) error {
	if err := m.err(); err != nil {
		return err
	}
	return m.Store.SaveCheckpoint(ctx, p, shard, pr, token)
}

func (m *mortal) Heartbeat(ctx context.Context, p, owner string, ttl time.Duration) ([]string, error) {
	if err := m.err(); err != nil {
		return nil, err
	}
	return m.Store.Heartbeat(ctx, p, owner, ttl)
}

func (m *mortal) Leases(ctx context.Context, p string) ([]projection.Lease, error) {
	if err := m.err(); err != nil {
		return nil, err
	}
	return m.Store.Leases(ctx, p)
}

func (m *mortal) Acquire(ctx context.Context, p, shard, owner string, ttl time.Duration) (projection.Lease, error) {
	if err := m.err(); err != nil {
		return projection.Lease{}, err
	}
	return m.Store.Acquire(ctx, p, shard, owner, ttl)
}

func (m *mortal) Renew(ctx context.Context, l projection.Lease, ttl time.Duration) (projection.Lease, error) {
	if err := m.err(); err != nil {
		return projection.Lease{}, err
	}
	return m.Store.Renew(ctx, l, ttl)
}

func (m *mortal) Release(ctx context.Context, l projection.Lease) error {
	if err := m.err(); err != nil {
		return err
	}
	return m.Store.Release(ctx, l)
}

// seen is an idempotent read model: it records each event's first
// application and counts the repeats.
type seen struct {
	mu      sync.Mutex
	first   map[uuid.UUID]bool
	last    map[string]uint64 // stream → highest version applied first
	repeats int
	bad     []string
}

func (s *seen) apply(ev *eventstore.Event, dead *atomic.Bool) {
	if dead.Load() {
		return // a dead process's effects do not count
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first[ev.ID] {
		s.repeats++
		return
	}
	s.first[ev.ID] = true
	if ev.Version != s.last[ev.StreamID]+1 {
		s.bad = append(s.bad, fmt.Sprintf("%s v%d after v%d", ev.StreamID, ev.Version, s.last[ev.StreamID]))
	}
	s.last[ev.StreamID] = ev.Version
}

func (s *seen) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.first)
}

// TestRunnersShareShardsOnRedis: two runner instances share 8 shards
// through Redis leases while events arrive; one dies mid-stream, the
// other takes its shards over once its leases expire, and every event is
// applied, each stream in order. Redis keeps no transaction with the read
// model, so events the dead instance applied after its last checkpoint
// are applied again (at most a batch per shard).
func TestRunnersShareShardsOnRedis(t *testing.T) { onBoth(t, testRunnersShareShards) }

func testRunnersShareShards(t *testing.T, c redis.UniversalClient, prefix string) {
	s := newEventStore(t, 8)
	model := &seen{first: map[uuid.UUID]bool{}, last: map[string]uint64{}}
	const ttl, batch = 400 * time.Millisecond, 10
	held := map[string]*atomic.Int64{"a": {}, "b": {}}
	var insts []*mortal
	var dones []chan error
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, owner := range []string{"a", "b"} {
		m := &mortal{Store: redisprojection.New(c, redisprojection.WithKeyPrefix(prefix))}
		insts = append(insts, m)
		p := projection.New("items")
		projection.On(p, func(_ context.Context, ev projection.Event[itemAdded]) error {
			model.apply(ev.Event, &m.dead)
			return nil
		})
		r, err := projection.NewRunner(s, projection.Options{
			Checkpoints: m, Owner: owner, LeaseTTL: ttl, BatchSize: batch,
			Observer: leaseCounter{held: held}, Logger: slog.New(slog.DiscardHandler),
			Retry: projection.RetryPolicy{Attempts: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
		}, p)
		require.NoError(t, err)
		done := make(chan error, 1)
		dones = append(dones, done)
		go func() { done <- r.Run(ctx) }()
	}
	var written atomic.Int64
	stop := make(chan struct{})
	writer := make(chan struct{})
	go func() {
		defer close(writer)
		for v := uint64(1); ; v++ {
			for i := range 40 {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Append(context.Background(), fmt.Sprintf("s-%d", i), eventstore.Exact(v-1), itemAdded{N: int(v)}); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				written.Add(1)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	require.Eventually(t, func() bool { return held["a"].Load() == 4 && held["b"].Load() == 4 }, 10*time.Second, 10*time.Millisecond, "balanced")
	require.Eventually(t, func() bool { return model.count() > 200 }, 10*time.Second, time.Millisecond)
	insts[1].dead.Store(true)
	require.Eventually(t, func() bool { return held["a"].Load() == 8 }, 10*time.Second, 10*time.Millisecond, "a takes b's shards")
	time.Sleep(50 * time.Millisecond)
	close(stop)
	<-writer
	total := int(written.Load())
	require.Eventually(t, func() bool { return model.count() == total }, 20*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-dones[0])
	if err := <-dones[1]; err != nil {
		assert.ErrorIs(t, err, errDead)
	}
	model.mu.Lock()
	defer model.mu.Unlock()
	assert.Empty(t, model.bad, "per-stream order")
	assert.LessOrEqual(t, model.repeats, 4*batch, "at most a batch per shard of the dead instance is applied again")
	t.Logf("%d events, %d applied again after the takeover", total, model.repeats)
}

// leaseCounter counts the leases each owner holds.
type leaseCounter struct {
	projection.NopObserver
	held map[string]*atomic.Int64
}

func (o leaseCounter) Lease(c projection.LeaseChange) {
	if c.Held {
		o.held[c.Owner].Add(1)
	} else {
		o.held[c.Owner].Add(-1)
	}
}

// TestPoisonParkedOnRedis: an event whose handler keeps failing is parked
// in Redis, and the runner moves on.
func TestPoisonParkedOnRedis(t *testing.T) { onBoth(t, testPoisonParked) }

func testPoisonParked(t *testing.T, c redis.UniversalClient, prefix string) {
	ctx := context.Background()
	s := newEventStore(t, 2)
	for i := range 10 {
		_, err := s.Append(ctx, fmt.Sprintf("p-%d", i), eventstore.NoStream, itemAdded{N: i})
		require.NoError(t, err)
	}
	store := redisprojection.New(c, redisprojection.WithKeyPrefix(prefix))
	applied := 0
	var mu sync.Mutex
	p := projection.New("poison")
	projection.On(p, func(_ context.Context, ev projection.Event[itemAdded]) error {
		if ev.StreamID == "p-7" {
			return errors.New("cannot apply")
		}
		mu.Lock()
		applied++
		mu.Unlock()
		return nil
	})
	r, err := projection.NewRunner(s, projection.Options{Checkpoints: store, CatchUpOnly: true, Logger: slog.New(slog.DiscardHandler),
		Retry: projection.RetryPolicy{Attempts: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}}, p)
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))
	assert.Equal(t, 9, applied)
	parked, err := store.Parked(ctx, "poison")
	require.NoError(t, err)
	require.Len(t, parked, 1)
	assert.Equal(t, "p-7", parked[0].StreamID)
	assert.Contains(t, parked[0].Error, "cannot apply")
}
