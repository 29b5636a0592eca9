// Package postgres is a shardlog.SharedEngine on PostgreSQL: many Logs, in
// many processes, open one log. It is the engine for services that already
// run PostgreSQL and share a log between a command service and its
// read-model services, each with replicas.
//
//	e, err := postgres.Open(ctx, "postgres://app@db/app", postgres.Options{Schema: "orders_log"})
//	log, err := shardlog.Open(ctx, e)
//
// # Schema
//
// One PostgreSQL schema (Options.Schema, default "shoal") is one log. The
// engine owns it: Open creates it, or migrates it, under an advisory lock
// so that processes opening it at once do it one at a time, with
// idempotent CREATE ... IF NOT EXISTS statements. Its version is kept in
// schema_version; a schema written by a newer version of this package is
// refused with a *SchemaVersionError (errors.Is(err, ErrSchemaTooNew)),
// never touched. If the schema or its tables are dropped under a running
// engine, its calls fail with an error wrapping ErrSchemaMissing (and
// shardlog.ErrInternalFailure). The tables:
//
//   - streams: one row per stream, its StreamMeta as jsonb, with its ID
//     (incarnation) and revision;
//   - shards: one row per shard: its stream, ID, the stream's incarnation,
//     a surrogate shard_key its records carry, its sequencer's state (last
//     position and arrival, records appended), its seal, its retention
//     horizon and the last record that horizon hides;
//   - records: (shard_key, pos, arrival, ord, pkey, data), primary key
//     (shard_key, pos), and the key index, a B-tree on (shard_key, pkey,
//     pos); partitioned by range of pos.
//
// # One sequencer per shard
//
// An append transaction locks the shard's row (SELECT ... FOR UPDATE),
// checks the stream's incarnation (a ShardRef of a dropped or re-created
// stream gets an error wrapping shardlog.ErrResourceNotFound) and the seal
// (shardlog.ErrShardSealed), runs the conditional checks against the
// keys' latest live records found through the key index, numbers the
// records with one shardlog.Sequencer from the row's last position and
// arrival, inserts them with one multi-row INSERT (unnest of arrays),
// updates the row, and commits. It costs two round trips: BEGIN, the lock
// and the key lookups are sent as one pipeline, the INSERT (which also
// updates the row) and COMMIT as another. The multi-row INSERT beat COPY
// on 500-record batches (BenchmarkAppend500: COPY needs a round trip of
// its own). The row lock is held until COMMIT, so two append transactions
// on a shard never overlap: the next one reads the row only after the
// previous one committed (or rolled back, and then nothing of it is
// visible and its positions are reused). Commit order is therefore
// sequence order, and a reader never sees position N+1 before N: there is
// no sequence-generated gap, the classic bug of event stores numbered by
// bigserial. Arrival times are kept to the microsecond, PostgreSQL's
// precision: now is truncated before numbering, so the arrival Append
// returns is the one stored.
//
// Group commit: within one engine, concurrent Appends to the same shard
// share one transaction. The first to arrive leads: it takes the appends
// queued for the shard, in arrival order (up to 5,000 records and 8 MiB),
// and runs them as one transaction, then hands the lead to the first
// append still queued. Under the row lock, each member's condition is
// evaluated in queue order against the stored state and the members
// before it (a key appended by an earlier member is that key's latest for
// a later one), and the members that pass are numbered in that order,
// each batch at consecutive positions. Each caller gets its own result: a
// member whose condition fails gets its *shardlog.ConflictError and
// stores nothing, without failing the others; a sealed shard fails every
// member with ErrShardSealed; an error of the transaction (the connection
// lost, the commit failed) is every member's, and as for a lone append
// the batches may or may not be stored if it came at COMMIT. A batch is
// still all or nothing and contiguous. A caller whose context ends while
// its append is queued leaves the queue (nothing stored); once its
// append is in a running group, it waits for the group's outcome. Across
// engines, and processes, the row lock serializes the groups.
//
// Appends to different shards do not contend. Seal locks the same row, so
// appends racing a seal either commit before it (and are counted in the
// number it returns) or fail with ErrShardSealed.
//
// # Durability
//
// Append returns after COMMIT returned. What is on disk then is what the
// server's synchronous_commit says: with the default (on), the commit's
// WAL is flushed to the server's disk (and, with synchronous standbys
// configured, to them as remote_apply/remote_write/on specify), so an
// acknowledged batch survives a crash of the server or of the calling
// process. With synchronous_commit=off, an acknowledged batch may be lost
// by a server crash (never partially: WAL replay restores whole
// transactions), though not by a crash of the calling process. If the
// connection is lost during COMMIT, Append returns an error and the batch
// may or may not be stored; a conditional append (AppendKey) retried with
// the same expectation tells which.
//
// # Key index
//
// ReadKey, LastKey and the conditional check are index range scans of
// (shard_key, pkey, pos): they read the key's own records, not the
// shard's. As the records table is partitioned, a scan visits the index of
// each partition that may hold the key, newest first for LastKey, oldest
// first for ReadKey, and stops as soon as it has its rows (PostgreSQL's
// ordered Append): an absent key costs one index descent per live
// partition. A read's lower bound on positions (ReadKey's after, Read's
// from) is a plain condition on the query's parameter, so the planner
// leaves out the partitions before it; with the default one-day
// partitions a log at the default 24 h retention has two or three.
//
// # Retention
//
// Records are partitioned by position, one partition per PartitionSpan of
// positions (positions are Unix microseconds or a little more; the
// default span is one day). Since the
// sequencer makes a position at least its record's arrival time in
// microseconds, every record of the partition [L, U) arrived before U read
// as a time. Trim records a per-shard horizon (reads, Bounds, SeekTime and
// the conditional check exclude records that arrived before it, at once),
// and the last record the horizon hides (ShardBounds.Trimmed, so a Log
// resuming an archive knows whether records it never read expired),
// then drops every partition, oldest first, that no shard holding records
// in it still needs (its horizon is before U): a DROP TABLE, not a
// row-by-row DELETE. So a record may stay stored up to one PartitionSpan
// after it expired, invisible to every read (the Engine contract allows
// Trim to keep some). Partitioning by position instead of by arrival time
// keeps every read by position bounded: Read starts at its position's
// partition, and the horizon prunes the older ones. DropStream and
// DropShard delete rows of the streams and shards tables only: the
// records, which no shard row can reach any more, go with their
// partitions. The partition after the current one is created in the
// background once appends reach the second half of a span (and an append
// that finds its partition missing creates it, and the next, itself), as a
// table that is then attached, which takes a lock appends and reads do not
// wait for. There is no DEFAULT partition:
// with one, PostgreSQL could not scan partitions in order and stop early,
// and every new partition would have to scan it; an append that finds its
// partition missing creates it and retries, so nothing depends on one.
//
// Dropping a partition takes an ACCESS EXCLUSIVE lock on the records
// table, for as long as the catalog change takes; it waits at most
// Options.DropLockTimeout for it (readers queue behind a waiting lock), and
// a drop that cannot get it is left to the next Trim.
//
// # Metadata and shared use
//
// UpdateStream is one transaction under a transaction-level advisory lock
// on a hash of the schema and the stream's name (so an absent stream locks
// too): it reads the metadata, calls fn, whose MetaTx.Seal locks and seals
// the shard's row in the same transaction, stores the result, creates a
// row for every shard the new metadata lists, notifies, and commits. A
// seal is thus visible to every process exactly when the metadata closing
// the shard is, and not at all if fn or the commit fails. fn is called
// once, and its error is returned unwrapped. SaveStream is UpdateStream
// storing the given metadata; DropStream deletes the stream's rows in one
// transaction under the same lock. ReadKeySealed and LastKeySealed read the
// shard row's seal and the records in one statement, hence one snapshot.
//
// # Notifications
//
// Each engine holds one dedicated connection (not from the pool) that
// LISTENs on the log's channel. An append group's wake-up is sent after
// its COMMIT, not in its transaction: PostgreSQL serializes the commits of
// transactions that notified, server-wide, under a lock held through the
// commit's WAL flush, so a NOTIFY in the append would queue every append
// behind the others' flushes (while holding its shard's row lock). A
// background sender names every shard that got records since its last
// send in one statement (SELECT pg_notify(...) FROM unnest(...)), a
// transaction of its own that waits for no flush; the engine also wakes
// its own waiters directly after its commits. The listener closes the
// shard's Notify channel. Seals, DropShard and metadata changes still
// notify in their transactions, so their notification is delivered when,
// and only if, they commit; metadata changes notify the stream's name,
// which the listener puts on Changes.
//
// A wake-up can therefore be lost: an engine whose process dies, or whose
// connection fails, between an append's COMMIT and its NOTIFY never sends
// it. So a Notify channel is also closed one second after it was made,
// whatever happened: a tailing reader or a subscription waiting on it
// re-checks the shard at least once a second, and finds records whose
// notification was lost within that second. If the listener's connection
// is lost, it reconnects with backoff, LISTENs again, and then sends "" on
// Changes and wakes every Notify waiter: what was notified meanwhile is
// lost, so every reader re-checks. A listener that heard nothing for 30 s
// probes its connection, so that one cut without a reset is noticed too.
//
// # Connections
//
// An engine uses its pool (its own, opened from the URL, or Options.Pool,
// shared with the application and not closed by the engine) plus the one
// listener connection. Close stops the listener, wakes every waiter and
// closes the Changes channel; later calls fail with an error wrapping
// shardlog.ErrClosed. Other database errors (server unreachable,
// connection lost) wrap shardlog.ErrInternalFailure and the pgx error;
// context errors are returned as they are.
package postgres
