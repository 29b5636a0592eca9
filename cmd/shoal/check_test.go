package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// checkData writes n records into a one-shard stream "s" with 4 KiB
// segments and closes the engine; it returns the directory and the shard's
// segment files.
func checkData(t *testing.T, n int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	eng, err := file.Open(dir, file.WithSegmentSize(4<<10), file.WithPreallocation(false))
	if err != nil {
		t.Fatal(err)
	}
	l, err := shardlog.Open(t.Context(), eng, shardlog.WithRetentionInterval(0))
	if err != nil {
		eng.Close()
		t.Fatal(err)
	}
	if err := l.CreateStream(t.Context(), shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.PutRecord(t.Context(), shardlog.PutRecordInput{StreamName: "s", PartitionKey: fmt.Sprint(i % 5), Data: bytes.Repeat([]byte{byte(i)}, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := filepath.Glob(filepath.Join(dir, "streams", "s-s", "shards", "shardId-000000000000", "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(segs)
	return dir, segs
}

// runCheck runs "shoal check" with args and returns the exit code, stdout
// and stderr.
func runCheck(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"check"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func wantOutput(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q:\n%s", p, out)
		}
	}
}

func TestCheckCommand(t *testing.T) {
	dir, segs := checkData(t, 80)
	if len(segs) < 3 {
		t.Fatalf("want at least 3 segments, got %d", len(segs))
	}

	code, out, errOut := runCheck(t, "--data", dir)
	if code != 0 {
		t.Fatalf("clean directory: exit %d\n%s%s", code, out, errOut)
	}
	wantOutput(t, out, "Checking "+dir, `stream "s" shard shardId-000000000000: `+fmt.Sprint(len(segs))+" segments, 80 records",
		"1 shard checked: no problems.")

	// A flipped byte in the data of the second frame of the first (full)
	// segment: frames of a 1-byte key and 100 bytes of data take 127 bytes.
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	bad := int64(32 + 127)
	b[bad+60] ^= 0xff
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCheck(t, "--data", dir)
	if code != 1 {
		t.Fatalf("damaged directory: exit %d, want 1\n%s", code, out)
	}
	wantOutput(t, out, fmt.Sprintf("PROBLEM: %s at offset %d: bad frame", segs[0], bad), "1 shard checked: 1 problem.", "--repair")

	code, out, errOut = runCheck(t, "--data", dir, "--repair")
	if code != 0 {
		t.Fatalf("--repair: exit %d, want 0\n%s%s", code, out, errOut)
	}
	q := filepath.Join(dir, "quarantine", "s-s", "shardId-000000000000", fmt.Sprintf("%s.%d.bad", filepath.Base(segs[0]), bad))
	wantOutput(t, out, "Repairing 1 problem:", fmt.Sprintf("at offset %d: quarantined 127 bytes (0 complete frames); kept %d valid frames after the damage; index rebuilt", bad, 30),
		"-> "+q, "Checking again", "79 records", "1 shard checked: no problems.")
	if _, err := os.Stat(q); err != nil {
		t.Errorf("quarantine file: %v", err)
	}
	code, out, _ = runCheck(t, "--data", dir)
	if code != 0 {
		t.Fatalf("after the repair: exit %d\n%s", code, out)
	}
}

// An orphan (shard data whose stream.json is gone) and a damaged
// stream.json are problems; --repair moves both stream directories to
// DIR/orphans.
func TestCheckCommandStreams(t *testing.T) {
	dir, _ := checkData(t, 10)
	eng, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := shardlog.Open(t.Context(), eng, shardlog.WithRetentionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CreateStream(t.Context(), shardlog.CreateStreamInput{StreamName: "t", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	sdir := filepath.Join(dir, "streams", "s-s")
	if err := os.Remove(filepath.Join(sdir, "stream.json")); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(dir, "streams", "s-t", "stream.json")
	if err := os.WriteFile(meta, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, _ := runCheck(t, "--data", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	wantOutput(t, out, "PROBLEM: "+sdir+": shard data of stream ID", "without stream.json",
		"PROBLEM: "+meta+": stream metadata:", "0 shards checked: 2 problems.")

	code, out, errOut := runCheck(t, "--data", dir, "--repair")
	if code != 0 {
		t.Fatalf("--repair: exit %d, want 0\n%s%s", code, out, errOut)
	}
	wantOutput(t, out, "Repairing 2 problems:", sdir+": moved the stream directory to "+filepath.Join(dir, "orphans", "s-s.orphan-of-stream-"),
		meta+": moved the stream directory to "+filepath.Join(dir, "orphans", "s-t.damaged-metadata."), "0 shards checked: no problems.")
	entries, err := os.ReadDir(filepath.Join(dir, "orphans"))
	if err != nil || len(entries) != 2 {
		t.Fatalf("orphans: %v %v", entries, err)
	}
}

func TestCheckCommandErrors(t *testing.T) {
	dir, _ := checkData(t, 3)
	for _, args := range [][]string{{"--data", dir, "extra"}, {"--bogus"}, {"--data", ""}} {
		if code, _, errOut := runCheck(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage)\n%s", args, code, errOut)
		}
	}
	if code, _, _ := runCheck(t, "-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}

	eng, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCheck(t, "--data", dir)
	eng.Close()
	if code != 1 || !strings.Contains(errOut, "locked") {
		t.Errorf("while an engine has it open: exit %d, want 1 and a lock error\n%s", code, errOut)
	}
	if code, _, errOut := runCheck(t, "--data", filepath.Join(dir, "missing")); code != 1 {
		t.Errorf("missing directory: exit %d, want 1\n%s", code, errOut)
	}

	var stdout bytes.Buffer
	if code := run(t.Context(), []string{"help"}, &stdout, &stdout); code != 0 || !strings.Contains(stdout.String(), "check") {
		t.Errorf("help: exit %d, lacks check\n%s", code, stdout.String())
	}
}
