// Package delivery archives shardlog streams, Firehose-style: a delivery
// stream (New, Stream.Run) reads a stream's shards, or takes direct puts
// (Source.DirectPut: PutRecord, PutRecordBatch), buffers each shard's
// records by size and interval (BufferingHints), optionally transforms
// them with Firehose's Lambda contract (Transform), and delivers them to a
// Destination: object storage with Firehose's key layout
// (ObjectDestination over DirStore or delivery/s3store; formats JSONLines,
// Raw and delivery/parquet; gzip or zstd) or PostgreSQL
// (delivery/pgarchive). The archives read back: ObjectArchive and
// pgarchive implement eventstore.ShardArchive, so aggregates and
// projections replay past the log's retention.
//
// # Guarantees
//
//   - What is durable when a call returns. PutRecord and PutRecordBatch
//     return once the source log accepted the records, as durable as its
//     engine's contract (the file engine with SyncAlways: fdatasync'd).
//     Destination.Deliver returns nil only once the batch is durable in the
//     destination: DirStore fsyncs each object and its directory before
//     the rename is acknowledged, S3 acknowledges a PutObject, pgarchive
//     commits its transaction.
//   - The checkpoint moves only after that: a shard's checkpoint (in the
//     Source's projection.CheckpointStore) is saved after Deliver returned
//     nil, so a crash at any point re-delivers from the checkpoint and
//     never loses a record (at-least-once). A kill -9 between an upload and
//     its checkpoint is tested (internal/deliverytest).
//   - A retry does not duplicate what readers see. Batches never mix
//     shards; a retry starts at the same first sequence number, and
//     destinations are idempotent on it (see Destination): object keys
//     are named from (source, shard, first sequence number), so a retried
//     object replaces the first one; pgarchive's primary key is (stream,
//     shard, sequence number).
//   - Nothing is dropped without a record of it: records the transform
//     fails, or a destination refuses past the retry duration, go to the
//     ErrorOutput; without one the stream stops instead.
//   - Parents before children: a closed shard is delivered to its end and
//     checkpointed done before its children start, so per-key order holds
//     across a reshard.
//   - The source's retention waits for the archive: while Run runs, the
//     stream is a shardlog.RetentionHolder on its source, and the log keeps
//     every record not yet delivered (Config.NoRetentionHold turns it off).
//
// docs/delivery.md has the configuration, the key layout and tiered
// replay in full.
package delivery
