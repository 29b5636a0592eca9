package delivery_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// flakyStore is an ObjectStore whose Puts fail while fail(key) says so.
type flakyStore struct {
	delivery.ObjectStore
	mu     sync.Mutex
	fail   func(key string) bool
	failed int
}

var errStoreDown = errors.New("object store unavailable")

func (s *flakyStore) Put(ctx context.Context, key string, body []byte) error {
	s.mu.Lock()
	down := s.fail != nil && s.fail(key)
	if down {
		s.failed++
	}
	s.mu.Unlock()
	if down {
		return errStoreDown
	}
	return s.ObjectStore.Put(ctx, key, body)
}

func (s *flakyStore) setFail(f func(key string) bool) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *flakyStore) failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// The real ObjectDestination over a store that is down, then up for data
// objects but down for the index, then up: nothing is lost, nothing is
// duplicated, and the checkpoints do not move while the store is down.
func TestObjectDestinationDownThenUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := rtLog(t, 2)
		defer l.Close()
		dir, err := delivery.NewDirStore(t.TempDir())
		require.NoError(t, err)
		store := &flakyStore{ObjectStore: dir}
		store.setFail(func(string) bool { return true })
		opts := delivery.ObjectOptions{Layout: delivery.KeyLayout{Prefix: "data/", ErrorOutputPrefix: "errors/!{firehose:error-output-type}/"}}
		dest, err := delivery.NewObjectDestination(store, opts)
		require.NoError(t, err)
		cps := projection.NewMemoryStore()
		c := rtConfig(l, dest, 30*time.Second)
		c.Source.Checkpoints = cps
		c.Retry = delivery.RetryPolicy{Duration: time.Hour, MinBackoff: time.Second, MaxBackoff: 10 * time.Second, OnExhausted: delivery.Stop}
		s, err := delivery.New(c)
		require.NoError(t, err)
		stop := rtRun(t, s)
		synctest.Wait()

		rtPut(t, l, rtSource, rtKey, rtStrings("a", 40)...)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		assert.Greater(t, store.failures(), 4, "the destination was retried")
		assert.Empty(t, rtCheckpoints(t, cps, "archive"), "no checkpoint while the store is down")
		assert.True(t, s.Status().Running)

		// Data objects (and shard catalogs) go through, sidecars do not:
		// data objects without their sidecars, to be replaced by the
		// retries.
		rtPut(t, l, rtSource, rtKey, rtStrings("b", 40)...)
		store.setFail(func(key string) bool {
			return strings.HasPrefix(key, delivery.DefaultIndexPrefix) && !strings.HasSuffix(key, "/shard.json")
		})
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		for id, p := range rtCheckpoints(t, cps, "archive") {
			assert.True(t, p.After.IsZero(), "shard %s checkpointed while its index could not be written", id)
		}
		partial := 0
		for _, err := range dir.List(ctx, "data/") {
			require.NoError(t, err)
			partial++
		}
		assert.Positive(t, partial, "data objects were uploaded")

		// Up: everything is delivered, once.
		store.setFail(nil)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.NoError(t, stop())

		archive, err := delivery.NewObjectArchive(dir, opts)
		require.NoError(t, err)
		d, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: rtSource})
		require.NoError(t, err)
		total := 0
		objects := 0
		for _, err := range dir.List(ctx, "data/") {
			require.NoError(t, err)
			objects++
		}
		for _, sh := range d.Shards {
			var want, got []string
			cur, err := l.NewCursor(ctx, shardlog.NewCursorInput{StreamName: rtSource, ShardID: sh.ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
			require.NoError(t, err)
			b, err := cur.Next(ctx, 0)
			require.NoError(t, err)
			for _, r := range b.Records {
				want = append(want, r.SequenceNumber.String()+"="+string(r.Data))
			}
			for r, err := range archive.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: rtSource, ShardID: sh.ShardID}) {
				require.NoError(t, err)
				got = append(got, r.SequenceNumber.String()+"="+string(r.Data))
			}
			assert.Equal(t, want, got, "shard %s: every record once, in order", sh.ShardID)
			total += len(want)
			if len(b.Records) > 0 {
				assert.Equal(t, b.Records[len(b.Records)-1].SequenceNumber, rtCheckpoints(t, cps, "archive")[sh.ShardID].After)
			}
		}
		assert.Equal(t, 80, total)
		assert.Equal(t, objects, int(s.Status().DeliveredBatches), "one data object per delivered batch: the retries replaced theirs")
		for k, err := range dir.List(ctx, "errors/") {
			require.NoError(t, err)
			t.Errorf("unexpected error output %s", k)
		}
	})
}
