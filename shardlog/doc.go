// Package shardlog is an ordered, sharded stream log with the semantics of
// Amazon Kinesis Data Streams, over a small storage Engine.
//
// A Log holds named streams. A stream is a set of shards; each open shard
// owns a contiguous range of the 128-bit hash-key space, and a record goes
// to the shard owning the MD5 of its partition key (or its explicit hash
// key). Each shard is an append-only log: the Log gives every record a
// SequenceNumber that strictly increases within the shard, is unique across
// the stream, and is greater in a child shard than in its parents.
//
// The API follows Kinesis operation by operation, with the same inputs,
// limits and errors: CreateStream, PutRecord, PutRecords, GetShardIterator,
// GetRecords, ListShards, SplitShard, MergeShards, UpdateShardCount,
// SubscribeToShard and the rest. Every operation has one shape:
//
//	func (l *Log) Op(ctx context.Context, in OpInput) (*OpOutput, error)
//
// with the fields named as in the Kinesis API (StreamName, ShardToMerge,
// TargetShardCount, MaxRecordSizeInKiB, ...), initialisms spelled as Go
// spells them (ShardID and KeyID for ShardId and KeyId);
// an operation Kinesis answers with an empty body returns only an error.
// Lists page the way their Kinesis operation does,
// always through the input and output structs: NextToken and MaxResults
// (ListShards, ListStreamConsumers), NextToken, Limit and HasMoreStreams
// (ListStreams), ExclusiveStartShardID, Limit and HasMoreShards
// (DescribeStream), ExclusiveStartTagKey, Limit and HasMoreTags
// (ListTagsForStream). Shoal's own operations (AppendKey, LastKey, ReadKey,
// NewCursor, SetProvisionedLimits) take an input struct too. Every error
// wraps one sentinel (ErrInvalidArgument, ErrResourceNotFound, ...) named
// after the Kinesis exception it stands for; ResourceNotFound messages are
// worded as Kinesis words them.
// Beside the token-based iterators, a Cursor reads a shard the Go way: it
// never expires and can wait for records instead of polling. ReadyShards
// applies Kinesis's rule of reading parents before children to a listing.
//
// Shoal adds two operations an event store needs: AppendKey appends a batch
// for one partition key only if the key's latest sequence number is the one
// expected (optimistic concurrency, checked by the shard's single
// sequencer), and ReadKey reads one key's records in order, across reshards,
// at a cost proportional to that key's records.
//
// Storage is an Engine: shardlog/file is the durable embedded default
// (segment files, group-committed fdatasync, crash recovery),
// shardlog/postgres keeps the log in PostgreSQL for many processes,
// shardlog/memory keeps everything in memory for tests, and
// shardlog/shardlogtest is the conformance suite every engine passes. The
// Log adds no durability of its own: what is on disk when a call returns is
// the engine's contract (see package file); the memory engine keeps nothing
// across a restart.
//
// Sharing a log: when the Engine is also a SharedEngine (shardlog/postgres;
// shardlog/memory between Logs of one process), many Logs, in many
// processes, open one log at once. Each Log then treats its copy of the
// streams' metadata as a cache: every metadata change (CreateStream, a
// reshard, a retention, tag or consumer change) is a serialized update in
// the engine, with the seals of a reshard in the same transaction; each Log
// learns of the others' changes from the engine's change feed (within a
// second; a full reload every 30 s backs it up), and reloads a stream at
// once when an append finds its shard sealed or a key read finds the last
// shard of the key's lineage sealed. So an append racing another process's
// reshard lands in the parent before its seal or is rerouted to the child,
// never lost and never acknowledged twice; AppendKey's check and ReadKey
// stay linearizable across processes; a stream another Log created is found
// by name at once, and ListStreams lists what every Log created. What stays
// per Log: provisioned throughput budgets and account quotas are counted
// by each Log for its own calls, retention holds (HoldRetention) bind only
// the Log they were registered with, and iterators and NextTokens are
// valid in another Log only if both were opened with the same
// WithTokenSecret. DescribeStream and GetRecords answer from the cache, at
// most about a second behind another Log's change, except that a shard ID
// the cache lacks, or a shard read to its end that the engine reports
// sealed, makes the Log reload the stream first; EnforceRetention reloads
// each stream before trimming it.
//
// Usage:
//
//	eng, err := file.Open("./data") // SyncAlways: a put returns once fdatasync'd
//	if err != nil { ... }
//	log, err := shardlog.Open(ctx, eng) // Close closes the engine too
//	if err != nil { ... }
//	defer log.Close()
//	err = log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "orders", ShardCount: 2})
//	out, err := log.PutRecord(ctx, shardlog.PutRecordInput{
//		StreamName: "orders", PartitionKey: "order-1", Data: []byte(`{"event":"created"}`),
//	})
//	for r, err := range log.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: "orders", PartitionKey: "order-1"}) {
//		...
//	}
//
// docs/shardlog.md in the repository is the manual.
package shardlog
