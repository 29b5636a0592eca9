package shardlog_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

func TestListAll(t *testing.T) {
	ctx := context.Background()
	l, err := shardlog.Open(ctx, memory.New(), shardlog.WithRetentionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const streams = 3
	for i := range streams {
		if err := l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: fmt.Sprintf("s%d", i), ShardCount: 1 + i}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for s, err := range l.ListStreamsAll(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, s.StreamName)
	}
	if fmt.Sprint(names) != "[s0 s1 s2]" {
		t.Fatalf("ListStreamsAll = %v", names)
	}
	// Pages of one shard: the sequence follows NextToken.
	var ids []string
	for sh, err := range l.ListShardsAll(ctx, shardlog.ListShardsInput{StreamName: "s2", MaxResults: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sh.ShardID)
	}
	if fmt.Sprint(ids) != "[shardId-000000000000 shardId-000000000001 shardId-000000000002]" {
		t.Fatalf("ListShardsAll = %v", ids)
	}
	for _, err := range l.ListShardsAll(ctx, shardlog.ListShardsInput{StreamName: "missing"}) {
		if err == nil {
			t.Fatal("ListShardsAll of a missing stream yielded no error")
		}
	}
}
