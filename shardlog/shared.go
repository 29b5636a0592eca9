package shardlog

import "context"

// SharedEngine is an Engine that several Logs may open at once, in one
// process or in many: the engine of a log that a command service and its
// read-model services share. A Log opened over a SharedEngine keeps no
// state of its own that the others need: what one Log changes, every
// other Log learns from the engine.
//
// Besides the Engine contract, a shared engine provides:
//
//   - Serialized metadata updates. UpdateStream runs a read-modify-write
//     of one stream's metadata that no other update of that stream, from
//     any process, interleaves with (a row lock, or a compare-and-set on a
//     revision retried with fresh metadata).
//   - Seals that every process sees, atomic with the metadata that closes
//     the shard: a shard sealed through a MetaTx is sealed for every Log
//     exactly when the update that closed it is stored, and not at all if
//     the update fails. Once an Append has failed with ErrShardSealed, a
//     LoadStream started after it returns metadata that calls the shard
//     closed, so the Log can reroute the append to a child.
//   - A change feed (Changes) that tells each Log of other Logs'
//     metadata changes, pushed where the engine can (within a second).
//   - Notify channels that fire on appends and seals by any process.
//   - Key reads that say whether the shard was already sealed in the same
//     snapshot as the records (ReadKeySealed, LastKeySealed), so that a Log
//     whose metadata lags a reshard by another process still reads a key's
//     latest records: conditional appends and key reads stay linearizable
//     across processes.
//   - Incarnation checks: every ShardRef carries the stream's ID
//     (StreamMeta.ID); an operation on a shard of a stream that was
//     deleted, or deleted and created again, fails with an error wrapping
//     ErrResourceNotFound instead of reaching the new stream's shard.
//
// The file engine is not a shared engine: one Log opens it (it locks its
// directory). The memory engine is one between the Logs of one process
// (memory.Engine.Attach), and the multi-Log group of shardlogtest
// (RunMultiLog) checks a shared engine with two or three Logs.
type SharedEngine interface {
	Engine

	// LoadStream returns one stream's metadata as last stored, and false
	// if there is no such stream.
	LoadStream(ctx context.Context, name string) (StreamMeta, bool, error)

	// UpdateStream reads the named stream's stored metadata, passes it to
	// fn (nil when the stream does not exist) and stores the metadata fn
	// returns, as one atomic step that no other UpdateStream or DropStream
	// of the stream interleaves with. If fn returns an error, nothing is
	// stored, no seal made through tx takes effect, and UpdateStream
	// returns fn's error unwrapped. fn may be called more than once (an
	// engine that retries a lost compare-and-set calls it again with the
	// fresh metadata), so it must have no effects but through tx. The
	// engine creates whatever it keeps per shard for every shard of the
	// stored metadata. It returns the stored metadata.
	UpdateStream(ctx context.Context, name string, fn func(tx MetaTx, cur *StreamMeta) (*StreamMeta, error)) (StreamMeta, error)

	// DropStreamID is DropStream of one incarnation: it drops the stream
	// only if the stored stream's ID is id, in the same serialized step as
	// UpdateStream; otherwise (the stream was deleted, or deleted and
	// created again) it drops nothing and returns an error wrapping
	// ErrResourceNotFound. A Log deletes through it, so that a delete
	// by a Log that has not yet heard of another Log's re-creation never
	// drops the new stream and its records.
	DropStreamID(ctx context.Context, name string, id uint64) error

	// ReadKeySealed is ReadKey that also reports whether the shard was
	// sealed when the records were read (in the same snapshot): if it was
	// not, no later shard of the key has records yet.
	ReadKeySealed(ctx context.Context, shard ShardRef, partitionKey string, after SequenceNumber, max int) (records []Record, sealed bool, err error)
	// LastKeySealed is LastKey that also reports, from the same snapshot,
	// whether the shard was sealed.
	LastKeySealed(ctx context.Context, shard ShardRef, partitionKey string) (r Record, found, sealed bool, err error)

	// Changes returns the engine's change feed, one channel per engine (the
	// Log is its only reader). It receives a stream's name after any Log,
	// in this process or another, stored new metadata for the stream or
	// dropped it, and "" when changes may have been missed (the engine
	// reconnected, or the reader fell behind): then every stream should be
	// reloaded. The engine never blocks on the channel; it coalesces. The
	// channel is closed when the engine is closed.
	Changes() <-chan string
}

// MetaTx is what UpdateStream's function may do besides returning new
// metadata.
type MetaTx interface {
	// Seal seals the shard as Engine.Seal does, but the seal takes effect
	// only if the update is stored, atomically with it. Appends to the
	// shard that commit before the update are kept and counted in last;
	// later ones fail with ErrShardSealed.
	Seal(ctx context.Context, shard ShardRef) (last SequenceNumber, err error)
}
