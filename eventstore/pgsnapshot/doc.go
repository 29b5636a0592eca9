// Package pgsnapshot is an eventstore.SnapshotStore in a PostgreSQL table,
// through a pgx v5 connection pool.
//
// # Table
//
// One row per stream, in a table named shoal_snapshots by default
// (WithTable):
//
//	CREATE TABLE IF NOT EXISTS shoal_snapshots (
//		stream_id       text PRIMARY KEY,
//		version         bigint NOT NULL CHECK (version >= 0),
//		shard_id        text NOT NULL,
//		sequence_number numeric(29, 0) NOT NULL CHECK (sequence_number >= 0),
//		type            text NOT NULL,
//		schema_version  integer NOT NULL CHECK (schema_version >= 0),
//		data            bytea NOT NULL,
//		taken_at        timestamptz NOT NULL
//	)
//
// sequence_number is the decimal form of the position's
// shardlog.SequenceNumber (at most 29 digits), so SQL can compare it.
// New creates the table if it is missing (Migrate), unless WithMigrate(false)
// is given, for deployments whose schema is managed elsewhere: the role
// then needs only SELECT, INSERT and UPDATE on the table.
//
// # Save
//
// SaveSnapshot is one statement, atomic and race-free whoever runs it, in
// this process or another:
//
//	INSERT INTO shoal_snapshots (...) VALUES (...)
//	ON CONFLICT (stream_id) DO UPDATE SET ...
//	WHERE shoal_snapshots.version <= excluded.version
//
// so a lower version is a no-op, and an equal or higher one replaces the
// row. When SaveSnapshot returns nil the row is committed, as durable as
// the server's settings make a commit (synchronous_commit).
//
// # Limits
//
// The columns are narrower than the Go fields: SaveSnapshot returns an
// error, and stores nothing, for a Version above math.MaxInt64, a
// SchemaVersion above math.MaxInt32, a TakenAt outside the years 1-9999,
// or a stream ID, shard ID or type that is not valid UTF-8 or holds a NUL
// byte (PostgreSQL text cannot). LoadSnapshot of such a stream ID returns
// no snapshot. TakenAt is kept to the microsecond (truncated) and returned
// in UTC; empty Data is returned as nil.
package pgsnapshot
