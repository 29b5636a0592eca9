// Command shoal is Shoal's command-line tool.
//
// Usage:
//
//	shoal demo    walk through the log: create a stream, write keyed records,
//	              append conditionally, split a shard, read everything back
//	shoal check   check the file engine's data directory (--repair to move
//	              damaged data aside)
//	shoal serve   serve the Kinesis Data Streams API over the file engine,
//	              or over PostgreSQL (--postgres URL)
//	shoal help    print this help
//
// The demo runs on the embedded file engine, with its data under ./data
// (--data DIR to change it, --memory for the in-memory engine, --postgres
// URL for PostgreSQL). Each run replaces the stream the previous one left
// there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Usage: shoal <command> [flags]

Commands:
  demo    walk through the log: create a stream "orders" with 2 shards, put
          keyed records, append conditionally (one success, one conflict),
          split a shard, put more records, and read everything back by shard
          (parents before children) and by key. It runs on the embedded
          file engine with its data under ./data (--data DIR, --memory),
          or on PostgreSQL (--postgres URL [--postgres-schema S]).
  check   check the file engine's data directory (./data, or --data DIR)
          without writing to it: segment headers, frame CRCs, positions,
          index files. Prints each shard's summary and the problems; exit
          status 1 if there are any. --repair moves the damaged end of each
          damaged segment to DIR/quarantine (its records are lost to the
          log), truncates the segment there, and checks again.
  serve   serve the Amazon Kinesis Data Streams API (AWS JSON 1.1) over
          the embedded file engine, for AWS SDKs and tools: --addr
          HOST:PORT (127.0.0.1:4567), --data DIR (./data), --credentials
          FILE to require SigV4, --tls-cert/--tls-key for HTTPS. With
          --postgres URL (or SHOAL_POSTGRES) the log lives in PostgreSQL,
          in schema --postgres-schema (shoal), and several servers may
          share it.
  help    print this help

Run "shoal <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a command line (without the program name) and returns the
// exit code: 0 on success, 1 when a command fails, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shoal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "shoal: no command given")
		fs.Usage()
		return 2
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "demo":
		return runDemoCommand(ctx, rest, stdout, stderr)
	case "check":
		return runCheckCommand(ctx, rest, stdout, stderr)
	case "serve":
		return runServeCommand(ctx, rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "shoal: unknown command %q\n", cmd)
		fs.Usage()
		return 2
	}
}

func runDemoCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shoal demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts demoOptions
	fs.StringVar(&opts.DataDir, "data", "./data", "the file engine's data `directory` (created if needed)")
	fs.BoolVar(&opts.Memory, "memory", false, "run on the in-memory engine instead: nothing is kept after exit")
	fs.StringVar(&opts.Postgres, "postgres", "", "run on the PostgreSQL engine instead: the server's connection `URL` (like postgres://user@host:5432/db)")
	fs.StringVar(&opts.PostgresSchema, "postgres-schema", defaultPostgresSchema, "with --postgres, the `schema` that holds the log")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: shoal demo [--data DIR | --memory | --postgres URL [--postgres-schema S]]

Walks through the log: creates a stream "orders" with 2 shards, puts keyed
records, appends conditionally, splits a shard and reads everything back.

It runs on the embedded file engine, which fdatasyncs records before each
put returns (SyncAlways). The data directory persists between runs, so the
demo first deletes the "orders" stream a previous run left there; other
streams in the directory are left alone.

With --postgres URL it runs on the PostgreSQL engine, in the schema
--postgres-schema ("shoal"), which persists between runs like the data
directory: the demo deletes the streams a previous run left there
("orders", "order-events"), and leaves the others alone. A put returns
after its COMMIT. The snapshots and projection checkpoints stay in
memory, and the archive goes to a temporary directory. SHOAL_POSTGRES is
not read: the demo replaces streams, so it runs on PostgreSQL only when
asked.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "shoal demo: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if opts.Memory && set["data"] {
		fmt.Fprintln(stderr, "shoal demo: --data and --memory exclude each other")
		fs.Usage()
		return 2
	}
	if set["postgres"] && (opts.Memory || set["data"]) {
		fmt.Fprintln(stderr, "shoal demo: --postgres excludes --data and --memory")
		fs.Usage()
		return 2
	}
	if set["postgres"] && opts.Postgres == "" || set["postgres-schema"] && !set["postgres"] {
		fmt.Fprintln(stderr, "shoal demo: --postgres must name a connection URL, and --postgres-schema needs it")
		fs.Usage()
		return 2
	}
	if opts.Postgres != "" && opts.PostgresSchema == "" {
		fmt.Fprintln(stderr, "shoal demo: --postgres-schema must name a schema")
		fs.Usage()
		return 2
	}
	if !opts.Memory && opts.DataDir == "" {
		fmt.Fprintln(stderr, "shoal demo: --data must name a directory")
		fs.Usage()
		return 2
	}
	if err := demo(ctx, stdout, opts); err != nil {
		fmt.Fprintf(stderr, "shoal demo: %v\n", err)
		return 1
	}
	return 0
}
