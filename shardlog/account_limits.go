package shardlog

import (
	"context"
	"fmt"
)

// AccountLimits are the account-wide quotas of a Log, as Kinesis's
// DescribeLimits reports them. Zero means unlimited.
type AccountLimits struct {
	// Shards bounds the open shards of all streams together (ShardLimit).
	Shards int
	// OnDemandStreams bounds the ON_DEMAND streams (OnDemandStreamCountLimit).
	OnDemandStreams int
}

// WithAccountLimits sets the account-wide quotas the Log enforces on
// CreateStream, SplitShard, UpdateShardCount and UpdateStreamMode, and that
// DescribeLimits reports. Default: none (unlimited).
func WithAccountLimits(limits AccountLimits) Option {
	return func(o *options) { o.accountLimits = limits }
}

// LimitExceededError reports that an operation would take the account past
// one of its quotas (AccountLimits). It wraps ErrLimitExceeded
// (LimitExceededException).
type LimitExceededError struct {
	Quota      string // "shard" or "on-demand stream count"
	Account    string
	Region     string
	Current    int // the account's use now
	Limit      int
	Additional int // what the operation would have added
}

// Error implements error, worded as Kinesis words it.
func (e *LimitExceededError) Error() string {
	if e.Quota == quotaShards {
		return fmt.Sprintf("%v: This request would exceed the shard limit for the account %s in %s. Current shard count for the account: %d. Limit: %d. Number of additional shards that would have resulted from this request: %d.",
			ErrLimitExceeded, e.Account, e.Region, e.Current, e.Limit, e.Additional)
	}
	return fmt.Sprintf("%v: This request would exceed the on-demand stream count limit for the account %s in %s. Current on-demand stream count for the account: %d. Limit: %d.",
		ErrLimitExceeded, e.Account, e.Region, e.Current, e.Limit)
}

// Unwrap returns ErrLimitExceeded.
func (e *LimitExceededError) Unwrap() error { return ErrLimitExceeded }

const (
	quotaShards   = "shard"
	quotaOnDemand = "on-demand stream count"
)

// DescribeLimitsInput is the input of DescribeLimits.
type DescribeLimitsInput struct{}

// DescribeLimitsOutput is the account's quotas and their use. A limit of
// zero means unlimited.
type DescribeLimitsOutput struct {
	ShardLimit               int
	OpenShardCount           int
	OnDemandStreamCountLimit int
	OnDemandStreamCount      int
}

// DescribeLimits reports the account's quotas (WithAccountLimits) and how
// much of them the streams use.
func (l *Log) DescribeLimits(ctx context.Context, _ DescribeLimitsInput) (*DescribeLimitsOutput, error) {
	shards, onDemand, err := l.accountUse(nil)
	if err != nil {
		return nil, err
	}
	return &DescribeLimitsOutput{
		ShardLimit: l.limits.Shards, OpenShardCount: shards,
		OnDemandStreamCountLimit: l.limits.OnDemandStreams, OnDemandStreamCount: onDemand,
	}, nil
}

// accountUse counts the open shards and on-demand streams of every stream
// but skip (whose write lock the caller may hold).
func (l *Log) accountUse(skip *stream) (shards, onDemand int, err error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, 0, ErrClosed
	}
	streams := make([]*stream, 0, len(l.streams))
	for _, s := range l.streams {
		if s != skip {
			streams = append(streams, s)
		}
	}
	l.mu.RUnlock()
	for _, s := range streams {
		// Counts kept by setMeta, read without s.mu: a quota check runs
		// inside another stream's metadata update, which on a shared
		// engine holds that stream's engine lock, and waiting here for a
		// stream lock held by an update waiting for an engine lock could
		// close a cycle across Logs. A stream still being deleted counts.
		shards += int(s.openShards.Load())
		if s.onDemand.Load() {
			onDemand++
		}
	}
	return shards, onDemand, nil
}

// checkQuota refuses a change that adds addShards open shards to stream s
// (nil for a new stream) whose metadata is now cur (nil for a new stream),
// or makes it ON_DEMAND, when the account would go past a quota. It runs
// before the change touches the engine. The caller holds l.quotaMu, so no
// other growth runs at the same time, and may hold s.mu.
func (l *Log) checkQuota(s *stream, cur *StreamMeta, addShards int, toOnDemand bool) error {
	if l.limits.Shards <= 0 && l.limits.OnDemandStreams <= 0 {
		return nil
	}
	curOnDemand := cur != nil && cur.Mode == OnDemand
	newOnDemand := toOnDemand && !curOnDemand
	if addShards <= 0 && !newOnDemand {
		return nil // nothing grows
	}
	shards, onDemand, err := l.accountUse(s)
	if err != nil {
		return err
	}
	if cur != nil {
		shards += openCount(cur)
		if curOnDemand {
			onDemand++
		}
	}
	if l.limits.Shards > 0 && addShards > 0 && shards+addShards > l.limits.Shards {
		return &LimitExceededError{Quota: quotaShards, Account: l.account, Region: l.region, Current: shards, Limit: l.limits.Shards, Additional: addShards}
	}
	if l.limits.OnDemandStreams > 0 && newOnDemand && onDemand+1 > l.limits.OnDemandStreams {
		return &LimitExceededError{Quota: quotaOnDemand, Account: l.account, Region: l.region, Current: onDemand, Limit: l.limits.OnDemandStreams, Additional: 1}
	}
	return nil
}

// updateGrowing is update for an operation that may grow the account's
// use: it holds l.quotaMu, so that fn's checkQuota and the change it
// checks are one step.
func (l *Log) updateGrowing(ctx context.Context, s *stream, fn func(m *StreamMeta, seal sealFunc) error) error {
	l.quotaMu.Lock()
	defer l.quotaMu.Unlock()
	return l.updateTx(ctx, s, fn)
}
