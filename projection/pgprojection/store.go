package pgprojection

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// DefaultTablePrefix is the table prefix a Store uses without
// WithTablePrefix: its tables are shoal_projection_shards,
// shoal_projection_members and shoal_projection_parked.
const DefaultTablePrefix = "shoal_projection"

// migrateLock is the pg_advisory_xact_lock key that serializes New's
// CREATE TABLE IF NOT EXISTS statements (concurrent ones can fail in
// PostgreSQL).
const migrateLock int64 = 0x73686f616c70726a // "shoalprj"

// Option configures New.
type Option func(*options)

type options struct {
	prefix string
}

// WithTablePrefix sets the prefix of the store's table names (default
// DefaultTablePrefix): the tables are <prefix>_shards, <prefix>_members
// and <prefix>_parked. It must be a plain lower-case identifier, a letter
// or underscore then letters, digits or underscores, at most 55 bytes (so
// the table names fit in 63); New rejects anything else with a
// *shardlog.ArgumentError naming "tablePrefix". The tables are found
// through the connection's search_path.
func WithTablePrefix(p string) Option { return func(o *options) { o.prefix = p } }

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,54}$`)

// Store is a projection.SharedStore and projection.Transactor in
// PostgreSQL tables (see the package doc). It is safe for concurrent use.
// It does not own the pool: close the pool when done.
type Store struct {
	pool    *pgxpool.Pool
	shards  string // sanitized table names
	members string
	parked  string
}

var (
	_ projection.SharedStore = (*Store)(nil)
	_ projection.Transactor  = (*Store)(nil)
)

// New returns a store on pool, creating its tables if they are missing.
// It is idempotent and safe to call from several processes at once: the
// creation runs in a transaction holding a fixed advisory lock. It does
// not alter tables that exist.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	o := options{prefix: DefaultTablePrefix}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if !identifier.MatchString(o.prefix) {
		return nil, &shardlog.ArgumentError{Field: "tablePrefix",
			Reason: fmt.Sprintf("%q is not a plain lower-case identifier ([a-z_][a-z0-9_]*, at most 55 bytes)", o.prefix)}
	}
	if pool == nil {
		return nil, &shardlog.ArgumentError{Field: "pool", Reason: "must not be nil"}
	}
	s := &Store{
		pool:    pool,
		shards:  pgx.Identifier{o.prefix + "_shards"}.Sanitize(),
		members: pgx.Identifier{o.prefix + "_members"}.Sanitize(),
		parked:  pgx.Identifier{o.prefix + "_parked"}.Sanitize(),
	}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("pgprojection: create the tables %s_*: %w", o.prefix, err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	for _, ddl := range []string{
		`CREATE TABLE IF NOT EXISTS ` + s.shards + ` (
	projection text NOT NULL,
	shard      text NOT NULL,
	after_seq  numeric(39, 0) CHECK (after_seq >= 0),
	done       boolean NOT NULL DEFAULT false,
	owner      text NOT NULL DEFAULT '',
	token      bigint NOT NULL DEFAULT 0 CHECK (token >= 0),
	expires_at timestamptz,
	PRIMARY KEY (projection, shard)
)`,
		`CREATE TABLE IF NOT EXISTS ` + s.members + ` (
	projection text NOT NULL,
	owner      text NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (projection, owner)
)`,
		`CREATE TABLE IF NOT EXISTS ` + s.parked + ` (
	projection text NOT NULL,
	shard      text NOT NULL,
	seq        numeric(39, 0) NOT NULL CHECK (seq >= 0),
	stream_id  text NOT NULL,
	version    numeric(20, 0) NOT NULL CHECK (version >= 0),
	event_id   text NOT NULL,
	type       text NOT NULL,
	error      text NOT NULL,
	attempts   bigint NOT NULL,
	parked_at  timestamptz NOT NULL,
	PRIMARY KEY (projection, shard, seq)
)`,
	} {
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// execer is what the checkpoint write needs: the pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// leaseLost is the error of a fenced write or lease call that found the
// lease changed hands.
func leaseLost(projectionName, shard string, token uint64) error {
	return fmt.Errorf("pgprojection: %w: %s/%s token %d", projection.ErrLeaseLost, projectionName, shard, token)
}

// save writes p as the checkpoint of (projectionName, shard) through db,
// fenced by token unless it is zero.
func (s *Store) save(ctx context.Context, db execer, projectionName, shard string, p projection.Progress, token uint64) error {
	after := p.After.String()
	if token == 0 {
		_, err := db.Exec(ctx, `INSERT INTO `+s.shards+` (projection, shard, after_seq, done)
