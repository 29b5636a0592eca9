package delivery_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/projection"
)

// unreachableLeases is a shared store that one owner cannot reach while
// cut is set: its heartbeats and renewals fail (not with ErrLeaseLost:
// the store is down for it, so its lease lapses unrenewed).
type unreachableLeases struct {
	*projection.MemoryStore
	owner string
	cut   atomic.Bool
}

var errUnreachable = errors.New("lease store unreachable")

func (u *unreachableLeases) Heartbeat(ctx context.Context, p, owner string, ttl time.Duration) ([]string, error) {
	if owner == u.owner && u.cut.Load() {
		return nil, errUnreachable
	}
	return u.MemoryStore.Heartbeat(ctx, p, owner, ttl)
}

func (u *unreachableLeases) Renew(ctx context.Context, l projection.Lease, ttl time.Duration) (projection.Lease, error) {
	if l.Owner == u.owner && u.cut.Load() {
		return projection.Lease{}, errUnreachable
	}
	return u.MemoryStore.Renew(ctx, l, ttl)
}

// stuckDest is a destination whose Deliver hangs until release is
// closed (or its context ends); a delivery that completes after release
// is a write the caller made, recorded in late.
type stuckDest struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	late    atomic.Int32
}

func (d *stuckDest) Deliver(ctx context.Context, b *delivery.Batch) error {
	d.once.Do(func() { close(d.entered) })
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-d.release:
		d.late.Add(1)
		return nil
	}
}

// An instance whose lease lapses unrenewed while a delivery is in flight
// must not complete that delivery once another instance took the shard
// over: the other instance delivers from the checkpoint, with objects
// named as the stale one's, and a stale write landing after its own would
// replace its object with fewer records.
func TestLeaseLapseCancelsTheDeliveryInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		store := &unreachableLeases{MemoryStore: projection.NewMemoryStore(), owner: "a"}
		stuck := &stuckDest{entered: make(chan struct{}), release: make(chan struct{})}
		db := &rtDest{}
		mk := func(owner string, d delivery.Destination) *delivery.Stream {
			c := rtConfig(l, d, time.Second)
			c.Source.Checkpoints, c.Source.Owner, c.Source.LeaseTTL = store, owner, 3*time.Second
			s, err := delivery.New(c)
			require.NoError(t, err)
			return s
		}
		a := mk("a", stuck)
		stopA := rtRun(t, a)
		synctest.Wait()
		rtPut(t, l, rtSource, rtKey, rtStrings("r", 5)...)
		<-stuck.entered // a delivers, and hangs

		// The store becomes unreachable for a: its lease lapses, and b
		// takes the shard over and delivers it from the checkpoint.
		store.cut.Store(true)
		time.Sleep(10 * time.Second)
		b := mk("b", db)
		stopB := rtRun(t, b)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Equal(t, rtStrs(rtStrings("r", 5)), db.data(), "b delivers the shard")

		close(stuck.release) // a's request, were it still in flight, lands now
		synctest.Wait()
		require.NoError(t, stopA())
		require.NoError(t, stopB())
		assert.Zero(t, stuck.late.Load(), "a completed a delivery after its lease lapsed")
	})
}

// slowDest takes d to deliver (or until its context ends).
type slowDest struct {
	rtDest
	d time.Duration
}

func (s *slowDest) Deliver(ctx context.Context, b *delivery.Batch) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.d):
	}
	return s.rtDest.Deliver(ctx, b)
}

// A graceful stop keeps renewing the leases while the workers deliver
// their buffers, so a final delivery longer than the lease TTL (but
// within ShutdownTimeout) is delivered and checkpointed.
func TestGracefulStopRenewsLeasesWhileDelivering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		store := projection.NewMemoryStore()
		dest := &slowDest{d: 10 * time.Second}
		c := rtConfig(l, dest, time.Minute)
		c.Source.Checkpoints, c.Source.Owner, c.Source.LeaseTTL = store, "a", 3*time.Second
		c.ShutdownTimeout = 30 * time.Second
		s, err := delivery.New(c)
		require.NoError(t, err)
		stop := rtRun(t, s)
		synctest.Wait()
		rtPut(t, l, rtSource, rtKey, rtStrings("r", 3)...)
		synctest.Wait()
		require.NoError(t, stop())
		assert.Equal(t, rtStrs(rtStrings("r", 3)), dest.data())
		cps := rtCheckpoints(t, store, "archive")
		require.Len(t, cps, 1)
		for _, p := range cps {
			assert.False(t, p.After.IsZero(), "the final delivery is checkpointed")
		}
	})
}
