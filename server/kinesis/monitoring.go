package kinesis

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// shardLevelMetrics are the enhanced (shard-level) metrics, in the order
// the API reference lists them; "ALL" stands for every one.
var shardLevelMetrics = []string{
	"IncomingBytes",
	"IncomingRecords",
	"OutgoingBytes",
	"OutgoingRecords",
	"WriteProvisionedThroughputExceeded",
	"ReadProvisionedThroughputExceeded",
	"IteratorAgeMilliseconds",
}

// maxShardLevelMetrics bounds the ShardLevelMetrics list of a request,
// as the model does.
const maxShardLevelMetrics = 7

// monitoring holds the enhanced-monitoring settings of the streams. The
// Log has no setter for them, so they live here, in memory: they are lost
// when the server restarts. DescribeStream and DescribeStreamSummary
// report them.
// Entries are keyed by stream name and creation time, so a stream deleted
// and created again under the same name starts with none.
type monitoring struct {
	mu      sync.Mutex
	streams map[string]monitored
}

type monitored struct {
	created time.Time
	metrics []string // in shardLevelMetrics order
}

// any reports whether one of metrics is enabled on the stream (of the
// name: a stream deleted and recreated is forgotten by forget).
func (m *monitoring) any(name string, metrics ...string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, metric := range m.streams[name].metrics {
		if slices.Contains(metrics, metric) {
			return true
		}
	}
	return false
}

// forget drops the settings of a deleted stream.
func (m *monitoring) forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.streams, name)
}

// get returns the metrics enabled on the stream.
func (m *monitoring) get(name string, created time.Time) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.streams[name]
	if !ok || !cur.created.Equal(created) {
		return []string{}
	}
	return slices.Clone(cur.metrics)
}

// update applies change to the metrics of the stream and returns them
// before and after.
func (m *monitoring) update(name string, created time.Time, change func(set map[string]bool)) (before, after []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.streams == nil {
		m.streams = make(map[string]monitored)
	}
	cur := m.streams[name]
	if !cur.created.Equal(created) {
		cur = monitored{created: created}
	}
	set := make(map[string]bool, len(shardLevelMetrics))
	for _, metric := range cur.metrics {
		set[metric] = true
	}
	change(set)
	after = []string{}
	for _, metric := range shardLevelMetrics {
		if set[metric] {
			after = append(after, metric)
		}
	}
	before = slices.Clone(cur.metrics)
	if before == nil {
		before = []string{}
	}
	m.streams[name] = monitored{created: created, metrics: after}
	return before, slices.Clone(after)
}

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

func (a *api) enableMonitoring(ctx context.Context, in *monitoringInput) (*monitoringOutput, error) {
	return a.setMonitoring(ctx, in, true)
}

func (a *api) disableMonitoring(ctx context.Context, in *monitoringInput) (*monitoringOutput, error) {
	return a.setMonitoring(ctx, in, false)
}

// setMonitoring turns the listed metrics on or off. Shoal applies the
// change at once, so CurrentShardLevelMetrics is the state before the call
// and DesiredShardLevelMetrics the state after it, as Kinesis reports them.
func (a *api) setMonitoring(ctx context.Context, in *monitoringInput, on bool) (*monitoringOutput, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	metrics, err := required("ShardLevelMetrics", in.ShardLevelMetrics)
	if err != nil {
		return nil, err
	}
	want, err := parseMetrics(metrics)
	if err != nil {
		return nil, err
	}
	d, err := a.describe(ctx, name)
	if err != nil {
		return nil, err
	}
	before, after := a.monitoring.update(d.StreamName, d.StreamCreationTimestamp, func(set map[string]bool) {
		for _, m := range want {
			set[m] = on
		}
	})
	return &monitoringOutput{StreamName: d.StreamName, StreamARN: d.StreamARN, CurrentShardLevelMetrics: before, DesiredShardLevelMetrics: after}, nil
}

// parseMetrics validates a ShardLevelMetrics list and expands ALL.
func parseMetrics(metrics []string) ([]string, error) {
	if len(metrics) < 1 || len(metrics) > maxShardLevelMetrics {
		return nil, invalidArg("ShardLevelMetrics", "has %d members; it must have 1-%d", len(metrics), maxShardLevelMetrics)
	}
	var out []string
	for _, m := range metrics {
		switch {
		case m == "ALL":
			out = append(out, shardLevelMetrics...)
		case slices.Contains(shardLevelMetrics, m):
			out = append(out, m)
		default:
			return nil, invalidArg("ShardLevelMetrics", "%q is not one of %s, ALL", truncate(m, 64), strings.Join(shardLevelMetrics, ", "))
		}
	}
	return out, nil
}
