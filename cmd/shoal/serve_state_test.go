package main

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/internal/testlog"
)

// TestServeKeyringLost: an encrypted stream whose keyring is deleted
// while the server is stopped stays encrypted: DescribeStream says KMS,
// its puts and reads fail with KMSNotFoundException, nothing is stored in
// plaintext, and another stream works.
func TestServeKeyringLost(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	addr, stop := startServe(t, serveOptions{DataDir: dir})
	c := newClient("http://"+addr, nil, "", "")
	createStream(t, ctx, c, "enc", 1)
	_, err := c.StartStreamEncryption(ctx, &sdk.StartStreamEncryptionInput{
		StreamName: aws.String("enc"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/k"),
	})
	require.NoError(t, err)
	out, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("enc"), Data: []byte("sealed before"), PartitionKey: aws.String("k")})
	require.NoError(t, err)
	require.NoError(t, stop())
	require.NoError(t, os.Remove(filepath.Join(dir, "keys", "keyring.json")))

	addr, stop = startServe(t, serveOptions{DataDir: dir})
	c = newClient("http://"+addr, nil, "", "")
	d, err := c.DescribeStream(ctx, &sdk.DescribeStreamInput{StreamName: aws.String("enc")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeKms, d.StreamDescription.EncryptionType)
	require.Equal(t, "alias/k", aws.ToString(d.StreamDescription.KeyId))
	secret := "a plaintext that must not land 51c2"
	_, err = c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("enc"), Data: []byte(secret), PartitionKey: aws.String("k")})
	require.Equal(t, "KMSNotFoundException", apiErrorCode(err), "%v", err)
	_, err = c.PutRecords(ctx, &sdk.PutRecordsInput{StreamName: aws.String("enc"), Records: []types.PutRecordsRequestEntry{{Data: []byte(secret), PartitionKey: aws.String("k")}}})
	require.Equal(t, "KMSNotFoundException", apiErrorCode(err), "%v", err)
	it, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("enc"), ShardId: out.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	_, err = c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	require.Equal(t, "KMSNotFoundException", apiErrorCode(err), "%v", err)

	createStream(t, ctx, c, "plain", 1)
	_, err = c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("plain"), Data: []byte("hello"), PartitionKey: aws.String("k")})
	require.NoError(t, err)
	require.Equal(t, []string{"hello"}, recordData(t, ctx, c, "plain"))
	require.NoError(t, stop())

	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NotContains(t, string(b), secret, path)
		require.NotContains(t, string(b), "sealed before", path)
		return nil
	}))
}

// TestServeTokensSurviveRestart: a shard iterator and a ListShards
// NextToken taken before a restart still work after it; an iterator of a
// stream deleted and created again is refused.
func TestServeTokensSurviveRestart(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	addr, stop := startServe(t, serveOptions{DataDir: dir})
	c := newClient("http://"+addr, nil, "", "")
	createStream(t, ctx, c, "s", 3)
	createStream(t, ctx, c, "again", 1)
	put, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("kept"), PartitionKey: aws.String("k")})
	require.NoError(t, err)
	it, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: put.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	page, err := c.ListShards(ctx, &sdk.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(1)})
	require.NoError(t, err)
	require.NotEmpty(t, aws.ToString(page.NextToken))
	old, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("again"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	_, err = c.DeleteStream(ctx, &sdk.DeleteStreamInput{StreamName: aws.String("again")})
	require.NoError(t, err)
	createStream(t, ctx, c, "again", 1)
	require.NoError(t, stop())

	fi, err := os.Stat(filepath.Join(dir, "keys", "token.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	addr, _ = startServe(t, serveOptions{DataDir: dir})
	c = newClient("http://"+addr, nil, "", "")
	recs, err := c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	require.NoError(t, err, "an iterator outlives a restart")
	require.Len(t, recs.Records, 1)
	require.Equal(t, "kept", string(recs.Records[0].Data))
	rest, err := c.ListShards(ctx, &sdk.ListShardsInput{NextToken: page.NextToken})
	require.NoError(t, err, "a NextToken outlives a restart")
	require.Len(t, rest.Shards, 2)
	_, err = c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: old.ShardIterator})
	require.Equal(t, "ResourceNotFoundException", apiErrorCode(err), "an iterator of the stream deleted: %v", err)
}

