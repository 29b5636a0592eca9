package shardlog

import "time"

// Limits from the Kinesis Data Streams API (the AWS documentation's "Quotas
// and limits" page of Amazon Kinesis Data Streams). Each is
// enforced by Log and tested at and past its edge by shardlogtest.
const (
	MaxStreamNameLength      = 128
	MaxPartitionKeyLength    = 256 // Unicode code points
	MaxPutRecordsEntries     = 500
	MaxPutRecordsRequestSize = 5 << 20 // bytes, data plus partition keys
	DefaultMaxRecordSizeKiB  = 1024    // 1 MiB: data plus partition key
	MaxMaxRecordSizeKiB      = 10240   // 10 MiB
	MaxGetRecordsLimit       = 10000
	MaxGetRecordsBytes       = 10 << 20
	DefaultRetentionHours    = 24
	MinRetentionHours        = 24
	MaxRetentionHours        = 8760
	MaxTagsPerStream         = 50
	MaxTagsPerCall           = 10
	MaxTagKeyLength          = 128
	MaxTagValueLength        = 256
	MaxConsumersPerStream    = 20
	MaxConsumerNameLength    = 128
	MaxShardsPerStream       = 10000
	DefaultOnDemandShards    = 4
	MaxScalingOpsPer24h      = 10
	MaxModeChangesPer24h     = 2
	MaxListShardsResults     = 10000
	DefaultListShardsResults = 1000
	DefaultListStreamsLimit  = 100
	MaxListStreamsLimit      = 10000
	MaxListTagsLimit         = 50

	// IteratorLifetime is how long a shard iterator stays valid.
	IteratorLifetime = 5 * time.Minute
	// NextTokenLifetime is how long a pagination token stays valid.
	NextTokenLifetime = 5 * time.Minute
	// SubscriptionLifetime is how long one SubscribeToShard call streams.
	SubscriptionLifetime = 5 * time.Minute
	// ResubscribeGuard is the window after a successful SubscribeToShard in
	// which another for the same consumer and shard is refused.
	ResubscribeGuard = 5 * time.Second

	// Provisioned per-shard budgets, enforced only on streams whose
	// provisioned limits are turned on.
	ShardWriteBytesPerSecond   = 1 << 20
	ShardWriteRecordsPerSecond = 1000
	ShardReadBytesPerSecond    = 2 << 20
	ShardReadCallsPerSecond    = 5
)
