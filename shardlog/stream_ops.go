package shardlog

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// CreateStreamInput is the input of CreateStream.
type CreateStreamInput struct {
	StreamName string
	// ShardCount is required (1-MaxShardsPerStream) for provisioned streams;
	// on-demand streams take DefaultOnDemandShards when it is zero.
	ShardCount int
	StreamMode StreamMode // default Provisioned
	Tags       map[string]string
	// MaxRecordSizeInKiB is the largest record (data plus partition key),
	// in KiB, 1024-10240. Zero means DefaultMaxRecordSizeKiB.
	MaxRecordSizeInKiB int
	// ProvisionedLimits turns on Kinesis's per-shard read and write budgets.
	ProvisionedLimits bool
}

// CreateStream creates a stream whose shards split the hash-key space
// evenly. The stream is ACTIVE when it returns.
func (l *Log) CreateStream(ctx context.Context, in CreateStreamInput) error {
	if err := validateStreamName("StreamName", in.StreamName); err != nil {
		return err
	}
	mode := in.StreamMode
	switch mode {
	case "":
		mode = Provisioned
	case Provisioned, OnDemand:
	default:
		return invalid("StreamModeDetails.StreamMode", "%q is not PROVISIONED or ON_DEMAND", string(mode))
	}
	n := in.ShardCount
	if mode == OnDemand && n == 0 {
		n = DefaultOnDemandShards
	}
	if n < 1 || n > MaxShardsPerStream {
		return invalid("ShardCount", "%d is outside 1-%d", in.ShardCount, MaxShardsPerStream)
	}
	size := in.MaxRecordSizeInKiB
	if size == 0 {
		size = DefaultMaxRecordSizeKiB
	}
	if size < DefaultMaxRecordSizeKiB || size > MaxMaxRecordSizeKiB {
		return invalidAs(ErrValidation, "MaxRecordSizeInKiB", "%d is outside %d-%d", in.MaxRecordSizeInKiB, DefaultMaxRecordSizeKiB, MaxMaxRecordSizeKiB)
	}
	if err := validateTags(in.Tags, MaxTagsPerStream); err != nil {
		return err
	}
	now := l.now()
	m := StreamMeta{
		Name:              in.StreamName,
		ID:                rand.Uint64() | 1, // never zero
		Mode:              mode,
		CreatedAt:         now,
		RetentionHours:    DefaultRetentionHours,
		MaxRecordSizeKiB:  size,
		ProvisionedLimits: in.ProvisionedLimits,
		Tags:              maps.Clone(in.Tags),
	}
	for i, r := range evenRanges(n) {
		m.Shards = append(m.Shards, ShardMeta{ID: shardID(uint32(i)), Index: uint32(i), HashKeyRange: r, CreatedAt: now})
	}
	m.NextShardIndex = uint32(n)

	l.quotaMu.Lock()
	defer l.quotaMu.Unlock()
	if err := l.checkQuota(nil, nil, n, mode == OnDemand); err != nil {
		return err
	}
	if l.shared != nil {
		return l.createShared(ctx, m)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if _, ok := l.streams[in.StreamName]; ok {
		return inUse("stream %s under account %s already exists", in.StreamName, l.account)
	}
	if err := l.engine.SaveStream(ctx, m); err != nil {
		return engineError(err, "save stream %s", in.StreamName)
	}
	l.streams[in.StreamName] = newStream(m, l.account)
	return nil
}

// DeleteStreamInput is the input of DeleteStream.
type DeleteStreamInput struct {
	StreamName string
	// EnforceConsumerDeletion deletes a stream that still has registered
	// consumers (and them with it); without it such a stream is refused.
	EnforceConsumerDeletion bool
}

// DeleteStream deletes a stream and all its records. A stream with
// registered consumers is refused with ErrResourceInUse unless
// EnforceConsumerDeletion is set. Subscriptions to it end.
func (l *Log) DeleteStream(ctx context.Context, in DeleteStreamInput) error {
	name := in.StreamName
	s, err := l.stream(ctx, name)
	if err == nil && l.shared != nil {
		// Check the consumers another Log may have registered.
		if s, err = l.refresh(ctx, name); err == nil && s == nil {
			err = streamNotFound(name, l.account)
		}
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	if len(s.meta.Consumers) > 0 && !in.EnforceConsumerDeletion {
		s.mu.Unlock()
		return inUse("stream %s has %d registered consumers; set EnforceConsumerDeletion", name, len(s.meta.Consumers))
	}
	s.deleted = true
	id := s.meta.ID
	s.mu.Unlock()
	s.endSubscriptions(s.notFound())
	s.writers.Wait() // no append may land after the drop

	if l.shared != nil {
		// Drop this incarnation only: another Log may have deleted the
		// stream and created it again meanwhile.
		err = l.shared.DropStreamID(ctx, name, id)
		if errors.Is(err, ErrResourceNotFound) {
			l.refreshQuietly(name)
			err = streamNotFound(name, l.account)
		}
	} else {
		err = l.engine.DropStream(ctx, name)
	}
	if err != nil && !errors.Is(err, ErrResourceNotFound) {
		err = engineError(err, "drop stream %s", name)
	}
	// Until here the name is taken (DELETING): a CreateStream of the same
	// name is refused rather than dropped with the old one.
	l.mu.Lock()
	if l.streams[name] == s {
		delete(l.streams, name)
	}
	l.mu.Unlock()
	return err
}

// DescribeStreamInput is the input of DescribeStream.
type DescribeStreamInput struct {
	StreamName string
	// Limit is the most shards to describe, 1-MaxListShardsResults; zero
	// means all of them (the wire API defaults to 100).
	Limit int
	// ExclusiveStartShardID describes only the shards after this one (a
	// shard that no longer exists still marks a position).
	ExclusiveStartShardID string
}

// DescribeStreamOutput is the result of DescribeStream.
type DescribeStreamOutput struct {
	StreamDescription
}

// DescribeStream describes a stream and its shards (expired shards are
// omitted), a page of Limit shards at a time.
func (l *Log) DescribeStream(ctx context.Context, in DescribeStreamInput) (*DescribeStreamOutput, error) {
	name := in.StreamName
	if in.Limit < 0 || in.Limit > MaxListShardsResults {
		return nil, invalid("Limit", "%d is outside 1-%d", in.Limit, MaxListShardsResults)
	}
	var afterIndex int64 = -1
	if in.ExclusiveStartShardID != "" {
		idx, ok := parseShardID(in.ExclusiveStartShardID)
		if !ok {
			return nil, invalid("ExclusiveStartShardId", "%q is not a shard ID", truncate(in.ExclusiveStartShardID, 64))
		}
		afterIndex = int64(idx)
	}
	s, err := l.stream(ctx, name)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := &s.meta
	d := &DescribeStreamOutput{StreamDescription{
		StreamName:              m.Name,
		StreamARN:               l.StreamARN(m.Name),
		StreamStatus:            s.status(),
		StreamMode:              m.Mode,
		OpenShardCount:          len(s.open),
		RetentionPeriodHours:    m.RetentionHours,
		StreamCreationTimestamp: m.CreatedAt,
		MaxRecordSizeInKiB:      m.MaxRecordSizeKiB,
		ProvisionedLimits:       m.ProvisionedLimits,
		ConsumerCount:           len(m.Consumers),
		Tags:                    maps.Clone(m.Tags),
		EnhancedMonitoring:      slices.Clone(m.EnhancedMonitoring),
	}}
	d.EncryptionType, d.KeyID = encryptionOf(m)
	for i := range m.Shards {
		// The shards are kept in index order.
		if int64(m.Shards[i].Index) <= afterIndex {
			continue
		}
		if in.Limit > 0 && len(d.Shards) == in.Limit {
			d.HasMoreShards = true
			break
		}
		d.Shards = append(d.Shards, describeShard(&m.Shards[i]))
	}
	if d.Tags == nil {
		d.Tags = map[string]string{}
	}
	return d, nil
}

func describeShard(sm *ShardMeta) Shard {
	return Shard{
		ShardID:                sm.ID,
		ParentShardID:          sm.ParentShardID,
		AdjacentParentShardID:  sm.AdjacentParentShardID,
		HashKeyRange:           sm.HashKeyRange,
		StartingSequenceNumber: MakeSequenceNumber(sm.Floor+1, sm.Index),
		EndingSequenceNumber:   sm.EndingSequenceNumber,
		Closed:                 sm.Closed,
	}
}

// ListStreamsInput is the input of ListStreams.
type ListStreamsInput struct {
	Limit                    int    // 1-MaxListStreamsLimit; zero means DefaultListStreamsLimit
	ExclusiveStartStreamName string // list names after this one
	NextToken                string // from a previous page; excludes ExclusiveStartStreamName
}

// StreamSummary is one stream in a ListStreams page.
type StreamSummary struct {
	StreamName              string
	StreamARN               string
	StreamStatus            StreamStatus
	StreamMode              StreamMode
	StreamCreationTimestamp time.Time
}

// ListStreamsOutput is one page of stream names, in name order.
type ListStreamsOutput struct {
	StreamNames     []string
	StreamSummaries []StreamSummary
	HasMoreStreams  bool
	NextToken       string // empty on the last page
}

// ListStreams lists streams by name, a page at a time.
func (l *Log) ListStreams(ctx context.Context, in ListStreamsInput) (*ListStreamsOutput, error) {
	limit := in.Limit
	if limit == 0 {
		limit = DefaultListStreamsLimit
	}
	if limit < 1 || limit > MaxListStreamsLimit {
		return nil, invalid("Limit", "%d is outside 1-%d", in.Limit, MaxListStreamsLimit)
	}
	if l.shared != nil {
		// List what every Log created, not what this one has heard of.
		if err := l.resyncShared(ctx); err != nil {
			return nil, err
		}
	}
	after := in.ExclusiveStartStreamName
	if in.NextToken != "" {
		if after != "" {
			return nil, invalid("NextToken", "cannot be combined with ExclusiveStartStreamName")
		}
		t, err := l.tokens.openPage(in.NextToken, "streams", l.now())
		if err != nil {
			return nil, err
		}
		after = t.After
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil, ErrClosed
	}
	names := make([]string, 0, len(l.streams))
	for n := range l.streams {
		if strings.Compare(n, after) > 0 {
			names = append(names, n)
		}
	}
	streams := make(map[string]*stream, len(names))
	for _, n := range names {
		streams[n] = l.streams[n]
	}
	l.mu.RUnlock()
	slices.Sort(names)
	out := &ListStreamsOutput{}
	if len(names) > limit {
		names = names[:limit]
		out.HasMoreStreams = true
		out.NextToken = l.tokens.sealPage(pageToken{Kind: "streams", After: names[len(names)-1]}, l.now())
	}
	out.StreamNames = names
	for _, n := range names {
		s := streams[n]
		s.mu.RLock()
		out.StreamSummaries = append(out.StreamSummaries, StreamSummary{
			StreamName: n, StreamARN: l.StreamARN(n), StreamStatus: StatusActive,
			StreamMode: s.meta.Mode, StreamCreationTimestamp: s.meta.CreatedAt,
		})
		s.mu.RUnlock()
	}
	return out, nil
}

// IncreaseStreamRetentionPeriodInput is the input of
// IncreaseStreamRetentionPeriod.
type IncreaseStreamRetentionPeriodInput struct {
	StreamName           string
	RetentionPeriodHours int
}

// IncreaseStreamRetentionPeriod raises the retention period.
// RetentionPeriodHours must be greater than the current period and at most
// MaxRetentionHours. Records already expired stay expired.
func (l *Log) IncreaseStreamRetentionPeriod(ctx context.Context, in IncreaseStreamRetentionPeriodInput) error {
	hours := in.RetentionPeriodHours
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return err
	}
	return l.update(ctx, s, func(m *StreamMeta) error {
		if hours > MaxRetentionHours {
			return invalid("RetentionPeriodHours", "%d exceeds the maximum of %d", hours, MaxRetentionHours)
		}
		if hours <= m.RetentionHours {
			return invalid("RetentionPeriodHours", "%d is not greater than the current %d; use DecreaseStreamRetentionPeriod", hours, m.RetentionHours)
		}
		// Raising retention revives nothing: what had expired stays so,
		// whether or not the engine has trimmed it yet.
		if h := l.heldHorizon(s.name, m.ID, l.horizon(m)); h.After(m.ExpiredBefore) {
			m.ExpiredBefore = h
		}
		m.RetentionHours = hours
		return nil
	})
}

// DecreaseStreamRetentionPeriodInput is the input of
// DecreaseStreamRetentionPeriod.
type DecreaseStreamRetentionPeriodInput struct {
	StreamName           string
	RetentionPeriodHours int
}

// DecreaseStreamRetentionPeriod lowers the retention period.
// RetentionPeriodHours must be less than the current period and at least
// MinRetentionHours. Records older than the new period become unreadable at
// once.
func (l *Log) DecreaseStreamRetentionPeriod(ctx context.Context, in DecreaseStreamRetentionPeriodInput) error {
	hours := in.RetentionPeriodHours
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return err
	}
	return l.update(ctx, s, func(m *StreamMeta) error {
		if hours < MinRetentionHours {
			return invalid("RetentionPeriodHours", "%d is below the minimum of %d", hours, MinRetentionHours)
		}
		if hours >= m.RetentionHours {
			return invalid("RetentionPeriodHours", "%d is not less than the current %d; use IncreaseStreamRetentionPeriod", hours, m.RetentionHours)
		}
		m.RetentionHours = hours
		return nil
	})
}

