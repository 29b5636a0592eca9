package shardlog

import "time"

// StreamMode is a stream's capacity mode.
type StreamMode string

// Capacity modes.
const (
	// Provisioned streams have the shard count their owner sets, and
	// support SplitShard, MergeShards and UpdateShardCount.
	Provisioned StreamMode = "PROVISIONED"
	// OnDemand streams start with DefaultOnDemandShards shards and refuse
	// manual resharding with ErrValidation. Shoal does not auto-scale them.
	OnDemand StreamMode = "ON_DEMAND"
)

// StreamStatus is a stream's lifecycle state. Control operations run
// synchronously in Shoal, so a described stream is ACTIVE; the other values
// exist for the wire API.
type StreamStatus string

// Stream states.
const (
	StatusCreating StreamStatus = "CREATING"
	StatusActive   StreamStatus = "ACTIVE"
	StatusUpdating StreamStatus = "UPDATING"
	StatusDeleting StreamStatus = "DELETING"
)

// Shard describes one shard as DescribeStream and ListShards return it.
type Shard struct {
	ShardID               string
	ParentShardID         string // empty for original shards
	AdjacentParentShardID string // set on the child of a merge
	HashKeyRange          HashKeyRange
	// StartingSequenceNumber is a lower bound of the shard's numbers;
	// EndingSequenceNumber is set (non-zero) once the shard is CLOSED, and
	// is the number of its last record (or StartingSequenceNumber if it got
	// none).
	StartingSequenceNumber SequenceNumber
	EndingSequenceNumber   SequenceNumber
	Closed                 bool
}

// ChildShard is a shard that replaced a closed one, as GetRecords returns
// it at the end of a closed shard.
type ChildShard struct {
	ShardID      string
	ParentShards []string
	HashKeyRange HashKeyRange
}

// StreamDescription is what DescribeStream returns.
type StreamDescription struct {
	StreamName              string
	StreamARN               string
	StreamStatus            StreamStatus
	StreamMode              StreamMode
	Shards                  []Shard // not expired, in shard index order
	HasMoreShards           bool    // DescribeStreamInput.Limit cut Shards short
	OpenShardCount          int
	RetentionPeriodHours    int
	StreamCreationTimestamp time.Time
	MaxRecordSizeInKiB      int
	ProvisionedLimits       bool
	ConsumerCount           int
	Tags                    map[string]string
	EnhancedMonitoring      []string
	EncryptionType          EncryptionType // EncryptionNone or EncryptionKMS
	KeyID                   string         // set when EncryptionType is EncryptionKMS
}
