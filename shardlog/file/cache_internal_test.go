package file

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// Many goroutines append to, read and wait on 24 shards through a cache
// that keeps 4 segment files open, so shards are closed and reopened all
// the time, under each sync policy (group commit, the interval syncer).
// Every acknowledged record is there, once, in order, in the running
// engine and after reopening it; the cache's count of open files matches
// the open shards', and stays near the limit.
func TestCacheEvictionConcurrent(t *testing.T) {
	t.Parallel()
	for _, p := range []SyncPolicy{SyncAlways, SyncInterval(time.Millisecond), SyncNever} {
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			cacheConcurrent(t, p)
		})
	}
}

func cacheConcurrent(t *testing.T, policy SyncPolicy) {
	ctx := context.Background()
	dir := t.TempDir()
	const shards, workers, ops, maxOpen = 24, 6, 120, 4
	open := func() *Engine {
		e, err := Open(dir, WithMaxOpenFiles(maxOpen), WithSync(policy), WithSegmentSize(2<<10), WithPreallocation(true))
		require.NoError(t, err)
		return e
	}
	e := open()
	ref := func(i int) shardlog.ShardRef {
		return shardlog.ShardRef{Stream: fmt.Sprintf("s%d", i%3), ID: fmt.Sprintf("shardId-%012d", i), Index: uint32(i)}
	}
	var mu sync.Mutex
	acked := make([]map[shardlog.SequenceNumber]string, shards)
	for i := range acked {
		acked[i] = map[shardlog.SequenceNumber]string{}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Waiters wait on shards while they are closed and reopened
	// (TestCacheNotifySurvivesEviction checks a wake-up is never lost).
	var waiters sync.WaitGroup
	for w := range 3 {
		waiters.Add(1)
		go func() {
			defer waiters.Done()
			for i := w; ; i = (i + 7) % shards {
				ch := e.Notify(ref(i))
				if _, err := e.Bounds(ctx, ref(i)); err != nil {
					t.Error(err)
					return
				}
				select {
				case <-ch:
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for n := range ops {
				i := rng.IntN(shards)
				switch rng.IntN(3) {
				case 0, 1:
					k := rng.IntN(3) + 1
					entries := make([]shardlog.Entry, k)
					for j := range entries {
						entries[j] = shardlog.Entry{PartitionKey: fmt.Sprintf("w%d", w), Data: fmt.Appendf(nil, "w%d-n%d-j%d-%0200d", w, n, j, 0)}
					}
					first, _, err := e.Append(ctx, ref(i), time.Now(), entries, nil)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for j, en := range entries {
						acked[i][shardlog.MakeSequenceNumber(first.Position()+uint64(j), uint32(i))] = string(en.Data)
					}
					mu.Unlock()
				default:
					recs, err := e.Read(ctx, ref(i), shardlog.SequenceNumber{}, 10000, 1<<30)
					if err == nil {
						for j := 1; j < len(recs); j++ {
							if recs[j].SequenceNumber.Compare(recs[j-1].SequenceNumber) <= 0 {
								t.Errorf("shard %d: records out of order", i)
							}
						}
						_, _, err = e.LastKey(ctx, ref(i), fmt.Sprintf("w%d", w))
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		close(stop)
		waiters.Wait()
		return
	}
	check := func(e *Engine) {
		for i := range shards {
			recs, err := e.Read(ctx, ref(i), shardlog.SequenceNumber{}, 100000, 1<<30)
			require.NoError(t, err)
			require.Len(t, recs, len(acked[i]), "shard %d", i)
			for j, r := range recs {
				if j > 0 {
					require.Positive(t, r.SequenceNumber.Compare(recs[j-1].SequenceNumber))
				}
				require.Equal(t, acked[i][r.SequenceNumber], string(r.Data), "shard %d record %d", i, j)
			}
		}
	}
	close(stop)
	waiters.Wait()
	check(e)
	// The count of open files is the open shards', and idle shards were
	// closed down to the limit (a shard in use may pass it briefly).
	e.mu.Lock()
	var sum int64
	for _, s := range e.shards {
		sum += int64(s.nfiles.Load())
		require.Zero(t, s.users)
	}
	require.Equal(t, sum, e.openFiles.Load())
	require.LessOrEqual(t, len(e.shards), maxOpen+1)
	require.Equal(t, len(e.shards), e.lru.Len())
	e.mu.Unlock()
	require.NoError(t, e.Close())
	e = open()
	defer e.Close()
	check(e)
}

// A Notify waiter of a shard that is closed to make room is woken by the
// shard's next append, after it reopens: its channel is kept, not closed
// (which would be a spurious wake-up per eviction) and not lost.
func TestCacheNotifySurvivesEviction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := Open(t.TempDir(), WithMaxOpenFiles(1))
	require.NoError(t, err)
	defer e.Close()
	a := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000000"}
	b := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000001", Index: 1}
	put := func(ref shardlog.ShardRef) {
		_, _, err := e.Append(ctx, ref, time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte("x")}}, nil)
		require.NoError(t, err)
	}
	put(a)
	ch := e.Notify(a)
	put(b) // closes a
	e.mu.Lock()
	_, aOpen := e.shards[shardKey{a.Stream, a.ID}]
	e.mu.Unlock()
	require.False(t, aOpen, "a was closed to make room")
	select {
	case <-ch:
		t.Fatal("woken by the eviction")
	default:
	}
	put(a)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("the append after reopening did not wake the waiter")
	}
	// A shard never opened: Notify opens nothing, the first append wakes.
	c := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000002", Index: 2}
	ch = e.Notify(c)
	put(c)
	<-ch
}

// Bounds of a closed shard, and a Trim with nothing to delete in it (the
// retention pass asks both of every shard each minute), answer from what
// the engine kept when it closed the shard, without opening it. A Trim with
// segments to delete opens it and deletes them.
func TestCacheClosedShardBoundsAndTrim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := Open(t.TempDir(), WithMaxOpenFiles(1), WithSegmentSize(1<<10), WithPreallocation(false))
	require.NoError(t, err)
	defer e.Close()
	a := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000000"}
	b := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000001", Index: 1}
	t0 := time.Now()
	for i := range 10 { // about three segments
		_, _, err := e.Append(ctx, a, t0.Add(time.Duration(i)*time.Second), []shardlog.Entry{{PartitionKey: "k", Data: make([]byte, 300)}}, nil)
		require.NoError(t, err)
	}
	_, err = e.Seal(ctx, a)
	require.NoError(t, err)
	want, err := e.Bounds(ctx, a)
	require.NoError(t, err)
	_, _, err = e.Append(ctx, b, time.Now(), []shardlog.Entry{{PartitionKey: "k", Data: []byte("x")}}, nil)
	require.NoError(t, err) // closes a
	isOpen := func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.shards[shardKey{a.Stream, a.ID}] != nil
	}
	require.False(t, isOpen())
	got, err := e.Bounds(ctx, a)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.True(t, got.Sealed)
	require.NoError(t, e.Trim(ctx, a, t0)) // nothing arrived before t0
	require.False(t, isOpen(), "a Trim with nothing to delete opened the shard")

	require.NoError(t, e.Trim(ctx, a, t0.Add(5*time.Second)))
	require.True(t, isOpen())
	got, err = e.Bounds(ctx, a)
	require.NoError(t, err)
	require.Less(t, got.Count, want.Count, "the first segments were deleted")
	require.Equal(t, want.Last, got.Last)
}
