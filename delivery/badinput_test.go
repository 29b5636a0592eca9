package delivery_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
)

// Exported functions given a nil batch or writer answer with a
// *shardlog.ArgumentError naming it, never a panic.
func TestNilBatchIsATypedError(t *testing.T) {
	field := func(t *testing.T, err error) string {
		t.Helper()
		var ae *shardlog.ArgumentError
		require.True(t, errors.As(err, &ae), "want a *shardlog.ArgumentError, got %v", err)
		return ae.Field
	}
	_, err := delivery.KeyLayout{}.ObjectKey(nil, ".json.gz")
	assert.Equal(t, "Batch", field(t, err))

	b := &delivery.Batch{Source: "s", Shard: shardlog.Shard{ShardID: "shardId-000000000000"}, Records: []shardlog.Record{{Data: []byte("x"), PartitionKey: "k"}}}
	for _, f := range []delivery.Format{delivery.JSONLines(nil), delivery.Raw()} {
		assert.Equal(t, "Batch", field(t, f.Encode(&bytes.Buffer{}, nil)), f.Name())
		assert.Equal(t, "w", field(t, f.Encode(nil, b)), f.Name())
	}
}