// UpdateStreamModeInput is the input of UpdateStreamMode.
type UpdateStreamModeInput struct {
	StreamName string
	StreamMode StreamMode // Kinesis's StreamModeDetails.StreamMode
}

// UpdateStreamMode switches the capacity mode, keeping the shards. It is
// allowed MaxModeChangesPer24h times per rolling 24 hours.
func (l *Log) UpdateStreamMode(ctx context.Context, in UpdateStreamModeInput) error {
	name, mode := in.StreamName, in.StreamMode
	s, err := l.stream(ctx, name)
	if err != nil {
		return err
	}
	if mode != Provisioned && mode != OnDemand {
		return invalid("StreamModeDetails.StreamMode", "%q is not PROVISIONED or ON_DEMAND", string(mode))
	}
	now := l.now()
	return l.updateGrowing(ctx, s, func(m *StreamMeta, _ sealFunc) error {
		if m.Mode == mode {
			return invalid("StreamModeDetails.StreamMode", "stream %s is already %s", name, mode)
		}
		m.ModeChanges = within24h(m.ModeChanges, now)
		if len(m.ModeChanges) >= MaxModeChangesPer24h {
			return invalidAs(ErrLimitExceeded, "StreamModeDetails", "mode changed %d times in 24 hours; the limit is %d", len(m.ModeChanges), MaxModeChangesPer24h)
		}
		if err := l.checkQuota(s, m, 0, mode == OnDemand); err != nil {
			return err
		}
		m.ModeChanges = append(m.ModeChanges, now)
		m.Mode = mode
		return nil
	})
}

