// Package delivery will provide Firehose-style archival of a stream.
//
// Planned: a delivery stream reads a shardlog stream (or takes direct puts),
// buffers by size and interval, optionally transforms records (Firehose's
// Ok / Dropped / ProcessingFailed contract, with retries), encodes (JSON
// lines, msgpack, Parquet), compresses, and delivers to PostgreSQL and to
// object storage (filesystem or S3-compatible) with Firehose's key layout.
// Its checkpoint moves only after the destination holds the data:
// at-least-once, with retries that overwrite instead of duplicating.
//
// Nothing is built here yet; the package holds only this comment.
package delivery
