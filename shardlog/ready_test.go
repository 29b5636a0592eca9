package shardlog_test

import (
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
)

func TestReadyShards(t *testing.T) {
	sh := func(id, parent, adjacent string) shardlog.Shard {
		return shardlog.Shard{ShardID: id, ParentShardID: parent, AdjacentParentShardID: adjacent}
	}
	// 0 and 1 are original; 0 split into 2 and 3; 3 and 1 merged into 4.
	resharded := []shardlog.Shard{sh("0", "", ""), sh("1", "", ""), sh("2", "0", ""), sh("3", "0", ""), sh("4", "3", "1")}
	cases := []struct {
		name   string
		shards []shardlog.Shard
		done   []string
		want   []string
	}{
		{"NothingRead", resharded, nil, []string{"0", "1"}},
		{"SplitParentDone", resharded, []string{"0"}, []string{"1", "2", "3"}},
		{"MergeWaitsForBothParents", resharded, []string{"0", "3"}, []string{"1", "2"}},
		{"MergeWaitsForAdjacentParent", resharded, []string{"0", "1"}, []string{"2", "3"}},
		{"MergeReady", resharded, []string{"0", "1", "3"}, []string{"2", "4"}},
		{"AllDone", resharded, []string{"0", "1", "2", "3", "4"}, nil},
		// Parents past retention are no longer listed: their children
		// are ready at once.
		{"ParentExpired", []shardlog.Shard{sh("2", "0", ""), sh("3", "0", "")}, nil, []string{"2", "3"}},
		{"OneMergeParentExpired", []shardlog.Shard{sh("1", "", ""), sh("4", "3", "1")}, nil, []string{"1"}},
		{"BothMergeParentsExpired", []shardlog.Shard{sh("4", "3", "1")}, nil, []string{"4"}},
		{"Empty", nil, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := shardlog.ReadyShards(c.shards, func(id string) bool { return slices.Contains(c.done, id) })
			var ids []string
			for _, s := range got {
				ids = append(ids, s.ShardID)
			}
			if !slices.Equal(ids, c.want) {
				t.Fatalf("ReadyShards = %v, want %v", ids, c.want)
			}
		})
	}
}
