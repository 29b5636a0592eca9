package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newStream saves a stream of n shards through e and returns its refs.
func newStream(t *testing.T, e *Engine, name string, id uint64, n int) (shardlog.StreamMeta, []shardlog.ShardRef) {
	t.Helper()
	m := shardlog.StreamMeta{ID: id, Name: name, Mode: shardlog.Provisioned, CreatedAt: epoch, RetentionHours: 24, NextShardIndex: uint32(n)}
	for i := range n {
		m.Shards = append(m.Shards, shardlog.ShardMeta{ID: fmt.Sprintf("shardId-%012d", i), Index: uint32(i), CreatedAt: epoch})
	}
	require.NoError(t, e.SaveStream(t.Context(), m))
	refs := make([]shardlog.ShardRef, n)
	for i := range m.Shards {
		refs[i] = m.Shards[i].Ref(&m)
	}
	return m, refs
}

func entries(key string, n int) []shardlog.Entry {
	out := make([]shardlog.Entry, n)
	for i := range out {
		out[i] = shardlog.Entry{PartitionKey: key, Data: fmt.Appendf(nil, "%s/%d", key, i)}
	}
	return out
}

func readAll(t *testing.T, e *Engine, ref shardlog.ShardRef) []shardlog.Record {
	t.Helper()
	got, err := e.Read(t.Context(), ref, shardlog.SequenceNumber{}, 100000, 1<<30)
	require.NoError(t, err)
	return got
}

func requireWoken(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: the Notify channel was not closed", what)
	}
}

func requireChange(t *testing.T, e *Engine, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case got, ok := <-e.Changes():
			require.True(t, ok, "Changes closed while waiting for %q", want)
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("Changes did not receive %q", want)
		}
	}
}

func TestSchemaVersionNewer(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	e := openEngine(t, pool, schema)
	require.NoError(t, e.Close())

	_, err := pool.Exec(t.Context(), `UPDATE `+pgx.Identifier{schema}.Sanitize()+`.schema_version SET version = $1`, schemaVersion+1)
	require.NoError(t, err)
	_, err = Open(t.Context(), "", Options{Schema: schema, Pool: pool})
	var sv *SchemaVersionError
	require.ErrorAs(t, err, &sv)
	require.Equal(t, schemaVersion+1, sv.Found)
	require.Equal(t, schemaVersion, sv.Supported)
	require.Equal(t, schema, sv.Schema)
	require.ErrorIs(t, err, ErrSchemaTooNew)
}

