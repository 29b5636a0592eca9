package projection_test

import (
	"context"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRebuild resets a projection (its read model through OnReset, and
// its checkpoints) and replays everything, reporting progress.
func TestRebuild(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		ctx := context.Background()
		s := newStore(t, kind, 3)
		appendOrders(t, s, "b", 50, 4)
		cps := projection.NewMemoryStore()
		m := newModel()
		p := projectionInto("rebuilt", m)
		p.OnReset(func(context.Context) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			clear(m.versions)
			clear(m.applied)
			return nil
		})
		r, err := projection.NewRunner(s, projection.Options{Checkpoints: cps, CatchUpOnly: true}, p)
		require.NoError(t, err)
		require.NoError(t, r.Run(ctx))
		require.Equal(t, 200, m.total())

		var mu sync.Mutex
		var reports []projection.RebuildProgress
		err = projection.Rebuild(ctx, s, p, projection.Options{Checkpoints: cps, BatchSize: 10}, 0, func(pr projection.RebuildProgress) {
			mu.Lock()
			defer mu.Unlock()
			reports = append(reports, pr)
		})
		require.NoError(t, err)
		m.check(t, "b", 50, 4) // each once: the reset cleared the first run
		mu.Lock()
		defer mu.Unlock()
		require.Greater(t, len(reports), 3, "a report per batch with interval 0, and a last one")
		last := reports[len(reports)-1]
		assert.True(t, last.Done)
		assert.Equal(t, int64(200), last.Events)
		assert.Equal(t, int64(200), last.EstimatedTotal)
		for _, pr := range reports[:len(reports)-1] {
			assert.False(t, pr.Done)
			assert.GreaterOrEqual(t, pr.EstimatedTotal, pr.Events)
		}
	})
}

// TestReplayKey rebuilds one aggregate's view.
func TestReplayKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, "memory", 2)
	appendOrders(t, s, "k", 5, 3)
	m := newModel()
	p := projectionInto("one", m)
	cleared := ""
	n, err := projection.ReplayKey(ctx, s, projection.NewMemoryStore(), p, "k-2", func(_ context.Context, id string) error {
		cleared = id
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, "k-2", cleared)
	assert.Equal(t, map[string][]uint64{"k-2": {1, 2, 3}}, m.versions)
	_, err = projection.ReplayKey(ctx, s, projection.NewMemoryStore(), p, "", nil)
	require.Error(t, err, "a bad stream ID")
}
