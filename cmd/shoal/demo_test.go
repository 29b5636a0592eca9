package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// runDemo runs the demo and fails the test on error.
func runDemo(t *testing.T, opts demoOptions) string {
	t.Helper()
	var out bytes.Buffer
	if err := demo(t.Context(), &out, opts); err != nil {
		t.Fatalf("demo %+v: %v\n%s", opts, err, out.String())
	}
	return out.String()
}

func TestDemo(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		got := runDemo(t, demoOptions{DataDir: dir})
		checkDemo(t, got, "embedded file engine", "data lives in "+dir,
			"records are fdatasync'd before each put returns", "SyncAlways")
		if strings.Contains(got, "previous run") {
			t.Errorf("a first run on an empty directory removes a stream\n%s", got)
		}
		if _, err := os.Stat(filepath.Join(dir, "streams")); err != nil {
			t.Errorf("the file engine wrote nothing under %s: %v", dir, err)
		}
		checkDemo(t, got, "into "+filepath.Join(dir, "archive"))
		checkArchive(t, dir)
	})
	t.Run("memory", func(t *testing.T) {
		got := runDemo(t, demoOptions{Memory: true})
		checkDemo(t, got, "in-memory engine", "into a temporary directory (removed at exit)")
		if strings.Contains(got, "previous run") || strings.Contains(got, "fdatasync") {
			t.Errorf("the memory demo talks about disks\n%s", got)
		}
	})
}

// TestDemoTwice runs the demo twice on one directory: the second run
// removes the first run's stream and starts over with the same shards.
func TestDemoTwice(t *testing.T) {
	dir := t.TempDir()
	first := runDemo(t, demoOptions{DataDir: dir})
	second := runDemo(t, demoOptions{DataDir: dir})
	checkDemo(t, second, "removing the stream left by a previous run", "removing the archive left by a previous run")
	if strings.Contains(first, "previous run") {
		t.Errorf("the first run removes a stream\n%s", first)
	}
	// The second run's archive replaced the first's: its 3 objects only.
	checkArchive(t, dir)
	// A third time through run, as the CLI does.
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"demo", "--data", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("third run: exit %d\nstderr: %s", code, stderr.String())
	}
	checkDemo(t, stdout.String(), "removing the stream left by a previous run")
}

// TestDemoDefaultDir runs "shoal demo" without flags: it keeps its data
// under ./data.
func TestDemoDefaultDir(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"demo"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr.String())
	}
	dir := filepath.Join(wd, "data")
	checkDemo(t, stdout.String(), "data lives in "+dir)
	if _, err := os.Stat(filepath.Join(dir, "streams")); err != nil {
		t.Errorf("nothing under ./data: %v", err)
	}
}

