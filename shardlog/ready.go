package shardlog

// ReadyShards returns, in the order given, the shards a reader that keeps
// Kinesis's parents-before-children rule may read now: the shards not done
// whose parents (ParentShardID and AdjacentParentShardID) are done. A
// parent missing from shards (expired, so no longer listed) holds nothing
// back: its records are gone. done reports whether the reader has finished
// a shard (read it to its end).
//
// shards must be the whole listing: DescribeStream with no Limit, or
// every page of ListShards (ListShardsAll) with no ShardFilter that leaves
// closed shards out, since a parent left out of shards is taken for an
// expired one. A reader that learns of children from a shard's end
// (ChildShards) lists again, so that each child's other parent is in the
// list.
func ReadyShards(shards []Shard, done func(shardID string) bool) []Shard {
	listed := make(map[string]bool, len(shards))
	for _, sh := range shards {
		listed[sh.ShardID] = true
	}
	var ready []Shard
	for _, sh := range shards {
		if done(sh.ShardID) {
			continue
		}
		ok := true
		for _, p := range [2]string{sh.ParentShardID, sh.AdjacentParentShardID} {
			if p != "" && listed[p] && !done(p) {
				ok = false
			}
		}
		if ok {
			ready = append(ready, sh)
		}
	}
	return ready
}