VALUES ($1, $2, $3::text::numeric, $4)
ON CONFLICT (projection, shard) DO UPDATE SET after_seq = excluded.after_seq, done = excluded.done`,
			projectionName, shard, after, p.Done)
		return err
	}
	if token > math.MaxInt64 {
		return leaseLost(projectionName, shard, token) // no row holds it
	}
	tag, err := db.Exec(ctx, `UPDATE `+s.shards+` SET after_seq = $3::text::numeric, done = $4
WHERE projection = $1 AND shard = $2 AND token = $5`,
		projectionName, shard, after, p.Done, int64(token))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return leaseLost(projectionName, shard, token)
	}
	return nil
}

// Checkpoints implements projection.CheckpointStore.
func (s *Store) Checkpoints(ctx context.Context, projectionName string) (map[string]projection.Progress, error) {
	rows, err := s.pool.Query(ctx, `SELECT shard, after_seq::text, done FROM `+s.shards+`
WHERE projection = $1 AND after_seq IS NOT NULL`, projectionName)
	if err != nil {
		return nil, fmt.Errorf("pgprojection: checkpoints of %s: %w", projectionName, err)
	}
	out := map[string]projection.Progress{}
	var (
		shard, after string
		done         bool
	)
	_, err = pgx.ForEachRow(rows, []any{&shard, &after, &done}, func() error {
		sn, err := shardlog.ParseSequenceNumber("after_seq", after)
		if err != nil {
			return fmt.Errorf("shard %s: %w", shard, err)
		}
		out[shard] = projection.Progress{After: sn, Done: done}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgprojection: checkpoints of %s: %w", projectionName, err)
	}
	return out, nil
}

// SaveCheckpoint implements projection.CheckpointStore in one statement.
// A non-zero token must be the shard's current lease token, else it
// returns projection.ErrLeaseLost and writes nothing.
func (s *Store) SaveCheckpoint(ctx context.Context, projectionName, shard string, p projection.Progress, token uint64) error {
	if err := s.save(ctx, s.pool, projectionName, shard, p, token); err != nil {
		if errors.Is(err, projection.ErrLeaseLost) {
			return err
		}
		return fmt.Errorf("pgprojection: save checkpoint %s/%s: %w", projectionName, shard, err)
	}
	return nil
}

// Park implements projection.CheckpointStore: the parked event (replacing
// one parked at the same shard and sequence number) and the checkpoint
// commit in one transaction, fenced by token as SaveCheckpoint.
func (s *Store) Park(ctx context.Context, projectionName string, ev projection.Parked, p projection.Progress, token uint64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.save(ctx, tx, projectionName, ev.Shard, p, token); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+s.parked+`
	(projection, shard, seq, stream_id, version, event_id, type, error, attempts, parked_at)
VALUES ($1, $2, $3::text::numeric, $4, $5::text::numeric, $6, $7, $8, $9, $10)
ON CONFLICT (projection, shard, seq) DO UPDATE SET
	stream_id = excluded.stream_id,
	version = excluded.version,
	event_id = excluded.event_id,
	type = excluded.type,
	error = excluded.error,
	attempts = excluded.attempts,
	parked_at = excluded.parked_at`,
			projectionName, ev.Shard, ev.SequenceNumber.String(), ev.StreamID,
			strconv.FormatUint(ev.Version, 10), ev.EventID, ev.Type, ev.Error, int64(ev.Attempts), ev.ParkedAt)
		return err
	})
	if err != nil {
		if errors.Is(err, projection.ErrLeaseLost) {
			return err
		}
		return fmt.Errorf("pgprojection: park %s/%s at %s: %w", projectionName, ev.Shard, ev.SequenceNumber, err)
	}
	return nil
}

// Parked implements projection.CheckpointStore, oldest first (by
// ParkedAt, then shard and sequence number).
func (s *Store) Parked(ctx context.Context, projectionName string) ([]projection.Parked, error) {
	rows, err := s.pool.Query(ctx, `SELECT shard, seq::text, stream_id, version::text, event_id, type, error, attempts, parked_at
