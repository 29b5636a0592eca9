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
