// Package memory is an in-memory shardlog.Engine.
//
// It keeps every stream's metadata and every shard's records in the
// process's memory, so nothing survives the process: an append is durable
// for as long as the Engine lives. It is the engine of tests, of local
// development, and of deployments that accept losing their data on restart.
//
// Appends to different shards run in parallel: a read-write lock guards only
// the maps of streams and shards, and each shard has its own lock around its
// records, its partition-key index and its sequencer. Record data is copied
// on append, so callers may reuse their buffers; records returned by reads
// share their data with the engine and must not be modified.
//
// Trimmed records are dropped from the front of the shard's record slice,
// and the slice is compacted once most of it is dead, so memory follows the
// records actually held.
package memory
