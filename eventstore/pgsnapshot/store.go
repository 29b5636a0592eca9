package pgsnapshot

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// DefaultTable is the table a Store uses without WithTable.
const DefaultTable = "shoal_snapshots"

// Option configures New.
type Option func(*options)

type options struct {
	table   string
	migrate bool
}

// WithTable sets the table's name (default DefaultTable). It must be a
// plain lower-case identifier: a letter or underscore, then letters,
// digits or underscores, at most 63 bytes; New rejects anything else. The
// table is found through the connection's search_path.
func WithTable(name string) Option { return func(o *options) { o.table = name } }

// WithMigrate(false) makes New leave the database alone: it neither
// creates nor checks the table, and the first save or load fails if the
// table is missing. Migrate creates it. Default: true.
func WithMigrate(on bool) Option { return func(o *options) { o.migrate = on } }

// Store is a snapshot store in a PostgreSQL table. It is safe for
// concurrent use. It does not own the pool: close the pool when done.
type Store struct {
	pool    *pgxpool.Pool
	table   string
	loadSQL string
	saveSQL string
}

var _ eventstore.SnapshotStore = (*Store)(nil)

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// New returns a store on pool. Unless WithMigrate(false) is given, it creates
// the table if missing and checks that it has the columns the store uses
// (Migrate).
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	o := options{table: DefaultTable, migrate: true}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if !identifier.MatchString(o.table) {
		return nil, fmt.Errorf("pgsnapshot: table name %q: want a plain lower-case identifier ([a-z_][a-z0-9_]*, at most 63 bytes)", o.table)
	}
	if pool == nil {
		return nil, errors.New("pgsnapshot: nil pool")
	}
	t := pgx.Identifier{o.table}.Sanitize()
	s := &Store{
		pool:  pool,
		table: o.table,
		loadSQL: `SELECT version, shard_id, sequence_number::text, type, schema_version, data, taken_at
FROM ` + t + ` WHERE stream_id = $1`,
		saveSQL: `INSERT INTO ` + t + ` (stream_id, version, shard_id, sequence_number, type, schema_version, data, taken_at)
VALUES ($1, $2, $3, $4::text::numeric, $5, $6, $7, $8)
ON CONFLICT (stream_id) DO UPDATE SET
	version = excluded.version,
	shard_id = excluded.shard_id,
	sequence_number = excluded.sequence_number,
	type = excluded.type,
	schema_version = excluded.schema_version,
	data = excluded.data,
	taken_at = excluded.taken_at
WHERE ` + t + `.version <= excluded.version`,
	}
	if o.migrate {
		if err := s.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Table returns the name of the store's table.
func (s *Store) Table() string { return s.table }

// Migrate creates the table if it does not exist (see the package doc for
// its definition) and checks that the table has the store's columns. It is
// idempotent and safe to run from several processes at once: creators are
// serialized by a transaction-level advisory lock, since concurrent CREATE
// TABLE IF NOT EXISTS can fail in PostgreSQL. It does not alter a table
// that exists.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.migrate(ctx); err != nil {
		return fmt.Errorf("pgsnapshot: migrate table %s: %w", s.table, err)
	}
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	t := pgx.Identifier{s.table}.Sanitize()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	h := fnv.New64a()
	h.Write([]byte("github.com/shoal-dev/shoal/eventstore/pgsnapshot " + s.table))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+t+` (
	stream_id       text PRIMARY KEY,
	version         bigint NOT NULL CHECK (version >= 0),
	shard_id        text NOT NULL,
	sequence_number numeric(29, 0) NOT NULL CHECK (sequence_number >= 0),
	type            text NOT NULL,
	schema_version  integer NOT NULL CHECK (schema_version >= 0),
	data            bytea NOT NULL,
	taken_at        timestamptz NOT NULL
)`); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT stream_id, version, shard_id, sequence_number, type, schema_version, data, taken_at FROM `+t+` LIMIT 0`); err != nil {
		return fmt.Errorf("check columns: %w", err)
	}
	return tx.Commit(ctx)
}

// LoadSnapshot implements eventstore.SnapshotStore. It returns false for a
// stream ID that PostgreSQL text cannot hold (see the package doc).
func (s *Store) LoadSnapshot(ctx context.Context, streamID string) (eventstore.Snapshot, bool, error) {
	if textError(streamID) != "" {
		return eventstore.Snapshot{}, false, nil
	}
	var (
		version       int64
		schemaVersion int32
		seq           string
		snap          = eventstore.Snapshot{StreamID: streamID}
	)
	err := s.pool.QueryRow(ctx, s.loadSQL, streamID).Scan(
		&version, &snap.Position.ShardID, &seq, &snap.Type, &schemaVersion, &snap.Data, &snap.TakenAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Snapshot{}, false, nil
	}
	if err == nil {
		err = decodeRow(&snap, version, schemaVersion, seq)
	}
	if err != nil {
		return eventstore.Snapshot{}, false, fmt.Errorf("pgsnapshot: load the snapshot of %q from %s: %w", streamID, s.table, err)
	}
	return snap, true, nil
}

// decodeRow fills in the fields of snap that need converting.
func decodeRow(snap *eventstore.Snapshot, version int64, schemaVersion int32, seq string) error {
	if version < 0 {
		return fmt.Errorf("%w: negative version %d", eventstore.ErrCorruptSnapshot, version)
	}
	if schemaVersion < 0 {
		return fmt.Errorf("%w: negative schema_version %d", eventstore.ErrCorruptSnapshot, schemaVersion)
	}
	sn, err := shardlog.ParseSequenceNumber("sequence_number", seq)
	if err != nil {
		return fmt.Errorf("%w: %w", eventstore.ErrCorruptSnapshot, err)
	}
	snap.Version = uint64(version)
	snap.SchemaVersion = uint32(schemaVersion)
	snap.Position.SequenceNumber = sn
	snap.TakenAt = snap.TakenAt.UTC()
	if len(snap.Data) == 0 {
		snap.Data = nil
	}
	return nil
}

// SaveSnapshot implements eventstore.SnapshotStore with one INSERT ... ON
// CONFLICT statement: a lower version than the stored one is a no-op, an
// equal or higher one replaces it. It returns an error for values the
// table cannot hold (see the package doc).
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if err := checkSnapshot(snap); err != nil {
		return fmt.Errorf("pgsnapshot: save the snapshot of %q at version %d: %w", snap.StreamID, snap.Version, err)
	}
	data := snap.Data
	if data == nil {
		data = []byte{} // NULL is not empty
	}
	_, err := s.pool.Exec(ctx, s.saveSQL,
		snap.StreamID, int64(snap.Version), snap.Position.ShardID, snap.Position.SequenceNumber.String(),
		snap.Type, int32(snap.SchemaVersion), data, snap.TakenAt)
	if err != nil {
		return fmt.Errorf("pgsnapshot: save the snapshot of %q at version %d to %s: %w", snap.StreamID, snap.Version, s.table, err)
	}
	return nil
}

// checkSnapshot returns an error naming the first field the table cannot
// hold.
func checkSnapshot(snap eventstore.Snapshot) error {
	if snap.Version > math.MaxInt64 {
		return fmt.Errorf("version %d exceeds the bigint column (at most %d)", snap.Version, int64(math.MaxInt64))
	}
	if snap.SchemaVersion > math.MaxInt32 {
		return fmt.Errorf("schema version %d exceeds the integer column (at most %d)", snap.SchemaVersion, math.MaxInt32)
	}
	if y := snap.TakenAt.Year(); y < 1 || y > 9999 {
		return fmt.Errorf("taken at %s: the year is outside 1-9999", snap.TakenAt.UTC().Format(time.RFC3339Nano))
	}
	for _, f := range []struct{ name, value string }{
		{"stream ID", snap.StreamID},
		{"shard ID", snap.Position.ShardID},
		{"type", snap.Type},
	} {
		if reason := textError(f.value); reason != "" {
			return fmt.Errorf("%s %q %s, which PostgreSQL text cannot hold", f.name, f.value, reason)
		}
	}
	return nil
}

// textError says why s cannot be a PostgreSQL text value, or returns "".
func textError(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL byte"
	}
	return ""
}
