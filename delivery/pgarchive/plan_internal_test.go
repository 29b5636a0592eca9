package pgarchive

import (
	"context"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/stretchr/testify/require"
)

// TestPlans: the queries Deliver and the reads run on every call are
// bounded index scans on a fresh table (no statistics) and on an analyzed
// one: no sort, no aggregate over a shard's or key's rows.
func TestPlans(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	table := pgtest.UniqueName("shoal_archive_p")
	pgtest.DropTables(t, pool, table, table+"_shards", table+"_errors")
	a, err := New(ctx, pool, Options{Table: table})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO `+a.table+` (stream, shard, seq, partition_key, arrival, data)
SELECT 's', 'shardId-000000000000', (1893553445000000::numeric + g*3) * 4294967296, 'k' || (g % 8), now(), '\x00'
FROM generate_series(1, 20000) g`)
	require.NoError(t, err)
	for _, analyzed := range []bool{false, true} {
		if analyzed {
			_, err := pool.Exec(ctx, `ANALYZE `+a.table)
			require.NoError(t, err)
		}
		for _, c := range []struct {
			sql   string
			args  []any
			index string
		}{
			{a.lastSeqSQL(), []any{"s", "shardId-000000000000"}, "Index Only Scan Backward using " + table + "_pkey"},
			{a.readKeySQL(), []any{"s", "k3", "0"}, "Index Scan using " + table + "_key_idx"},
			{a.readShardSQL(), []any{"s", "shardId-000000000000", "0"}, "Index Scan using " + table + "_pkey"},
		} {
			rows, err := pool.Query(ctx, "EXPLAIN "+c.sql, c.args...)
			require.NoError(t, err)
			var plan []string
			for rows.Next() {
				var line string
				require.NoError(t, rows.Scan(&line))
				plan = append(plan, line)
			}
			require.NoError(t, rows.Err())
			text := strings.Join(plan, "\n")
			require.Contains(t, text, c.index, "analyzed=%v\n%s", analyzed, text)
			require.NotContains(t, text, "Sort", "analyzed=%v\n%s", analyzed, text)
			require.NotContains(t, text, "Aggregate", "analyzed=%v\n%s", analyzed, text)
		}
	}
}
