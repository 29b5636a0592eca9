package eventstore_test

import (
	"fmt"
	"testing"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// TestReshard reshards the log in the middle of an aggregate's history:
// reads find every version in order, appends keep their expected
// versions, and retries are recognised across the reshard.
func TestReshard(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withShards(1))
		s := e.store()
		ctx := e.ctx
		const id = "agg"
		var results []eventstore.AppendResult // in order, one per append
		shardOf := map[uint64]string{}        // version → shard written to
		noise := 0
		appendAt := func(exp eventstore.ExpectedVersion, evs ...any) eventstore.AppendResult {
			t.Helper()
			// Other aggregates write to the log as well.
			for range 3 {
				_, err := s.Append(ctx, fmt.Sprintf("other-%d", noise), eventstore.Any, deposited{Amount: noise})
				require.NoError(t, err)
				noise++
			}
			res, err := s.Append(ctx, id, exp, evs...)
			require.NoError(t, err)
			require.False(t, res.Deduplicated)
			require.Equal(t, e.owner(id).ShardID, res.First.ShardID, "written to the open shard owning the key")
			require.Equal(t, res.First.ShardID, res.Last.ShardID)
			for v := res.FirstVersion; v <= res.LastVersion; v++ {
				shardOf[v] = res.First.ShardID
			}
			results = append(results, res)
			return res
		}
		check := func(n uint64) {
			t.Helper()
			evs := mustReadAll(t, s.Read(ctx, id, 0))
			require.Equal(t, span(1, n), versions(evs))
			for i, ev := range evs {
				require.Equal(t, shardOf[ev.Version], ev.Position.ShardID, "v%d", ev.Version)
				require.Equal(t, ev.Position.SequenceNumber.ShardID(), ev.Position.ShardID)
				if i > 0 {
					require.Positive(t, ev.Position.SequenceNumber.Compare(evs[i-1].Position.SequenceNumber), "positions grow from parent to child")
				}
			}
			require.Equal(t, span(n, 1), versions(mustReadAll(t, s.ReadBackward(ctx, id, 0))))
			require.Equal(t, span(n-1, 1), versions(mustReadAll(t, s.ReadBackward(ctx, id, n-1))))
			require.Equal(t, span(2, n), versions(mustReadAll(t, s.Read(ctx, id, 2))))
			v, err := s.Version(ctx, id)
			require.NoError(t, err)
			require.Equal(t, n, v)
			last, err := s.Last(ctx, id)
			require.NoError(t, err)
			require.Equal(t, n, last.Version)
			ld, err := s.Load(ctx, id, nil)
			require.NoError(t, err)
			require.Len(t, mustReadAll(t, ld.Events), int(n))
		}
		requireRetry := func(exp eventstore.ExpectedVersion, orig eventstore.AppendResult, evs ...any) {
			t.Helper()
			again, err := s.Append(ctx, id, exp, evs...)
			require.NoError(t, err)
			require.True(t, again.Deduplicated)
			require.Equal(t, orig.FirstVersion, again.FirstVersion)
			require.Equal(t, orig.LastVersion, again.LastVersion)
			require.Equal(t, orig.First, again.First)
			require.Equal(t, orig.Last, again.Last)
			require.True(t, orig.RecordedAt.Equal(again.RecordedAt))
		}

		appendAt(eventstore.NoStream, opened{Owner: "ann"}, deposited{Amount: 1}, deposited{Amount: 2})
		b := []any{eventstore.NewEvent(deposited{Amount: 4}, eventstore.Metadata{}), eventstore.NewEvent(withdrawn{Amount: 5}, eventstore.Metadata{})}
		rb := appendAt(eventstore.Exact(3), b...)
		check(5)

		// Split the shard that holds versions 1-5.
		parent := e.splitOwner(id)
		require.Equal(t, parent, rb.First.ShardID)
		require.NotEqual(t, parent, e.owner(id).ShardID)
		check(5)
		// The latest append, now in a closed parent shard, is recognised
		// by every kind of expectation.
		requireRetry(eventstore.Exact(3), rb, b...)
		requireRetry(eventstore.Any, rb, b...)
		requireRetry(eventstore.StreamExists, rb, b...)
		_, err := s.Append(ctx, id, eventstore.Exact(3), deposited{Amount: 9})
		requireWrongVersion(t, err, id, eventstore.Exact(3), 5)
		_, err = s.Append(ctx, id, eventstore.NoStream, deposited{Amount: 9})
		requireWrongVersion(t, err, id, eventstore.NoStream, 5)

		c := eventstore.NewEvent(deposited{Amount: 6}, eventstore.Metadata{})
		rc := appendAt(eventstore.Exact(5), c)
		require.NotEqual(t, parent, rc.First.ShardID)
		check(6)
		requireRetry(eventstore.Exact(3), rb, b...) // across the reshard
		requireRetry(eventstore.Exact(5), rc, c)
		requireRetry(eventstore.Any, rc, c)

		// Merge the children back.
		e.mergeChildren(parent)
		check(6)
		requireRetry(eventstore.Any, rc, c)
		appendAt(eventstore.Exact(6), withdrawn{Amount: 7})
		check(7)

		// UpdateShardCount up and down.
		for i, n := range []int{2, 4, 3} {
			_, err := e.log.UpdateShardCount(ctx, shardlog.UpdateShardCountInput{StreamName: testStream, TargetShardCount: n})
			require.NoError(t, err)
			require.Len(t, e.openShards(), n)
			check(uint64(7 + 2*i))
			appendAt(eventstore.Exact(uint64(7+2*i)), deposited{Amount: i}, withdrawn{Amount: i})
			check(uint64(9 + 2*i))
		}
		appendAt(eventstore.Any, deposited{Amount: 14})
		appendAt(eventstore.StreamExists, deposited{Amount: 15})
		check(15)
		for _, r := range results {
			require.Equal(t, shardOf[r.FirstVersion], r.First.ShardID)
		}
		require.GreaterOrEqual(t, len(map[string]bool{shardOf[1]: true, shardOf[6]: true, shardOf[7]: true, shardOf[9]: true, shardOf[11]: true, shardOf[13]: true}), 5, "the aggregate moved shards")

		// Idempotent retries of the early appends still hold.
		requireRetry(eventstore.Exact(3), rb, b...)
		requireRetry(eventstore.Exact(5), rc, c)
		_, err = s.Append(ctx, id, eventstore.Exact(14), deposited{Amount: 9})
		requireWrongVersion(t, err, id, eventstore.Exact(14), 15)

		// The other aggregates are intact.
		for i := range noise {
			evs := mustReadAll(t, s.Read(ctx, fmt.Sprintf("other-%d", i), 0))
			require.Len(t, evs, 1)
			d, err := eventstore.DataAs[deposited](&evs[0])
			require.NoError(t, err)
			require.Equal(t, i, d.Amount)
		}

		// After a restart too (file engine).
		e.reopenLog()
		s = e.store()
		check(15)
		requireRetry(eventstore.Exact(3), rb, b...)
		appendAt(eventstore.Exact(15), deposited{Amount: 16})
		check(16)
	})
}
