package shardlog

import (
	"context"
	"slices"
	"time"
)

// DescribeStreamSummaryInput is the input of DescribeStreamSummary.
type DescribeStreamSummaryInput struct {
	StreamName string
}

// DescribeStreamSummaryOutput describes a stream without its shards: what
// DescribeStreamSummary returns. Its cost does not grow with the shards.
type DescribeStreamSummaryOutput struct {
	StreamName              string
	StreamARN               string
	StreamStatus            StreamStatus
	StreamMode              StreamMode
	RetentionPeriodHours    int
	StreamCreationTimestamp time.Time
	OpenShardCount          int
	ConsumerCount           int
	MaxRecordSizeInKiB      int
	ProvisionedLimits       bool
	// EnhancedMonitoring lists the shard-level metrics turned on, in
	// ShardLevelMetrics order (never nil).
	EnhancedMonitoring []string
	// EncryptionType and KeyID are the stream's encryption now.
	EncryptionType EncryptionType
	KeyID          string
	// EncryptionKeyIDs lists every KeyId the stream was ever encrypted
	// under, the current one included: records sealed under any of them
	// may be stored.
	EncryptionKeyIDs []string
}

// DescribeStreamSummary describes a stream's settings and counts.
func (l *Log) DescribeStreamSummary(ctx context.Context, in DescribeStreamSummaryInput) (*DescribeStreamSummaryOutput, error) {
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := &s.meta
	enc, keyID := encryptionOf(m)
	return &DescribeStreamSummaryOutput{
		StreamName:              m.Name,
		StreamARN:               l.StreamARN(m.Name),
		StreamStatus:            s.status(),
		StreamMode:              m.Mode,
		RetentionPeriodHours:    m.RetentionHours,
		StreamCreationTimestamp: m.CreatedAt,
		OpenShardCount:          len(s.open),
		ConsumerCount:           len(m.Consumers),
		MaxRecordSizeInKiB:      m.MaxRecordSizeKiB,
		ProvisionedLimits:       m.ProvisionedLimits,
		EnhancedMonitoring:      append([]string{}, m.EnhancedMonitoring...),
		EncryptionType:          enc,
		KeyID:                   keyID,
		EncryptionKeyIDs:        slices.Clone(m.EncryptionKeyIDs),
	}, nil
}
