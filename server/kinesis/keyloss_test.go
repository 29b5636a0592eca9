package kinesis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/internal/testlog"
	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// TestStreamEncryptionKeyLost: a stream whose metadata says KMS under a
// key the keyring does not have never turns plaintext: DescribeStream
// still says KMS, its puts, reads and subscriptions fail with
// KMSNotFoundException, which is logged once, and other streams work.
func TestStreamEncryptionKeyLost(t *testing.T) {
	var logs testlog.Buffer
	e := newSubEnv(t, false, kinesis.WithLogger(logs.Logger(slog.LevelInfo)))
	arn := e.consumer(t, "s", 1)
	e.createStream(t, "p", 1)
	shard, _ := e.put(t, "s", "k", "before")
	// The metadata names a key the keyring lacks: as after losing it.
	err := e.log.StartStreamEncryption(e.ctx, shardlog.StartStreamEncryptionInput{StreamName: "s", EncryptionType: shardlog.EncryptionKMS, KeyID: "alias/lost"})
	require.NoError(t, err)

	d, err := e.client.DescribeStream(e.ctx, &sdk.DescribeStreamInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeKms, d.StreamDescription.EncryptionType)
	require.Equal(t, "alias/lost", aws.ToString(d.StreamDescription.KeyId))

	_, err = e.client.PutRecord(e.ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("secret")})
	msg := requireAPIError[*types.KMSNotFoundException](t, err, "KMSNotFoundException")
	require.Contains(t, msg, "alias/lost")
	require.Contains(t, msg, "stream/s")
	_, err = e.client.PutRecords(e.ctx, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("secret")}}})
	requireAPIError[*types.KMSNotFoundException](t, err, "KMSNotFoundException")
	it := e.iterator(t, "s", shard, types.ShardIteratorTypeTrimHorizon, "")
	_, err = e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	requireAPIError[*types.KMSNotFoundException](t, err, "KMSNotFoundException")
	_, err = e.subscribe(e.ctx, arn, shard, types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	requireAPIError[*types.KMSNotFoundException](t, err, "KMSNotFoundException")
	raw := rawRecords(t, e.log, "s", shard)
	require.Len(t, raw, 1, "nothing was stored")
	require.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"), logs.String())
	require.Contains(t, logs.String(), "stream=s")

	// Another stream is served as ever.
	pshard, _ := e.put(t, "p", "k", "plain")
	recs := sdkRecords(t, e.ctx, e.client, "p", pshard)
	require.Len(t, recs, 1)
	require.Equal(t, "plain", string(recs[0].Data))
}

// TestStreamEncryptionStoppedKeyLost: records sealed under a key the
// stream was once encrypted under are refused once the keyring lost the
// key, even after encryption was stopped; new puts (plaintext, as asked
// by StopStreamEncryption) still work.
func TestStreamEncryptionStoppedKeyLost(t *testing.T) {
	ctx := context.Background()
	log, err := shardlog.Open(ctx, memory.New(), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = log.Close() })
	c := serveLog(t, log) // a keyring in memory
	_, err = c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1)})
	require.NoError(t, err)
	startEncryption(t, ctx, c, "s", "alias/a")
	out, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("sealed")})
	require.NoError(t, err)
	_, err = c.StopStreamEncryption(ctx, &sdk.StopStreamEncryptionInput{StreamName: aws.String("s"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/a")})
	require.NoError(t, err)

	c2 := serveLog(t, log) // another keyring: the key is lost
	_, err = c2.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("plain")})
	require.NoError(t, err)
	it, err := c2.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: out.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	_, err = c2.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	requireAPIError[*types.KMSNotFoundException](t, err, "KMSNotFoundException")
	it, err = c2.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: out.ShardId, ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: out.SequenceNumber})
	require.NoError(t, err)
	recs, err := c2.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	require.NoError(t, err)
	require.Len(t, recs.Records, 1)
	require.Equal(t, "plain", string(recs.Records[0].Data))
}

