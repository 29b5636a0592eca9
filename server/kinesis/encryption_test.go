package kinesis_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/internal/durable"
	"github.com/shoal-dev/shoal/internal/sdktest"
	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

const encMagic = "SHOALENC2"

// rawRecords reads a shard straight from the Log: the bytes as stored.
func rawRecords(t *testing.T, log *shardlog.Log, stream, shard string) []shardlog.Record {
	t.Helper()
	ctx := context.Background()
	itOut, err := log.GetShardIterator(ctx, shardlog.GetShardIteratorInput{StreamName: stream, ShardID: shard, ShardIteratorType: shardlog.IteratorType("TRIM_HORIZON")})
	require.NoError(t, err)
	it := itOut.ShardIterator
	res, err := log.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: it})
	require.NoError(t, err)
	return res.Records
}

// sdkRecords reads a shard through the API from its start.
func sdkRecords(t *testing.T, ctx context.Context, c *sdk.Client, stream, shard string) []types.Record {
	t.Helper()
	it, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	out, err := c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	require.NoError(t, err)
	return out.Records
}

func startEncryption(t *testing.T, ctx context.Context, c *sdk.Client, stream, keyID string) {
	t.Helper()
	_, err := c.StartStreamEncryption(ctx, &sdk.StartStreamEncryptionInput{StreamName: aws.String(stream), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String(keyID)})
	require.NoError(t, err)
}

// serveLog serves log with opts and returns an SDK client of it.
func serveLog(t *testing.T, log *shardlog.Log, opts ...kinesis.Option) *sdk.Client {
	t.Helper()
	srv := httptest.NewServer(kinesis.Handler(log, opts...))
	t.Cleanup(srv.Close)
	return sdk.New(sdk.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:      sdktest.Retryer(),
	})
}

