package shardlogtest

import (
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// testMultiLogDropIncarnation calls DropStreamID directly: it drops the
// stream only when given the stored incarnation, so that a late delete by
// a Log that missed a re-creation leaves the new stream alone.
func testMultiLogDropIncarnation(t *testing.T, newShared NewSharedEngines) {
	t.Run("DropStreamID drops only its incarnation", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		open := newShared(t)
		e, ok := open().(shardlog.SharedEngine)
		require.True(t, ok, "the opener's engine is a shardlog.SharedEngine")
		t.Cleanup(func() { _ = e.Close() })

		create := func(id uint64) {
			_, err := e.UpdateStream(ctx, "s", func(_ shardlog.MetaTx, cur *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
				m := shardlog.StreamMeta{ID: id, Name: "s", Mode: shardlog.Provisioned, CreatedAt: Epoch, RetentionHours: 24, NextShardIndex: 1, Revision: 1}
				m.Shards = []shardlog.ShardMeta{{ID: "shardId-000000000000", Index: 0, CreatedAt: Epoch}}
				return &m, nil
			})
			require.NoError(t, err)
		}
		create(0x1111)
		err := e.DropStreamID(ctx, "s", 0x2222)
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "another incarnation's ID drops nothing")
		m, found, err := e.LoadStream(ctx, "s")
		require.NoError(t, err)
		require.True(t, found, "the stored stream survives a drop of another incarnation")
		require.Equal(t, uint64(0x1111), m.ID)

		require.NoError(t, e.DropStreamID(ctx, "s", 0x1111))
		_, found, err = e.LoadStream(ctx, "s")
		require.NoError(t, err)
		require.False(t, found, "the stored incarnation's ID drops it")
		require.ErrorIs(t, e.DropStreamID(ctx, "s", 0x1111), shardlog.ErrResourceNotFound, "a dropped stream is not found")
	})
}
