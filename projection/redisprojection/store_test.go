package redisprojection_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/projection/projectiontest"
	"github.com/shoal-dev/shoal/projection/redisprojection"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const shard = "shardId-000000000000"

func miniClient(t *testing.T) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return mr, c
}

func TestMiniredis(t *testing.T) {
	_, c := miniClient(t)
	store := redisprojection.New(c)
	projectiontest.RunSharedStore(t, func(*testing.T) projection.SharedStore { return store }, 200*time.Millisecond)
}

// realRedis returns a client of the server SHOAL_TEST_REDIS names and a
// key prefix unique to the test, whose keys are deleted when it ends; it
// skips the test if the variable is not set.
func realRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("SHOAL_TEST_REDIS")
	if url == "" {
		t.Skip("SHOAL_TEST_REDIS is not set: set it to a Redis URL (redis://127.0.0.1:6379/0) to run against a real server")
	}
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	require.NoError(t, c.Ping(context.Background()).Err())
	prefix := fmt.Sprintf("shoal-test-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, "{"+prefix+":*", 100).Iterator()
		for iter.Next(ctx) {
			assert.NoError(t, c.Del(ctx, iter.Val()).Err())
		}
		assert.NoError(t, iter.Err())
	})
	return c, prefix
}

func TestRedis(t *testing.T) {
	c, prefix := realRedis(t)
	store := redisprojection.New(c, redisprojection.WithKeyPrefix(prefix))
	projectiontest.RunSharedStore(t, func(*testing.T) projection.SharedStore { return store }, 200*time.Millisecond)
}

// onBoth runs f against miniredis and, if SHOAL_TEST_REDIS is set, a real
// Redis, with the client and the key prefix the store uses.
func onBoth(t *testing.T, f func(t *testing.T, c redis.UniversalClient, prefix string)) {
	t.Run("miniredis", func(t *testing.T) {
		_, c := miniClient(t)
		f(t, c, redisprojection.DefaultKeyPrefix)
	})
	t.Run("redis", func(t *testing.T) {
		c, prefix := realRedis(t)
		f(t, c, prefix)
	})
}

// TestServerClock checks that expiry follows the Redis server's clock, not
// the Go process's.
func TestServerClock(t *testing.T) {
	ctx := context.Background()
	mr, c := miniClient(t)
	s := redisprojection.New(c)
	start := time.Now()
	mr.SetTime(start)
	a, err := s.Acquire(ctx, "p", shard, "a", time.Minute)
	require.NoError(t, err)
	live, err := s.Heartbeat(ctx, "p", "a", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, live)

	mr.SetTime(start.Add(59 * time.Second))
	_, err = s.Acquire(ctx, "p", shard, "b", time.Minute)
	assert.ErrorIs(t, err, projection.ErrLeaseHeld)
	assert.ErrorContains(t, err, "by a")

	mr.SetTime(start.Add(61 * time.Second))
	ls, err := s.Leases(ctx, "p")
	require.NoError(t, err)
	require.Len(t, ls, 1)
	assert.True(t, ls[0].Expired)
	live, err = s.Heartbeat(ctx, "p", "b", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, live, "a's heartbeat expired by the server's clock")
	b, err := s.Acquire(ctx, "p", shard, "b", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, a.Token+1, b.Token)
}

func TestKeyLayout(t *testing.T) {
	ctx := context.Background()
	mr, c := miniClient(t)
	s := redisprojection.New(c, redisprojection.WithKeyPrefix("app"))
	l, err := s.Acquire(ctx, "orders", shard, "a", time.Minute)
	require.NoError(t, err)
	require.NoError(t, s.Park(ctx, "orders", projection.Parked{Shard: shard, SequenceNumber: shardlog.MakeSequenceNumber(3, 0), ParkedAt: time.Now()},
		projection.Progress{After: shardlog.MakeSequenceNumber(3, 0)}, l.Token))
	_, err = s.Heartbeat(ctx, "orders", "a", time.Minute)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"{app:orders}:cp", "{app:orders}:parked", "{app:orders}:leases", "{app:orders}:members"}, mr.Keys())

	other := redisprojection.New(c)
	cps, err := other.Checkpoints(ctx, "orders")
	require.NoError(t, err)
	assert.Empty(t, cps, "another prefix sees nothing")

	require.NoError(t, s.Reset(ctx, "orders"))
	assert.ElementsMatch(t, []string{"{app:orders}:leases", "{app:orders}:members"}, mr.Keys(), "Reset keeps leases")
}

func TestCorruptValues(t *testing.T) { onBoth(t, testCorruptValues) }

