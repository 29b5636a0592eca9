// Command shoal is Shoal's command-line tool.
//
// Usage:
//
//	shoal demo    walk through the log: create a stream, write keyed records,
//	              append conditionally, split a shard, read everything back
//	shoal help    print this help
//
// The demo runs on the in-memory engine until the embedded file engine
// lands (a later issue): nothing it writes outlives the process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
)

const usage = `Usage: shoal <command> [flags]

Commands:
  demo    walk through the log: create a stream "orders" with 2 shards, put
          keyed records, append conditionally (one success, one conflict),
          split a shard, put more records, and read everything back by shard
          (parents before children) and by key. It runs on the in-memory
          engine until the embedded file engine lands, so nothing it writes
          outlives the process.
  help    print this help

Run "shoal <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
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
	default:
		fmt.Fprintf(stderr, "shoal: unknown command %q\n", cmd)
		fs.Usage()
		return 2
	}
}

func runDemoCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shoal demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: shoal demo

Walks through the log on the in-memory engine (the embedded file engine
becomes the default in a later issue): creates a stream "orders" with 2
shards, puts keyed records, appends conditionally, splits a shard and reads
everything back. It takes no flags.
`)
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
	if err := demo(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "shoal demo: %v\n", err)
		return 1
	}
	return 0
}
