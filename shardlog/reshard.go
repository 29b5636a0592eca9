package shardlog

import (
	"context"
	"time"
)

// SplitShardInput is the input of SplitShard.
type SplitShardInput struct {
	StreamName   string
	ShardToSplit string
	// NewStartingHashKey is a decimal hash key inside the shard's range,
	// above its start.
	NewStartingHashKey string
}

// SplitShard splits an open shard in two at NewStartingHashKey: the
// children own [start, NewStartingHashKey-1] and [NewStartingHashKey, end].
// The parent is CLOSED with an ending sequence number; its records stay
// readable until they expire. Provisioned streams only (ErrValidation
// otherwise).
func (l *Log) SplitShard(ctx context.Context, in SplitShardInput) error {
	streamName, shardToSplit, newStartingHashKey := in.StreamName, in.ShardToSplit, in.NewStartingHashKey
	s, err := l.stream(ctx, streamName)
	if err != nil {
		return err
	}
	n, ok := parseUint128(newStartingHashKey)
	if !ok {
		return invalid("NewStartingHashKey", "%q is not a decimal integer in [0, 2^128-1]", truncate(newStartingHashKey, 64))
	}
	now := l.now()
	return l.updateGrowing(ctx, s, func(m *StreamMeta, seal sealFunc) error {
		if err := requireProvisioned(m, "SplitShard"); err != nil {
			return err
		}
		p, err := l.openShard(m, "ShardToSplit", shardToSplit, "splitting")
		if err != nil {
			return err
		}
		r := m.Shards[p].HashKeyRange
		if n.cmp(r.StartingHashKey.v) <= 0 || n.cmp(r.EndingHashKey.v) > 0 {
			return invalid("NewStartingHashKey", "%s is not inside the range of %s: it must be greater than %s and at most %s",
				newStartingHashKey, shardToSplit, r.StartingHashKey, r.EndingHashKey)
		}
		if openCount(m)+1 > MaxShardsPerStream {
			return invalidAs(ErrLimitExceeded, "ShardToSplit", "stream would have %d open shards; the limit is %d", openCount(m)+1, MaxShardsPerStream)
		}
		if err := l.checkQuota(s, m, 1, false); err != nil {
			return err
		}
		_, _, err = l.splitAt(ctx, seal, m, p, HashKey{n}, now)
		return err
	})
}

// MergeShardsInput is the input of MergeShards.
type MergeShardsInput struct {
	StreamName           string
	ShardToMerge         string
	AdjacentShardToMerge string
}

// MergeShards merges two adjacent open shards into one whose range is their
// union; the child names ShardToMerge as parent and AdjacentShardToMerge as
// adjacent parent. Provisioned streams only.
func (l *Log) MergeShards(ctx context.Context, in MergeShardsInput) error {
	streamName, shardToMerge, adjacentShardToMerge := in.StreamName, in.ShardToMerge, in.AdjacentShardToMerge
	s, err := l.stream(ctx, streamName)
	if err != nil {
		return err
	}
	now := l.now()
	return l.updateTx(ctx, s, func(m *StreamMeta, seal sealFunc) error {
		if err := requireProvisioned(m, "MergeShards"); err != nil {
			return err
		}
		a, err := l.openShard(m, "ShardToMerge", shardToMerge, "merging")
		if err != nil {
			return err
		}
		b, err := l.openShard(m, "AdjacentShardToMerge", adjacentShardToMerge, "merging")
		if err != nil {
			return err
		}
		if !adjacent(m.Shards[a].HashKeyRange, m.Shards[b].HashKeyRange) {
			return invalid("AdjacentShardToMerge", "shards %s and %s are not an adjacent pair of shards eligible for merging", shardToMerge, adjacentShardToMerge)
		}
		_, err = l.mergePair(ctx, seal, m, a, b, now)
		return err
	})
}

// UpdateShardCountInput is the input of UpdateShardCount. The scaling type
// is always UNIFORM_SCALING, the only one Kinesis has.
type UpdateShardCountInput struct {
	StreamName       string
	TargetShardCount int
}

