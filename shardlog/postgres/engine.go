package postgres

import (
	"context"
	"errors"
)

// Engine is a shardlog.SharedEngine on PostgreSQL.
type Engine struct{}

// Open connects to the PostgreSQL server at url (a pgx connection string),
// creates or migrates the log's schema and returns the engine.
func Open(ctx context.Context, url string, opts Options) (*Engine, error) {
	return nil, errors.New("postgres: not implemented yet")
}
