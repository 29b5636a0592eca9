package delivery

import (
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// Batch is one flush of one source shard: what a Destination stores.
// A delivery stream never mixes shards in a batch, so the range First..Last
// names the batch's content, and a retry of the same range (after a crash
// between delivery and checkpoint) starts at the same First.
type Batch struct {
	// DeliveryStream and Version name the delivery stream and its
	// configuration version (1, then +1 per configuration change).
	DeliveryStream string
	Version        int
	// Source is the shardlog stream read; Shard the source shard, with
	// its lineage as ListShards gave it.
	Source string
	Shard  shardlog.Shard
	// First and Last are the sequence numbers of the first and last source
	// records the batch covers, records the transform dropped or failed
	// included.
	First, Last shardlog.SequenceNumber
	// Records are what the destination stores, in source order: the
	// source records, with Data replaced by the transform's output when a
	// transform is configured (records it dropped or failed are absent).
	Records []shardlog.Record
	// Bytes is the size of Records' data, before compression.
	Bytes int
	// FirstArrival is the arrival time of the source record First. Object
	// keys are named from it rather than from Records[0], so that a retry
	// names its object the same even when a transform treats the first
	// record differently the second time.
	FirstArrival time.Time
}

// OldestArrival is the arrival time of the batch's oldest record (its
// first: arrival times never go backwards within a shard): FirstArrival
// if set, else Records[0]'s, or the zero time for an empty batch.
func (b *Batch) OldestArrival() time.Time {
	if !b.FirstArrival.IsZero() {
		return b.FirstArrival
	}
	if len(b.Records) == 0 {
		return time.Time{}
	}
	return b.Records[0].ApproximateArrivalTimestamp
}