// TestServeTokenSecretBad: a token secret others can read, or that is
// damaged, stops the server from starting, with a clear error.
func TestServeTokenSecretBad(t *testing.T) {
	dir := t.TempDir()
	_, stop := startServe(t, serveOptions{DataDir: dir})
	require.NoError(t, stop())
	path := filepath.Join(dir, "keys", "token.key")

	require.NoError(t, os.Chmod(path, 0o644))
	err := serve(t.Context(), serveOptions{DataDir: dir, Addr: "127.0.0.1:0"})
	require.ErrorContains(t, err, "token secret")
	require.ErrorContains(t, err, "0644")

	require.NoError(t, os.Chmod(path, 0o600))
	require.NoError(t, os.WriteFile(path, []byte("short"), 0o600))
	err = serve(t.Context(), serveOptions{DataDir: dir, Addr: "127.0.0.1:0"})
	require.ErrorContains(t, err, "damaged")
}

// TestServeARNScope: --region and --account-id set the ARNs; an ARN of
// another account or region names no stream of this server; bad values
// are refused.
func TestServeARNScope(t *testing.T) {
	ctx := t.Context()
	addr, _ := startServe(t, serveOptions{DataDir: t.TempDir(), Region: "eu-west-2", Account: "123456789012"})
	c := newClient("http://"+addr, nil, "", "")
	createStream(t, ctx, c, "s", 1)
	d, err := c.DescribeStream(ctx, &sdk.DescribeStreamInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, "arn:aws:kinesis:eu-west-2:123456789012:stream/s", aws.ToString(d.StreamDescription.StreamARN))
	_, err = c.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamARN: d.StreamDescription.StreamARN})
	require.NoError(t, err)
	for _, arn := range []string{
		"arn:aws:kinesis:us-east-1:123456789012:stream/s",
		"arn:aws:kinesis:eu-west-2:000000000000:stream/s",
	} {
		_, err = c.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamARN: aws.String(arn)})
		require.Equal(t, "ResourceNotFoundException", apiErrorCode(err), arn)
	}

	for _, args := range [][]string{
		{"--region", "moon-1"},
		{"--region", "US-EAST-1"},
		{"--account-id", "12345"},
		{"--account-id", "12345678901a"},
		{"--shard-limit", "-1"},
	} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 2, runServeCommand(ctx, append([]string{"--data", t.TempDir()}, args...), &stdout, &stderr), args)
		require.Contains(t, stderr.String(), strings.TrimPrefix(args[0], "-"), args)
	}
}

// TestServeLogger: serve's logger reaches the file engine: the warning
// about a torn tail truncated at start is printed.
func TestServeLogger(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	addr, stop := startServe(t, serveOptions{DataDir: dir})
	c := newClient("http://"+addr, nil, "", "")
	createStream(t, ctx, c, "s", 1)
	_, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("x"), PartitionKey: aws.String("k")})
	require.NoError(t, err)
	require.NoError(t, stop())
	var segs []string
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".seg") {
			segs = append(segs, path)
		}
		return err
	}))
	require.NotEmpty(t, segs)
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{1, 2, 3}) // a torn frame header
	require.NoError(t, err)
	require.NoError(t, f.Close())

	var logs testlog.Buffer
	addr, stop = startServe(t, serveOptions{DataDir: dir, logger: logs.Logger(slog.LevelInfo)})
	c = newClient("http://"+addr, nil, "", "")
	require.Equal(t, []string{"x"}, recordData(t, ctx, c, "s")) // opens the shard
	require.NoError(t, stop())
	require.Contains(t, logs.String(), "torn tail")
}
