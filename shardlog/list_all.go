package shardlog

import (
	"context"
	"iter"
)

// ListStreamsAll yields every stream, in name order, paging through
// ListStreams. An error ends the sequence.
func (l *Log) ListStreamsAll(ctx context.Context) iter.Seq2[StreamSummary, error] {
	return func(yield func(StreamSummary, error) bool) {
		in := ListStreamsInput{Limit: MaxListStreamsLimit}
		for {
			page, err := l.ListStreams(ctx, in)
			if err != nil {
				yield(StreamSummary{}, err)
				return
			}
			for _, s := range page.StreamSummaries {
				if !yield(s, nil) {
					return
				}
			}
			if page.NextToken == "" {
				return
			}
			in = ListStreamsInput{Limit: MaxListStreamsLimit, NextToken: page.NextToken}
		}
	}
}

// ListShardsAll yields every shard ListShards lists for in (StreamName and
// an optional ShardFilter or ExclusiveStartShardID), in shard index order,
// paging through it. An error ends the sequence.
func (l *Log) ListShardsAll(ctx context.Context, in ListShardsInput) iter.Seq2[Shard, error] {
	return func(yield func(Shard, error) bool) {
		for {
			page, err := l.ListShards(ctx, in)
			if err != nil {
				yield(Shard{}, err)
				return
			}
			for _, s := range page.Shards {
				if !yield(s, nil) {
					return
				}
			}
			if page.NextToken == "" {
				return
			}
			in = ListShardsInput{NextToken: page.NextToken, MaxResults: in.MaxResults}
		}
	}
}
