// Package memory is an in-memory shardlog.Engine, and a
// shardlog.SharedEngine within one process.
//
// It keeps every stream's metadata and every shard's records in the
// process's memory, so nothing survives the process: an append is durable
// for as long as the log lives. It is the engine of tests, of local
// development, and of deployments that accept losing their data on restart.
//
// New makes a log and its first handle; Attach makes another handle on the
// same log, as a second process would open a shared engine. Several Logs,
// each over its own handle, share the streams: records, metadata, seals and
// Notify are common to all handles, while each handle has its own Close
// and its own change feed (Changes). Metadata updates of one stream
// (UpdateStream, SaveStream, DropStream) run one at a time, a seal made in
// an UpdateStream takes effect with the stored metadata or not at all, and
// a shard reference of a deleted (or deleted and re-created) stream is
// refused with shardlog.ErrResourceNotFound. Across processes there is
// nothing to share: each process has its own logs.
//
// Appends to different shards run in parallel: a read-write lock guards only
// the maps of streams and shards, and each shard has its own lock around its
// records, its partition-key index and its sequencer. Record data is copied
// on append, so callers may reuse their buffers; records returned by reads
// share their data with the engine and must not be modified.
//
// Trimmed records are dropped from the front of the shard's record slice,
// and the slice is compacted once most of it is dead, so memory follows the
// records actually held. The log is released when its last handle is
// closed.
package memory
