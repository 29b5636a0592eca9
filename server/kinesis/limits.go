package kinesis

import (
	"context"
	"errors"

	"github.com/shoal-dev/shoal/shardlog"
)

type describeLimitsInput struct{}

type describeLimitsOutput struct {
	ShardLimit               int `json:"ShardLimit"`
	OpenShardCount           int `json:"OpenShardCount"`
	OnDemandStreamCount      int `json:"OnDemandStreamCount"`
	OnDemandStreamCountLimit int `json:"OnDemandStreamCountLimit"`
}

// describeLimits counts open shards and on-demand streams over every
// stream of the log; the limits are the configured ones (not enforced).
func (a *api) describeLimits(ctx context.Context, _ *describeLimitsInput) (*describeLimitsOutput, error) {
	out := &describeLimitsOutput{ShardLimit: a.cfg.shardLimit, OnDemandStreamCountLimit: a.cfg.onDemandLimit}
	in := shardlog.ListStreamsInput{Limit: shardlog.MaxListStreamsLimit}
	for {
		page, err := a.log.ListStreams(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, s := range page.StreamSummaries {
			d, err := a.log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: s.StreamName})
			if errors.Is(err, shardlog.ErrResourceNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return nil, err
			}
			out.OpenShardCount += d.OpenShardCount
			if d.StreamMode == shardlog.OnDemand {
				out.OnDemandStreamCount++
			}
		}
		if !page.HasMoreStreams || len(page.StreamNames) == 0 {
			return out, nil
		}
		in.ExclusiveStartStreamName = page.StreamNames[len(page.StreamNames)-1]
	}
}
