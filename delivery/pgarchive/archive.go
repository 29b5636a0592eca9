package pgarchive

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// DefaultTable is the archive table's name without Options.Table. The
// shard catalog is <table>_shards and the error output <table>_errors.
const DefaultTable = "shoal_archive"

// PageSize is how many rows ReadKey and ReadShard read per query (each
// query asks for one more, to learn whether another page follows).
const PageSize = 1000

// migrateLock is the pg_advisory_xact_lock key that serializes New's
// CREATE ... IF NOT EXISTS statements (concurrent ones can fail in
// PostgreSQL).
const migrateLock int64 = 0x73686f616c617263 // "shoalarc"

// Options configures New.
type Options struct {
	// Table is the archive table's name (default DefaultTable), optionally
	// schema-qualified ("archive.events"). Each part must be a plain
	// lower-case identifier: a letter or underscore, then letters, digits
	// or underscores, at most 48 bytes for the table (so that
	// <table>_shards, <table>_errors and the index names fit PostgreSQL's
	// 63) and 63 for the schema. New rejects anything else with a
	// *shardlog.ArgumentError naming "Table". An unqualified name is found
	// through the connection's search_path.
	Table string
	// Events, if set, is the event store whose shardlog stream is
	// archived: Deliver decodes each record's envelope into the event
	// columns (stream_id, version, type, event_id). Records that are not
	// events of this store keep those columns NULL.
	Events *eventstore.Store
	// NoCreate skips creating the tables and indexes: for deployments
	// where the schema is managed elsewhere (see the package doc for it).
	NoCreate bool
}

var (
	tablePart  = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)
	schemaPart = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

// Archive is a PostgreSQL archive of shardlog streams: a
// delivery.Destination and delivery.ErrorOutput that writes the tables,
// and an eventstore.ShardArchive that reads them back. It is safe for
// concurrent use. It does not own the pool: close the pool when done.
type Archive struct {
	pool   *pgxpool.Pool
	events *eventstore.Store
	name   string // as given (or the default), for messages
	// Sanitized (quoted) names.
	table, shards, errs string
	// Unqualified names of the tables and indexes, for CREATE.
	keyIndex, errIndex string
	ident              pgx.Identifier // the archive table's identifier, for CopyFrom
	errIdent           pgx.Identifier
}

var (
	_ delivery.Destination    = (*Archive)(nil)
	_ delivery.ErrorOutput    = (*Archive)(nil)
	_ eventstore.ShardArchive = (*Archive)(nil)
)

// New returns an archive on pool, creating its tables and indexes if they
// are missing (unless opts.NoCreate). The creation is idempotent and safe
// from several processes at once: it runs in a transaction holding a fixed
// advisory lock. New does not alter tables that exist.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Archive, error) {
	name := opts.Table
	if name == "" {
		name = DefaultTable
	}
	schema, table, qualified := strings.Cut(name, ".")
	if !qualified {
		schema, table = "", name
	}
	if (qualified && !schemaPart.MatchString(schema)) || !tablePart.MatchString(table) {
		return nil, &shardlog.ArgumentError{Field: "Table", Reason: fmt.Sprintf(
			"%q is not a lower-case identifier, optionally schema-qualified ([a-z_][a-z0-9_]*: at most 48 bytes for the table, 63 for the schema)",
			truncate(name, 128))}
	}
	if pool == nil {
		return nil, &shardlog.ArgumentError{Field: "pool", Reason: "must not be nil"}
	}
	ident := func(t string) pgx.Identifier {
		if qualified {
			return pgx.Identifier{schema, t}
		}
		return pgx.Identifier{t}
	}
	a := &Archive{
		pool:     pool,
		events:   opts.Events,
		name:     name,
		ident:    ident(table),
		errIdent: ident(table + "_errors"),
		keyIndex: pgx.Identifier{table + "_key_idx"}.Sanitize(),
		errIndex: pgx.Identifier{table + "_errors_src_idx"}.Sanitize(),
	}
	a.table = a.ident.Sanitize()
	a.shards = ident(table + "_shards").Sanitize()
	a.errs = a.errIdent.Sanitize()
	if !opts.NoCreate {
		if err := a.migrate(ctx); err != nil {
			return nil, fmt.Errorf("pgarchive: create the tables of %s: %w", name, err)
		}
	}
	return a, nil
}

// Table returns the archive table's name, as Options.Table gave it (or
// DefaultTable).
func (a *Archive) Table() string { return a.name }

// Schema returns the statements New runs to create the tables and
// indexes, for deployments that manage the schema themselves (NoCreate).
func (a *Archive) Schema() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + a.table + ` (
	stream        text           NOT NULL,
	shard         text           NOT NULL,
	seq           numeric(39, 0) NOT NULL CHECK (seq > 0),
	partition_key text           NOT NULL,
	arrival       timestamptz    NOT NULL,
	data          bytea          NOT NULL,
	stream_id     text,
	version       bigint,
	type          text,
	event_id      uuid,
	PRIMARY KEY (stream, shard, seq)
)`,
		`CREATE INDEX IF NOT EXISTS ` + a.keyIndex + ` ON ` + a.table + ` (stream, partition_key, seq)`,
		`CREATE TABLE IF NOT EXISTS ` + a.shards + ` (
	stream            text           NOT NULL,
	shard             text           NOT NULL,
	parent            text           NOT NULL DEFAULT '',
	adjacent_parent   text           NOT NULL DEFAULT '',
	starting_hash_key numeric(39, 0) NOT NULL,
	ending_hash_key   numeric(39, 0) NOT NULL,
	starting_seq      numeric(39, 0),
	closed            boolean        NOT NULL DEFAULT false,
	ending_seq        numeric(39, 0),
	updated_at        timestamptz    NOT NULL DEFAULT now(),
	PRIMARY KEY (stream, shard)
)`,
		`CREATE TABLE IF NOT EXISTS ` + a.errs + ` (
	id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	output_type              text           NOT NULL,
	attempts_made            integer        NOT NULL,
	arrival_timestamp        timestamptz,
	error_code               text           NOT NULL,
	error_message            text           NOT NULL,
	attempt_ending_timestamp timestamptz,
	raw_data                 bytea          NOT NULL,
	source_stream            text           NOT NULL DEFAULT '',
	shard_id                 text           NOT NULL DEFAULT '',
	seq                      numeric(39, 0),
	partition_key            text           NOT NULL DEFAULT '',
	recorded_at              timestamptz    NOT NULL DEFAULT now()
)`,
		`CREATE INDEX IF NOT EXISTS ` + a.errIndex + ` ON ` + a.errs + ` (source_stream, shard_id, seq)`,
	}
}

func (a *Archive) migrate(ctx context.Context) error {
	tx, err := a.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	for _, ddl := range a.Schema() {
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
