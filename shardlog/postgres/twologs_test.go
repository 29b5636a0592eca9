package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// TestTwoLogs runs two shardlog.Logs on one schema, as two services would:
// a stream created by one is found by the other, a tag and a reshard by
// one are seen by the other within a second, puts of the other made
// across the reshard are all stored once, and conditional appends from
// both on one key stay a single chain.
func TestTwoLogs(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	ctx := t.Context()
	open := func() *shardlog.Log {
		l, err := shardlog.Open(ctx, openEngine(t, pool, schema), shardlog.WithRetentionInterval(0))
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	a, b := open(), open()
	require.NoError(t, a.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 2}))

	// b finds the stream a created, and sees a's tag within a second.
	require.NoError(t, a.AddTagsToStream(ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{"team": "a"}}))
	require.Eventually(t, func() bool {
		out, err := b.ListTagsForStream(ctx, shardlog.ListTagsForStreamInput{StreamName: "s"})
		return err == nil && len(out.Tags) == 1 && out.Tags[0].Value == "a"
	}, time.Second, 10*time.Millisecond, "a's tag reaches b")

	// b puts while a reshards; then both extend one key's chain.
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("p%d", i)
			if _, err := b.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: key, Data: []byte(key)}); err != nil {
				t.Errorf("put by b across a's reshard: %v", err)
				return
			}
			mu.Lock()
			acked[key] = true
			mu.Unlock()
		}
	})
	time.Sleep(100 * time.Millisecond)
	_, err := a.UpdateShardCount(ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: 4})
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()

	require.Eventually(t, func() bool {
		d, err := b.DescribeStreamSummary(ctx, shardlog.DescribeStreamSummaryInput{StreamName: "s"})
		return err == nil && d.OpenShardCount == 4
	}, time.Second, 10*time.Millisecond, "a's reshard reaches b")

	var expected shardlog.SequenceNumber
	for i := range 10 {
		l := []*shardlog.Log{a, b}[i%2]
		out, err := l.AppendKey(ctx, shardlog.AppendKeyInput{StreamName: "s", PartitionKey: "chain", Data: [][]byte{[]byte(fmt.Sprint(i))}, ExpectedSequenceNumber: expected})
		require.NoError(t, err, "append %d by Log %d expecting %v", i, i%2, expected)
		expected = out.Last
		// The other Log's expectation of the old number now conflicts.
		_, err = []*shardlog.Log{b, a}[i%2].AppendKey(ctx, shardlog.AppendKeyInput{StreamName: "s", PartitionKey: "chain", Data: [][]byte{[]byte("stale")}, ExpectedSequenceNumber: shardlog.SequenceNumber{}})
		require.ErrorIs(t, err, shardlog.ErrKeyConflict)
	}

	// Every acknowledged put is stored exactly once, and the chain is whole.
	seen := map[string]int{}
	var chain []string
	for r, err := range a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "s", PartitionKey: "chain"}) {
		require.NoError(t, err)
		chain = append(chain, string(r.Data))
	}
	require.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, chain)
	for key := range acked {
		for r, err := range a.ReadKey(context.Background(), shardlog.ReadKeyInput{StreamName: "s", PartitionKey: key}) {
			require.NoError(t, err)
			seen[string(r.Data)]++
		}
	}
	for key := range acked {
		require.Equal(t, 1, seen[key], "acknowledged put %s", key)
	}
	t.Logf("%d puts by b across a's reshard", len(acked))
}
