package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	fhsdk "github.com/aws/aws-sdk-go-v2/service/firehose"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/internal/pgtest"
)

// postgresSchema returns a fresh schema name on the server in
// SHOAL_TEST_POSTGRES (skipping the test without it) and drops the schema
// when the test ends, after the servers and logs the test starts later
// are closed.
func postgresSchema(t *testing.T, prefix string) (url, schema string) {
	t.Helper()
	url = pgtest.URL(t)
	pool := pgtest.Pool(t)
	schema = pgtest.UniqueName(prefix)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return url, schema
}

// eventually retries f every 20 ms until it returns nil or five seconds
// have passed, and returns how long it took. Another server learns of a
// change through PostgreSQL's notifications, within a second; the test
// allows five for a loaded machine.
func eventually(t *testing.T, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: not within 5s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openShards returns the IDs of the stream's open shards as c lists them.
func openShards(ctx context.Context, c *sdk.Client, stream string) ([]string, error) {
	out, err := c.ListShards(ctx, &sdk.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil, err
	}
	var open []string
	for _, s := range out.Shards {
		if s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, aws.ToString(s.ShardId))
		}
	}
	return open, nil
}

// readShardFrom reads a shard's records through c with the iterator it,
// to the shard's tip.
func readShardFrom(t *testing.T, ctx context.Context, c *sdk.Client, it *string) []types.Record {
	t.Helper()
	var recs []types.Record
	for calls := 0; it != nil; calls++ {
		require.Less(t, calls, 1000, "no end in sight")
		out, err := c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it})
		require.NoError(t, err)
		recs = append(recs, out.Records...)
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			break
		}
		it = out.NextShardIterator
	}
	return recs
}

