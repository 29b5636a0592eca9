package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// schemaVersion is the layout this code reads and writes. Open migrates an
// older schema up to it, one step at a time, and refuses a newer one with a
// *SchemaVersionError.
const schemaVersion = 1

// migrations[v-1] takes the schema from version v-1 to v. Every statement
// is idempotent (IF NOT EXISTS), so a migration interrupted by a crash is
// simply run again. {s} is the quoted schema name.
var migrations = []string{
	// 1: streams, shards, records partitioned by position.
	`
CREATE TABLE IF NOT EXISTS {s}.streams (
	name     text   PRIMARY KEY,
	id       bigint NOT NULL,
	revision bigint NOT NULL,
	meta     jsonb  NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS {s}.shard_keys;
CREATE TABLE IF NOT EXISTS {s}.shards (
	stream       text    NOT NULL,
	shard_id     text    NOT NULL,
	stream_id    bigint  NOT NULL,
	shard_key    bigint  NOT NULL UNIQUE DEFAULT nextval('{s}.shard_keys'),
	idx          bigint  NOT NULL,
	first_pos    bigint  NOT NULL DEFAULT 0,
	last_pos     bigint  NOT NULL DEFAULT 0,
	last_arrival bigint  NOT NULL DEFAULT 0,
	appended     bigint  NOT NULL DEFAULT 0,
	sealed       boolean NOT NULL DEFAULT false,
	horizon      bigint  NOT NULL DEFAULT 0,
	PRIMARY KEY (stream, shard_id)
);
CREATE TABLE IF NOT EXISTS {s}.records (
	shard_key bigint NOT NULL,
	pos       bigint NOT NULL,
	arrival   bigint NOT NULL,
	ord       bigint NOT NULL,
	pkey      text   NOT NULL,
	data      bytea  NOT NULL,
	PRIMARY KEY (shard_key, pos)
) PARTITION BY RANGE (pos);
CREATE INDEX IF NOT EXISTS records_key ON {s}.records (shard_key, pkey, pos);
`,
}

// migrate creates or upgrades the schema, under an advisory lock so that
// engines opening the same log at once do it one at a time.
func migrate(ctx context.Context, conn *pgx.Conn, schema string) error {
	q := pgx.Identifier{schema}.Sanitize()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return wrap("migrate", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "shoal-schema:"+schema); err != nil {
		return wrap("migrate: lock", err)
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+q); err != nil {
		return wrap("migrate: create schema", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+q+`.schema_version (
		one     boolean PRIMARY KEY DEFAULT true CHECK (one),
		version integer NOT NULL)`); err != nil {
		return wrap("migrate: version table", err)
	}
	var found int
	err = tx.QueryRow(ctx, `SELECT version FROM `+q+`.schema_version`).Scan(&found)
	if err != nil && err != pgx.ErrNoRows {
		return wrap("migrate: read version", err)
	}
	if found > schemaVersion {
		return &SchemaVersionError{Schema: schema, Found: found, Supported: schemaVersion}
	}
	for v := found + 1; v <= schemaVersion; v++ {
		if _, err := tx.Exec(ctx, strings.ReplaceAll(migrations[v-1], "{s}", q)); err != nil {
			return wrap(fmt.Sprintf("migrate to version %d", v), err)
		}
	}
	if found < schemaVersion {
		if _, err := tx.Exec(ctx, `INSERT INTO `+q+`.schema_version (version) VALUES ($1)
			ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version`, schemaVersion); err != nil {
			return wrap("migrate: write version", err)
		}
	}
	return wrap("migrate: commit", tx.Commit(ctx))
}
