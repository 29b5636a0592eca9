package shardlogtest

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// streamsRequireArg asserts that err wraps sentinel and is an
// *shardlog.ArgumentError naming field.
func streamsRequireArg(t *testing.T, err error, sentinel error, field string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, sentinel)
	var ae *shardlog.ArgumentError
	require.True(t, errors.As(err, &ae), "error %v is not an *ArgumentError", err)
	require.Equal(t, field, ae.Field, "field of %v", err)
}

// streamsNames returns n distinct valid stream names.
func streamsNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// streamsTwo128 returns 2^128.
func streamsTwo128() *big.Int { return new(big.Int).Lsh(big.NewInt(1), 128) }

func streamsBig(t *testing.T, h shardlog.HashKey) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(h.String(), 10)
	require.True(t, ok, "hash key %q is not decimal", h.String())
	return v
}

// streamsRequireTiling asserts that the open shards cover [0, 2^128-1]
// exactly: sorted by start, contiguous, no overlap.
func streamsRequireTiling(t *testing.T, shards []shardlog.Shard) {
	t.Helper()
	var open []shardlog.Shard
	for _, s := range shards {
		if !s.Closed {
			open = append(open, s)
		}
	}
	require.NotEmpty(t, open)
	slices.SortFunc(open, func(a, b shardlog.Shard) int {
		return a.HashKeyRange.StartingHashKey.Compare(b.HashKeyRange.StartingHashKey)
	})
	next := big.NewInt(0)
	for _, s := range open {
		start, end := streamsBig(t, s.HashKeyRange.StartingHashKey), streamsBig(t, s.HashKeyRange.EndingHashKey)
		require.Zero(t, next.Cmp(start), "shard %s starts at %s, want %s (gap or overlap)", s.ShardID, start, next)
		require.True(t, start.Cmp(end) <= 0, "shard %s range is empty: [%s, %s]", s.ShardID, start, end)
		next = new(big.Int).Add(end, big.NewInt(1))
	}
	require.Zero(t, next.Cmp(streamsTwo128()), "open shards end at %s, want 2^128-1", new(big.Int).Sub(next, big.NewInt(1)))
}