func TestStreamEncryption(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	shard, _ := e.put(t, "s", "k", "before")

	sum := func() *types.StreamDescriptionSummary {
		out, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("s")})
		require.NoError(t, err)
		return out.StreamDescriptionSummary
	}
	require.Equal(t, types.EncryptionTypeNone, sum().EncryptionType)
	require.Nil(t, sum().KeyId)

	startEncryption(t, e.ctx, e.client, "s", "alias/aws/kinesis")
	s := sum()
	require.Equal(t, types.EncryptionTypeKms, s.EncryptionType)
	require.Equal(t, "alias/aws/kinesis", aws.ToString(s.KeyId))
	require.Equal(t, types.StreamStatusActive, s.StreamStatus, "synchronous: no UPDATING")
	d, err := e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeKms, d.StreamDescription.EncryptionType)
	require.Equal(t, "alias/aws/kinesis", aws.ToString(d.StreamDescription.KeyId))

	// Starting again, with the same key, succeeds.
	startEncryption(t, e.ctx, e.client, "s", "alias/aws/kinesis")

	pr, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("secret one")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeKms, pr.EncryptionType)
	prs, err := e.client.PutRecords(e.ctx, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("k2"), Data: []byte("secret two")},
		{PartitionKey: aws.String("k3"), Data: []byte{}},
	}})
	require.NoError(t, err)
	require.Zero(t, aws.ToInt32(prs.FailedRecordCount))
	require.Equal(t, types.EncryptionTypeKms, prs.EncryptionType)

	// Another key: the records sealed under the first stay readable.
	startEncryption(t, e.ctx, e.client, "s", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
	e.put(t, "s", "k", "secret three")

	_, err = e.client.StopStreamEncryption(e.ctx, &sdk.StopStreamEncryptionInput{StreamName: aws.String("s"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeNone, sum().EncryptionType)
	require.Nil(t, sum().KeyId)
	pr, err = e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("after")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeNone, pr.EncryptionType)
	// Stopping again succeeds.
	_, err = e.client.StopStreamEncryption(e.ctx, &sdk.StopStreamEncryptionInput{StreamName: aws.String("s"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")})
	require.NoError(t, err)

	want := []string{"before", "secret one", "secret two", "", "secret three", "after"}
	encrypted := []bool{false, true, true, true, true, false}
	recs := sdkRecords(t, e.ctx, e.client, "s", shard)
	require.Len(t, recs, len(want))
	for i, r := range recs {
		require.Equal(t, want[i], string(r.Data), i)
		if encrypted[i] {
			require.Equal(t, types.EncryptionTypeKms, r.EncryptionType, i)
		} else {
			require.Empty(t, r.EncryptionType, i)
		}
	}

	// As stored: ciphertext with the magic, never the plaintext.
	raw := rawRecords(t, e.log, "s", shard)
	require.Len(t, raw, len(want))
	for i, r := range raw {
		if !encrypted[i] {
			require.Equal(t, want[i], string(r.Data))
			continue
		}
		require.True(t, bytes.HasPrefix(r.Data, []byte(encMagic)), i)
		if want[i] != "" {
			require.NotContains(t, string(r.Data), want[i], i)
		}
		require.Greater(t, len(r.Data), len(want[i])+len(encMagic)+12+16, i)
	}
	require.Contains(t, string(raw[1].Data), "alias/aws/kinesis", "the key ID is named")
	require.Contains(t, string(raw[4].Data), "key/1234abcd")
}

func TestStreamEncryptionSubscribe(t *testing.T) {
	e := newSubEnv(t, false)
	arn := e.consumer(t, "s", 1)
	shard, _ := e.put(t, "s", "k", "plain")
	startEncryption(t, e.ctx, e.client, "s", "alias/sub")
	e.put(t, "s", "k", "sealed")

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	s, err := e.subscribe(ctx, arn, shard, types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	defer s.Close()
	recs, _ := collect(t, s, 2)
	require.Equal(t, "plain", string(recs[0].Data))
	require.Empty(t, recs[0].EncryptionType)
	require.Equal(t, "sealed", string(recs[1].Data))
	require.Equal(t, types.EncryptionTypeKms, recs[1].EncryptionType)

	// A record pushed live is opened too.
	e.put(t, "s", "k2", "live")
	recs, _ = collect(t, s, 1)
	require.Equal(t, "live", string(recs[0].Data))
	require.Equal(t, types.EncryptionTypeKms, recs[0].EncryptionType)
	raw := rawRecords(t, e.log, "s", shard)
	require.True(t, bytes.HasPrefix(raw[2].Data, []byte(encMagic)))
}

// TestStreamEncryptionKeyringReopened: a keyring kept in a directory
// outlives its server; without it the records read as stored.
func TestStreamEncryptionKeyringReopened(t *testing.T) {
	ctx := context.Background()
	log, err := shardlog.Open(ctx, memory.New(), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = log.Close() })
	dir := filepath.Join(t.TempDir(), "keys")

	k1, err := kinesis.OpenKeyring(dir)
	require.NoError(t, err)
	_, err = kinesis.OpenKeyring(dir)
	require.ErrorIs(t, err, durable.ErrLocked, "one keyring per directory")
	c := serveLog(t, log, kinesis.WithKeyring(k1))
	_, err = c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1)})
	require.NoError(t, err)
	startEncryption(t, ctx, c, "s", "1234abcd-12ab-34cd-56ef-1234567890ab")
	out, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("kept")})
	require.NoError(t, err)
	shard := aws.ToString(out.ShardId)
	require.NoError(t, k1.Close())

	fi, err := os.Stat(filepath.Join(dir, "keyring.json"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	k2, err := kinesis.OpenKeyring(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = k2.Close() })
	c2 := serveLog(t, log, kinesis.WithKeyring(k2))
	recs := sdkRecords(t, ctx, c2, "s", shard)
	require.Len(t, recs, 1)
	require.Equal(t, "kept", string(recs[0].Data))
	sum, err := c2.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeKms, sum.StreamDescriptionSummary.EncryptionType, "the stream's encryption is kept too")
	out, err = c2.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("again")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeKms, out.EncryptionType)

	// A server without the keys refuses the stream's reads and writes: it
	// never hands out the sealed bytes as data.
	c3 := serveLog(t, log)
	_, err = c3.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	_, err = c3.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("plain?")})
	requireAPIError[*types.KMSNotFoundException](t, err, "KMSNotFoundException")
	require.Len(t, rawRecords(t, log, "s", shard), 2, "nothing stored")
}

