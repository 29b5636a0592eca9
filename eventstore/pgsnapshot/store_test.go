package pgsnapshot_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/eventstore/pgsnapshot"
	"github.com/shoal-dev/shoal/eventstore/snapshottest"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// uniqueTable returns a fresh table name and drops the table when t ends.
func uniqueTable(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	name := pgtest.UniqueName("shoal_snapshots_test_")
	pgtest.DropTables(t, pool, name)
	return name
}

func newStore(t *testing.T, pool *pgxpool.Pool, opts ...pgsnapshot.Option) *pgsnapshot.Store {
	t.Helper()
	s, err := pgsnapshot.New(context.Background(), pool, append([]pgsnapshot.Option{pgsnapshot.WithTable(uniqueTable(t, pool))}, opts...)...)
	require.NoError(t, err)
	return s
}

func testSnapshot(stream string, v uint64) eventstore.Snapshot {
	return eventstore.Snapshot{
		StreamID: stream,
		Version:  v,
		Position: eventstore.Position{
			ShardID:        "shardId-000000000002",
			SequenceNumber: shardlog.MakeSequenceNumber(1_767_323_045_000_000+v, 2),
		},
		Type:          "order",
		SchemaVersion: 3,
		Data:          []byte(`{"paid":true}`),
		TakenAt:       time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
	}
}

func TestConformance(t *testing.T) {
	pool := pgtest.Pool(t)
	snapshottest.Run(t, func(t *testing.T) eventstore.SnapshotStore { return newStore(t, pool) })
}

// TestTableName needs no server: New rejects a bad name before any I/O,
// and WithoutMigrate does no I/O.
func TestTableName(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	require.NoError(t, err)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	defer pool.Close()

	for _, name := range []string{
		"", "1abc", "Snapshots", "snap-shots", "snap shots", "public.snapshots", `snap"shots`,
		"snapshots;drop table x", "sn\x00ap", "é", "a234567890123456789012345678901234567890123456789012345678901234",
	} {
		_, err := pgsnapshot.New(context.Background(), pool, pgsnapshot.WithTable(name))
		require.ErrorContains(t, err, "table name", "%q", name)
	}
	for _, name := range []string{"snapshots", "_x", "order_snapshots_v2", "select", "a23456789012345678901234567890123456789012345678901234567890123"} {
		s, err := pgsnapshot.New(context.Background(), pool, pgsnapshot.WithTable(name), pgsnapshot.WithMigrate(false))
		require.NoError(t, err, "%q", name)
		require.Equal(t, name, s.Table())
	}
	s, err := pgsnapshot.New(context.Background(), pool, pgsnapshot.WithMigrate(false), nil)
	require.NoError(t, err)
	require.Equal(t, pgsnapshot.DefaultTable, s.Table())

	_, err = pgsnapshot.New(context.Background(), nil)
	require.Error(t, err)
}

// TestSchema: the table is the one the package doc describes.
func TestSchema(t *testing.T) {
	pool := pgtest.Pool(t)
	s := newStore(t, pool)
	rows, err := pool.Query(context.Background(), `
SELECT column_name, data_type, coalesce(numeric_precision, 0), is_nullable
FROM information_schema.columns
WHERE table_name = $1 AND table_schema = current_schema()
ORDER BY ordinal_position`, s.Table())
	require.NoError(t, err)
	type column struct {
		Name, Type string
		Precision  int
		Nullable   string
	}
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[column])
	require.NoError(t, err)
	require.Equal(t, []column{
		{"stream_id", "text", 0, "NO"},
		{"version", "bigint", 64, "NO"},
		{"shard_id", "text", 0, "NO"},
		{"sequence_number", "numeric", 29, "NO"},
		{"type", "text", 0, "NO"},
		{"schema_version", "integer", 32, "NO"},
		{"data", "bytea", 0, "NO"},
		{"taken_at", "timestamp with time zone", 0, "NO"},
	}, cols)

	var pk string
	require.NoError(t, pool.QueryRow(context.Background(), `
SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = $1::regclass AND i.indisprimary`, s.Table()).Scan(&pk))
	require.Equal(t, "stream_id", pk)
}

