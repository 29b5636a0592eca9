package kinesis

import (
	"context"

	"github.com/shoal-dev/shoal/shardlog"
)

type splitShardInput struct {
	streamRef
	ShardToSplit       *string `json:"ShardToSplit"`
	NewStartingHashKey *string `json:"NewStartingHashKey"`
}

func (a *api) splitShard(ctx context.Context, in *splitShardInput) (empty, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return empty{}, err
	}
	id, err := required("ShardToSplit", in.ShardToSplit)
	if err != nil {
		return empty{}, err
	}
	key, err := required("NewStartingHashKey", in.NewStartingHashKey)
	if err != nil {
		return empty{}, err
	}
	return empty{}, a.log.SplitShard(ctx, shardlog.SplitShardInput{StreamName: name, ShardToSplit: id, NewStartingHashKey: key})
}

type mergeShardsInput struct {
	streamRef
	ShardToMerge         *string `json:"ShardToMerge"`
	AdjacentShardToMerge *string `json:"AdjacentShardToMerge"`
}

func (a *api) mergeShards(ctx context.Context, in *mergeShardsInput) (empty, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return empty{}, err
	}
	first, err := required("ShardToMerge", in.ShardToMerge)
	if err != nil {
		return empty{}, err
	}
	second, err := required("AdjacentShardToMerge", in.AdjacentShardToMerge)
	if err != nil {
		return empty{}, err
	}
	return empty{}, a.log.MergeShards(ctx, shardlog.MergeShardsInput{StreamName: name, ShardToMerge: first, AdjacentShardToMerge: second})
}

// uniformScaling is the only ScalingType Kinesis has.
const uniformScaling = "UNIFORM_SCALING"

type updateShardCountInput struct {
	streamRef
	TargetShardCount *int    `json:"TargetShardCount"`
	ScalingType      *string `json:"ScalingType"`
}

type updateShardCountOutput struct {
	StreamName        string `json:"StreamName"`
	StreamARN         string `json:"StreamARN"`
	CurrentShardCount int    `json:"CurrentShardCount"`
	TargetShardCount  int    `json:"TargetShardCount"`
}

func (a *api) updateShardCount(ctx context.Context, in *updateShardCountInput) (*updateShardCountOutput, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	target, err := required("TargetShardCount", in.TargetShardCount)
	if err != nil {
		return nil, err
	}
	scaling, err := required("ScalingType", in.ScalingType)
	if err != nil {
		return nil, err
	}
	if scaling != uniformScaling {
		return nil, invalidArg("ScalingType", "%q is not %s", truncate(scaling, 64), uniformScaling)
	}
	res, err := a.log.UpdateShardCount(ctx, shardlog.UpdateShardCountInput{StreamName: name, TargetShardCount: target})
	if err != nil {
		return nil, err
	}
	return &updateShardCountOutput{
		StreamName: name, StreamARN: a.log.StreamARN(name),
		CurrentShardCount: res.CurrentShardCount, TargetShardCount: res.TargetShardCount,
	}, nil
}
