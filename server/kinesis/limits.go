package kinesis

import (
	"context"

	"github.com/shoal-dev/shoal/shardlog"
)

type describeLimitsInput struct{}

type describeLimitsOutput struct {
	ShardLimit               int `json:"ShardLimit"`
	OpenShardCount           int `json:"OpenShardCount"`
	OnDemandStreamCount      int `json:"OnDemandStreamCount"`
	OnDemandStreamCountLimit int `json:"OnDemandStreamCountLimit"`
}

// describeLimits reports the Log's account quotas (shardlog.WithAccountLimits,
// enforced by the Log) and their use. A limit of 0 means unlimited.
func (a *api) describeLimits(ctx context.Context, _ *describeLimitsInput) (*describeLimitsOutput, error) {
	l, err := a.log.DescribeLimits(ctx, shardlog.DescribeLimitsInput{})
	if err != nil {
		return nil, err
	}
	return &describeLimitsOutput{
		ShardLimit: l.ShardLimit, OpenShardCount: l.OpenShardCount,
		OnDemandStreamCount: l.OnDemandStreamCount, OnDemandStreamCountLimit: l.OnDemandStreamCountLimit,
	}, nil
}