// TestRowIsReadableSQL: the columns hold what SQL users expect.
func TestRowIsReadableSQL(t *testing.T) {
	pool := pgtest.Pool(t)
	s := newStore(t, pool)
	snap := testSnapshot("order-1", 9)
	snap.Position.SequenceNumber = shardlog.MakeSequenceNumber(math.MaxUint64, math.MaxUint32)
	require.NoError(t, s.SaveSnapshot(context.Background(), snap))

	var (
		version  int64
		seqMatch bool
		takenAt  time.Time
		data     []byte
	)
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT version, sequence_number = $2::numeric, taken_at, data FROM `+pgx.Identifier{s.Table()}.Sanitize()+` WHERE stream_id = $1`,
		"order-1", snap.Position.SequenceNumber.String()).Scan(&version, &seqMatch, &takenAt, &data))
	require.Equal(t, int64(9), version)
	require.True(t, seqMatch, "sequence_number is the decimal sequence number %s", snap.Position.SequenceNumber)
	require.True(t, snap.TakenAt.Equal(takenAt))
	require.Equal(t, snap.Data, data)
}

func TestLimits(t *testing.T) {
	pool := pgtest.Pool(t)
	s := newStore(t, pool)
	ctx := context.Background()
	bad := map[string]func(*eventstore.Snapshot){
		"version":             func(s *eventstore.Snapshot) { s.Version = math.MaxInt64 + 1 },
		"schema version":      func(s *eventstore.Snapshot) { s.SchemaVersion = math.MaxInt32 + 1 },
		"stream ID with NUL":  func(s *eventstore.Snapshot) { s.StreamID = "a\x00b" },
		"stream ID not UTF-8": func(s *eventstore.Snapshot) { s.StreamID = "\xff" },
		"shard ID with NUL":   func(s *eventstore.Snapshot) { s.Position.ShardID = "\x00" },
		"type not UTF-8":      func(s *eventstore.Snapshot) { s.Type = "t\xc3" },
		"year 10000":          func(s *eventstore.Snapshot) { s.TakenAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"year 0":              func(s *eventstore.Snapshot) { s.TakenAt = time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC) },
	}
	for name, change := range bad {
		snap := testSnapshot("limits", 1)
		change(&snap)
		err := s.SaveSnapshot(ctx, snap)
		require.ErrorContains(t, err, "pgsnapshot: save the snapshot", name)
		var pgErr *pgconn.PgError
		require.NotErrorAs(t, err, &pgErr, "%s: rejected before the server", name)
	}
	for _, id := range []string{"a\x00b", "\xff"} {
		_, ok, err := s.LoadSnapshot(ctx, id)
		require.NoError(t, err)
		require.False(t, ok)
	}
	_, ok, err := s.LoadSnapshot(ctx, "limits")
	require.NoError(t, err)
	require.False(t, ok, "no rejected save stored anything")

	// The edges themselves are stored.
	snap := testSnapshot("limits", math.MaxInt64)
	snap.SchemaVersion = math.MaxInt32
	snap.TakenAt = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.SaveSnapshot(ctx, snap))
	got, ok, err := s.LoadSnapshot(ctx, "limits")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, snap, got)
}

func TestMigrate(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	table := uniqueTable(t, pool)

	// Without migration, New touches nothing and the store fails until
	// Migrate has run.
	s, err := pgsnapshot.New(ctx, pool, pgsnapshot.WithTable(table), pgsnapshot.WithMigrate(false))
	require.NoError(t, err)
	err = s.SaveSnapshot(ctx, testSnapshot("a", 1))
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "42P01", pgErr.Code, "undefined_table")
	_, _, err = s.LoadSnapshot(ctx, "a")
	require.Error(t, err)

	// Concurrent migrations all succeed (the advisory lock), and repeated
	// ones keep the rows.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := pgsnapshot.New(ctx, pool, pgsnapshot.WithTable(table))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, s.SaveSnapshot(ctx, testSnapshot("a", 1)))
	require.NoError(t, s.Migrate(ctx))
	got, ok, err := s.LoadSnapshot(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, testSnapshot("a", 1), got)
}

// TestMigrateWrongTable: a table of that name but another shape is
// reported by New, not by the first save.
func TestMigrateWrongTable(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	table := uniqueTable(t, pool)
	_, err := pool.Exec(ctx, "CREATE TABLE "+pgx.Identifier{table}.Sanitize()+" (stream_id text PRIMARY KEY, payload bytea)")
	require.NoError(t, err)
	_, err = pgsnapshot.New(ctx, pool, pgsnapshot.WithTable(table))
	require.ErrorContains(t, err, "check columns")
}

func TestContextCanceled(t *testing.T) {
	pool := pgtest.Pool(t)
	s := newStore(t, pool)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.SaveSnapshot(ctx, testSnapshot("a", 1)), context.Canceled)
	_, _, err := s.LoadSnapshot(ctx, "a")
	require.ErrorIs(t, err, context.Canceled)
}
