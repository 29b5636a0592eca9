package kinesis_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/internal/sdktest"
	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// fileEnv serves a file-engine Log over dir (4 KiB segments) to an SDK
// client that does not retry; stop closes both.
func fileEnv(t *testing.T, dir string) (client *sdk.Client, stop func()) {
	t.Helper()
	ctx := context.Background()
	eng, err := file.Open(dir, file.WithSegmentSize(4<<10), file.WithPreallocation(false))
	require.NoError(t, err)
	log, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0))
	require.NoError(t, err)
	srv := httptest.NewServer(kinesis.New(log))
	client = sdk.New(sdk.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:      sdktest.Retryer(),
	})
	return client, func() {
		srv.Close()
		require.NoError(t, log.Close())
	}
}

// GetRecords reaching a damaged frame answers a typed
// InternalFailureException (HTTP 500) naming the shard's file and the
// offset, not a bare InternalFailure, and without the server's paths.
func TestGetRecordsCorruptData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	client, stop := fileEnv(t, dir)
	_, err := client.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1)})
	require.NoError(t, err)
	data := []byte(strings.Repeat("x", 100))
	for i := range 60 {
		_, err := client.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String(fmt.Sprintf("k%03d", i)), Data: data})
		require.NoError(t, err)
	}
	stop()

	segs, err := filepath.Glob(filepath.Join(dir, "streams", "s-s", "shards", "shardId-000000000000", "*.seg"))
	require.NoError(t, err)
	slices.Sort(segs)
	require.Greater(t, len(segs), 1)
	frame := int64(8 + 18 + 4 + 100)
	off := 32 + 3*frame // the fourth frame of the first (full) segment
	b, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	b[off+40] ^= 0x5a
	require.NoError(t, os.WriteFile(segs[0], b, 0o600))

	client, stop = fileEnv(t, dir)
	defer stop()
	it, err := client.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	_, err = client.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	msg := requireAPIError[*types.InternalFailureException](t, err, "InternalFailureException")
	require.Contains(t, msg, fmt.Sprintf("shardId-000000000000/%s at byte %d", filepath.Base(segs[0]), off))
	require.Contains(t, msg, "shoal check --repair")
	require.NotContains(t, msg, dir, "no server path")
	var re *awshttp.ResponseError
	require.ErrorAs(t, err, &re)
	require.Equal(t, http.StatusInternalServerError, re.HTTPStatusCode())
}
