// Package eventstore stores events on a shardlog stream: event sourcing on
// a sharded, Kinesis-style log.
//
// An event stream is one aggregate. Its ID is the shardlog partition key,
// so all its events live in one shard (and, after a reshard, in that
// shard's lineage), and many aggregates share one shardlog stream. Each
// event is one record: a small hand-encoded envelope (event ID, version,
// type name, schema version, metadata) followed by the payload encoded by
// the store's Codec (msgpack by default, JSON available). Go types map to
// type names through the store's Registry; upcasters turn old payload
// shapes into current ones on read.
//
// # Guarantees
//
//   - Atomic: the events of one Append are one conditional append to the
//     log: all or none, contiguous, in one shard.
//   - Ordered: a stream's events have versions 1, 2, 3, ... with no gap
//     and no duplicate; its events are in version order in the log, also
//     across splits and merges. Across streams there is no total order:
//     positions are per shard, and sequence numbers grow from parent to
//     child shards.
//   - Optimistic concurrency: Append checks the expected version (Any,
//     NoStream, StreamExists, Exact) in the same step as the write, under
//     the shard's single sequencer. Exactly one of several writers
//     expecting the same version wins; the others get a
//     *WrongExpectedVersionError.
//   - Idempotent: re-sending an append's events (same IDs) returns the
//     original result and writes nothing; see Append for exactly when.
//   - Durable: an Append has returned once the log's engine made the
//     events durable as its sync policy says (the file engine's default,
//     SyncAlways, has fsynced them). kill_test.go checks this, and that
//     every append is whole after a crash, with kill -9.
//   - Retention: the log drops records older than its retention. Reads
//     never return a stream with a silent hole: a version past retention
//     is read from the Archive if the store has one, and otherwise the
//     read ends with an *ExpiredError. Load starts at the latest snapshot,
//     so an aggregate snapshotted before its events expired still loads.
//
// Reading one stream (Read, ReadBackward, Load) costs time proportional to
// that stream's events, not to the log's, through the log's key index.
// ReadAsOf, ReadBackwardAsOf and LoadAsOf stop at a Point, a version or
// a time by the log's arrival time, to rebuild a stream as it was.
// Subscribe reads every shard, catching up and then following new events,
// with per-shard checkpoints: the feed projections and archival consume.
//
// See docs/eventstore.md for the full contract and the numbers.
package eventstore