// TestServePostgres runs two shoal serve instances on one PostgreSQL
// schema: a stream created through one is visible and writable through the
// other, a record put through either is read through both, an iterator
// issued by one is accepted by the other and after a restart, a split
// through one routes the other's puts to the children. Firehose and
// StartStreamEncryption are refused with the reason.
func TestServePostgres(t *testing.T) {
	url, schema := postgresSchema(t, "shoal_serve_")
	ctx := t.Context()
	addrA, stopA := startServe(t, serveOptions{Postgres: url, PostgresSchema: schema})
	addrB, _ := startServe(t, serveOptions{Postgres: url, PostgresSchema: schema})
	a, b := newClient("http://"+addrA, nil, "", ""), newClient("http://"+addrB, nil, "", "")

	code, body := httpGet(t, http.DefaultClient, "http://"+addrB+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)

	// Created through A, seen and written through B.
	const stream = "pg-orders"
	createStream(t, ctx, a, stream, 2)
	took := eventually(t, "B lists the stream A created", func() error {
		out, err := b.ListStreams(ctx, &sdk.ListStreamsInput{})
		if err != nil {
			return err
		}
		if !slices.Contains(out.StreamNames, stream) {
			return fmt.Errorf("B lists %q", out.StreamNames)
		}
		return nil
	})
	t.Logf("B saw the stream after %v", took)
	d, err := b.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	require.NoError(t, err)
	require.Equal(t, types.StreamStatusActive, d.StreamDescriptionSummary.StreamStatus)
	require.EqualValues(t, 2, aws.ToInt32(d.StreamDescriptionSummary.OpenShardCount))

	putB, err := b.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("order-1"), Data: []byte("put through B")})
	require.NoError(t, err)
	putA, err := a.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("order-1"), Data: []byte("put through A")})
	require.NoError(t, err)
	require.Equal(t, aws.ToString(putA.ShardId), aws.ToString(putB.ShardId), "one key, one shard")

	// Each server reads both records, in put order; an iterator from one
	// server is read through the other.
	want := []string{"put through B", "put through A"}
	for _, reader := range []struct {
		name       string
		issue, get *sdk.Client
	}{{"A", a, a}, {"B", b, b}, {"A's iterator through B", a, b}, {"B's iterator through A", b, a}} {
		it, err := reader.issue.GetShardIterator(ctx, &sdk.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: putB.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		require.NoError(t, err, reader.name)
		recs := readShardFrom(t, ctx, reader.get, it.ShardIterator)
		var got []string
		for _, r := range recs {
			got = append(got, string(r.Data))
		}
		require.Equal(t, want, got, reader.name)
		require.Equal(t, aws.ToString(putB.SequenceNumber), aws.ToString(recs[0].SequenceNumber), reader.name)
		require.Equal(t, aws.ToString(putA.SequenceNumber), aws.ToString(recs[1].SequenceNumber), reader.name)
	}

	// A splits the shard; B learns of it and routes its puts to a child.
	_, err = a.SplitShard(ctx, &sdk.SplitShardInput{StreamName: aws.String(stream), ShardToSplit: putA.ShardId, NewStartingHashKey: aws.String(middleHashKey(t, ctx, a, stream, aws.ToString(putA.ShardId)))})
	require.NoError(t, err)
	took = eventually(t, "B lists the split's children", func() error {
		open, err := openShards(ctx, b, stream)
		if err != nil {
			return err
		}
		if len(open) != 3 || slices.Contains(open, aws.ToString(putA.ShardId)) {
			return fmt.Errorf("B lists open shards %q", open)
		}
		return nil
	})
	t.Logf("B saw the split after %v", took)
	after, err := b.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("order-1"), Data: []byte("after the split")})
	require.NoError(t, err)
	require.NotEqual(t, aws.ToString(putA.ShardId), aws.ToString(after.ShardId), "B put to the closed parent")
	got := recordData(t, ctx, a, stream)
	require.ElementsMatch(t, []string{"put through B", "put through A", "after the split"}, got)

	// What this storage refuses, and why.
	_, err = b.StartStreamEncryption(ctx, &sdk.StartStreamEncryptionInput{StreamName: aws.String(stream), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")})
	require.Error(t, err)
	require.Equal(t, "InvalidArgumentException", apiErrorCode(err))
	require.Contains(t, err.Error(), "keyring is a local file")
	fh := newFirehoseClient("http://"+addrA, "AKID", "SECRET")
	_, err = fh.ListDeliveryStreams(ctx, &fhsdk.ListDeliveryStreamsInput{})
	require.Error(t, err)
	require.Equal(t, "UnknownOperationException", apiErrorCode(err))
	require.Contains(t, err.Error(), "the Firehose API is not served")

	// An iterator issued before a restart is accepted after it: the
	// secret is kept in the schema.
	it, err := a.GetShardIterator(ctx, &sdk.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: putA.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	require.NoError(t, err)
	require.NoError(t, stopA())
	addrA2, _ := startServe(t, serveOptions{Postgres: url, PostgresSchema: schema})
	a2 := newClient("http://"+addrA2, nil, "", "")
	recs := readShardFrom(t, ctx, a2, it.ShardIterator)
	require.Len(t, recs, 2)
	require.ElementsMatch(t, got, recordData(t, ctx, a2, stream))
}

// middleHashKey returns the hash key in the middle of the shard's range.
func middleHashKey(t *testing.T, ctx context.Context, c *sdk.Client, stream, shard string) string {
	t.Helper()
	out, err := c.ListShards(ctx, &sdk.ListShardsInput{StreamName: aws.String(stream)})
	require.NoError(t, err)
	for _, s := range out.Shards {
		if aws.ToString(s.ShardId) == shard {
			start, ok1 := new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
			end, ok2 := new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
			require.True(t, ok1 && ok2)
			return start.Add(start, end).Rsh(start, 1).String()
		}
	}
	t.Fatalf("no shard %s", shard)
	return ""
}

// TestServePostgresFlags: --postgres and --data exclude each other, an
// explicit --data wins over SHOAL_POSTGRES, --postgres-schema needs
// --postgres.
func TestServePostgresFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--data", "d", "--postgres", "postgres://x"}, "", "--data and --postgres exclude each other"},
		{[]string{"--postgres-schema", "s"}, "", "--postgres-schema needs --postgres"},
		{[]string{"--postgres", ""}, "", "--postgres must name a connection URL"},
		{[]string{"--postgres", "postgres://x", "--postgres-schema", ""}, "", "--postgres-schema must name a schema"},
	} {
		t.Setenv(postgresEnv, tc.env)
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), append([]string{"serve"}, tc.args...), &stdout, &stderr)
		require.Equal(t, 2, code, "%q", tc.args)
		require.Contains(t, stderr.String(), tc.want, "%q", tc.args)
	}

	parse := func(args ...string) (serveOptions, string) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var o serveOptions
		fs.StringVar(&o.DataDir, "data", "./data", "")
		registerPostgresFlags(fs, &o)
		require.NoError(t, fs.Parse(args))
		return o, checkPostgresFlags(fs, &o)
	}
	t.Setenv(postgresEnv, "postgres://from-env")
	o, msg := parse()
	require.Empty(t, msg)
	require.Equal(t, "postgres://from-env", o.Postgres, "SHOAL_POSTGRES is the default of --postgres")
	require.Equal(t, "shoal", o.PostgresSchema)
	o, msg = parse("--data", "dir")
	require.Empty(t, msg)
	require.Empty(t, o.Postgres, "an explicit --data chooses the file engine")
	o, msg = parse("--postgres", "postgres://flag", "--postgres-schema", "other")
	require.Empty(t, msg)
	require.Equal(t, "postgres://flag", o.Postgres)
	require.Equal(t, "other", o.PostgresSchema)

	t.Setenv(postgresEnv, "postgres://user:hunter2@from-env")
	var out bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"serve", "-h"}, &out, &out))
	require.True(t, strings.Contains(out.String(), "--postgres URL") && strings.Contains(out.String(), "Firehose is not served"), out.String())
	require.NotContains(t, out.String(), "hunter2", "-h prints the password in SHOAL_POSTGRES")
}

// TestPostgresHealthz: /healthz answers 503, naming PostgreSQL, while the
// server is unreachable.
func TestPostgresHealthz(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	pool, err := pgxpool.New(t.Context(), "postgres://u@"+addr+"/db?connect_timeout=1")
	require.NoError(t, err)
	defer pool.Close()
	rec := httptest.NewRecorder()
	postgresHealthz(pool).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), "unhealthy: PostgreSQL: ")
}
