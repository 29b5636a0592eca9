package projection_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/internal/pglog"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/stretchr/testify/require"
)

// The test event types.
type (
	placed struct {
		Item string `json:"item"`
	}
	paid struct {
		Cents int `json:"cents"`
	}
	shipped struct{}
)

const testStream = "events"

// eachEngine runs f as a parallel subtest per shardlog engine.
func eachEngine(t *testing.T, f func(t *testing.T, kind string)) {
	kinds := []string{"memory", "file"}
	if pglog.Available() {
		kinds = append(kinds, pglog.Kind)
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f(t, kind)
		})
	}
}

// newStore opens a log on kind with a stream of shards shards, and a
// store on it with the test types registered.
func newStore(t *testing.T, kind string, shards int) *eventstore.Store {
	t.Helper()
	ctx := context.Background()
	var eng shardlog.Engine
	switch kind {
	case "memory":
		eng = memory.New()
	case "file":
		fe, err := file.Open(t.TempDir())
		require.NoError(t, err)
		eng = fe
	case pglog.Kind:
		eng = pglog.Engine(t)
	}
	l, err := shardlog.Open(ctx, eng)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: testStream, ShardCount: shards}))
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[placed](reg, "order.placed"))
	require.NoError(t, eventstore.Register[paid](reg, "order.paid"))
	require.NoError(t, eventstore.Register[shipped](reg, "order.shipped"))
	s, err := eventstore.Open(ctx, l, testStream, eventstore.WithRegistry(reg))
	require.NoError(t, err)
	return s
}

// appendOrders appends, for each of n orders, k events (placed, then
// paid...), interleaving the orders; it returns the IDs per stream.
func appendOrders(t *testing.T, s *eventstore.Store, prefix string, n, k int) {
	t.Helper()
	ctx := context.Background()
	for v := 1; v <= k; v++ {
		for i := range n {
			var ev any = paid{Cents: v}
			if v == 1 {
				ev = placed{Item: "x"}
			}
			_, err := s.Append(ctx, fmt.Sprintf("%s-%d", prefix, i), eventstore.Exact(uint64(v-1)), ev)
			require.NoError(t, err)
		}
	}
}

// model is a read model that records, per stream, the versions applied
// in order, and counts applications per event ID.
type model struct {
	mu       sync.Mutex
	versions map[string][]uint64
	applied  map[uuid.UUID]int
	bad      []string // order violations
}

func newModel() *model {
	return &model{versions: map[string][]uint64{}, applied: map[uuid.UUID]int{}}
}

func (m *model) apply(ev *eventstore.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.versions[ev.StreamID]
	if n := len(vs); (n == 0 && ev.Version != 1) || (n > 0 && ev.Version != vs[n-1]+1) {
		m.bad = append(m.bad, fmt.Sprintf("%s: v%d after %v", ev.StreamID, ev.Version, vs))
	}
	m.versions[ev.StreamID] = append(vs, ev.Version)
	m.applied[ev.ID]++
}

func (m *model) total() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.applied {
		n += c
	}
	return n
}

// check requires every stream prefix-i (i < n) to hold versions 1..k, in
// order, each event applied once.
func (m *model) check(t *testing.T, prefix string, n, k int) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	require.Empty(t, m.bad, "per-stream order")
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		require.Len(t, m.versions[id], k, id)
	}
	for id, c := range m.applied {
		require.Equal(t, 1, c, "event %s applied %d times", id, c)
	}
}

// projectionInto returns a projection that applies every test event to m.
func projectionInto(name string, m *model) *projection.Projection {
	p := projection.New(name)
	projection.On(p, func(_ context.Context, ev projection.Event[placed]) error {
		m.apply(ev.Event)
		return nil
	})
	projection.On(p, func(_ context.Context, ev projection.Event[paid]) error {
		m.apply(ev.Event)
		return nil
	})
	return p
}

// runUntil runs r in the background until cond holds (or the test's
// deadline); it returns a stop function that cancels and waits for Run's
// result.
func runInBackground(t *testing.T, r *projection.Runner) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return within 30 s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
