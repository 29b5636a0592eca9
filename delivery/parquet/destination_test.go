package parquet_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	pq "github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/parquet"
	"github.com/shoal-dev/shoal/shardlog"
)

// The ObjectDestination refuses Parquet with any outer compression when
// it is configured, with the format's typed error.
func TestObjectDestinationRefusesCompressedParquet(t *testing.T) {
	store, err := delivery.NewDirStore(t.TempDir())
	require.NoError(t, err)
	for _, c := range []delivery.Compression{"", delivery.GZIP, delivery.ZSTD} {
		_, err := delivery.NewObjectDestination(store, delivery.ObjectOptions{Format: parquet.Format(toOrder), Compression: c})
		var ae *shardlog.ArgumentError
		require.True(t, errors.As(err, &ae), "%q: got %T: %v", c, err, err)
		assert.Equal(t, "CompressionFormat", ae.Field)
		assert.ErrorIs(t, err, shardlog.ErrInvalidArgument)
	}
	_, err = delivery.NewObjectDestination(store, delivery.ObjectOptions{Format: parquet.Format[order](nil), Compression: delivery.Uncompressed})
	var ae *shardlog.ArgumentError
	require.True(t, errors.As(err, &ae), "a bad format configuration shows at configuration: %v", err)
	assert.Equal(t, "toRow", ae.Field)

	_, err = delivery.NewObjectDestination(store, delivery.ObjectOptions{Format: parquet.Format(toOrder), Compression: delivery.Uncompressed})
	assert.NoError(t, err)
}

// Records the format cannot convert go to the destination's error output
// as format-conversion-failed; the others are written as Parquet under the
// whole batch's key.
func TestObjectDestinationConversionFailures(t *testing.T) {
	ctx := context.Background()
	store, err := delivery.NewDirStore(t.TempDir())
	require.NoError(t, err)
	dest, err := delivery.NewObjectDestination(store, delivery.ObjectOptions{
		Format: parquet.Format(toOrder), Compression: delivery.Uncompressed,
		Layout: delivery.KeyLayout{Prefix: "data/", ErrorOutputPrefix: "errors/!{firehose:error-output-type}/"},
	})
	require.NoError(t, err)

	b := orderBatch(10)
	b.Records[0].Data = []byte("not json") // the first: the key must still be the batch's
	b.Records[7].Data = []byte(`{"amount":"ten"}`)
	b.First, b.Last = b.Records[0].SequenceNumber, b.Records[9].SequenceNumber
	for _, r := range b.Records {
		b.Bytes += len(r.Data)
	}
	wantKey, err := dest.Options().Layout.ObjectKey(b, ".parquet")
	require.NoError(t, err)
	orig := append([]shardlog.Record(nil), b.Records...)

	require.NoError(t, dest.Deliver(ctx, b))
	// Twice: a retry replaces both objects.
	require.NoError(t, dest.Deliver(ctx, b))
	assert.Equal(t, orig, b.Records, "the caller's batch is not changed")

	data := listAll(t, store, "data/")
	require.Equal(t, []string{wantKey}, data)
	raw, err := store.Get(ctx, wantKey)
	require.NoError(t, err)
	rows, err := pq.Read[order](bytes.NewReader(raw), int64(len(raw)))
	require.NoError(t, err)
	var seqs []string
	for _, r := range rows {
		seqs = append(seqs, r.Sequence)
	}
	var want []string
	for i, r := range orig {
		if i != 0 && i != 7 {
			want = append(want, r.SequenceNumber.String())
		}
	}
	assert.Equal(t, want, seqs)

	errs := listAll(t, store, "errors/")
	require.Len(t, errs, 1, "one error object, replaced by the retry")
	assert.True(t, strings.HasPrefix(errs[0], "errors/format-conversion-failed/"), errs[0])
	raw, err = store.Get(ctx, errs[0])
	require.NoError(t, err)
	var failed []delivery.FailedRecord
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var f delivery.FailedRecord
		require.NoError(t, json.Unmarshal(sc.Bytes(), &f))
		failed = append(failed, f)
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		for _, field := range []string{"attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage", "attemptEndingTimestamp", "rawData"} {
			assert.Contains(t, m, field)
		}
	}
	require.Len(t, failed, 2)
	for i, idx := range []int{0, 7} {
		f := failed[i]
		assert.Equal(t, delivery.CodeConversionFailed, f.ErrorCode)
		assert.NotEmpty(t, f.ErrorMessage)
		assert.Equal(t, 1, f.AttemptsMade)
		assert.Equal(t, orig[idx].Data, f.RawData)
		assert.Equal(t, orig[idx].SequenceNumber, f.SequenceNumber)
		assert.Equal(t, orig[idx].PartitionKey, f.PartitionKey)
		assert.Equal(t, "orders", f.Source)
		assert.Equal(t, b.Shard.ShardID, f.ShardID)
		assert.True(t, orig[idx].ApproximateArrivalTimestamp.Equal(f.ArrivalTimestamp))
	}
	assert.Contains(t, failed[0].ErrorMessage, "invalid character")
}

// When every record fails conversion, only the error output is written.
func TestObjectDestinationAllRecordsFailConversion(t *testing.T) {
	ctx := context.Background()
	store, err := delivery.NewDirStore(t.TempDir())
	require.NoError(t, err)
	dest, err := delivery.NewObjectDestination(store, delivery.ObjectOptions{
		Format: parquet.Format(toOrder), Compression: delivery.Uncompressed,
		Layout: delivery.KeyLayout{Prefix: "data/", ErrorOutputPrefix: "errors/!{firehose:error-output-type}/"},
	})
	require.NoError(t, err)
	b := orderBatch(3)
	for i := range b.Records {
		b.Records[i].Data = []byte("{")
	}
	b.First, b.Last = b.Records[0].SequenceNumber, b.Records[2].SequenceNumber
	require.NoError(t, dest.Deliver(ctx, b))
	assert.Empty(t, listAll(t, store, "data/"))
	assert.Len(t, listAll(t, store, "errors/format-conversion-failed/"), 1)
}

func listAll(t *testing.T, s delivery.ObjectStore, prefix string) []string {
	t.Helper()
	var keys []string
	for k, err := range s.List(context.Background(), prefix) {
		require.NoError(t, err)
		keys = append(keys, k)
	}
	return keys
}