func TestSchemaCreatedOnceByConcurrentOpens(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			e, err := Open(t.Context(), "", Options{Schema: schema, Pool: pool})
			errs[i] = err
			if err == nil {
				_ = e.Close()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err, "engines opening a fresh schema at once")
	}
	var v int
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT version FROM `+pgx.Identifier{schema}.Sanitize()+`.schema_version`).Scan(&v))
	require.Equal(t, schemaVersion, v)
}

func TestSchemaMissing(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	e := openEngine(t, pool, schema)
	_, refs := newStream(t, e, "s", 1, 1)
	_, err := pool.Exec(t.Context(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	require.NoError(t, err)

	_, _, err = e.Append(t.Context(), refs[0], epoch, entries("k", 1), nil)
	require.ErrorIs(t, err, ErrSchemaMissing)
	require.ErrorIs(t, err, shardlog.ErrInternalFailure)
	_, err = e.LoadStreams(t.Context())
	require.ErrorIs(t, err, ErrSchemaMissing)
}

func TestUnreachableServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Nothing listens on port 1.
	_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", Options{Schema: "unreachable"})
	require.Error(t, err)
	require.ErrorIs(t, err, shardlog.ErrInternalFailure)
}

func TestIncarnation(t *testing.T) {
	pool := testPool(t)
	e := openEngine(t, pool, freshSchema(t, pool))
	ctx := t.Context()
	_, old := newStream(t, e, "s", 1, 1)
	_, _, err := e.Append(ctx, old[0], epoch, entries("k", 2), nil)
	require.NoError(t, err)
	require.NoError(t, e.DropStream(ctx, "s"))
	_, cur := newStream(t, e, "s", 2, 1)

	_, _, err = e.Append(ctx, old[0], epoch, entries("k", 1), nil)
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "an append through the dropped incarnation")
	_, err = e.Seal(ctx, old[0])
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	_, err = e.Read(ctx, old[0], shardlog.SequenceNumber{}, 10, 1<<20)
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	_, _, _, err = e.LastKeySealed(ctx, old[0], "k")
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	_, err = e.Bounds(ctx, old[0])
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	require.NoError(t, e.DropShard(ctx, old[0]), "dropping a shard of another incarnation leaves the new one alone")

	_, _, err = e.Append(ctx, cur[0], epoch, entries("new", 1), nil)
	require.NoError(t, err)
	got := readAll(t, e, cur[0])
	require.Len(t, got, 1, "the new incarnation sees none of the old one's records")
	require.Equal(t, "new", got[0].PartitionKey)
}

func TestUpdateStreamSealsAtomically(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	a := openEngine(t, pool, schema)
	b := openEngine(t, pool, schema)
	ctx := t.Context()
	_, refs := newStream(t, a, "s", 1, 1)
	first, _, err := a.Append(ctx, refs[0], epoch, entries("k", 3), nil)
	require.NoError(t, err)

	// fn fails after sealing: nothing is stored, the seal is undone, and
	// the error comes back as it is.
	boom := errors.New("boom")
	_, err = b.UpdateStream(ctx, "s", func(tx shardlog.MetaTx, cur *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
		_, err := tx.Seal(ctx, refs[0])
		require.NoError(t, err)
		return nil, boom
	})
	require.Same(t, boom, err)
	_, _, err = a.Append(ctx, refs[0], epoch, entries("k", 1), nil)
	require.NoError(t, err, "the seal of a failed update does not take effect")

	// A stored update: the seal commits with it, for every engine.
	var last shardlog.SequenceNumber
	stored, err := b.UpdateStream(ctx, "s", func(tx shardlog.MetaTx, cur *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
		require.NotNil(t, cur)
		last, err = tx.Seal(ctx, refs[0])
		if err != nil {
			return nil, err
		}
		next := *cur
		next.Revision = cur.Revision + 1
		next.Shards = append([]shardlog.ShardMeta(nil), cur.Shards...)
		next.Shards[0].Closed = true
		next.Shards[0].EndingSequenceNumber = last
		next.Shards = append(next.Shards, shardlog.ShardMeta{ID: "shardId-000000000001", Index: 1, ParentShardID: next.Shards[0].ID, Floor: last.Position(), CreatedAt: epoch})
		return &next, nil
	})
	require.NoError(t, err)
	require.Equal(t, shardlog.MakeSequenceNumber(first.Position()+3, 0), last, "the seal counts every append committed before it")
	_, _, err = a.Append(ctx, refs[0], epoch, entries("k", 1), nil)
	require.ErrorIs(t, err, shardlog.ErrShardSealed)
	_, _, sealed, err := a.LastKeySealed(ctx, refs[0], "k")
	require.NoError(t, err)
	require.True(t, sealed)
	loaded, ok, err := a.LoadStream(ctx, "s")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, stored.Revision, loaded.Revision)
	require.True(t, loaded.Shards[0].Closed)

	// The child made by the update has its row: appends go there.
	child := loaded.Shards[1].Ref(&loaded)
	c, _, err := a.Append(ctx, child, epoch, entries("k", 1), nil)
	require.NoError(t, err)
	require.Greater(t, c.Position(), last.Position())
}

func TestUpdateStreamSerializes(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	engines := []*Engine{openEngine(t, pool, schema), openEngine(t, pool, schema)}
	ctx := t.Context()
	// Each update adds a tag counting the updates before it; racing
	// read-modify-writes from two engines lose none.
	const perEngine = 10
	var wg sync.WaitGroup
	for _, e := range engines {
		wg.Go(func() {
			for range perEngine {
				_, err := e.UpdateStream(ctx, "s", func(_ shardlog.MetaTx, cur *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
					next := shardlog.StreamMeta{ID: 1, Name: "s", Tags: map[string]string{}}
					if cur != nil {
						next = *cur
					}
					next.Revision++
					return &next, nil
				})
				if err != nil {
					t.Errorf("UpdateStream: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	m, ok, err := engines[0].LoadStream(ctx, "s")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(2*perEngine), m.Revision, "every update saw the one before it")
}

func TestChangesAcrossEngines(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	a := openEngine(t, pool, schema)
	b := openEngine(t, pool, schema)
	newStream(t, a, "orders", 1, 1)
	requireChange(t, b, "orders")
	_, err := a.UpdateStream(t.Context(), "orders", func(_ shardlog.MetaTx, cur *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
		next := *cur
		next.Revision++
		next.Tags = map[string]string{"team": "a"}
		return &next, nil
	})
	require.NoError(t, err)
	requireChange(t, b, "orders")
	m, _, err := b.LoadStream(t.Context(), "orders")
	require.NoError(t, err)
	require.Equal(t, "a", m.Tags["team"], "the change is loaded by the other engine")
	require.NoError(t, a.DropStream(t.Context(), "orders"))
	requireChange(t, b, "orders")
	_, ok, err := b.LoadStream(t.Context(), "orders")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestNotifyAcrossEngines(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	a := openEngine(t, pool, schema)
	b := openEngine(t, pool, schema)
	_, refs := newStream(t, a, "s", 1, 2)
	requireChange(t, b, "s") // the save's notification (it wakes the stream's waiters) is past
	ch := b.Notify(refs[0])
	other := b.Notify(refs[1])
	_, _, err := a.Append(t.Context(), refs[0], epoch, entries("k", 1), nil)
	require.NoError(t, err)
	requireWoken(t, ch, "an append by another engine")
	select {
	case <-other:
		t.Fatal("an append to one shard woke the waiters of another")
	case <-time.After(50 * time.Millisecond):
	}
	ch = b.Notify(refs[0])
	_, err = a.Seal(t.Context(), refs[0])
	require.NoError(t, err)
	requireWoken(t, ch, "a seal by another engine")
}

func TestListenerReconnect(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	e := openEngine(t, pool, schema)
	other := openEngine(t, pool, schema)
	_, refs := newStream(t, e, "s", 1, 1)
	requireChange(t, e, "s")
	waiter := e.Notify(refs[0])

	pid := e.listenerPID.Load()
	var killed bool
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&killed))
	require.True(t, killed)

	// Whatever was notified while the listener was down is lost: it says
	// so on Changes and wakes every waiter, which re-check.
	requireChange(t, e, "")
	requireWoken(t, waiter, "a waiter when the listener reconnected")
	require.NotEqual(t, pid, e.listenerPID.Load(), "a new listener connection")

	// And it listens again.
	waiter = e.Notify(refs[0])
	_, _, err := other.Append(t.Context(), refs[0], epoch, entries("k", 1), nil)
	require.NoError(t, err)
	requireWoken(t, waiter, "an append by another engine after the reconnect")
}

func TestClose(t *testing.T) {
	pool := testPool(t)
	e := openEngine(t, pool, freshSchema(t, pool))
	_, refs := newStream(t, e, "s", 1, 1)
	waiter := e.Notify(refs[0])
	require.NoError(t, e.Close())
	requireWoken(t, waiter, "a waiter when the engine closed")
	requireWoken(t, e.Notify(refs[0]), "Notify after Close")
	_, open := <-e.Changes()
	require.False(t, open, "Changes is closed by Close")
	_, _, err := e.Append(t.Context(), refs[0], epoch, entries("k", 1), nil)
	require.ErrorIs(t, err, shardlog.ErrClosed)
	require.NoError(t, e.Close(), "closing twice")
}

// TestAppendDurableOnReturn: when Append returns, the batch is committed:
// another engine, on other connections, reads all of it at once. An
// append cancelled before it commits stores nothing.
func TestAppendDurableOnReturn(t *testing.T) {
	pool := pgtest.Pool(t) // synchronous_commit as the server sets it
	schema := freshSchema(t, pool)
	a := openEngine(t, pool, schema)
	b := openEngine(t, pool, schema)
	_, refs := newStream(t, a, "s", 1, 1)
	for i := range 20 {
		first, _, err := a.Append(t.Context(), refs[0], epoch, entries(fmt.Sprint(i), 50), nil)
		require.NoError(t, err)
		got, err := b.Read(t.Context(), refs[0], first, 100, 1<<20)
		require.NoError(t, err)
		require.Len(t, got, 50, "batch %d is whole and visible when Append returns", i)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := a.Append(ctx, refs[0], epoch, entries("cancelled", 50), nil)
	require.ErrorIs(t, err, context.Canceled)
	got, err := b.ReadKey(t.Context(), refs[0], "cancelled", shardlog.SequenceNumber{}, 100)
	require.NoError(t, err)
	require.Empty(t, got, "a cancelled append stores nothing")
}

// TestNoPartialBatch: an append whose insert fails (a record with a NUL
// in its key, which PostgreSQL text refuses) stores none of its batch and
// leaves the sequencer where it was.
func TestNoPartialBatch(t *testing.T) {
	pool := testPool(t)
	e := openEngine(t, pool, freshSchema(t, pool))
	_, refs := newStream(t, e, "s", 1, 1)
	_, _, err := e.Append(t.Context(), refs[0], epoch, entries("ok", 2), nil)
	require.NoError(t, err)
	before, err := e.Bounds(t.Context(), refs[0])
	require.NoError(t, err)
	batch := append(entries("good", 10), shardlog.Entry{PartitionKey: "bad\x00key", Data: []byte("x")})
	_, _, err = e.Append(t.Context(), refs[0], epoch, batch, nil)
	require.Error(t, err)
	after, err := e.Bounds(t.Context(), refs[0])
	require.NoError(t, err)
	require.Equal(t, before, after)
	got, err := e.ReadKey(t.Context(), refs[0], "good", shardlog.SequenceNumber{}, 100)
	require.NoError(t, err)
	require.Empty(t, got)
}