func testCorruptValues(t *testing.T, c redis.UniversalClient, prefix string) {
	ctx := context.Background()
	s := redisprojection.New(c, redisprojection.WithKeyPrefix(prefix))
	base := "{" + prefix + ":p}:"
	require.NoError(t, c.HSet(ctx, base+"cp", shard, "{not json").Err())
	require.NoError(t, c.HSet(ctx, base+"parked", "1:"+shard, `{"seq":"x"}`).Err())
	require.NoError(t, c.HSet(ctx, base+"leases", shard, "garbage").Err())

	_, err := s.Checkpoints(ctx, "p")
	assert.ErrorContains(t, err, shard)
	_, err = s.Parked(ctx, "p")
	assert.Error(t, err)
	_, err = s.Leases(ctx, "p")
	assert.ErrorContains(t, err, "corrupt")
	_, err = s.Acquire(ctx, "p", shard, "a", time.Minute)
	assert.ErrorContains(t, err, "CORRUPT")
	assert.NotErrorIs(t, err, projection.ErrLeaseHeld)
	_, err = s.Renew(ctx, projection.Lease{Projection: "p", Shard: shard, Owner: "a", Token: 1}, time.Minute)
	assert.ErrorContains(t, err, "CORRUPT")
	err = s.Release(ctx, projection.Lease{Projection: "p", Shard: shard, Owner: "a", Token: 1})
	assert.ErrorContains(t, err, "CORRUPT")
	err = s.SaveCheckpoint(ctx, "p", shard, projection.Progress{}, 1)
	assert.ErrorContains(t, err, "CORRUPT")
	assert.NotErrorIs(t, err, projection.ErrLeaseLost)
}

func TestReleasedLeaseIsNotReleasedAgain(t *testing.T) {
	onBoth(t, func(t *testing.T, c redis.UniversalClient, prefix string) {
		testReleasedLeaseIsNotReleasedAgain(t, redisprojection.New(c, redisprojection.WithKeyPrefix(prefix)))
	})
}

func testReleasedLeaseIsNotReleasedAgain(t *testing.T, s *redisprojection.Store) {
	ctx := context.Background()
	a, err := s.Acquire(ctx, "p", shard, "a", time.Minute)
	require.NoError(t, err)
	require.NoError(t, s.Release(ctx, a))
	err = s.Release(ctx, projection.Lease{Projection: "p", Shard: shard, Token: a.Token})
	assert.ErrorIs(t, err, projection.ErrLeaseLost, "nobody holds a released lease, not even the empty owner")
	assert.ErrorIs(t, s.Release(ctx, projection.Lease{Projection: "p", Shard: "other", Owner: "a", Token: 1}), projection.ErrLeaseLost)
}

func TestOwnerWithSeparators(t *testing.T) {
	onBoth(t, func(t *testing.T, c redis.UniversalClient, prefix string) {
		testOwnerWithSeparators(t, redisprojection.New(c, redisprojection.WithKeyPrefix(prefix)))
	})
}

func testOwnerWithSeparators(t *testing.T, s *redisprojection.Store) {
	ctx := context.Background()
	owner := "host:1:pid 42\nx"
	a, err := s.Acquire(ctx, "p", shard, owner, time.Minute)
	require.NoError(t, err)
	_, err = s.Acquire(ctx, "p", shard, "b", time.Minute)
	assert.ErrorIs(t, err, projection.ErrLeaseHeld)
	ls, err := s.Leases(ctx, "p")
	require.NoError(t, err)
	require.Len(t, ls, 1)
	assert.Equal(t, owner, ls[0].Owner)
	_, err = s.Renew(ctx, a, time.Minute)
	require.NoError(t, err)
	require.NoError(t, s.Release(ctx, a))
}

func TestSubMillisecondTTL(t *testing.T) {
	ctx := context.Background()
	mr, c := miniClient(t)
	s := redisprojection.New(c)
	mr.SetTime(time.Now())
	_, err := s.Acquire(ctx, "p", shard, "a", time.Microsecond)
	require.NoError(t, err)
	_, err = s.Acquire(ctx, "p", shard, "b", time.Minute)
	assert.ErrorIs(t, err, projection.ErrLeaseHeld, "a positive TTL rounds up to a millisecond, not down to none")
}

// TestHeartbeatKeyExpires checks that the members set carries an expiry
// at its last member's, so an abandoned projection leaves no key behind.
func TestHeartbeatKeyExpires(t *testing.T) {
	onBoth(t, func(t *testing.T, c redis.UniversalClient, prefix string) {
		ctx := context.Background()
		s := redisprojection.New(c, redisprojection.WithKeyPrefix(prefix))
		key := "{" + prefix + ":p}:members"
		_, err := s.Heartbeat(ctx, "p", "a", time.Hour)
		require.NoError(t, err)
		_, err = s.Heartbeat(ctx, "p", "b", time.Minute)
		require.NoError(t, err)
		ttl, err := c.PTTL(ctx, key).Result()
		require.NoError(t, err)
		assert.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 5)
		live, err := s.Heartbeat(ctx, "p", "a", 0)
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, live)
		_, err = s.Heartbeat(ctx, "p", "b", 0)
		require.NoError(t, err)
		n, err := c.Exists(ctx, key).Result()
		require.NoError(t, err)
		assert.Zero(t, n, "the last leave deletes the set")
	})
}