// TestKeyringMigration: a keyring file of an earlier version, which maps
// streams to KeyIds, is moved into the streams' metadata once, so the
// streams stay encrypted; entries of other streams are dropped or kept as
// they should be.
func TestKeyringMigration(t *testing.T) {
	ctx := context.Background()
	log, err := shardlog.Open(ctx, memory.New(), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = log.Close() })
	for _, n := range []string{"s", "recreated"} {
		require.NoError(t, log.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: n, ShardCount: 1}))
	}
	created := func(name string) time.Time {
		sum, err := log.DescribeStreamSummary(ctx, shardlog.DescribeStreamSummaryInput{StreamName: name})
		require.NoError(t, err)
		return sum.StreamCreationTimestamp
	}
	type entry struct {
		Created time.Time `json:"created"`
		KeyID   string    `json:"keyId"`
	}
	legacy := map[string]any{
		"version": 1,
		"keys":    map[string][]byte{"alias/k": bytes.Repeat([]byte{7}, 32)},
		"streams": map[string]entry{
			"s":         {created("s"), "alias/k"},
			"recreated": {created("recreated").Add(-time.Hour), "alias/k"}, // an older stream of the name
			"absent":    {time.Now(), "alias/k"},                           // not in this log: kept
		},
	}
	dir := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	b, err := json.Marshal(legacy)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keyring.json"), b, 0o600))

	k, err := kinesis.OpenKeyring(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = k.Close() })
	c := serveLog(t, log, kinesis.WithKeyring(k))
	sum, err := c.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeKms, sum.StreamDescriptionSummary.EncryptionType)
	require.Equal(t, "alias/k", aws.ToString(sum.StreamDescriptionSummary.KeyId))
	sum, err = c.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("recreated")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeNone, sum.StreamDescriptionSummary.EncryptionType)

	out, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("sealed")})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionTypeKms, out.EncryptionType)
	require.True(t, bytes.HasPrefix(rawRecords(t, log, "s", aws.ToString(out.ShardId))[0].Data, []byte(encMagic)))

	var after struct {
		Keys    map[string][]byte          `json:"keys"`
		Streams map[string]json.RawMessage `json:"streams"`
	}
	b, err = os.ReadFile(filepath.Join(dir, "keyring.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &after))
	require.Contains(t, after.Keys, "alias/k")
	require.Len(t, after.Streams, 1)
	require.Contains(t, after.Streams, "absent")
}

// TestStreamEncryptionLostKeyNotRemade: once the keyring has lost a key
// that streams were encrypted under, StartStreamEncryption with that
// KeyId, on the same stream or another, is refused with
// KMSNotFoundException instead of making a new key of the same KeyId: a
// new key would pass the key check and hand the old records' sealed
// envelopes out as data (they do not open under it).
func TestStreamEncryptionLostKeyNotRemade(t *testing.T) {
	ctx := context.Background()
	log, err := shardlog.Open(ctx, memory.New(), shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = log.Close() })
	c := serveLog(t, log) // a keyring in memory
	for _, s := range []string{"s", "p"} {
		_, err = c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String(s), ShardCount: aws.Int32(1)})
		require.NoError(t, err)
	}
	startEncryption(t, ctx, c, "s", "alias/a")
	out, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("sealed")})
	require.NoError(t, err)

	c2 := serveLog(t, log) // another keyring: the key is lost
	for _, s := range []string{"s", "p"} {
		_, err = c2.StartStreamEncryption(ctx, &sdk.StartStreamEncryptionInput{StreamName: aws.String(s), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/a")})
		msg := requireAPIError[*types.KMSNotFoundException](t, err, "KMSNotFoundException")
		require.Contains(t, msg, "alias/a", s)
	}
	// Another KeyId is a new key, as ever.
	startEncryption(t, ctx, c2, "p", "alias/b")

	it, err := c2.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: out.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	_, err = c2.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	requireAPIError[*types.KMSNotFoundException](t, err, "KMSNotFoundException")
}
