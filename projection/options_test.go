package projection_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/projection"
	"github.com/stretchr/testify/require"
)

// TestMemoryStoreLeaseClock: the clock given judges lease expiry; a nil
// clock (and a nil option) means the wall clock.
func TestMemoryStoreLeaseClock(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := projection.NewMemoryStore(projection.WithLeaseClock(func() time.Time { return now }))
	l, err := s.Acquire(ctx, "p", "shard-0", "a", time.Second)
	require.NoError(t, err)
	_, err = s.Acquire(ctx, "p", "shard-0", "b", time.Second)
	require.ErrorIs(t, err, projection.ErrLeaseHeld)
	now = now.Add(2 * time.Second)
	l2, err := s.Acquire(ctx, "p", "shard-0", "b", time.Second)
	require.NoError(t, err, "the lease expired on the store's clock")
	require.Greater(t, l2.Token, l.Token)

	s = projection.NewMemoryStore(projection.WithLeaseClock(nil), nil)
	_, err = s.Acquire(ctx, "p", "shard-0", "a", time.Minute)
	require.NoError(t, err)
}
