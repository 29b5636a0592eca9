// Package delivery archives shardlog streams, Firehose-style: a delivery
// stream reads a stream's shards (or takes direct puts), buffers by size
// and interval, optionally transforms records, and delivers them to
// PostgreSQL or object storage. Its checkpoint moves only after the
// destination holds the data: at-least-once, with retries that replace
// instead of duplicating. The archive it writes serves reads past the
// log's retention (eventstore.Archive, eventstore.ShardArchive).
package delivery
