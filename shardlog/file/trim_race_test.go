package file_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

// Reads racing with Trim: a reader that took its view of the shard before
// Trim deleted the oldest segments reads them no more, but never fails
// (a full segment holds no descriptor, so a read opens it by name).
func TestReadRacingTrim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := file.Open(t.TempDir(), file.WithSegmentSize(1<<10), file.WithPreallocation(false), file.WithSync(file.SyncNever))
	require.NoError(t, err)
	defer e.Close()
	ref := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000000"}
	t0 := time.Unix(1_700_000_000, 0)
	n := 0
	put := func(k int) {
		for range k {
			_, _, err := e.Append(ctx, ref, t0.Add(time.Duration(n)*time.Second), []shardlog.Entry{{PartitionKey: "k", Data: make([]byte, 200)}}, nil)
			require.NoError(t, err)
			n++
		}
	}
	put(400) // about 100 segments
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readErr error
	var once sync.Once
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.Read(ctx, ref, shardlog.SequenceNumber{}, 10000, 1<<30); err != nil {
					once.Do(func() { readErr = err })
					return
				}
				if _, _, err := e.SeekTime(ctx, ref, t0); err != nil {
					once.Do(func() { readErr = err })
					return
				}
			}
		}()
	}
	for cut := 0; cut < 380 && readErr == nil; cut += 4 {
		require.NoError(t, e.Trim(ctx, ref, t0.Add(time.Duration(cut)*time.Second)))
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		t.Fatalf("a read racing with Trim failed: %v", readErr)
	}
}
