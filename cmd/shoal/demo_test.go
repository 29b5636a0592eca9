package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := demo(t.Context(), &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"in-memory engine",
		`Create stream "orders" with 2 shards`,
		`writer A, expecting it: appended "packed"`,
		"writer B, expecting it too: conflict detected, actual latest",
		"shardId-000000000000 CLOSED",
		"shardId-000000000002 OPEN    hash keys [0, 1/4)  parent shardId-000000000000",
		"shardId-000000000003 OPEN    hash keys [1/4, 1/2)  parent shardId-000000000000",
		"shardId-000000000000: 10 record(s), closed; children shardId-000000000002, shardId-000000000003",
		"read back 17 records; 17 were written",
		"Done.",
	} {
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
	if n := strings.Count(got, "\n"); n > 65 {
		t.Errorf("demo prints %d lines; keep it short", n)
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
		{args: []string{"demo", "--data", "/tmp/x"}, code: 2, stderr: "flag provided but not defined", stdoutNone: true},
		{args: []string{"demo", "extra"}, code: 2, stderr: `unexpected argument "extra"`, stdoutNone: true},
		{args: []string{"demo"}, code: 0, stdout: "read back 17 records"},
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
