package delivery_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/projection"
)

func TestTwoInstancesSplitTheShards(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 4)
		defer l.Close()
		store := projection.NewMemoryStore()
		var dests [2]*rtDest
		var streams [2]*delivery.Stream
		var stops [2]func() error
		for i, owner := range []string{"a", "b"} {
			dests[i] = &rtDest{}
			c := rtConfig(l, dests[i], 2*time.Second)
			c.Source.Checkpoints, c.Source.Owner, c.Source.LeaseTTL = store, owner, 3*time.Second
			s, err := delivery.New(c)
			require.NoError(t, err)
			streams[i] = s
		}
		for i := range streams {
			stops[i] = rtRun(t, streams[i])
		}
		// A few renewals: the instances settle on two shards each.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		for i, s := range streams {
			leased := 0
			for _, sh := range s.Status().Shards {
				if sh.Leased {
					leased++
				}
			}
			assert.Equal(t, 2, leased, "instance %d", i)
		}
		leases, err := store.Leases(context.Background(), "archive")
		require.NoError(t, err)
		owners := map[string]int{}
		for _, ls := range leases {
			if !ls.Expired {
				owners[ls.Owner]++
			}
		}
		assert.Equal(t, map[string]int{"a": 2, "b": 2}, owners)

		data := make([][]byte, 200)
		for i := range data {
			data[i] = fmt.Appendf(nil, "r-%d", i)
		}
		rtPut(t, l, rtSource, rtKey, data...)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		for i := range stops {
			require.NoError(t, stops[i]())
		}
		all := append(dests[0].data(), dests[1].data()...)
		assert.ElementsMatch(t, rtStrs(data), all, "together they deliver every record once")
		shardsOf := func(d *rtDest) map[string]bool {
			m := map[string]bool{}
			for _, b := range d.got() {
				m[b.Shard.ShardID] = true
			}
			return m
		}
		a, b := shardsOf(dests[0]), shardsOf(dests[1])
		assert.Len(t, a, 2)
		assert.Len(t, b, 2)
		for id := range a {
			assert.False(t, b[id], "shard %s delivered by both", id)
		}
	})
}

func TestLeaseLostDropsTheBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rtLog(t, 1)
		defer l.Close()
		store := projection.NewMemoryStore()
		da, db := &rtDest{}, &rtDest{}
		mk := func(owner string, d *rtDest) *delivery.Stream {
			c := rtConfig(l, d, 60*time.Second)
			c.Source.Checkpoints, c.Source.Owner, c.Source.LeaseTTL = store, owner, 3*time.Second
			s, err := delivery.New(c)
			require.NoError(t, err)
			return s
		}
		a := mk("a", da)
		stopA := rtRun(t, a)
		synctest.Wait()
		rtPut(t, l, rtSource, rtKey, rtStrings("r", 5)...)
		synctest.Wait()
		require.Equal(t, 5, a.Status().Shards[0].BufferedRecords)

		// a's lease is taken from it (it looks dead to the store); b takes
		// the shard over and delivers from the checkpoint.
		store.Expire("archive", "a")
		b := mk("b", db)
		stopB := rtRun(t, b)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		require.NoError(t, stopA())
		require.NoError(t, stopB())
		assert.Empty(t, da.got(), "the instance that lost its lease delivers nothing")
		assert.Equal(t, rtStrs(rtStrings("r", 5)), db.data())
	})
}
