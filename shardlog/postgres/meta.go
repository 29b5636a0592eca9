package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/shardlog"
)

// Metadata lives in the streams table, one row per stream holding the
// whole StreamMeta as jsonb (replaced at once, so a reader sees the old or
// the new version). Every change of a stream runs in a transaction that
// first takes a transaction-level advisory lock on a hash of the schema and
// the stream's name: it serializes UpdateStream, SaveStream and DropStream
// of one stream across all processes, even for a stream that has no row
// yet (a row lock could not lock an absent row).

func (e *Engine) lockStream(ctx context.Context, tx pgx.Tx, name string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "shoal-stream:"+e.schema+"/"+name)
	return wrap("lock stream", err)
}

// LoadStreams returns the metadata of every stream, sorted by name.
func (e *Engine) LoadStreams(ctx context.Context) ([]shardlog.StreamMeta, error) {
	if e.isClosed() {
		return nil, errClosed
	}
	rows, err := e.pool.Query(ctx, `SELECT meta::text FROM `+e.q+`.streams ORDER BY name`)
	if err != nil {
		return nil, wrap("load streams", err)
	}
	defer rows.Close()
	out := []shardlog.StreamMeta{}
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, wrap("load streams", err)
		}
		var m shardlog.StreamMeta
		if err := json.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("postgres engine: load streams: %w: corrupt metadata: %w", shardlog.ErrInternalFailure, err)
		}
		out = append(out, m)
	}
	return out, wrap("load streams", rows.Err())
}

// LoadStream returns one stream's metadata, and false if there is none.
func (e *Engine) LoadStream(ctx context.Context, name string) (shardlog.StreamMeta, bool, error) {
	if e.isClosed() {
		return shardlog.StreamMeta{}, false, errClosed
	}
	m, err := e.loadIn(ctx, e.pool, name)
	if err != nil || m == nil {
		return shardlog.StreamMeta{}, false, err
	}
	return *m, true, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (e *Engine) loadIn(ctx context.Context, q querier, name string) (*shardlog.StreamMeta, error) {
	var doc []byte
	err := q.QueryRow(ctx, `SELECT meta::text FROM `+e.q+`.streams WHERE name = $1`, name).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("load stream", err)
	}
	var m shardlog.StreamMeta
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("postgres engine: load stream %s: %w: corrupt metadata: %w", name, shardlog.ErrInternalFailure, err)
	}
	return &m, nil
}

