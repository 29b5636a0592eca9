package shardlog

import (
	"context"
	"slices"
	"strings"
)

// ShardLevelMetrics are the enhanced (shard-level) metrics, in the order the
// Kinesis API reference lists them. "ALL" in a request stands for every
// one.
var ShardLevelMetrics = []string{
	"IncomingBytes",
	"IncomingRecords",
	"OutgoingBytes",
	"OutgoingRecords",
	"WriteProvisionedThroughputExceeded",
	"ReadProvisionedThroughputExceeded",
	"IteratorAgeMilliseconds",
}

// MaxShardLevelMetrics bounds the ShardLevelMetrics list of a request, as
// the Kinesis model does.
const MaxShardLevelMetrics = 7

// EnableEnhancedMonitoringInput is the input of EnableEnhancedMonitoring.
type EnableEnhancedMonitoringInput struct {
	StreamName        string
	ShardLevelMetrics []string // 1-MaxShardLevelMetrics names of ShardLevelMetrics, or "ALL"
}

// DisableEnhancedMonitoringInput is the input of DisableEnhancedMonitoring.
type DisableEnhancedMonitoringInput struct {
	StreamName        string
	ShardLevelMetrics []string // 1-MaxShardLevelMetrics names of ShardLevelMetrics, or "ALL"
}

// EnhancedMonitoringOutput is the result of EnableEnhancedMonitoring and
// DisableEnhancedMonitoring. The change applies at once, so, as Kinesis
// reports them, CurrentShardLevelMetrics is the set before the call and
// DesiredShardLevelMetrics the set after it; both in ShardLevelMetrics
// order, never nil.
type EnhancedMonitoringOutput struct {
	StreamName               string
	StreamARN                string
	CurrentShardLevelMetrics []string
	DesiredShardLevelMetrics []string
}

// EnableEnhancedMonitoring turns on shard-level metrics of the stream. The
// setting is saved with the stream's metadata before it returns;
// DescribeStream reports it.
func (l *Log) EnableEnhancedMonitoring(ctx context.Context, in EnableEnhancedMonitoringInput) (*EnhancedMonitoringOutput, error) {
	return l.setMonitoring(ctx, in.StreamName, in.ShardLevelMetrics, true)
}

// DisableEnhancedMonitoring turns off shard-level metrics of the stream.
// The setting is saved with the stream's metadata before it returns.
func (l *Log) DisableEnhancedMonitoring(ctx context.Context, in DisableEnhancedMonitoringInput) (*EnhancedMonitoringOutput, error) {
	return l.setMonitoring(ctx, in.StreamName, in.ShardLevelMetrics, false)
}

func (l *Log) setMonitoring(ctx context.Context, name string, metrics []string, on bool) (*EnhancedMonitoringOutput, error) {
	want, err := parseShardLevelMetrics(metrics)
	if err != nil {
		return nil, err
	}
	s, err := l.stream(ctx, name)
	if err != nil {
		return nil, err
	}
	out := &EnhancedMonitoringOutput{StreamName: name, StreamARN: l.StreamARN(name)}
	err = l.update(ctx, s, func(m *StreamMeta) error {
		set := make(map[string]bool, len(ShardLevelMetrics))
		for _, metric := range m.EnhancedMonitoring {
			set[metric] = true
		}
		for _, metric := range want {
			set[metric] = on
		}
		out.CurrentShardLevelMetrics = append([]string{}, m.EnhancedMonitoring...)
		m.EnhancedMonitoring = nil
		for _, metric := range ShardLevelMetrics {
			if set[metric] {
				m.EnhancedMonitoring = append(m.EnhancedMonitoring, metric)
			}
		}
		out.DesiredShardLevelMetrics = append([]string{}, m.EnhancedMonitoring...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseShardLevelMetrics validates a ShardLevelMetrics list and expands ALL.
func parseShardLevelMetrics(metrics []string) ([]string, error) {
	if len(metrics) < 1 || len(metrics) > MaxShardLevelMetrics {
		return nil, invalid("ShardLevelMetrics", "has %d members; it must have 1-%d", len(metrics), MaxShardLevelMetrics)
	}
	var out []string
	for _, m := range metrics {
		switch {
		case m == "ALL":
			out = append(out, ShardLevelMetrics...)
		case slices.Contains(ShardLevelMetrics, m):
			out = append(out, m)
		default:
			return nil, invalid("ShardLevelMetrics", "%q is not one of %s, ALL", truncate(m, 64), strings.Join(ShardLevelMetrics, ", "))
		}
	}
	return out, nil
}
