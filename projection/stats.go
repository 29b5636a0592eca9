package projection

import (
	"slices"

	"github.com/shoal-dev/shoal/shardlog"
)

// Stats is a projection's progress, for dashboards.
type Stats struct {
	Projection string
	// Events applied (parked ones included), retries made, events
	// parked, and shards resumed behind retention (Observer.Gap) since
	// Run started.
	Events, Retries, Parked, Gaps int64
	// Shards lists the shards this instance is processing.
	Shards []ShardStatus
}

// ShardStatus is a shard's progress for one projection.
type ShardStatus struct {
	Shard string
	// After is the last event applied.
	After shardlog.SequenceNumber
	// Events applied since this instance started the shard.
	Events int64
	// MillisBehindLatest is how far the last read was behind the shard's
	// newest record: the projection's lag on this shard.
	MillisBehindLatest int64
}

// Stats returns each projection's progress.
func (r *Runner) Stats() []Stats {
	out := make([]Stats, 0, len(r.runs))
	for _, pr := range r.runs {
		s := Stats{Projection: pr.p.name, Events: pr.events.Load(), Retries: pr.retries.Load(), Parked: pr.parked.Load(), Gaps: pr.gaps.Load()}
		pr.mu.Lock()
		for id, w := range pr.workers {
			st := ShardStatus{Shard: id, Events: w.events.Load(), MillisBehindLatest: w.lag.Load()}
			if a := w.pub.Load(); a != nil {
				st.After = *a
			}
			s.Shards = append(s.Shards, st)
		}
		pr.mu.Unlock()
		slices.SortFunc(s.Shards, func(a, b ShardStatus) int { return compareShard(a.Shard, b.Shard) })
		out = append(out, s)
	}
	return out
}

func compareShard(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
