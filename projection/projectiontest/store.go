// Package projectiontest is the conformance suite for projection stores:
// every CheckpointStore and SharedStore runs it, so the runner can rely on
// the same behaviour from memory, file, PostgreSQL and Redis.
package projectiontest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seq builds a sequence number in shard index 0.
func seq(pos uint64) shardlog.SequenceNumber { return shardlog.MakeSequenceNumber(pos, 0) }

// unique returns a projection name no earlier subtest used, so stores that
// share a database between subtests do not see each other's rows.
func unique(t *testing.T) string {
	return fmt.Sprintf("p-%s-%d", t.Name(), time.Now().UnixNano())
}

// RunCheckpointStore checks the CheckpointStore contract. newStore returns
// a store; it may be called several times per test, and stores it returns
// within one test must share their data (a reopened file, the same
// database), so the suite can check what survives a reopen.
func RunCheckpointStore(t *testing.T, newStore func(t *testing.T) projection.CheckpointStore) {
	ctx := context.Background()

	t.Run("Empty", func(t *testing.T) {
		s := newStore(t)
		cps, err := s.Checkpoints(ctx, unique(t))
		require.NoError(t, err)
		assert.Empty(t, cps)
		parked, err := s.Parked(ctx, unique(t))
		require.NoError(t, err)
		assert.Empty(t, parked)
	})

	t.Run("SaveAndReload", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		big := shardlog.MakeSequenceNumber(1<<63+12345, 7) // above int64, in shard 7
		require.NoError(t, s.SaveCheckpoint(ctx, name, "shardId-000000000000", projection.Progress{After: seq(5)}, 0))
		require.NoError(t, s.SaveCheckpoint(ctx, name, "shardId-000000000007", projection.Progress{After: big}, 0))
		require.NoError(t, s.SaveCheckpoint(ctx, name, "shardId-000000000000", projection.Progress{After: seq(9)}, 0))
		require.NoError(t, s.SaveCheckpoint(ctx, name, "shardId-000000000003", projection.Progress{Done: true}, 0))
		want := map[string]projection.Progress{
			"shardId-000000000000": {After: seq(9)},
			"shardId-000000000007": {After: big},
			"shardId-000000000003": {Done: true},
		}
		got, err := s.Checkpoints(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		got, err = newStore(t).Checkpoints(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, want, got, "after reopening")
		other, err := s.Checkpoints(ctx, name+"-other")
		require.NoError(t, err)
		assert.Empty(t, other, "projections are separate")
	})

	t.Run("KeyThatIsNoShard", func(t *testing.T) {
		// projection.RebuildAsOf keeps its marker as a checkpoint under a
		// key that is no shard ID; it must round-trip and Reset must
		// delete it.
		s, name := newStore(t), unique(t)
		const key = "as-of 2026-03-31T23:59:59.999999999Z"
		require.NoError(t, s.SaveCheckpoint(ctx, name, key, projection.Progress{Done: true}, 0))
		require.NoError(t, s.SaveCheckpoint(ctx, name, "shardId-000000000000", projection.Progress{After: seq(3)}, 0))
		got, err := newStore(t).Checkpoints(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, map[string]projection.Progress{key: {Done: true}, "shardId-000000000000": {After: seq(3)}}, got)
		at, ok, err := projection.AsOf(ctx, s, name)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.True(t, at.Equal(time.Date(2026, 3, 31, 23, 59, 59, 999999999, time.UTC)), "%s", at)
		require.NoError(t, s.Reset(ctx, name))
		got, err = s.Checkpoints(ctx, name)
		require.NoError(t, err)
		assert.Empty(t, got)
	})

	t.Run("DoneKeepsAfter", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		p := projection.Progress{After: seq(42), Done: true}
		require.NoError(t, s.SaveCheckpoint(ctx, name, "shardId-000000000001", p, 0))
		got, err := s.Checkpoints(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, p, got["shardId-000000000001"])
	})

	t.Run("ParkRecordsEventAndProgress", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
		ev := projection.Parked{
			Shard: "shardId-000000000000", SequenceNumber: seq(7), StreamID: "order-1", Version: 3,
			EventID: "0190f0e6-0000-7000-8000-000000000001", Type: "OrderPlaced", Error: "boom", Attempts: 5, ParkedAt: at,
		}
		require.NoError(t, s.Park(ctx, name, ev, projection.Progress{After: seq(7)}, 0))
		ev2 := ev
		ev2.SequenceNumber, ev2.Version, ev2.Error, ev2.ParkedAt = seq(9), 4, "bang", at.Add(time.Second)
		require.NoError(t, s.Park(ctx, name, ev2, projection.Progress{After: seq(9)}, 0))
		// Parking the same position again (a crash before the checkpoint
		// moved, then the same failure) replaces the record.
		ev2.Error, ev2.Attempts = "bang again", 6
		require.NoError(t, s.Park(ctx, name, ev2, projection.Progress{After: seq(9)}, 0))

		for _, st := range []projection.CheckpointStore{s, newStore(t)} {
			parked, err := st.Parked(ctx, name)
			require.NoError(t, err)
			require.Len(t, parked, 2)
			assertParked(t, ev, parked[0])
			assertParked(t, ev2, parked[1])
			cps, err := st.Checkpoints(ctx, name)
			require.NoError(t, err)
			assert.Equal(t, projection.Progress{After: seq(9)}, cps["shardId-000000000000"])
		}
	})

	t.Run("Reset", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		require.NoError(t, s.SaveCheckpoint(ctx, name, "shardId-000000000000", projection.Progress{After: seq(5)}, 0))
		require.NoError(t, s.SaveCheckpoint(ctx, name+"-kept", "shardId-000000000000", projection.Progress{After: seq(5)}, 0))
		require.NoError(t, s.Park(ctx, name, projection.Parked{Shard: "shardId-000000000000", SequenceNumber: seq(3), Error: "x", ParkedAt: time.Now()}, projection.Progress{After: seq(6)}, 0))
		require.NoError(t, s.Reset(ctx, name))
		cps, err := s.Checkpoints(ctx, name)
		require.NoError(t, err)
		assert.Empty(t, cps)
		parked, err := s.Parked(ctx, name)
		require.NoError(t, err)
		assert.Empty(t, parked)
		kept, err := s.Checkpoints(ctx, name+"-kept")
		require.NoError(t, err)
		assert.Len(t, kept, 1, "Reset touches one projection")
	})

	t.Run("ConcurrentShards", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				shard := fmt.Sprintf("shardId-%012d", i)
				for n := uint64(1); n <= 20; n++ {
					assert.NoError(t, s.SaveCheckpoint(ctx, name, shard, projection.Progress{After: seq(n)}, 0))
				}
			}()
		}
		wg.Wait()
		cps, err := s.Checkpoints(ctx, name)
		require.NoError(t, err)
		require.Len(t, cps, 8)
		for shard, p := range cps {
			assert.Equal(t, seq(20), p.After, shard)
		}
	})
}