// TestDemoPersists reopens the data directory after the demo with a new
// file engine: the stream's records come back from disk.
func TestDemoPersists(t *testing.T) {
	dir := t.TempDir()
	runDemo(t, demoOptions{DataDir: dir})

	engine, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	log, err := shardlog.Open(t.Context(), engine, shardlog.WithRetentionInterval(0))
	if err != nil {
		engine.Close()
		t.Fatal(err)
	}
	defer func() {
		if err := log.Close(); err != nil {
			t.Error(err)
		}
	}()
	d, err := log.DescribeStream(t.Context(), shardlog.DescribeStreamInput{StreamName: demoStream})
	if err != nil {
		t.Fatalf("reopened: %v", err)
	}
	if len(d.Shards) != 4 || d.OpenShardCount != 3 {
		t.Errorf("reopened: %d shards, %d open; want 4 and 3", len(d.Shards), d.OpenShardCount)
	}
	n, err := readAll(t.Context(), log, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	if n != 17 {
		t.Errorf("reopened: read %d records, want 17", n)
	}
	var history []string
	for r, err := range log.ReadKey(t.Context(), shardlog.ReadKeyInput{StreamName: demoStream, PartitionKey: "order-1"}) {
		if err != nil {
			t.Fatal(err)
		}
		history = append(history, string(r.Data))
	}
	if got, want := strings.Join(history, " "), "created item-added paid packed shipped"; got != want {
		t.Errorf("reopened: order-1's history = %q, want %q", got, want)
	}
}

// checkDemo checks what every run of the demo prints, plus extra.
func checkDemo(t *testing.T, got string, extra ...string) {
	t.Helper()
	for _, want := range append([]string{
		`Create stream "orders" with 2 shards`,
		`writer A, expecting it: appended "packed"`,
		"writer B, expecting it too: conflict detected, actual latest",
		"shardId-000000000000 CLOSED",
		"shardId-000000000002 OPEN    hash keys [0, 1/4)  parent shardId-000000000000",
		"shardId-000000000003 OPEN    hash keys [1/4, 1/2)  parent shardId-000000000000",
		"shardId-000000000000: 10 record(s), closed; children shardId-000000000002, shardId-000000000003",
		"read back 17 records; 17 were written",
		"order-1: 24 items, version 25: every command applied once",
		"latest snapshot: version 20",
		"ship order-2 (no items): order has no items",
		"Time travel: order-1 as it was before it shipped",
		"now:              24 items, 24.00 EUR, shipped, version 26",
		": 24 items, 24.00 EUR, not shipped, version 25",
		`saving the past: aggregate order "order-1" was loaded as of time `,
		"(at version 25) and is read-only",
		"rebuilt: 28 events replayed",
		"live: a new item on order-2 reached the read model",
		"order-2   1 items  2.50 EUR",
		"checkpoints saved for shards",
		`13. Archive: a delivery stream copies "order-events" to files`,
		"29 events in 3 objects, one per shard batch",
		`"partitionKey":"order-2"`,
		`"streamId":"order-2","version":1,"type":"order.placed",`,
		`"data":{"customer":"bo"},"record":"<`,
		"14. Past retention",
		"Load order-9 from the log alone fails with an ExpiredError:",
		`eventstore: stream "order-9": versions 1-3 are past the log's retention`,
		"Load order-9 with the archive: v1..v5 (v1-v3 from the archive, v4-v5 from the log): 3 items, shipped",
		"Rebuild a projection from scratch: 5 events, 3 from the archive then 2 from the log, no gap",
		"Done.",
	}, extra...) {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q\n%s", want, got)
		}
	}
	// Parents are read before their children.
	if p, c := strings.Index(got, "shardId-000000000000: "), strings.Index(got, "shardId-000000000002: "); p < 0 || c < p {
		t.Errorf("shard 0 is not read before its child shard 2\n%s", got)
	}
	// ReadKey lists order-1's history in order, across the split.
	i := strings.Index(got, "ReadKey order-1")
	if i < 0 {
		t.Fatalf("no ReadKey step\n%s", got)
	}
	var events []string
	for _, line := range strings.Split(got[i:], "\n")[1:] {
		if f := strings.Fields(line); len(f) == 5 && f[1] == "shard" {
			events = append(events, f[0]+"@"+f[2])
		}
	}
	want := "created@0 item-added@0 paid@0 packed@0 shipped@3"
	if strings.Join(events, " ") != want {
		t.Errorf("ReadKey history = %q, want %q", strings.Join(events, " "), want)
	}
	// The archive's objects, named as Firehose names them, one per shard
	// batch: order-1's 26 events are on one shard, order-2's 2 and
	// order-3's 1 on others.
	for _, want := range []string{"26 events (order-1)", " 2 events (order-2)", " 1 event  (order-3)"} {
		if !regexp.MustCompile(demoObjectLine.String() + regexp.QuoteMeta(want)).MatchString(got) {
			t.Errorf("demo output lacks an object line ending %q\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n > 120 {
		t.Errorf("demo prints %d lines; keep it short", n)
	}
}

// demoObjectLine is a data object's line in the demo's output: a key
// Firehose's layout names (without the prefix, printed above it) and its
// number of events.
var demoObjectLine = regexp.MustCompile(`(?m)^      order-events-archive-1-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9a-f]{32}\.json\.gz  `)

// checkArchive checks the archive a file-engine run leaves in dir/archive:
// 3 gzipped JSON lines objects under Firehose's yyyy/MM/dd/HH/ prefix (the
// hour of the time in their name), holding the 29 events, and the index
// objects beside them.
func checkArchive(t *testing.T, dir string) {
	t.Helper()
	root := filepath.Join(dir, "archive")
	var data, index []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		key, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		key = filepath.ToSlash(key)
		if strings.HasPrefix(key, "shoal-index/") {
			index = append(index, key)
		} else {
			data = append(data, key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 3 {
		t.Fatalf("the archive has %d data objects, want 3: %q", len(data), data)
	}
	if len(index) != 6 {
		t.Errorf("the archive has %d index objects, want a sidecar and a catalog per shard with events (6): %q", len(index), index)
	}
	key := regexp.MustCompile(`^(\d{4})/(\d\d)/(\d\d)/(\d\d)/order-events-archive-1-(\d{4})-(\d\d)-(\d\d)-(\d\d)-\d\d-\d\d-[0-9a-f]{32}\.json\.gz$`)
	events := 0
	for _, k := range data {
		m := key.FindStringSubmatch(k)
		if m == nil {
			t.Errorf("object key %q is not in Firehose's layout", k)
			continue
		}
		if strings.Join(m[1:5], "/") != strings.Join(m[5:9], "/") {
			t.Errorf("object key %q: its prefix is not the hour of its oldest record", k)
		}
		body, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(k)))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n") {
			var ev struct {
				StreamID string `json:"streamId"`
				Version  int    `json:"version"`
				Type     string `json:"type"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.StreamID == "" || ev.Version < 1 || ev.Type == "" {
				t.Errorf("%s: line %q is not a decoded event (%v)", k, line, err)
			}
			events++
		}
	}
	if events != 29 {
		t.Errorf("the archive holds %d events, want 29", events)
	}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string
		stderr     string
		stdoutNone bool
	}{
		{args: []string{"help"}, code: 0, stdout: "Usage: shoal"},
		{args: nil, code: 2, stderr: "Usage: shoal", stdoutNone: true},
		{args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`, stdoutNone: true},
		{args: []string{"demo", "--bogus"}, code: 2, stderr: "flag provided but not defined", stdoutNone: true},
		{args: []string{"demo", "extra"}, code: 2, stderr: `unexpected argument "extra"`, stdoutNone: true},
		{args: []string{"demo", "--memory", "--data", t.TempDir()}, code: 2, stderr: "exclude each other", stdoutNone: true},
		{args: []string{"demo", "--data", ""}, code: 2, stderr: "--data must name a directory", stdoutNone: true},
		{args: []string{"demo", "-h"}, code: 0, stderr: `default "./data"`, stdoutNone: true},
		{args: []string{"demo", "--data", t.TempDir()}, code: 0, stdout: "read back 17 records"},
		{args: []string{"demo", "--memory"}, code: 0, stdout: "in-memory engine"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), tc.args, &stdout, &stderr)
		if code != tc.code {
			t.Errorf("run %q: exit %d, want %d\nstderr: %s", tc.args, code, tc.code, stderr.String())
		}
		if !strings.Contains(stdout.String(), tc.stdout) {
			t.Errorf("run %q: stdout lacks %q:\n%s", tc.args, tc.stdout, stdout.String())
		}
		if !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("run %q: stderr lacks %q:\n%s", tc.args, tc.stderr, stderr.String())
		}
		if tc.stdoutNone && stdout.Len() > 0 {
			t.Errorf("run %q: wrote to stdout on a usage error:\n%s", tc.args, stdout.String())
		}
	}
}
