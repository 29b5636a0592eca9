package kinesis

import (
	"context"
	"slices"

	"github.com/shoal-dev/shoal/shardlog"
)

// Enhanced monitoring (EnableEnhancedMonitoring, DisableEnhancedMonitoring)
// is a setting of the stream, saved in its metadata by the Log: it
// survives restarts, and a stream created again under the same name
// starts with none. DescribeStream and DescribeStreamSummary report it;
// the shard-level metrics it names are fed to a ShardRecorder.

type monitoringInput struct {
	streamRef
	ShardLevelMetrics *[]string `json:"ShardLevelMetrics"`
}

type monitoringOutput struct {
	StreamName               string   `json:"StreamName"`
	StreamARN                string   `json:"StreamARN"`
	CurrentShardLevelMetrics []string `json:"CurrentShardLevelMetrics"`
	DesiredShardLevelMetrics []string `json:"DesiredShardLevelMetrics"`
}

// enableMonitoring turns the listed metrics on. Shoal applies the change
// at once, so CurrentShardLevelMetrics is the state before the call and
// DesiredShardLevelMetrics the state after it, as Kinesis reports them.
func (a *api) enableMonitoring(ctx context.Context, in *monitoringInput) (*monitoringOutput, error) {
	name, metrics, err := in.check(a)
	if err != nil {
		return nil, err
	}
	out, err := a.log.EnableEnhancedMonitoring(ctx, shardlog.EnableEnhancedMonitoringInput{StreamName: name, ShardLevelMetrics: metrics})
	return wireMonitoring(out), err
}

// disableMonitoring turns the listed metrics off.
func (a *api) disableMonitoring(ctx context.Context, in *monitoringInput) (*monitoringOutput, error) {
	name, metrics, err := in.check(a)
	if err != nil {
		return nil, err
	}
	out, err := a.log.DisableEnhancedMonitoring(ctx, shardlog.DisableEnhancedMonitoringInput{StreamName: name, ShardLevelMetrics: metrics})
	return wireMonitoring(out), err
}

func (in *monitoringInput) check(a *api) (string, []string, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return "", nil, err
	}
	metrics, err := required("ShardLevelMetrics", in.ShardLevelMetrics)
	return name, metrics, err
}

func wireMonitoring(out *shardlog.EnhancedMonitoringOutput) *monitoringOutput {
	if out == nil {
		return nil
	}
	return &monitoringOutput{
		StreamName: out.StreamName, StreamARN: out.StreamARN,
		CurrentShardLevelMetrics: out.CurrentShardLevelMetrics, DesiredShardLevelMetrics: out.DesiredShardLevelMetrics,
	}
}

// monitored reports whether one of metrics is among the enabled ones.
func monitored(enabled []string, metrics ...string) bool {
	for _, m := range metrics {
		if slices.Contains(enabled, m) {
			return true
		}
	}
	return false
}
