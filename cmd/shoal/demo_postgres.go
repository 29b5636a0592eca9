package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/shoal-dev/shoal/shardlog/postgres"
)

// openDemoPostgres opens the PostgreSQL engine of shoal demo --postgres and
// prints where the log lives and how durable a put is there. The demo's
// snapshots and projection checkpoints stay in memory, and its archive
// goes to a temporary directory, as on the in-memory engine.
func openDemoPostgres(ctx context.Context, opts demoOptions, p func(string, ...any)) (*postgres.Engine, error) {
	where, err := describePostgres(opts.Postgres, opts.PostgresSchema)
	if err != nil {
		return nil, err
	}
	sync, err := synchronousCommit(ctx, opts.Postgres)
	if err != nil {
		return nil, err
	}
	eng, err := postgres.Open(ctx, opts.Postgres, postgres.Options{Schema: opts.PostgresSchema})
	if err != nil {
		return nil, err
	}
	p("Shoal demo: a Kinesis-style log, on the PostgreSQL engine.")
	p("  the log lives in %s (it stays after exit)", where)
	p("  a put returns after its COMMIT (synchronous_commit = %s on this server)", sync)
	p("  snapshots and projection checkpoints stay in memory in this demo")
	return eng, nil
}

// synchronousCommit returns the server's synchronous_commit setting, which
// decides how durable a committed append is.
func synchronousCommit(ctx context.Context, url string) (string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", fmt.Errorf("--postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v string
	if err := conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&v); err != nil {
		return "", fmt.Errorf("--postgres: %w", err)
	}
	return v, nil
}
