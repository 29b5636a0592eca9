package projection_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type gapObserver struct {
	projection.NopObserver
	mu   sync.Mutex
	gaps []projection.GapInfo
}

func (o *gapObserver) Gap(g projection.GapInfo) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gaps = append(o.gaps, g)
}

// newClockedStore returns a fake clock, a one-shard log on it whose
// retention only EnforceRetention applies, and a store on the log.
func newClockedStore(t *testing.T) (*shardlogtest.Clock, *shardlog.Log, *eventstore.Store) {
	t.Helper()
	ctx := context.Background()
	clk := shardlogtest.NewClockAt(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	l, err := shardlog.Open(ctx, memory.New(), shardlog.WithClock(clk.Now), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[placed](reg, "order.placed"))
	require.NoError(t, eventstore.Register[paid](reg, "order.paid"))
	s, err := eventstore.Open(ctx, l, "events", eventstore.WithRegistry(reg),
		eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 1}))
	require.NoError(t, err)
	return clk, l, s
}

// TestRetentionGap: a projection that resumes from a checkpoint after
// which events it never read have passed retention reports it
// (Observer.Gap, Stats.Gaps, a warning) and goes on from the oldest
// retained event; one that read everything before it expired reports
// nothing.
func TestRetentionGap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk, l, s := newClockedStore(t)

	appendOrders(t, s, "old", 5, 1)
	cps := projection.NewMemoryStore()
	run := func(name string) (*projection.Runner, *gapObserver, *model) {
		obs, m := &gapObserver{}, newModel()
		r, err := projection.NewRunner(s, projection.Options{Checkpoints: cps, CatchUpOnly: true, Observer: obs, Logger: discardLogger()}, projectionInto(name, m))
		require.NoError(t, err)
		require.NoError(t, r.Run(ctx))
		return r, obs, m
	}
	run("behind")
	appendOrders(t, s, "late", 5, 1) // "behind" never reads these
	// "kept" reads the newer events before the old ones expire.
	clk.Advance(shardlog.DefaultRetentionHours*time.Hour - time.Hour)
	appendOrders(t, s, "mid", 5, 1)
	run("kept")
	clk.Advance(2 * time.Hour) // the "old" events expire
	require.NoError(t, l.EnforceRetention(ctx))
	appendOrders(t, s, "new", 5, 1)

	r, obs, m := run("behind")
	require.Len(t, obs.gaps, 1)
	g := obs.gaps[0]
	assert.Equal(t, "behind", g.Projection)
	assert.Equal(t, "shardId-000000000000", g.Shard)
	assert.Positive(t, g.Oldest.Compare(g.After))
	assert.Equal(t, int64(1), r.Stats()[0].Gaps)
	assert.Equal(t, 10, m.total(), "it goes on from the oldest retained event")

	r, obs, _ = run("kept")
	assert.Empty(t, obs.gaps)
	assert.Zero(t, r.Stats()[0].Gaps)
}

// TestRetentionGapWhileRunning: a shard whose worker is held up in a
// handler while the events after it expire reports the gap when it reads
// on, instead of skipping them silently.
func TestRetentionGapWhileRunning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk, l, s := newClockedStore(t)
	appendOrders(t, s, "old", 5, 1)

	release := make(chan struct{})
	var once sync.Once
	entered := make(chan struct{})
	m := newModel()
	p := projection.New("slow")
	projection.On(p, func(_ context.Context, ev projection.Event[placed]) error {
		once.Do(func() {
			close(entered)
			<-release
		})
		m.apply(ev.Event)
		return nil
	})
	obs := &gapObserver{}
	r, err := projection.NewRunner(s, projection.Options{CatchUpOnly: true, BatchSize: 1, Observer: obs, Logger: discardLogger()}, p)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-entered
	clk.Advance(25 * time.Hour) // the other four "old" events expire unread
	require.NoError(t, l.EnforceRetention(ctx))
	appendOrders(t, s, "new", 5, 1)
	close(release)
	require.NoError(t, <-done)

	assert.Equal(t, 6, m.total(), "one old event and the five new ones")
	obs.mu.Lock()
	defer obs.mu.Unlock()
	require.Len(t, obs.gaps, 1)
	assert.False(t, obs.gaps[0].After.IsZero())
	assert.Equal(t, int64(1), r.Stats()[0].Gaps)
}