// UpdateMaxRecordSizeInput is the input of UpdateMaxRecordSize.
type UpdateMaxRecordSizeInput struct {
	StreamName string
	// MaxRecordSizeInKiB is the largest record (data plus partition key)
	// the stream accepts, in KiB,
	// DefaultMaxRecordSizeKiB-MaxMaxRecordSizeKiB.
	MaxRecordSizeInKiB int
}

// UpdateMaxRecordSize sets the largest record the stream accepts.
func (l *Log) UpdateMaxRecordSize(ctx context.Context, in UpdateMaxRecordSizeInput) error {
	kib := in.MaxRecordSizeInKiB
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return err
	}
	if kib < DefaultMaxRecordSizeKiB || kib > MaxMaxRecordSizeKiB {
		return invalidAs(ErrValidation, "MaxRecordSizeInKiB", "%d is outside %d-%d", kib, DefaultMaxRecordSizeKiB, MaxMaxRecordSizeKiB)
	}
	return l.update(ctx, s, func(m *StreamMeta) error { m.MaxRecordSizeKiB = kib; return nil })
}

// SetProvisionedLimitsInput is the input of SetProvisionedLimits.
type SetProvisionedLimitsInput struct {
	StreamName string
	// ProvisionedLimits turns Kinesis's per-shard read and write budgets
	// on (true) or off.
	ProvisionedLimits bool
}

// SetProvisionedLimits turns the per-shard read and write budgets on or
// off. Kinesis has no such operation; it is Shoal's.
func (l *Log) SetProvisionedLimits(ctx context.Context, in SetProvisionedLimitsInput) error {
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return err
	}
	return l.update(ctx, s, func(m *StreamMeta) error { m.ProvisionedLimits = in.ProvisionedLimits; return nil })
}

// status is ACTIVE, or UPDATING while a failed reshard blocks writes.
// Caller holds mu.
func (s *stream) status() StreamStatus {
	if s.broken != nil {
		return StatusUpdating
	}
	return StatusActive
}
