// Package pgarchive archives shardlog streams in PostgreSQL: a
// delivery.Destination that copies each delivered batch into an archive
// table with COPY (pgx CopyFrom), a delivery.ErrorOutput, and an
// eventstore.ShardArchive that serves the archived records back, so event
// stores and projections read past the log's retention.
//
// # Tables
//
// New creates three tables (unless Options.NoCreate; Archive.Schema gives
// the statements). With the default name:
//
//	shoal_archive          one row per record
//	  stream text, shard text, seq numeric(39,0),     PRIMARY KEY (stream, shard, seq)
//	  partition_key text, arrival timestamptz, data bytea,
//	  stream_id text, version bigint, type text, event_id uuid   (NULL unless decoded)
//	  INDEX shoal_archive_key_idx (stream, partition_key, seq)
//
//	shoal_archive_shards   the shard catalog: one row per archived shard
//	  stream, shard, parent, adjacent_parent, starting_hash_key, ending_hash_key,
//	  starting_seq, closed, ending_seq, updated_at    PRIMARY KEY (stream, shard)
//
//	shoal_archive_errors   the error output: Firehose's error-record fields
//	  id, output_type, attempts_made, arrival_timestamp, error_code, error_message,
//	  attempt_ending_timestamp, raw_data, source_stream, shard_id, seq, partition_key,
//	  recorded_at
//
// Sequence numbers are stored as exact 128-bit decimals (numeric(39,0)), so
// ORDER BY seq is the log's order: within a shard, and across a key's
// shards too, since a child shard's numbers exceed its parents'. The event
// columns are filled when Options.Events names the event store whose
// stream is archived; analysts can then query by aggregate and type:
//
//	SELECT version, type, arrival FROM shoal_archive
//	WHERE stream = 'orders' AND partition_key = 'order-42' ORDER BY seq;
//
// # Guarantees
//
// Deliver is idempotent on (stream, shard, sequence number): the primary
// key makes a duplicate row impossible, and a retried or overlapping batch
// is filtered against the shard's largest archived sequence number (and
// inserted with ON CONFLICT DO NOTHING below it), so a retry neither
// duplicates nor fails; see Deliver. A batch is stored in one transaction:
// readers see all of it or none of it.
//
// # Reads
//
// ReadKey costs time proportional to the key's archived records (an index
// range scan with keyset pagination); ReadShard reads a shard through the
// primary key the same way; ArchivedShards reads the catalog. Their
// iterators hold no connection while the consumer runs.
package pgarchive
