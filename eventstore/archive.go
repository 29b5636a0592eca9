package eventstore

import (
	"context"
	"iter"

	"github.com/shoal-dev/shoal/shardlog"
)

// Archive holds records the log no longer retains. When a read meets
// versions past the log's retention, the store asks the archive for the
// stream's records and hands back to the log at the first retained event,
// so a read neither skips nor repeats an event. The delivery package
// archives a stream's records and serves them through this interface.
type Archive interface {
	// ReadKey yields the archived records of in.PartitionKey in the
	// shardlog stream in.StreamName, with sequence numbers after in.After,
	// oldest first: the shape of shardlog.Log.ReadKey.
	ReadKey(ctx context.Context, in shardlog.ReadKeyInput) iter.Seq2[shardlog.Record, error]
}

// ShardArchive is an Archive that can also replay whole shards: what
// ShardReader (and so the projection runner and Rebuild) needs to read
// positions before the log's trim horizon, and shards the log dropped
// once all their records expired.
//
// The store takes a ShardArchive to copy each shard in order, with no
// hole: when it holds a record of a shard, it holds every earlier one
// that the log no longer retains. An archive that also implements
// shardlog.RetentionHolder vouches with ArchivedThrough that it holds the
// shard through that sequence number; register it with
// shardlog.Log.HoldRetention so that the log trims nothing it has not
// archived (see Store.ReadShard for the gap rule).
type ShardArchive interface {
	Archive
	// ArchivedShards lists the shards of the shardlog stream that the
	// archive holds records of, with their lineage (ParentShardID,
	// AdjacentParentShardID) and, for shards that were closed when
	// archived, Closed and EndingSequenceNumber. An archive that does
	// not know a field leaves it zero.
	ArchivedShards(ctx context.Context, stream string) ([]shardlog.Shard, error)
	// ReadShard yields the archived records of one shard with sequence
	// numbers after in.After (zero: from its first), oldest first, each
	// once.
	ReadShard(ctx context.Context, in ArchiveShardInput) iter.Seq2[shardlog.Record, error]
}

// ArchiveShardInput names what ShardArchive.ReadShard reads.
type ArchiveShardInput struct {
	StreamName string
	ShardID    string
	After      shardlog.SequenceNumber
}
