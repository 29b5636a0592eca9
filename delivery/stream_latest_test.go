package delivery_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/projection"
)

// StartAtLatest starts a shard at its end only the first time: the
// position is saved at once, so a restart (or the next lease holder) goes
// on from it and delivers what arrived meanwhile, and the retention hold
// does not keep the records it skipped.
func TestStartAtLatestResumesAfterARestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := rtLog(t, 1)
		defer l.Close()
		rtPut(t, l, rtSource, rtKey, []byte("old"))
		cps := projection.NewMemoryStore()
		dest := &rtDest{}
		mk := func() *delivery.Stream {
			c := rtConfig(l, dest, time.Second)
			c.Source.StartAtLatest, c.Source.Checkpoints = true, cps
			s, err := delivery.New(c)
			require.NoError(t, err)
			return s
		}
		first := mk()
		stop := rtRun(t, first)
		synctest.Wait()
		shard := first.Status().Shards[0].ShardID
		through, err := first.ArchivedThrough(ctx, rtSource, shard)
		require.NoError(t, err)
		assert.False(t, through.IsZero(), "the skipped records count as archived, or the hold keeps them forever")
		require.NoError(t, stop()) // nothing was buffered

		rtPut(t, l, rtSource, rtKey, []byte("while-down"))
		second := mk()
		stop = rtRun(t, second)
		synctest.Wait()
		rtPut(t, l, rtSource, rtKey, []byte("new"))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())
		assert.Equal(t, []string{"while-down", "new"}, dest.data())
	})
}