// TestStreamEncryptionNotOpened: what does not authenticate is returned as
// stored: tampered ciphertext, a sealed record under another partition key
// or on another stream, user data that starts with the magic.
func TestStreamEncryptionNotOpened(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	e.createStream(t, "other", 1)
	startEncryption(t, e.ctx, e.client, "s", "alias/k")
	shard, _ := e.put(t, "s", "k", "sealed")
	sealed := rawRecords(t, e.log, "s", shard)[0].Data
	require.True(t, bytes.HasPrefix(sealed, []byte(encMagic)))

	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	truncated := sealed[:len(encMagic)+3]
	for _, w := range []shardlog.PutRecordInput{
		{StreamName: "s", PartitionKey: "k", Data: tampered},
		{StreamName: "s", PartitionKey: "other key", Data: sealed},
		{StreamName: "s", PartitionKey: "k", Data: truncated},
		{StreamName: "other", PartitionKey: "k", Data: sealed},
	} {
		_, err := e.log.PutRecord(e.ctx, w) // straight to the log: not sealed again
		require.NoError(t, err)
	}
	recs := sdkRecords(t, e.ctx, e.client, "s", shard)
	require.Len(t, recs, 4)
	require.Equal(t, "sealed", string(recs[0].Data))
	require.Equal(t, tampered, recs[1].Data)
	require.Equal(t, sealed, recs[2].Data)
	require.Equal(t, truncated, recs[3].Data)
	for _, r := range recs[1:] {
		require.Empty(t, r.EncryptionType)
	}
	other := sdkRecords(t, e.ctx, e.client, "other", "shardId-000000000000")
	require.Len(t, other, 1)
	require.Equal(t, sealed, other[0].Data)

	// User data that looks sealed round-trips unchanged on a stream that
	// is not encrypted.
	for _, d := range [][]byte{
		[]byte(encMagic),
		[]byte(encMagic + "\x00"),
		append([]byte(encMagic+"\x07alias/k"), bytes.Repeat([]byte{7}, 40)...),
		append([]byte(encMagic+"\xff"), bytes.Repeat([]byte{1}, 300)...),
	} {
		out, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamName: aws.String("other"), PartitionKey: aws.String("k"), Data: d})
		require.NoError(t, err)
		require.Equal(t, types.EncryptionTypeNone, out.EncryptionType)
	}
	other = sdkRecords(t, e.ctx, e.client, "other", "shardId-000000000000")
	require.Len(t, other, 5)
	require.Equal(t, []byte(encMagic), other[1].Data)
	require.Equal(t, []byte(encMagic+"\x00"), other[2].Data)
	require.True(t, bytes.HasPrefix(other[3].Data, []byte(encMagic+"\x07alias/k")))
	require.Len(t, other[3].Data, len(encMagic)+8+40)
	require.Len(t, other[4].Data, len(encMagic)+1+300)
}

func TestStreamEncryptionErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	start := func(stream string, typ types.EncryptionType, keyID *string) error {
		_, err := e.client.StartStreamEncryption(e.ctx, &sdk.StartStreamEncryptionInput{StreamName: aws.String(stream), EncryptionType: typ, KeyId: keyID})
		return err
	}
	// The SDK checks that KeyId is set; send it empty and too long.
	var api smithy.APIError
	require.ErrorAs(t, start("s", types.EncryptionTypeKms, aws.String("")), &api)
	require.Equal(t, "ValidationException", api.ErrorCode())
	require.Contains(t, api.ErrorMessage(), "'KeyId'")
	msg := requireAPIError[*types.InvalidArgumentException](t, start("s", types.EncryptionTypeKms, aws.String(strings.Repeat("k", 300))), "InvalidArgumentException")
	require.Contains(t, msg, "KeyId")
	msg = requireAPIError[*types.InvalidArgumentException](t, start("s", types.EncryptionTypeNone, aws.String("alias/k")), "InvalidArgumentException")
	require.Contains(t, msg, "EncryptionType")
	requireAPIError[*types.ResourceNotFoundException](t, start("nope", types.EncryptionTypeKms, aws.String("alias/k")), "ResourceNotFoundException")
	_, err := e.client.StopStreamEncryption(e.ctx, &sdk.StopStreamEncryptionInput{StreamName: aws.String("nope"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/k")})
	requireAPIError[*types.ResourceNotFoundException](t, err, "ResourceNotFoundException")
	_, err = e.client.StopStreamEncryption(e.ctx, &sdk.StopStreamEncryptionInput{StreamName: aws.String("s"), EncryptionType: "NONE", KeyId: aws.String("alias/k")})
	requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")

	// Missing members, sent raw (the SDK would refuse to send them).
	r := e.post(t, "Kinesis_20131202.StartStreamEncryption", `{"StreamName":"s","EncryptionType":"KMS"}`)
	require.Equal(t, 400, r.status, r.raw)
	require.Equal(t, "ValidationException", r.errorType())
	require.Contains(t, r.message(), "'KeyId'")
	r = e.post(t, "Kinesis_20131202.StopStreamEncryption", `{"StreamName":"s","KeyId":"alias/k"}`)
	require.Equal(t, 400, r.status, r.raw)
	require.Equal(t, "ValidationException", r.errorType())
	require.Contains(t, r.message(), "'EncryptionType'")

	sum, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeNone, sum.StreamDescriptionSummary.EncryptionType, "nothing failed half-way")
}

// TestStreamEncryptionSize: the record limit is on the user's bytes, and
// a record that fits only unencrypted is refused with a clear message.
func TestStreamEncryptionSize(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	startEncryption(t, e.ctx, e.client, "s", "alias/k")
	limit := shardlog.DefaultMaxRecordSizeKiB << 10
	over := len(encMagic) + 1 + len("alias/k") + 16 + 16 // magic, KeyId length, KeyId, salt, tag

	put := func(n int) error {
		_, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: make([]byte, n)})
		return err
	}
	require.NoError(t, put(limit-1-over), "fits once sealed")
	msg := requireAPIError[*types.InvalidArgumentException](t, put(limit-1), "InvalidArgumentException")
	require.Contains(t, msg, "Data")
	require.Contains(t, msg, "encrypted")
	msg = requireAPIError[*types.InvalidArgumentException](t, put(limit), "InvalidArgumentException")
	require.Contains(t, msg, "record size 1048577 bytes")

	_, err := e.client.PutRecords(e.ctx, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("k"), Data: []byte("x")},
		{PartitionKey: aws.String("k"), Data: make([]byte, limit-1)},
	}})
	msg = requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")
	require.Contains(t, msg, "Records.1.Data")
	require.Contains(t, msg, "encrypted")

	// Five records of 1 MiB less overhead and key, and one that brings the
	// user's bytes to exactly 5 MiB, which the sealing pushes past the
	// request limit.
	entries := make([]types.PutRecordsRequestEntry, 5)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: make([]byte, limit-1-over)}
	}
	entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: make([]byte, 5*over-1)})
	_, err = e.client.PutRecords(e.ctx, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
	msg = requireAPIError[*types.InvalidArgumentException](t, err, "InvalidArgumentException")
	require.Contains(t, msg, "Records")
	require.Contains(t, msg, "encrypted")
}

// TestStreamEncryptionRecreated: a stream deleted and created again under
// the same name starts unencrypted.
func TestStreamEncryptionRecreated(t *testing.T) {
	e := newEnv(t, false)
	e.createStream(t, "s", 1)
	startEncryption(t, e.ctx, e.client, "s", "alias/k")
	_, err := e.client.DeleteStream(e.ctx, &sdk.DeleteStreamInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	time.Sleep(2 * time.Millisecond) // another creation time
	e.createStream(t, "s", 1)
	sum, err := e.client.DescribeStreamSummary(e.ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeNone, sum.StreamDescriptionSummary.EncryptionType)
	shard, _ := e.put(t, "s", "k", "plain")
	require.Equal(t, "plain", string(rawRecords(t, e.log, "s", shard)[0].Data))
}
