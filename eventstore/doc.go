// Package eventstore will store events on a shardlog stream.
//
// An event stream is one aggregate: its ID is the partition key, and many
// aggregates share one shardlog stream. Planned: an event envelope (UUID v7
// ID, stream ID, type, 1-based version, data, metadata, recorded-at,
// position), append with an expected version (atomic in one shard,
// idempotent on event IDs), msgpack and JSON codecs with a type registry and
// upcasters, forward and backward reads, subscriptions from per-shard
// checkpoints, reads that hand off from an archive to the live log without
// gap or duplicate, and snapshots.
//
// Nothing is built here yet; the package holds only this comment.
package eventstore
