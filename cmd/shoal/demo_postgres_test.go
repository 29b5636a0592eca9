package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/postgres"
)

// TestDemoPostgres runs the demo on PostgreSQL twice on one schema, the
// second time through the command line: the second run replaces the
// first's streams. A new engine on the schema then reads the demo's
// stream back.
func TestDemoPostgres(t *testing.T) {
	url, schema := postgresSchema(t, "shoal_demo_")
	first := runDemo(t, demoOptions{Postgres: url, PostgresSchema: schema})
	checkDemo(t, first, "on the PostgreSQL engine", `schema "`+schema+`" (it stays after exit)`,
		"a put returns after its COMMIT (synchronous_commit = ", "into a temporary directory (removed at exit)",
		`Done. The streams stay in schema "`+schema+`"`)
	if strings.Contains(first, "previous run") || strings.Contains(first, "fdatasync") {
		t.Errorf("a first run on a fresh schema removes a stream, or talks about disks\n%s", first)
	}

	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"demo", "--postgres", url, "--postgres-schema", schema}, &stdout, &stderr); code != 0 {
		t.Fatalf("second run: exit %d\nstderr: %s\n%s", code, stderr.String(), stdout.String())
	}
	checkDemo(t, stdout.String(), `removing the stream left by a previous run ("orders")`, `removing the stream left by a previous run ("order-events")`)

	eng, err := postgres.Open(t.Context(), url, postgres.Options{Schema: schema})
	require.NoError(t, err)
	log, err := shardlog.Open(t.Context(), eng, shardlog.WithRetentionInterval(0))
	if err != nil {
		_ = eng.Close()
		t.Fatal(err)
	}
	defer func() { require.NoError(t, log.Close()) }()
	d, err := log.DescribeStream(t.Context(), shardlog.DescribeStreamInput{StreamName: demoStream})
	require.NoError(t, err)
	require.Len(t, d.Shards, 4)
	require.Equal(t, 3, d.OpenShardCount)
	n, err := readAll(t.Context(), log, func(string, ...any) {})
	require.NoError(t, err)
	require.Equal(t, 17, n, "the second run's records only")
}

// TestDemoPostgresFlags: --postgres excludes --data and --memory, and the
// demo does not read SHOAL_POSTGRES (it replaces streams).
func TestDemoPostgresFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--postgres", "postgres://x", "--memory"},
		{"--postgres", "postgres://x", "--data", "d"},
		{"--postgres-schema", "s"},
		{"--postgres", ""},
	} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 2, run(t.Context(), append([]string{"demo"}, args...), &stdout, &stderr), "%q", args)
	}
	t.Setenv(postgresEnv, "postgres://nowhere.invalid/db")
	t.Chdir(t.TempDir())
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"demo"}, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "on the embedded file engine")
}