FROM `+s.parked+` WHERE projection = $1 ORDER BY parked_at, shard COLLATE "C", seq`, projectionName)
	if err != nil {
		return nil, fmt.Errorf("pgprojection: parked events of %s: %w", projectionName, err)
	}
	var (
		out          []projection.Parked
		ev           projection.Parked
		seq, version string
		attempts     int64
	)
	_, err = pgx.ForEachRow(rows, []any{&ev.Shard, &seq, &ev.StreamID, &version, &ev.EventID, &ev.Type, &ev.Error, &attempts, &ev.ParkedAt}, func() error {
		sn, err := shardlog.ParseSequenceNumber("seq", seq)
		if err != nil {
			return err
		}
		v, err := strconv.ParseUint(version, 10, 64)
		if err != nil {
			return fmt.Errorf("version: %w", err)
		}
		ev.SequenceNumber, ev.Version, ev.Attempts, ev.ParkedAt = sn, v, int(attempts), ev.ParkedAt.UTC()
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgprojection: parked events of %s: %w", projectionName, err)
	}
	return out, nil
}

// Reset implements projection.CheckpointStore in one transaction: the
// projection's checkpoints and parked events go, its leases stay.
func (s *Store) Reset(ctx context.Context, projectionName string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			`DELETE FROM ` + s.parked + ` WHERE projection = $1`,
			`DELETE FROM ` + s.shards + ` WHERE projection = $1 AND token = 0`,
			`UPDATE ` + s.shards + ` SET after_seq = NULL, done = false WHERE projection = $1 AND after_seq IS NOT NULL`,
		} {
			if _, err := tx.Exec(ctx, q, projectionName); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgprojection: reset %s: %w", projectionName, err)
	}
	return nil
}

// micros converts a positive TTL to whole microseconds, rounding up so a
// tiny TTL is not zero.
func micros(ttl time.Duration) int64 {
	return int64((ttl + time.Microsecond - 1) / time.Microsecond)
}

// Heartbeat implements projection.LeaseStore; expiry is judged by the
// database clock.
func (s *Store) Heartbeat(ctx context.Context, projectionName, owner string, ttl time.Duration) ([]string, error) {
	var live []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if ttl > 0 {
			_, err = tx.Exec(ctx, `INSERT INTO `+s.members+` (projection, owner, expires_at)
VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 microsecond')
ON CONFLICT (projection, owner) DO UPDATE SET expires_at = excluded.expires_at`,
				projectionName, owner, micros(ttl))
		} else {
			_, err = tx.Exec(ctx, `DELETE FROM `+s.members+` WHERE projection = $1 AND owner = $2`, projectionName, owner)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+s.members+` WHERE projection = $1 AND expires_at <= clock_timestamp()`, projectionName); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT owner FROM `+s.members+` WHERE projection = $1`, projectionName)
		if err != nil {
			return err
		}
		live, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgprojection: heartbeat of %s in %s: %w", owner, projectionName, err)
	}
	slices.Sort(live)
	return live, nil
}

