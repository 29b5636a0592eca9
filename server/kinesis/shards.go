package kinesis

import (
	"context"

	"github.com/shoal-dev/shoal/shardlog"
)

type hashKeyRange struct {
	StartingHashKey string `json:"StartingHashKey"`
	EndingHashKey   string `json:"EndingHashKey"`
}

func wireRange(r shardlog.HashKeyRange) hashKeyRange {
	return hashKeyRange{StartingHashKey: r.StartingHashKey.String(), EndingHashKey: r.EndingHashKey.String()}
}

type sequenceNumberRange struct {
	StartingSequenceNumber string `json:"StartingSequenceNumber"`
	EndingSequenceNumber   string `json:"EndingSequenceNumber,omitempty"` // absent while the shard is open
}

// shard is the model's Shard.
type shard struct {
	ShardId               string              `json:"ShardId"`
	ParentShardId         string              `json:"ParentShardId,omitempty"`
	AdjacentParentShardId string              `json:"AdjacentParentShardId,omitempty"`
	HashKeyRange          hashKeyRange        `json:"HashKeyRange"`
	SequenceNumberRange   sequenceNumberRange `json:"SequenceNumberRange"`
}

func wireShard(s shardlog.Shard) shard {
	out := shard{
		ShardId:               s.ShardID,
		ParentShardId:         s.ParentShardID,
		AdjacentParentShardId: s.AdjacentParentShardID,
		HashKeyRange:          wireRange(s.HashKeyRange),
		SequenceNumberRange:   sequenceNumberRange{StartingSequenceNumber: s.StartingSequenceNumber.String()},
	}
	if s.Closed {
		out.SequenceNumberRange.EndingSequenceNumber = s.EndingSequenceNumber.String()
	}
	return out
}

type shardFilter struct {
	Type      *string `json:"Type"`
	ShardId   *string `json:"ShardId"`
	Timestamp *epoch  `json:"Timestamp"`
}

type listShardsInput struct {
	streamRef
	NextToken               *string      `json:"NextToken"`
	ExclusiveStartShardId   *string      `json:"ExclusiveStartShardId"`
	MaxResults              *int         `json:"MaxResults"`
	StreamCreationTimestamp *epoch       `json:"StreamCreationTimestamp"`
	ShardFilter             *shardFilter `json:"ShardFilter"`
}

type listShardsOutput struct {
	Shards    []shard `json:"Shards"`
	NextToken string  `json:"NextToken,omitempty"`
}

// listShards lists a page of shards. A follow-up page is asked with
// NextToken alone; a StreamARN sent along with it (as the SDKs may) is
// ignored, while StreamName, ExclusiveStartShardId, ShardFilter and
// StreamCreationTimestamp are refused with it. Without a token,
// StreamCreationTimestamp is accepted and not checked: a log holds one
// stream of a name at a time.
func (a *api) listShards(ctx context.Context, in *listShardsInput) (*listShardsOutput, error) {
	q := shardlog.ListShardsInput{
		NextToken:             optional(in.NextToken),
		ExclusiveStartShardID: optional(in.ExclusiveStartShardId),
		MaxResults:            optional(in.MaxResults),
	}
	if in.MaxResults != nil && *in.MaxResults == 0 {
		return nil, invalidArg("MaxResults", "0 is outside 1-%d", shardlog.MaxListShardsResults)
	}
	if q.NextToken != "" {
		if in.StreamCreationTimestamp != nil {
			return nil, invalidArg("NextToken", "cannot be combined with StreamCreationTimestamp")
		}
		q.StreamName = optional(in.StreamName) // ListShards refuses it with a token
	} else {
		name, err := a.name(in.streamRef)
		if err != nil {
			return nil, err
		}
		q.StreamName = name
	}
	if f := in.ShardFilter; f != nil {
		q.ShardFilter = &shardlog.ShardFilter{
			Type:      shardlog.ShardFilterType(optional(f.Type)),
			ShardID:   optional(f.ShardId),
			Timestamp: timeOf(f.Timestamp),
		}
	}
	res, err := a.log.ListShards(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &listShardsOutput{Shards: make([]shard, 0, len(res.Shards)), NextToken: res.NextToken}
	for _, s := range res.Shards {
		out.Shards = append(out.Shards, wireShard(s))
	}
	return out, nil
}
