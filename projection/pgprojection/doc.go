// Package pgprojection keeps projection checkpoints, leases and parked
// events in PostgreSQL, through a pgx v5 connection pool: a
// projection.SharedStore (several runner instances share a projection's
// shards) and a projection.Transactor (the read model and the checkpoint
// commit in one transaction, for an exactly-once effect).
//
// # Tables
//
// New creates three tables if they are missing, named after a prefix
// (WithTablePrefix, default DefaultTablePrefix):
//
//	CREATE TABLE IF NOT EXISTS shoal_projection_shards (
//		projection text NOT NULL,
//		shard      text NOT NULL,
//		after_seq  numeric(39, 0),           -- NULL: no checkpoint
//		done       boolean NOT NULL DEFAULT false,
//		owner      text NOT NULL DEFAULT '', -- '': no holder
//		token      bigint NOT NULL DEFAULT 0,
//		expires_at timestamptz,
//		PRIMARY KEY (projection, shard)
//	);
//	CREATE TABLE IF NOT EXISTS shoal_projection_members (
//		projection text NOT NULL,
//		owner      text NOT NULL,
//		expires_at timestamptz NOT NULL,
//		PRIMARY KEY (projection, owner)
//	);
//	CREATE TABLE IF NOT EXISTS shoal_projection_parked (
//		projection text NOT NULL,
//		shard      text NOT NULL,
//		seq        numeric(39, 0) NOT NULL,
//		stream_id  text NOT NULL,
//		version    numeric(20, 0) NOT NULL,
//		event_id   text NOT NULL,
//		type       text NOT NULL,
//		error      text NOT NULL,
//		attempts   bigint NOT NULL,
//		parked_at  timestamptz NOT NULL,
//		PRIMARY KEY (projection, shard, seq)
//	);
//
// One shards row holds both the checkpoint and the lease of a shard, so a
// fenced checkpoint write and a lease change contend for the same row
// lock. Sequence numbers are stored as exact decimals; parked_at keeps
// microseconds and is returned in UTC.
//
// # What is committed when
//
//   - SaveCheckpoint is one statement. With a non-zero token it is
//     UPDATE ... WHERE token = $token: it moves the checkpoint only if the
//     token is the shard's current lease token when the row is written,
//     and otherwise returns projection.ErrLeaseLost and changes nothing.
//     With token 0 it upserts the checkpoint and leaves the lease columns
//     alone.
//   - Park writes the parked event and the checkpoint past it in one
//     transaction: both or neither, fenced as SaveCheckpoint.
//   - InTx (projection.Transactor) runs the handlers in one transaction
//     and writes the checkpoint, fenced as SaveCheckpoint, in that same
//     transaction before committing: the read-model writes the handlers
//     make through the transaction (TxFrom, On) and the checkpoint commit
//     together or not at all. A stale token rolls the read model back.
//   - Reset deletes the projection's checkpoints and parked events in one
//     transaction; leases (and their tokens) are kept.
//   - Acquire, Renew, Release and Heartbeat are single statements (or, for
//     Heartbeat, a short transaction). Acquire is one INSERT ... ON
//     CONFLICT DO UPDATE ... WHERE the lease is free, so of concurrent
//     callers exactly one wins.
//
// Lease and member expiry is judged by the database clock
// (clock_timestamp()), never the Go process's, so instances need not agree
// on the time.
package pgprojection
