package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shoal-dev/shoal/shardlog"
)

// ErrSchemaMissing is wrapped by the errors of calls that find the log's
// schema or one of its tables gone (dropped after Open). Reopening the
// engine creates them again, empty.
var ErrSchemaMissing = errors.New("postgres: the log's schema or tables are missing")

// SchemaVersionError is returned by Open when the schema was created or
// migrated by a newer version of this package: this code does not know
// its layout and refuses to touch it. errors.Is(err, ErrSchemaTooNew) holds.
type SchemaVersionError struct {
	Schema    string // the PostgreSQL schema
	Found     int    // the version stored in the schema
	Supported int    // the newest version this code knows
}

// ErrSchemaTooNew is the sentinel a *SchemaVersionError matches with
// errors.Is.
var ErrSchemaTooNew = errors.New("postgres: the log's schema is newer than this code")

func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("postgres: schema %q is at version %d, newer than the %d this code knows: upgrade the program", e.Schema, e.Found, e.Supported)
}

// Is makes errors.Is(err, ErrSchemaTooNew) true.
func (e *SchemaVersionError) Is(target error) bool { return target == ErrSchemaTooNew }

// errClosed is returned by calls made after Close.
var errClosed = fmt.Errorf("postgres engine: %w", shardlog.ErrClosed)

// PostgreSQL error codes the engine tells apart.
const (
	codeUndefinedTable   = "42P01"
	codeInvalidSchema    = "3F000"
	codeNoPartition      = "23514" // check_violation: "no partition of relation found for row"
	codeLockNotAvailable = "55P03"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// wrap turns a database error into the engine's: a missing schema or table
// wraps ErrSchemaMissing; context errors stay as they are (the Log passes
// them through); any other (connection refused or lost, server errors)
// wraps shardlog.ErrInternalFailure and the pgx error.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("postgres engine: %s: %w", op, err)
	}
	switch pgCode(err) {
	case codeUndefinedTable, codeInvalidSchema:
		return fmt.Errorf("postgres engine: %s: %w (%w): %w", op, ErrSchemaMissing, shardlog.ErrInternalFailure, err)
	}
	return fmt.Errorf("postgres engine: %s: %w: %w", op, shardlog.ErrInternalFailure, err)
}

// notFound is the error of an operation on a shard of another incarnation
// of its stream, or of a stream that no longer exists.
func notFound(ref shardlog.ShardRef) error {
	return fmt.Errorf("postgres engine: shard %s/%s of stream incarnation %x: %w", ref.Stream, ref.ID, ref.StreamID, shardlog.ErrResourceNotFound)
}