func assertParked(t *testing.T, want, got projection.Parked) {
	t.Helper()
	assert.True(t, want.ParkedAt.Equal(got.ParkedAt), "ParkedAt %s, want %s", got.ParkedAt, want.ParkedAt)
	want.ParkedAt, got.ParkedAt = time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

// RunSharedStore checks the CheckpointStore contract and the LeaseStore
// contract with fencing. ttl is the shortest lease the store keeps
// reliably (the suite waits about twice as long for expiry).
func RunSharedStore(t *testing.T, newStore func(t *testing.T) projection.SharedStore, ttl time.Duration) {
	ctx := context.Background()
	RunCheckpointStore(t, func(t *testing.T) projection.CheckpointStore { return newStore(t) })
	long := time.Minute
	const shard = "shardId-000000000000"

	t.Run("AcquireRenewRelease", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		a, err := s.Acquire(ctx, name, shard, "a", long)
		require.NoError(t, err)
		assert.Equal(t, projection.Lease{Projection: name, Shard: shard, Owner: "a", Token: 1}, a)
		_, err = s.Acquire(ctx, name, shard, "b", long)
		assert.ErrorIs(t, err, projection.ErrLeaseHeld)
		_, err = s.Acquire(ctx, name, shard, "a", long)
		assert.ErrorIs(t, err, projection.ErrLeaseHeld, "a live lease is held even against its owner")
		r, err := s.Renew(ctx, a, long)
		require.NoError(t, err)
		assert.Equal(t, a.Token, r.Token, "renewal keeps the token")

		ls, err := s.Leases(ctx, name)
		require.NoError(t, err)
		require.Len(t, ls, 1)
		assert.Equal(t, projection.Lease{Projection: name, Shard: shard, Owner: "a", Token: 1}, ls[0])

		require.NoError(t, s.Release(ctx, a))
		ls, err = s.Leases(ctx, name)
		require.NoError(t, err)
		require.Len(t, ls, 1)
		assert.True(t, ls[0].Expired, "a released lease is free")
		assert.Equal(t, uint64(1), ls[0].Token, "a released lease keeps its token")
		_, err = s.Renew(ctx, a, long)
		assert.ErrorIs(t, err, projection.ErrLeaseLost, "renewing a released lease")
		assert.ErrorIs(t, s.Release(ctx, a), projection.ErrLeaseLost, "releasing twice")

		b, err := s.Acquire(ctx, name, shard, "b", long)
		require.NoError(t, err)
		assert.Equal(t, uint64(2), b.Token, "each new holder gets a higher token")
		_, err = s.Renew(ctx, a, long)
		assert.ErrorIs(t, err, projection.ErrLeaseLost)
	})

	t.Run("Expiry", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		a, err := s.Acquire(ctx, name, shard, "a", ttl)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			ls, err := s.Leases(ctx, name)
			return err == nil && len(ls) == 1 && ls[0].Expired
		}, 20*ttl, ttl/4, "the lease expires")
		b, err := s.Acquire(ctx, name, shard, "b", long)
		require.NoError(t, err, "an expired lease is taken over")
		assert.Equal(t, a.Token+1, b.Token)
		_, err = s.Renew(ctx, a, long)
		assert.ErrorIs(t, err, projection.ErrLeaseLost, "the old holder's renewal")
	})

	t.Run("RenewExpiredUntaken", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		a, err := s.Acquire(ctx, name, shard, "a", ttl)
		require.NoError(t, err)
		time.Sleep(2 * ttl)
		r, err := s.Renew(ctx, a, long)
		require.NoError(t, err, "an expired lease nobody took is renewed")
		assert.Equal(t, a.Token, r.Token)
		_, err = s.Acquire(ctx, name, shard, "b", long)
		assert.ErrorIs(t, err, projection.ErrLeaseHeld)
	})

	t.Run("Fencing", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		a, err := s.Acquire(ctx, name, shard, "a", ttl)
		require.NoError(t, err)
		require.NoError(t, s.SaveCheckpoint(ctx, name, shard, projection.Progress{After: seq(1)}, a.Token))
		time.Sleep(2 * ttl)
		b, err := s.Acquire(ctx, name, shard, "b", long)
		require.NoError(t, err)
		err = s.SaveCheckpoint(ctx, name, shard, projection.Progress{After: seq(2)}, a.Token)
		assert.ErrorIs(t, err, projection.ErrLeaseLost, "a stale token cannot move the checkpoint")
		err = s.Park(ctx, name, projection.Parked{Shard: shard, SequenceNumber: seq(2), Error: "x", ParkedAt: time.Now()}, projection.Progress{After: seq(2)}, a.Token)
		assert.ErrorIs(t, err, projection.ErrLeaseLost, "nor park")
		cps, err := s.Checkpoints(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, seq(1), cps[shard].After)
		parked, err := s.Parked(ctx, name)
		require.NoError(t, err)
		assert.Empty(t, parked)
		require.NoError(t, s.SaveCheckpoint(ctx, name, shard, projection.Progress{After: seq(3)}, b.Token))
		err = s.SaveCheckpoint(ctx, name, "shardId-000000000009", projection.Progress{After: seq(3)}, b.Token)
		assert.ErrorIs(t, err, projection.ErrLeaseLost, "a token is for its own shard")
		require.NoError(t, s.SaveCheckpoint(ctx, name, shard, projection.Progress{After: seq(4)}, 0), "token 0 is unfenced")
	})

	t.Run("OneWinnerRace", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Acquire(ctx, name, shard, fmt.Sprintf("o%d", i), long)
				if err == nil {
					mu.Lock()
					winners++
					mu.Unlock()
				} else if !errors.Is(err, projection.ErrLeaseHeld) {
					t.Errorf("acquire: %v", err)
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, 1, winners)
	})

	t.Run("Heartbeat", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		live, err := s.Heartbeat(ctx, name, "b", long)
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, live)
		live, err = s.Heartbeat(ctx, name, "a", long)
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, live)
		_, err = s.Heartbeat(ctx, name, "c", ttl)
		require.NoError(t, err)
		time.Sleep(2 * ttl)
		live, err = s.Heartbeat(ctx, name, "a", long)
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, live, "c's heartbeat expired")
		live, err = s.Heartbeat(ctx, name, "b", 0)
		require.NoError(t, err)
		assert.Equal(t, []string{"a"}, live, "b left")
		other, err := s.Heartbeat(ctx, name+"-other", "z", long)
		require.NoError(t, err)
		assert.Equal(t, []string{"z"}, other)
	})

	t.Run("BadArguments", func(t *testing.T) {
		s, name := newStore(t), unique(t)
		var ae *shardlog.ArgumentError
		_, err := s.Acquire(ctx, name, shard, "", long)
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, "owner", ae.Field)
		_, err = s.Acquire(ctx, name, shard, "a", 0)
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, "ttl", ae.Field)
	})
}
