// Package projection will feed read models from every shard of a stream,
// in order per shard and parents before children.
//
// Planned: per-(projection, shard) checkpoints kept in memory, a file,
// PostgreSQL (in the same transaction as the read model, for an
// exactly-once effect) or Redis; leases with fencing so several processes
// share the shards; rebuild by replay from the start (archive included) or
// for one partition key; and poison events that are retried, then parked
// with their error, never silently skipped.
//
// Nothing is built here yet; the package holds only this comment.
package projection
