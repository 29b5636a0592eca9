package shardlog

import "context"

// RetentionHolder is told nothing and asked one thing: how far a shard's
// records are durably kept elsewhere (an archive). While a holder is
// registered for a stream (Log.HoldRetention), the Log keeps, and keeps
// readable, every record of the stream not yet archived, even past the
// retention period, as Kafka's tiered storage keeps a segment until it is
// uploaded.
type RetentionHolder interface {
	// ArchivedThrough returns the sequence number of the last record of
	// the shard that is durably archived (zero: none).
	ArchivedThrough(ctx context.Context, stream, shardID string) (SequenceNumber, error)
}

// HoldRetention registers h for stream until release is called. TODO(tiers):
// the hold's effect on trimming and reads.
func (l *Log) HoldRetention(stream string, h RetentionHolder) (release func()) {
	return func() {}
}
