package shardlog

import (
	"context"
	"time"
)

// GetShardIteratorInput is the input of GetShardIterator.
type GetShardIteratorInput struct {
	StreamName             string
	ShardID                string
	ShardIteratorType      IteratorType
	StartingSequenceNumber SequenceNumber // AT_ and AFTER_SEQUENCE_NUMBER only
	Timestamp              time.Time      // AT_TIMESTAMP only
}

// GetShardIteratorOutput is the result of GetShardIterator.
type GetShardIteratorOutput struct {
	ShardIterator string
}

// GetShardIterator returns an opaque shard iterator for GetRecords. It is
// signed (a changed byte makes it invalid) and expires IteratorLifetime
// after issue. A LATEST iterator is pinned now: records put after this call
// are read. Iterators on closed shards are valid.
func (l *Log) GetShardIterator(ctx context.Context, in GetShardIteratorInput) (*GetShardIteratorOutput, error) {
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return nil, err
	}
	from, err := l.resolve(ctx, s, in.ShardID, StartingPosition{Type: in.ShardIteratorType, SequenceNumber: in.StartingSequenceNumber, Timestamp: in.Timestamp})
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	id := s.meta.ID
	s.mu.RUnlock()
	return &GetShardIteratorOutput{ShardIterator: l.tokens.sealIterator(iteratorToken{Issued: l.now(), StreamID: id, From: from, Stream: s.name})}, nil
}

// GetRecordsInput is the input of GetRecords.
type GetRecordsInput struct {
	ShardIterator string
	Limit         int // 1-MaxGetRecordsLimit; zero means MaxGetRecordsLimit
}

// GetRecordsOutput is a batch of records from one shard.
type GetRecordsOutput struct {
	// StreamName and ShardID are the stream and shard the iterator reads.
	StreamName string
	ShardID    string
	Records    []Record
	// NextShardIterator continues after Records. It is empty at the end of
	// a closed shard, where ChildShards lists the shards to read next.
	NextShardIterator  string
	MillisBehindLatest int64
	ChildShards        []ChildShard
}

// GetRecords reads the records at a shard iterator: at most Limit records
// and MaxGetRecordsBytes bytes, in sequence-number order, never a record
// past retention. It does not block: an empty batch with a next iterator
// means nothing new yet. On streams with provisioned limits it spends the
// shard's read budget (5 calls and 2 MiB per second).
func (l *Log) GetRecords(ctx context.Context, in GetRecordsInput) (*GetRecordsOutput, error) {
	limit := in.Limit
	if limit == 0 {
		limit = MaxGetRecordsLimit
	}
	if limit < 1 || limit > MaxGetRecordsLimit {
		return nil, invalid("Limit", "%d is outside 1-%d", in.Limit, MaxGetRecordsLimit)
	}
	it, err := l.tokens.openIterator(in.ShardIterator, l.now())
	if err != nil {
		return nil, err
	}
	s, err := l.stream(ctx, it.Stream)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	id := s.meta.ID
	s.mu.RUnlock()
	if id != it.StreamID {
		return nil, notFound("stream %s was deleted since the iterator was issued", it.Stream)
	}
	r, err := l.readShard(ctx, s, shardID(it.From.shard), it.From, limit, MaxGetRecordsBytes, true)
	if err != nil {
		return nil, err
	}
	out := &GetRecordsOutput{StreamName: s.name, ShardID: shardID(it.From.shard), Records: r.records, MillisBehindLatest: r.millisBehind}
	if out.Records == nil {
		out.Records = []Record{}
	}
	if r.end {
		out.ChildShards = r.children
		if out.ChildShards == nil {
			out.ChildShards = []ChildShard{}
		}
		return out, nil
	}
	out.NextShardIterator = l.tokens.sealIterator(iteratorToken{Issued: l.now(), StreamID: id, From: r.next, Stream: s.name})
	return out, nil
}