// UpdateShardCountOutput is the result of UpdateShardCount.
type UpdateShardCountOutput struct {
	StreamName        string
	CurrentShardCount int
	TargetShardCount  int
}

// UpdateShardCount scales a provisioned stream to target open shards of
// equal width (UNIFORM_SCALING), through pairwise splits and merges as
// Kinesis does; the intermediate shards are closed at once and hold no
// records. TargetShardCount must be within [ceil(current/2), 2*current] and at most
// MaxShardsPerStream, and a stream scales at most MaxScalingOpsPer24h times
// per rolling 24 hours (ErrLimitExceeded).
func (l *Log) UpdateShardCount(ctx context.Context, in UpdateShardCountInput) (*UpdateShardCountOutput, error) {
	streamName, target := in.StreamName, in.TargetShardCount
	s, err := l.stream(ctx, streamName)
	if err != nil {
		return nil, err
	}
	now := l.now()
	out := &UpdateShardCountOutput{StreamName: streamName}
	err = l.updateGrowing(ctx, s, func(m *StreamMeta, seal sealFunc) error {
		if err := requireProvisioned(m, "UpdateShardCount"); err != nil {
			return err
		}
		cur := openCount(m)
		out.CurrentShardCount, out.TargetShardCount = cur, target
		if target < 1 || target > MaxShardsPerStream {
			return invalid("TargetShardCount", "%d is outside 1-%d", target, MaxShardsPerStream)
		}
		if target > 2*cur {
			return invalid("TargetShardCount", "%d is more than double the current %d open shards", target, cur)
		}
		if 2*target < cur {
			return invalid("TargetShardCount", "%d is less than half the current %d open shards", target, cur)
		}
		m.ScalingEvents = within24h(m.ScalingEvents, now)
		if len(m.ScalingEvents) >= MaxScalingOpsPer24h {
			return invalidAs(ErrLimitExceeded, "TargetShardCount", "stream scaled %d times in the last 24 hours; the limit is %d", len(m.ScalingEvents), MaxScalingOpsPer24h)
		}
		if err := l.checkQuota(s, m, target-cur, false); err != nil {
			return err
		}
		m.ScalingEvents = append(m.ScalingEvents, now)
		return l.scaleUniform(ctx, seal, m, target, now)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scaleUniform reshapes the open shards into target equal ranges: first it
// splits every open shard at each target boundary inside it, then merges the
// pieces of each target range left to right.
func (l *Log) scaleUniform(ctx context.Context, seal sealFunc, m *StreamMeta, target int, now time.Time) error {
	ranges := evenRanges(target)
	for _, tr := range ranges[1:] {
		b := tr.StartingHashKey
		i := openShardAt(m, b)
		if m.Shards[i].HashKeyRange.StartingHashKey.Compare(b) == 0 {
			continue // already a boundary
		}
		if _, _, err := l.splitAt(ctx, seal, m, i, b, now); err != nil {
			return err
		}
	}
	for _, tr := range ranges {
		for {
			a := openShardAt(m, tr.StartingHashKey)
			if m.Shards[a].HashKeyRange.EndingHashKey.Compare(tr.EndingHashKey) >= 0 {
				break
			}
			b := openShardAt(m, m.Shards[a].HashKeyRange.EndingHashKey.next())
			if _, err := l.mergePair(ctx, seal, m, a, b, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// seal closes shard i in the engine and in m, and returns the position
// floor its children start above.
func (l *Log) seal(ctx context.Context, seal sealFunc, m *StreamMeta, i int, now time.Time) (uint64, error) {
	sm := &m.Shards[i]
	last, err := seal(ctx, sm.Ref(m))
	if err != nil {
		return 0, engineError(err, "seal %s/%s", m.Name, sm.ID)
	}
	ending := last
	if ending.IsZero() {
		ending = MakeSequenceNumber(sm.Floor+1, sm.Index)
	}
	sm.Closed, sm.ClosedAt, sm.EndingSequenceNumber = true, now, ending
	return ending.pos, nil
}

func (l *Log) addShard(m *StreamMeta, parent, adjacent string, r HashKeyRange, floor uint64, now time.Time) int {
	idx := m.NextShardIndex
	m.NextShardIndex++
	m.Shards = append(m.Shards, ShardMeta{
		ID: shardID(idx), Index: idx, ParentShardID: parent, AdjacentParentShardID: adjacent,
		HashKeyRange: r, Floor: floor, CreatedAt: now,
	})
	return len(m.Shards) - 1
}

// splitAt splits open shard i at hash key b and returns the children.
func (l *Log) splitAt(ctx context.Context, seal sealFunc, m *StreamMeta, i int, b HashKey, now time.Time) (int, int, error) {
	floor, err := l.seal(ctx, seal, m, i, now)
	if err != nil {
		return 0, 0, err
	}
	p := m.Shards[i]
	lo := l.addShard(m, p.ID, "", HashKeyRange{p.HashKeyRange.StartingHashKey, HashKey{b.v.sub64(1)}}, floor, now)
	hi := l.addShard(m, p.ID, "", HashKeyRange{b, p.HashKeyRange.EndingHashKey}, floor, now)
	return lo, hi, nil
}

// mergePair merges adjacent open shards a and b (a names the parent).
func (l *Log) mergePair(ctx context.Context, seal sealFunc, m *StreamMeta, a, b int, now time.Time) (int, error) {
	fa, err := l.seal(ctx, seal, m, a, now)
	if err != nil {
		return 0, err
	}
	fb, err := l.seal(ctx, seal, m, b, now)
	if err != nil {
		return 0, err
	}
	ra, rb := m.Shards[a].HashKeyRange, m.Shards[b].HashKeyRange
	r := HashKeyRange{ra.StartingHashKey, rb.EndingHashKey}
	if rb.StartingHashKey.Compare(ra.StartingHashKey) < 0 {
		r = HashKeyRange{rb.StartingHashKey, ra.EndingHashKey}
	}
	return l.addShard(m, m.Shards[a].ID, m.Shards[b].ID, r, max(fa, fb), now), nil
}

func requireProvisioned(m *StreamMeta, op string) error {
	if m.Mode != Provisioned {
		return invalidAs(ErrValidation, "StreamModeDetails", "%s is not supported on %s streams", op, m.Mode)
	}
	return nil
}

// openShard finds an open shard by ID for a reshard.
func (l *Log) openShard(m *StreamMeta, field, id string, verb string) (int, error) {
	for i := range m.Shards {
		if m.Shards[i].ID == id {
			if m.Shards[i].Closed {
				return 0, invalid(field, "shard %s in stream %s has already been merged or split, and thus is not eligible for %s", id, m.Name, verb)
			}
			return i, nil
		}
	}
	return 0, shardNotFound(id, m.Name, l.account)
}

// openShardAt returns the open shard owning hash key h.
func openShardAt(m *StreamMeta, h HashKey) int {
	for i := range m.Shards {
		if !m.Shards[i].Closed && m.Shards[i].HashKeyRange.Contains(h) {
			return i
		}
	}
	panic("shardlog: open shards do not tile the hash-key space") // invariant, not input
}

func openCount(m *StreamMeta) int {
	n := 0
	for i := range m.Shards {
		if !m.Shards[i].Closed {
			n++
		}
	}
	return n
}

func adjacent(a, b HashKeyRange) bool {
	return a.EndingHashKey.Compare(MaxHashKey) < 0 && a.EndingHashKey.next().Compare(b.StartingHashKey) == 0 ||
		b.EndingHashKey.Compare(MaxHashKey) < 0 && b.EndingHashKey.next().Compare(a.StartingHashKey) == 0
}

func (h HashKey) next() HashKey { return HashKey{h.v.add64(1)} }
