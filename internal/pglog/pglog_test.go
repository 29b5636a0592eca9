package pglog_test

import (
	"context"
	"testing"

	"github.com/shoal-dev/shoal/internal/pglog"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// TestSchemaLifecycle: a log on a fresh schema works, a second engine on
// the schema sees it, and the schema is gone once the test that made it
// ended.
func TestSchemaLifecycle(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	var schema string
	t.Run("use", func(t *testing.T) {
		schema = pglog.NewSchema(t)
		l, err := shardlog.Open(ctx, pglog.Open(t, schema))
		require.NoError(t, err)
		defer l.Close()
		require.NoError(t, l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1}))
		_, err = l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte("x")})
		require.NoError(t, err)

		other, err := shardlog.Open(ctx, pglog.Open(t, schema))
		require.NoError(t, err)
		defer other.Close()
		out, err := other.LastKey(ctx, shardlog.LastKeyInput{StreamName: "s", PartitionKey: "k"})
		require.NoError(t, err)
		require.True(t, out.Found)
		require.Equal(t, "x", string(out.Record.Data))
	})
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, schema).Scan(&n))
	require.Zero(t, n, "schema %s is dropped when its test ends", schema)
}
