package shardlog

import (
	"context"
	"slices"
	"time"
)

// ShardFilterType selects the shards ListShards returns.
type ShardFilterType string

// Shard filter types.
const (
	// FilterAfterShardID lists shards whose index is after ShardFilter.ShardID.
	FilterAfterShardID ShardFilterType = "AFTER_SHARD_ID"
	// FilterAtTrimHorizon lists shards that were open at the trim horizon.
	FilterAtTrimHorizon ShardFilterType = "AT_TRIM_HORIZON"
	// FilterFromTrimHorizon lists every shard not expired (the default).
	FilterFromTrimHorizon ShardFilterType = "FROM_TRIM_HORIZON"
	// FilterAtLatest lists the open shards.
	FilterAtLatest ShardFilterType = "AT_LATEST"
	// FilterAtTimestamp lists shards that were open at ShardFilter.Timestamp.
	FilterAtTimestamp ShardFilterType = "AT_TIMESTAMP"
	// FilterFromTimestamp lists shards open at or after ShardFilter.Timestamp.
	FilterFromTimestamp ShardFilterType = "FROM_TIMESTAMP"
)

// ShardFilter narrows ListShards.
type ShardFilter struct {
	Type      ShardFilterType
	ShardID   string    // AFTER_SHARD_ID only
	Timestamp time.Time // AT_TIMESTAMP and FROM_TIMESTAMP only
}

// ListShardsInput is the input of ListShards. Give StreamName for the first
// page and NextToken alone for the following ones.
type ListShardsInput struct {
	StreamName            string
	NextToken             string
	ExclusiveStartShardID string
	// MaxResults is 1-MaxListShardsResults; zero means the default. At most
	// DefaultListShardsResults shards are returned per page.
	MaxResults  int
	ShardFilter *ShardFilter
}

// ListShardsOutput is one page of shards, in shard index order.
type ListShardsOutput struct {
	Shards    []Shard
	NextToken string // empty on the last page
}

// ListShards lists a stream's shards (not expired ones), a page at a time.
func (l *Log) ListShards(ctx context.Context, in ListShardsInput) (*ListShardsOutput, error) {
	maxResults := in.MaxResults
	if maxResults == 0 {
		maxResults = DefaultListShardsResults
	}
	if maxResults < 1 || maxResults > MaxListShardsResults {
		return nil, invalid("MaxResults", "%d is outside 1-%d", in.MaxResults, MaxListShardsResults)
	}
	page := min(maxResults, DefaultListShardsResults)
	var (
		name     = in.StreamName
		after    = in.ExclusiveStartShardID
		filter   ShardFilter
		streamID uint64
	)
	if in.ShardFilter != nil {
		filter = *in.ShardFilter
	}
	if in.NextToken != "" {
		if in.StreamName != "" || in.ExclusiveStartShardID != "" || in.ShardFilter != nil {
			return nil, invalid("NextToken", "cannot be combined with StreamName, ExclusiveStartShardId or ShardFilter")
		}
		t, err := l.tokens.openPage(in.NextToken, "shards", l.now())
		if err != nil {
			return nil, err
		}
		name, after, streamID = t.Stream, t.After, t.StreamID
		filter = ShardFilter{Type: ShardFilterType(t.Filter), ShardID: t.FilterShard, Timestamp: t.FilterTime}
	} else if name == "" {
		return nil, invalid("StreamName", "is required unless NextToken is given")
	}
	// A token carries the first page's filter, whose type is empty if that
	// page had none.
	if err := validateShardFilter(filter, in.ShardFilter != nil); err != nil {
		return nil, err
	}
	s, err := l.stream(ctx, name)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if streamID != 0 && streamID != s.meta.ID {
		return nil, notFound("stream %s was re-created since the token was issued", name)
	}
	// The trim horizon of a stream younger than its retention is its birth.
	horizon := l.horizonOf(s)
	if horizon.Before(s.meta.CreatedAt) {
		horizon = s.meta.CreatedAt
	}
	var afterIndex int64 = -1
	if after != "" {
		idx, ok := parseShardID(after)
		if !ok {
			return nil, invalid("ExclusiveStartShardId", "%q is not a shard ID", truncate(after, 64))
		}
		afterIndex = int64(idx)
	}
	if filter.Type == FilterAfterShardID {
		idx, ok := parseShardID(filter.ShardID)
		if !ok {
			return nil, invalid("ShardFilter.ShardId", "%q is not a shard ID", truncate(filter.ShardID, 64))
		}
		afterIndex = max(afterIndex, int64(idx))
	}
	var all []Shard
	for i := range s.meta.Shards {
		sm := &s.meta.Shards[i]
		if int64(sm.Index) <= afterIndex || !filter.keeps(sm, horizon) {
			continue
		}
		all = append(all, describeShard(sm))
	}
	slices.SortFunc(all, func(a, b Shard) int {
		ia, _ := parseShardID(a.ShardID)
		ib, _ := parseShardID(b.ShardID)
		return int(int64(ia) - int64(ib))
	})
	out := &ListShardsOutput{Shards: all}
	if len(all) > page {
		out.Shards = all[:page]
		out.NextToken = l.tokens.sealPage(pageToken{
			Kind: "shards", Stream: name, StreamID: s.meta.ID, After: out.Shards[page-1].ShardID,
			Filter: string(filter.Type), FilterShard: filter.ShardID, FilterTime: filter.Timestamp,
		}, l.now())
	}
	if out.Shards == nil {
		out.Shards = []Shard{}
	}
	return out, nil
}

func validateShardFilter(f ShardFilter, given bool) error {
	switch f.Type {
	case "":
		if given {
			return invalid("ShardFilter.Type", "is required")
		}
	case FilterAfterShardID:
		if f.ShardID == "" {
			return invalid("ShardFilter.ShardId", "is required for AFTER_SHARD_ID")
		}
	case FilterAtTimestamp, FilterFromTimestamp:
		if f.Timestamp.IsZero() {
			return invalid("ShardFilter.Timestamp", "is required for %s", f.Type)
		}
	case FilterAtTrimHorizon, FilterFromTrimHorizon, FilterAtLatest:
	default:
		return invalid("ShardFilter.Type", "%q is not a shard filter type", string(f.Type))
	}
	if f.Type != FilterAfterShardID && f.ShardID != "" {
		return invalid("ShardFilter.ShardId", "is only allowed with AFTER_SHARD_ID")
	}
	if f.Type != FilterAtTimestamp && f.Type != FilterFromTimestamp && !f.Timestamp.IsZero() {
		return invalid("ShardFilter.Timestamp", "is only allowed with AT_TIMESTAMP or FROM_TIMESTAMP")
	}
	return nil
}

// keeps reports whether the filter lists shard sm.
func (f ShardFilter) keeps(sm *ShardMeta, horizon time.Time) bool {
	openAt := func(t time.Time) bool { return !sm.CreatedAt.After(t) && (!sm.Closed || !sm.ClosedAt.Before(t)) }
	switch f.Type {
	case FilterAtLatest:
		return !sm.Closed
	case FilterAtTrimHorizon:
		return openAt(horizon)
	case FilterAtTimestamp:
		return openAt(f.Timestamp)
	case FilterFromTimestamp:
		return !sm.Closed || !sm.ClosedAt.Before(f.Timestamp)
	}
	return true
}

func parseShardID(id string) (uint32, bool) {
	const prefix = "shardId-"
	if len(id) != len(prefix)+12 || id[:len(prefix)] != prefix {
		return 0, false
	}
	var n uint64
	for _, c := range id[len(prefix):] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}
