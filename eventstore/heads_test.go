package eventstore_test

import (
	"testing"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/stretchr/testify/require"
)

// Two stores on one log: each caches what it last saw, the other's writes
// make that stale, and no decision is taken on a stale entry.
func TestHeadCacheStaleEntries(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		a, b := e.store(), e.store()

		_, err := a.Append(e.ctx, "k", eventstore.NoStream, deposited{Amount: 1}) // a caches v1
		require.NoError(t, err)
		_, err = b.Append(e.ctx, "k", eventstore.Exact(1), deposited{Amount: 2}) // b reads v1, writes v2
		require.NoError(t, err)

		// a's cache says v1: Exact(2) must still succeed (fresh read)...
		res, err := a.Append(e.ctx, "k", eventstore.Exact(2), deposited{Amount: 3})
		require.NoError(t, err)
		require.Equal(t, uint64(3), res.LastVersion)
		// ...and b's cache (v2) must not make Exact(2) succeed again.
		_, err = b.Append(e.ctx, "k", eventstore.Exact(2), deposited{Amount: 4})
		requireWrongVersion(t, err, "k", eventstore.Exact(2), 3)

		// Any with a stale cache gets the next version, not a stale one.
		_, err = a.Append(e.ctx, "k", eventstore.Exact(3), deposited{Amount: 5}) // b's cache: v3 now stale
		require.NoError(t, err)
		res, err = b.Append(e.ctx, "k", eventstore.Any, deposited{Amount: 6})
		require.NoError(t, err)
		require.Equal(t, uint64(5), res.LastVersion)
		require.Equal(t, span(1, 5), versions(mustReadAll(t, a.Read(e.ctx, "k", 0))))
	})
}

// With Any, a retry that the cache remembers as the latest append, but that
// another store's append followed, is appended again: the documented rule,
// decided on a fresh read.
func TestHeadCacheAnyRetryDecidedFresh(t *testing.T) {
	e := newEnv(t, "memory")
	a, b := e.store(), e.store()
	ev := eventstore.NewEvent(deposited{Amount: 1}, eventstore.Metadata{})
	_, err := a.Append(e.ctx, "k", eventstore.Any, ev)
	require.NoError(t, err)
	_, err = b.Append(e.ctx, "k", eventstore.Any, deposited{Amount: 2})
	require.NoError(t, err)
	again, err := a.Append(e.ctx, "k", eventstore.Any, ev)
	require.NoError(t, err)
	require.False(t, again.Deduplicated)
	require.Equal(t, uint64(3), again.LastVersion)
}

// A read to the end primes the cache; a store without a cache behaves the
// same.
func TestHeadCacheReadThenAppend(t *testing.T) {
	for _, size := range []int{eventstore.DefaultHeadCacheSize, 1, 0} {
		e := newEnv(t, "file")
		w := e.store()
		_, err := w.Append(e.ctx, "k", eventstore.NoStream, deposited{Amount: 1}, deposited{Amount: 2})
		require.NoError(t, err)
		s := e.store(eventstore.WithHeadCache(size))
		require.Len(t, mustReadAll(t, s.Read(e.ctx, "k", 0)), 2)
		_, err = s.Append(e.ctx, "other", eventstore.NoStream, deposited{Amount: 9}) // may evict "k" at size 1
		require.NoError(t, err)
		res, err := s.Append(e.ctx, "k", eventstore.Exact(2), deposited{Amount: 3})
		require.NoError(t, err, "cache size %d", size)
		require.Equal(t, uint64(3), res.LastVersion)
		// A retry of the same batch after a read that primed the cache.
		batch := []any{eventstore.NewEvent(deposited{Amount: 4}, eventstore.Metadata{}), eventstore.NewEvent(deposited{Amount: 5}, eventstore.Metadata{})}
		first, err := s.Append(e.ctx, "k", eventstore.Any, batch...)
		require.NoError(t, err)
		require.Len(t, mustReadAll(t, s.Read(e.ctx, "k", 0)), 5)
		again, err := s.Append(e.ctx, "k", eventstore.Any, batch...)
		require.NoError(t, err)
		require.True(t, again.Deduplicated, "cache size %d", size)
		require.Equal(t, first.First, again.First)
	}
}
