package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/shoal-dev/shoal/shardlog/file"
)

func runCheckCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shoal check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "./data", "the file engine's data `directory`")
	repair := fs.Bool("repair", false, "move damaged bytes to DIR/quarantine and unserved streams to DIR/orphans, then check again")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: shoal check [--data DIR] [--repair]

Checks the file engine's data directory without writing to it: every
stream's metadata (stream.json) and whose shard data it is, every
segment's header, every frame's CRC, positions in order, full segments
against their index files. Prints a summary per shard, then the problems:
damage the engine would refuse a shard for (a torn tail that recovery
truncates is only a note), and stream directories the engine does not
serve: shard data left without its stream.json (an orphan), a damaged
stream.json, or shard data of another stream ID. No engine may have the
directory open.

With --repair, each problem is repaired with file.Repair. In a segment,
only the bytes that fail go to DIR/quarantine: the damaged frame (with the
rest of its batch: a batch is all or nothing); the valid frames after it
are found again by their length and CRC and kept, the segment is rewritten
atomically and its index rebuilt. A stream directory the engine does not
serve is moved, whole, to DIR/orphans/s-<stream>.<what>.<time>; nothing is
deleted. The directory is then checked again.

Exit status: 0 when there are no problems (after --repair: none left), 1
when there are or the check fails, 2 on a usage error.

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
		fmt.Fprintf(stderr, "shoal check: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(stderr, "shoal check: --data must name a directory")
		fs.Usage()
		return 2
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "shoal check: data directory %q: %v\n", *dataDir, err)
		return 1
	}
	fmt.Fprintf(stdout, "Checking %s\n", dir)
	rep, err := file.Check(dir)
	if err != nil {
		fmt.Fprintf(stderr, "shoal check: %v\n", err)
		return 1
	}
	printCheck(stdout, rep)
	if rep.Clean() {
		return 0
	}
	if !*repair {
		fmt.Fprintln(stdout, `Run "shoal check --repair" to move the damaged or unserved data aside (see "shoal check -h").`)
		return 1
	}
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(stderr, "shoal check: %v\n", err)
		return 1
	}

	fmt.Fprintf(stdout, "\nRepairing %s:\n", plural(len(rep.Problems), "problem"))
	for _, p := range rep.Problems {
		res, err := file.Repair(dir, p)
		if err != nil {
			fmt.Fprintf(stdout, "  %s at offset %d: not repaired: %v\n", p.Path, p.Offset, err)
			continue
		}
		printRepair(stdout, p, res)
	}
	fmt.Fprintln(stdout, "\nChecking again")
	rep, err = file.Check(dir)
	if err != nil {
		fmt.Fprintf(stderr, "shoal check: %v\n", err)
		return 1
	}
	printCheck(stdout, rep)
	if !rep.Clean() {
		return 1
	}
	return 0
}

// printRepair prints what Repair did for problem p.
func printRepair(w io.Writer, p *file.CorruptError, res *file.RepairResult) {
	switch {
	case res.Stream:
		fmt.Fprintf(w, "  %s: moved the stream directory to %s (its records are served under no stream; nothing deleted)\n", p.Path, res.Quarantine)
		return
	case res.Removed:
		fmt.Fprintf(w, "  %s at offset %d: moved the whole file aside (%s, %s) to %s\n", p.Path, p.Offset,
			plural(int(res.Bytes), "byte"), plural(res.Frames, "complete frame"), res.Quarantine)
		return
	}
	fmt.Fprintf(w, "  %s at offset %d: quarantined %s", p.Path, p.Offset, plural(int(res.Bytes), "byte"))
	if res.Offset != p.Offset {
		fmt.Fprintf(w, " from offset %d (the start of the damaged batch)", res.Offset)
	}
	fmt.Fprintf(w, " (%s)", plural(res.Frames, "complete frame"))
	if res.Salvaged > 0 {
		fmt.Fprintf(w, "; kept %s after the damage", plural(res.Salvaged, "valid frame"))
	}
	if res.IndexRebuilt {
		fmt.Fprint(w, "; index rebuilt")
	}
	fmt.Fprintln(w)
	for _, f := range res.Files {
		fmt.Fprintf(w, "    -> %s\n", f)
	}
}

// printCheck prints a report: a line per shard with its notes and
// problems, the notes and problems outside shards, and a total.
func printCheck(w io.Writer, rep *file.CheckReport) {
	inShard := map[*file.CorruptError]bool{}
	for _, sh := range rep.Shards {
		fmt.Fprintf(w, "stream %q shard %s: %s, %s, %s", sh.Stream, sh.ShardID,
			plural(sh.Segments, "segment"), plural(int(sh.Records), "record"), plural(int(sh.Bytes), "byte"))
		if sh.Records > 0 {
			fmt.Fprintf(w, ", positions %d..%d", sh.FirstPosition, sh.LastPosition)
		}
		fmt.Fprintln(w)
		for _, n := range sh.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
		for _, p := range sh.Problems {
			inShard[p] = true
			fmt.Fprintf(w, "  PROBLEM: %s at offset %d: %s\n", p.Path, p.Offset, p.Reason)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, p := range rep.Problems {
		if !inShard[p] {
			fmt.Fprintf(w, "PROBLEM: %s: %s\n", p.Path, p.Reason) // a stream's: its stream.json, stream-id or directory
		}
	}
	if rep.Clean() {
		fmt.Fprintf(w, "%s checked: no problems.\n", plural(len(rep.Shards), "shard"))
	} else {
		fmt.Fprintf(w, "%s checked: %s.\n", plural(len(rep.Shards), "shard"), plural(len(rep.Problems), "problem"))
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