// Leases implements projection.LeaseStore, sorted by shard; Expired is
// judged by the database clock.
func (s *Store) Leases(ctx context.Context, projectionName string) ([]projection.Lease, error) {
	rows, err := s.pool.Query(ctx, `SELECT shard, owner, token,
	owner = '' OR expires_at IS NULL OR expires_at <= clock_timestamp()
FROM `+s.shards+` WHERE projection = $1 AND token > 0 ORDER BY shard COLLATE "C"`, projectionName)
	if err != nil {
		return nil, fmt.Errorf("pgprojection: leases of %s: %w", projectionName, err)
	}
	out := []projection.Lease{}
	var (
		l     = projection.Lease{Projection: projectionName}
		token int64
	)
	_, err = pgx.ForEachRow(rows, []any{&l.Shard, &l.Owner, &token, &l.Expired}, func() error {
		l.Token = uint64(token)
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgprojection: leases of %s: %w", projectionName, err)
	}
	return out, nil
}

// Acquire implements projection.LeaseStore with one INSERT ... ON
// CONFLICT DO UPDATE that takes the lease only if it has no holder or
// expired by the database clock, so of concurrent callers exactly one
// wins. Otherwise it returns projection.ErrLeaseHeld, naming the holder.
func (s *Store) Acquire(ctx context.Context, projectionName, shard, owner string, ttl time.Duration) (projection.Lease, error) {
	if err := projection.CheckLeaseArgs(owner, ttl); err != nil {
		return projection.Lease{}, err
	}
	var token int64
	err := s.pool.QueryRow(ctx, `INSERT INTO `+s.shards+` AS t (projection, shard, owner, token, expires_at)
VALUES ($1, $2, $3, 1, clock_timestamp() + $4::bigint * interval '1 microsecond')
ON CONFLICT (projection, shard) DO UPDATE SET
	owner = excluded.owner,
	token = t.token + 1,
	expires_at = excluded.expires_at
WHERE t.owner = '' OR t.expires_at IS NULL OR t.expires_at <= clock_timestamp()
RETURNING t.token`, projectionName, shard, owner, micros(ttl)).Scan(&token)
	if errors.Is(err, pgx.ErrNoRows) {
		holder := "another owner"
		var cur string
		if s.pool.QueryRow(ctx, `SELECT owner FROM `+s.shards+` WHERE projection = $1 AND shard = $2`,
			projectionName, shard).Scan(&cur) == nil && cur != "" {
			holder = cur
		}
		return projection.Lease{}, fmt.Errorf("pgprojection: %w: %s/%s by %s", projection.ErrLeaseHeld, projectionName, shard, holder)
	}
	if err != nil {
		return projection.Lease{}, fmt.Errorf("pgprojection: acquire %s/%s for %s: %w", projectionName, shard, owner, err)
	}
	return projection.Lease{Projection: projectionName, Shard: shard, Owner: owner, Token: uint64(token)}, nil
}

// Renew implements projection.LeaseStore: it extends the lease by ttl from
// the database's now if l.Owner still holds it at l.Token (even expired),
// else returns projection.ErrLeaseLost.
func (s *Store) Renew(ctx context.Context, l projection.Lease, ttl time.Duration) (projection.Lease, error) {
	if err := projection.CheckLeaseArgs(l.Owner, ttl); err != nil {
		return projection.Lease{}, err
	}
	if l.Token == 0 || l.Token > math.MaxInt64 {
		return projection.Lease{}, leaseLost(l.Projection, l.Shard, l.Token)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE `+s.shards+`
SET expires_at = clock_timestamp() + $5::bigint * interval '1 microsecond'
WHERE projection = $1 AND shard = $2 AND owner = $3 AND token = $4`,
		l.Projection, l.Shard, l.Owner, int64(l.Token), micros(ttl))
	if err != nil {
		return projection.Lease{}, fmt.Errorf("pgprojection: renew %s/%s for %s: %w", l.Projection, l.Shard, l.Owner, err)
	}
	if tag.RowsAffected() == 0 {
		return projection.Lease{}, leaseLost(l.Projection, l.Shard, l.Token)
	}
	l.Expired = false
	return l, nil
}

// Release implements projection.LeaseStore: it clears the owner and keeps
// the token, or returns projection.ErrLeaseLost if l.Owner no longer holds
// the lease at l.Token.
func (s *Store) Release(ctx context.Context, l projection.Lease) error {
	if l.Owner == "" || l.Token == 0 || l.Token > math.MaxInt64 {
		return leaseLost(l.Projection, l.Shard, l.Token)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE `+s.shards+` SET owner = '', expires_at = NULL
WHERE projection = $1 AND shard = $2 AND owner = $3 AND token = $4`,
		l.Projection, l.Shard, l.Owner, int64(l.Token))
	if err != nil {
		return fmt.Errorf("pgprojection: release %s/%s for %s: %w", l.Projection, l.Shard, l.Owner, err)
	}
	if tag.RowsAffected() == 0 {
		return leaseLost(l.Projection, l.Shard, l.Token)
	}
	return nil
}
