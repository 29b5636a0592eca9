package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/postgres"
)

// postgresEnv names the environment variable shoal serve reads the
// PostgreSQL URL from when --postgres is not given.
const postgresEnv = "SHOAL_POSTGRES"

// defaultPostgresSchema is the schema of --postgres-schema's default.
const defaultPostgresSchema = "shoal"

// tokenSecretTable is the table, in the log's schema, that holds the
// secret of shard iterators and NextTokens shared by every server on the
// log.
const tokenSecretTable = "serve_token_secret"

// registerPostgresFlags adds --postgres and --postgres-schema to fs.
func registerPostgresFlags(fs *flag.FlagSet, o *serveOptions) {
	// The default is read from the environment after parsing, so that
	// -h does not print a password it holds.
	fs.StringVar(&o.Postgres, "postgres", "", "run on the PostgreSQL engine instead of the file engine: the server's connection `URL` (like postgres://user@host:5432/db); default: $"+postgresEnv+", unless --data is given")
	fs.StringVar(&o.PostgresSchema, "postgres-schema", defaultPostgresSchema, "with --postgres, the `schema` that holds the log (one schema is one log, which many servers may share)")
}

// checkPostgresFlags checks --postgres against the other flags, once
// they are parsed, and returns a usage error message or "". Without
// --postgres it takes the URL from SHOAL_POSTGRES, unless --data is given:
// an explicit --data chooses the file engine (with an explicit --postgres
// it is an error).
func checkPostgresFlags(fs *flag.FlagSet, o *serveOptions) string {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["data"] && !set["postgres"] {
		o.Postgres = os.Getenv(postgresEnv)
	}
	switch {
	case set["data"] && set["postgres"]:
		return "--data and --postgres exclude each other"
	case o.Postgres == "" && set["postgres"]:
		return "--postgres must name a connection URL"
	case o.Postgres == "" && set["postgres-schema"]:
		return "--postgres-schema needs --postgres (or " + postgresEnv + ")"
	case o.Postgres != "" && o.PostgresSchema == "":
		return "--postgres-schema must name a schema"
	}
	return ""
}

// openPostgresStorage opens the PostgreSQL engine on opts.Postgres, in
// schema opts.PostgresSchema, and the Log over it, with the token secret
// kept in the schema.
func openPostgresStorage(ctx context.Context, opts serveOptions, logger *slog.Logger) (*serveStorage, error) {
	where, err := describePostgres(opts.Postgres, opts.PostgresSchema)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, opts.Postgres)
	if err != nil {
		return nil, fmt.Errorf("--postgres: %w", err)
	}
	eng, err := postgres.Open(ctx, opts.Postgres, postgres.Options{Schema: opts.PostgresSchema, Pool: pool, Logger: logger})
	if err != nil {
		pool.Close()
		return nil, err
	}
	// Every server on the schema signs with the same secret, so that an
	// iterator one issued is accepted by another, and after restarts.
	secret, err := loadPostgresTokenSecret(ctx, pool, opts.PostgresSchema)
	if err != nil {
		_ = eng.Close()
		pool.Close()
		return nil, err
	}
	log, err := shardlog.Open(ctx, eng, shardlog.WithLogger(logger), shardlog.WithTokenSecret(secret),
		shardlog.WithARNScope(opts.Region, opts.Account), shardlog.WithAccountLimits(opts.Limits))
	if err != nil {
		_ = eng.Close()
		pool.Close()
		return nil, err
	}
	return &serveStorage{
		log: log,
		// Never used: StartStreamEncryption is refused (refuseEncryption).
		keys:          kinesis.NewMemoryKeyring(),
		health:        postgresHealthz(pool),
		where:         "log in " + where,
		kinesisFilter: refuseEncryption,
		noFirehose:    "its delivery streams are kept in a local directory, which servers sharing a log on --postgres cannot share",
		close: func() {
			_ = log.Close()
			pool.Close()
		},
	}, nil
}

// describePostgres describes the log's place for the start-up line: the
// URL without its password, and the schema.
func describePostgres(url, schema string) (string, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "", fmt.Errorf("--postgres: %w", err)
	}
	return fmt.Sprintf("PostgreSQL postgres://%s@%s:%d/%s, schema %q", cfg.User, cfg.Host, cfg.Port, cfg.Database, schema), nil
}

// loadPostgresTokenSecret returns the secret that signs shard iterators
// and NextTokens, kept in the table tokenSecretTable of schema: the first
// server to start makes a random one, and every server reads it. The
// table is created under an advisory lock, as concurrent CREATE TABLE IF
// NOT EXISTS statements can fail in PostgreSQL.
func loadPostgresTokenSecret(ctx context.Context, pool *pgxpool.Pool, schema string) ([]byte, error) {
	fresh := make([]byte, tokenSecretSize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	table := pgx.Identifier{schema, tokenSecretTable}.Sanitize()
	var secret []byte
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "shoal serve token secret "+schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+table+
			" (id boolean PRIMARY KEY DEFAULT true CHECK (id), secret bytea NOT NULL)"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (secret) VALUES ($1) ON CONFLICT (id) DO NOTHING", fresh); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT secret FROM "+table).Scan(&secret)
	})
	if err != nil {
		return nil, fmt.Errorf("token secret in %s: %w", table, err)
	}
	if len(secret) != tokenSecretSize {
		return nil, fmt.Errorf("token secret in %s: %d bytes, want %d", table, len(secret), tokenSecretSize)
	}
	return secret, nil
}

// postgresHealthz answers 200 "ok" while PostgreSQL answers a ping within
// two seconds, and 503 otherwise.
func postgresHealthz(pool *pgxpool.Pool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "unhealthy: PostgreSQL: %v\n", err)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
}

// refuseEncryption refuses StartStreamEncryption: its keyring is a local
// file, which servers sharing a log cannot share, and keys kept in one
// server's memory would make the records unreadable through the others
// and lost with it.
func refuseEncryption(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if awsproto.Target(r) == kinesis.TargetPrefix+".StartStreamEncryption" {
			awsproto.WriteErrorFor(w, r, awsproto.Errorf("InvalidArgumentException",
				"stream encryption is not available on the PostgreSQL engine (--postgres): its keyring is a local file, which servers sharing a log cannot share"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// firehoseUnavailable answers every Firehose request with
// UnknownOperationException saying why the API is not served.
func firehoseUnavailable(why string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		awsproto.WriteErrorFor(w, r, awsproto.Errorf(awsproto.UnknownOperation, "the Firehose API is not served: %s", why))
	})
}