// store writes meta in tx: the stream's row, a shard row for every shard
// it lists that has none (the rows of an earlier incarnation of the stream
// are deleted first), and the notification of the change.
func (e *Engine) store(ctx context.Context, tx pgx.Tx, meta *shardlog.StreamMeta) error {
	doc, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("postgres engine: save stream %s: %w: %w", meta.Name, shardlog.ErrInvalidArgument, err)
	}
	ids := make([]string, len(meta.Shards))
	idx := make([]int64, len(meta.Shards))
	for i, s := range meta.Shards {
		ids[i], idx[i] = s.ID, int64(s.Index)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO `+e.q+`.streams (name, id, revision, meta) VALUES ($1, $2, $3, $4::text::jsonb)
		ON CONFLICT (name) DO UPDATE SET id = EXCLUDED.id, revision = EXCLUDED.revision, meta = EXCLUDED.meta`,
		meta.Name, int64(meta.ID), int64(meta.Revision), string(doc))
	b.Queue(`DELETE FROM `+e.q+`.shards WHERE stream = $1 AND stream_id <> $2`, meta.Name, int64(meta.ID))
	b.Queue(`INSERT INTO `+e.q+`.shards (stream, shard_id, stream_id, idx)
		SELECT $1, u.id, $2, u.idx FROM unnest($3::text[], $4::bigint[]) AS u(id, idx)
		ON CONFLICT (stream, shard_id) DO NOTHING`, meta.Name, int64(meta.ID), ids, idx)
	b.Queue(`SELECT pg_notify($1, $2)`, e.channel, payloadMeta+meta.Name)
	return wrap("save stream "+meta.Name, tx.SendBatch(ctx, b).Close())
}

// SaveStream creates or replaces the stream's metadata in one transaction
// (see UpdateStream) and notifies every engine on the log.
func (e *Engine) SaveStream(ctx context.Context, meta shardlog.StreamMeta) error {
	_, err := e.UpdateStream(ctx, meta.Name, func(shardlog.MetaTx, *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
		return &meta, nil
	})
	return err
}

// UpdateStream reads the stream's metadata, calls fn and stores what it
// returns, in one transaction under the stream's advisory lock: no other
// UpdateStream, SaveStream or DropStream of the stream, in any process,
// interleaves with it, so fn is called exactly once. Seals made through
// tx lock their shard's row and commit with the metadata. If fn returns
// nil metadata and no error, nothing is stored and the current metadata
// (zero if none) is returned. If fn fails, its error is returned as it is.
// fn runs while the update holds one of the pool's connections (and the
// stream's lock): it should do nothing but compute and seal through tx.
func (e *Engine) UpdateStream(ctx context.Context, name string, fn func(tx shardlog.MetaTx, cur *shardlog.StreamMeta) (*shardlog.StreamMeta, error)) (shardlog.StreamMeta, error) {
	if e.isClosed() {
		return shardlog.StreamMeta{}, errClosed
	}
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return shardlog.StreamMeta{}, wrap("update stream: begin", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if err := e.lockStream(ctx, tx, name); err != nil {
		return shardlog.StreamMeta{}, err
	}
	cur, err := e.loadIn(ctx, tx, name)
	if err != nil {
		return shardlog.StreamMeta{}, err
	}
	mtx := &metaTx{e: e, tx: tx}
	next, err := fn(mtx, cur)
	if err != nil {
		return shardlog.StreamMeta{}, err
	}
	if next == nil {
		if cur == nil {
			return shardlog.StreamMeta{}, nil
		}
		return *cur, nil
	}
	if next.Name != name {
		return shardlog.StreamMeta{}, fmt.Errorf("postgres engine: update stream %s: %w: the new metadata names stream %q", name, shardlog.ErrInvalidArgument, next.Name)
	}
	if err := e.store(ctx, tx, next); err != nil {
		return shardlog.StreamMeta{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return shardlog.StreamMeta{}, wrap("update stream: commit", err)
	}
	for _, ref := range mtx.sealed {
		e.wake(waiterKey(ref.Stream, ref.ID))
	}
	// The caller's maps and slices stay its own: return a copy.
	return cloneMeta(*next), nil
}

func cloneMeta(m shardlog.StreamMeta) shardlog.StreamMeta {
	doc, err := json.Marshal(&m)
	if err != nil {
		return m
	}
	var out shardlog.StreamMeta
	if json.Unmarshal(doc, &out) != nil {
		return m
	}
	return out
}

// DropStream deletes the stream's metadata and shard rows in one
// transaction. The records, unreachable from then on (they are found only
// through their shard's key, which no row holds any more), go with their
// partitions: no row-by-row delete.
func (e *Engine) DropStream(ctx context.Context, name string) error {
	return e.dropStream(ctx, name, 0)
}

// DropStreamID is DropStream of incarnation id only: under the stream's
// update lock it checks the stored stream's ID, and if it is another
// incarnation, or there is none, it drops nothing and returns an error
// wrapping shardlog.ErrResourceNotFound.
func (e *Engine) DropStreamID(ctx context.Context, name string, id uint64) error {
	return e.dropStream(ctx, name, id)
}

// dropStream drops the stream, if id is zero or its incarnation.
func (e *Engine) dropStream(ctx context.Context, name string, id uint64) error {
	if e.isClosed() {
		return errClosed
	}
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return wrap("drop stream: begin", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if err := e.lockStream(ctx, tx, name); err != nil {
		return err
	}
	if id != 0 {
		var stored int64
		err := tx.QueryRow(ctx, `SELECT id FROM `+e.q+`.streams WHERE name = $1`, name).Scan(&stored)
		if err != nil && err != pgx.ErrNoRows {
			return wrap("drop stream "+name, err)
		}
		if err == pgx.ErrNoRows || uint64(stored) != id {
			return fmt.Errorf("postgres: stream %s incarnation %d: %w", name, id, shardlog.ErrResourceNotFound)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM `+e.q+`.streams WHERE name = $1`, name)
	b.Queue(`DELETE FROM `+e.q+`.shards WHERE stream = $1`, name)
	b.Queue(`SELECT pg_notify($1, $2)`, e.channel, payloadMeta+name)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return wrap("drop stream "+name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap("drop stream: commit", err)
	}
	e.wakeStream(name)
	return nil
}

// DropShard empties the shard: its row gets a fresh key and the state of
// an empty, unsealed shard, so its old records are unreachable at once and
// go with their partitions. A shard with no row, or of another incarnation
// of the stream, is left alone.
func (e *Engine) DropShard(ctx context.Context, ref shardlog.ShardRef) error {
	if e.isClosed() {
		return errClosed
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE `+e.q+`.shards SET shard_key = DEFAULT, first_pos = 0, last_pos = 0,
		last_arrival = 0, appended = 0, sealed = false, horizon = 0
		WHERE stream = $1 AND shard_id = $2 AND stream_id = $3`, ref.Stream, ref.ID, int64(ref.StreamID))
	b.Queue(`SELECT pg_notify($1, $2)`, e.channel, recordsPayload(ref))
	if err := e.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrap("drop shard", err)
	}
	e.wake(waiterKey(ref.Stream, ref.ID))
	return nil
}
