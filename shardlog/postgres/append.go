package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/shardlog"
)

// shardRow is a shard's row: its sequencer's state, its seal and its
// retention horizon. Positions and times are int64 (times in Unix
// microseconds).
type shardRow struct {
	key         int64 // the shard's records carry it; DropShard gives the shard a new one
	streamID    uint64
	firstPos    int64 // position of its first record, 0 if it has none
	lastPos     int64 // position of its last record, 0 if it has none
	lastArrival int64
	appended    int64 // records ever appended (since DropShard)
	sealed      bool
	horizon     int64 // records that arrived before it are trimmed
}

const shardCols = `shard_key, stream_id, first_pos, last_pos, last_arrival, appended, sealed, horizon`

func scanShard(row pgx.Row) (shardRow, bool, error) {
	var s shardRow
	var streamID int64
	err := row.Scan(&s.key, &streamID, &s.firstPos, &s.lastPos, &s.lastArrival, &s.appended, &s.sealed, &s.horizon)
	if errors.Is(err, pgx.ErrNoRows) {
		return shardRow{}, false, nil
	}
	s.streamID = uint64(streamID)
	return s, err == nil, err
}

// lockShard locks the shard's row until tx ends and returns it, or an
// error wrapping ErrResourceNotFound if the shard or its incarnation of
// the stream is gone.
func (e *Engine) lockShard(ctx context.Context, tx dbtx, ref shardlog.ShardRef) (shardRow, error) {
	s, ok, err := scanShard(tx.QueryRow(ctx, `SELECT `+shardCols+` FROM `+e.q+`.shards
		WHERE stream = $1 AND shard_id = $2 FOR UPDATE`, ref.Stream, ref.ID))
	if err != nil {
		return shardRow{}, wrap("lock shard", err)
	}
	if !ok {
		// A shard the stored metadata does not list yet: a single-owner
		// Log seals the shards a reshard makes and closes again before it
		// saves the metadata. It gets its row if its stream's incarnation
		// is stored.
		if _, err := tx.Exec(ctx, `INSERT INTO `+e.q+`.shards (stream, shard_id, stream_id, idx)
			SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM `+e.q+`.streams WHERE name = $1 AND id = $3)
			ON CONFLICT (stream, shard_id) DO NOTHING`, ref.Stream, ref.ID, int64(ref.StreamID), int64(ref.Index)); err != nil {
			return shardRow{}, wrap("create shard", err)
		}
		s, ok, err = scanShard(tx.QueryRow(ctx, `SELECT `+shardCols+` FROM `+e.q+`.shards
			WHERE stream = $1 AND shard_id = $2 FOR UPDATE`, ref.Stream, ref.ID))
		if err != nil {
			return shardRow{}, wrap("lock shard", err)
		}
	}
	if !ok || s.streamID != ref.StreamID {
		return shardRow{}, notFound(ref)
	}
	return s, nil
}

// last is the sequence number of the shard's last record, zero if none.
func (s *shardRow) last(ref shardlog.ShardRef) shardlog.SequenceNumber {
	if s.lastPos == 0 {
		return shardlog.SequenceNumber{}
	}
	return shardlog.MakeSequenceNumber(uint64(s.lastPos), ref.Index)
}

// errPartitionMissing tells Append to create the partitions of its
// positions and try again.
type errPartitionMissing struct{ from, to int64 } // partition numbers

func (errPartitionMissing) Error() string { return "postgres engine: records partition missing" }

// Append stores the batch in one transaction that locks the shard's row
// (its single sequencer), checks the seal, the stream's incarnation and
// cond, numbers the records with shardlog.Sequencer from the row's last
// position and arrival, inserts them and updates the row. Commit order is
// therefore sequence order. It returns once COMMIT returned: the records
// are as durable as the server's synchronous_commit makes a commit. Arrival
// times are kept to the microsecond, PostgreSQL's precision; now is
// truncated to it before numbering, so the arrival returned is the one
// stored.
func (e *Engine) Append(ctx context.Context, ref shardlog.ShardRef, now time.Time, records []shardlog.Entry, cond *shardlog.Condition) (shardlog.SequenceNumber, time.Time, error) {
	now = now.Round(0).Truncate(time.Microsecond)
	for attempt := 0; ; attempt++ {
		if e.isClosed() {
			return shardlog.SequenceNumber{}, time.Time{}, errClosed
		}
		first, arrival, err := e.appendOnce(ctx, ref, now, records, cond)
		var missing errPartitionMissing
		if errors.As(err, &missing) && attempt < 5 {
			if err := e.ensurePartitions(ctx, missing.from, missing.to, true); err != nil {
				return shardlog.SequenceNumber{}, time.Time{}, err
			}
			continue
		}
		if err == nil && len(records) > 0 {
			e.wake(waiterKey(ref.Stream, ref.ID))
			e.prepareNext(first.Position() + uint64(len(records)) - 1)
		}
		return first, arrival, err
	}
}

// dbtx is what the append path needs of a connection in a transaction:
// a pgx.Tx or a pool connection on which BEGIN was sent.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// appendOnce runs one append transaction in two round trips: BEGIN, the
// shard row's lock and the key's latest record in one pipeline; then the
// insert (with the row's update and the notification) and COMMIT in
// another.
func (e *Engine) appendOnce(ctx context.Context, ref shardlog.ShardRef, now time.Time, records []shardlog.Entry, cond *shardlog.Condition) (shardlog.SequenceNumber, time.Time, error) {
	var zero shardlog.SequenceNumber
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return zero, time.Time{}, wrap("append: connect", err)
	}
	defer func() {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			// Not committed: roll back. If that fails too, the pool
			// closes the connection rather than reuse it in a transaction.
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
		conn.Release()
	}()

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT `+shardCols+` FROM `+e.q+`.shards WHERE stream = $1 AND shard_id = $2 FOR UPDATE`, ref.Stream, ref.ID)
	if cond != nil {
		// After the lock, so it reads what the previous holder committed.
		b.Queue(`SELECT r.pos, r.arrival FROM `+e.q+`.shards s
			JOIN LATERAL (
				SELECT pos, arrival FROM `+e.q+`.records
				WHERE shard_key = s.shard_key AND pkey = $3 AND pos >= s.horizon
				ORDER BY pos DESC LIMIT 1
			) r ON true
			WHERE s.stream = $1 AND s.shard_id = $2`, ref.Stream, ref.ID, cond.PartitionKey)
	}
	br := conn.SendBatch(ctx, b)
	var (
		s                  shardRow
		found, keyFound    bool
		keyPos, keyArrival int64
	)
	_, err = br.Exec()
	if err == nil {
		s, found, err = scanShard(br.QueryRow())
	}
	if err == nil && cond != nil {
		err = br.QueryRow().Scan(&keyPos, &keyArrival)
		keyFound = err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return zero, time.Time{}, wrap("append: lock shard", err)
	}
	if !found || s.streamID != ref.StreamID {
		// The slow path: the shard may need its row (see lockShard).
		if s, err = e.lockShard(ctx, conn, ref); err != nil {
			return zero, time.Time{}, err
		}
		if cond != nil {
			if err := e.check(ctx, conn, ref, &s, cond); err != nil {
				return zero, time.Time{}, err
			}
			cond = nil
		}
	}
	if s.sealed {
		return zero, time.Time{}, fmt.Errorf("postgres engine: append to %s/%s: %w", ref.Stream, ref.ID, shardlog.ErrShardSealed)
	}
	if cond != nil {
		if err := checkLatest(ref, &s, cond, keyFound, keyPos, keyArrival); err != nil {
			return zero, time.Time{}, err
		}
	}
	if len(records) == 0 {
		return zero, time.Time{}, nil
	}

	var lastArrival time.Time
	if s.lastPos != 0 {
		lastArrival = time.UnixMicro(s.lastArrival)
	}
	seq := shardlog.NewSequencer(ref.Index, ref.Floor, uint64(s.lastPos), lastArrival)
	first, arrival := seq.Next(len(records), now, ref.Floor)
	if seq.Last() > math.MaxInt64 {
		return zero, time.Time{}, fmt.Errorf("postgres engine: append to %s/%s: %w: position %d is past the largest this engine stores (2^63-1)",
			ref.Stream, ref.ID, shardlog.ErrInvalidArgument, seq.Last())
	}
	firstPos, lastPos := int64(first.Position()), int64(seq.Last())
	if from, to := e.partitionOf(firstPos), e.partitionOf(lastPos); !e.partitionsKnown(from, to) {
		return zero, time.Time{}, errPartitionMissing{from, to}
	}

	if e.copyInsert {
		err = e.insertCopy(ctx, conn, ref, &s, firstPos, lastPos, arrival.UnixMicro(), records)
		if err == nil {
			if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
				return zero, time.Time{}, wrap("append: commit (the batch may or may not be stored)", err)
			}
		} else if c := pgCode(err); c != codeNoPartition && c != codeUndefinedTable {
			err = wrap("append: insert", err)
		}
	} else {
		err = e.insertUnnestCommit(ctx, conn, ref, &s, firstPos, lastPos, arrival.UnixMicro(), records)
	}
	if err != nil {
		if c := pgCode(err); c == codeNoPartition || c == codeUndefinedTable {
			from, to := e.partitionOf(firstPos), e.partitionOf(lastPos)
			e.forgetPartitions(from, to)
			return zero, time.Time{}, errPartitionMissing{from, to}
		}
		return zero, time.Time{}, err
	}
	return first, arrival, nil
}

// check runs cond against the key's latest record in the shard, found
// through the key index, under the shard's row lock.
func (e *Engine) check(ctx context.Context, q dbtx, ref shardlog.ShardRef, s *shardRow, cond *shardlog.Condition) error {
	var pos, arrival int64
	err := q.QueryRow(ctx, `SELECT pos, arrival FROM `+e.q+`.records
		WHERE shard_key = $1 AND pkey = $2 AND pos >= $3 ORDER BY pos DESC LIMIT 1`,
		s.key, cond.PartitionKey, s.horizon).Scan(&pos, &arrival)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return wrap("append: condition", err)
	}
	return checkLatest(ref, s, cond, found, pos, arrival)
}

// checkLatest compares cond with the key's latest record in the shard
// (found, at pos, arrived at arrival).
func checkLatest(ref shardlog.ShardRef, s *shardRow, cond *shardlog.Condition, found bool, pos, arrival int64) error {
	actual := cond.Inherited
	// Arrivals never decrease, so if the key's latest record is past the
	// horizon, all its records are: the key has none here.
	if found && arrival >= s.horizon && !time.UnixMicro(arrival).Before(cond.Horizon) {
		actual = shardlog.MakeSequenceNumber(uint64(pos), ref.Index)
	}
	if actual != cond.Expected {
		return &shardlog.ConflictError{PartitionKey: cond.PartitionKey, Expected: cond.Expected, Actual: actual}
	}
	return nil
}

// Seal closes the shard for appends in a transaction of its own and
// returns the number of its last record ever appended (zero if none). It
// waits for appends holding the shard's row lock: those commit first and
// are counted.
func (e *Engine) Seal(ctx context.Context, ref shardlog.ShardRef) (shardlog.SequenceNumber, error) {
	if e.isClosed() {
		return shardlog.SequenceNumber{}, errClosed
	}
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return shardlog.SequenceNumber{}, wrap("seal: begin", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	last, err := e.sealIn(ctx, tx, ref)
	if err != nil {
		return shardlog.SequenceNumber{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return shardlog.SequenceNumber{}, wrap("seal: commit", err)
	}
	e.wake(waiterKey(ref.Stream, ref.ID))
	return last, nil
}

// sealIn seals the shard in tx.
func (e *Engine) sealIn(ctx context.Context, tx pgx.Tx, ref shardlog.ShardRef) (shardlog.SequenceNumber, error) {
	s, err := e.lockShard(ctx, tx, ref)
	if err != nil {
		return shardlog.SequenceNumber{}, err
	}
	if !s.sealed {
		if _, err := tx.Exec(ctx, `WITH upd AS (UPDATE `+e.q+`.shards SET sealed = true WHERE shard_key = $1)
			SELECT pg_notify($2, $3)`, s.key, e.channel, recordsPayload(ref)); err != nil {
			return shardlog.SequenceNumber{}, wrap("seal", err)
		}
	}
	return s.last(ref), nil
}

// metaTx is the MetaTx of one UpdateStream: its seals run in the update's
// transaction.
type metaTx struct {
	e      *Engine
	tx     pgx.Tx
	sealed []shardlog.ShardRef
}

// Seal seals the shard in the update's transaction: the seal takes effect
// when the update commits, and not at all if it fails.
func (m *metaTx) Seal(ctx context.Context, ref shardlog.ShardRef) (shardlog.SequenceNumber, error) {
	last, err := m.e.sealIn(ctx, m.tx, ref)
	if err == nil {
		m.sealed = append(m.sealed, ref)
	}
	return last, err
}

// insertUnnestCommit inserts the batch, updates the shard's row and
// notifies in one statement, a multi-row INSERT from two arrays, and
// commits, in one round trip. It is the insert path: faster than COPY for
// batches of up to 500 records (see BenchmarkAppend500 in
// insertpath_test.go).
func (e *Engine) insertUnnestCommit(ctx context.Context, conn *pgxpool.Conn, ref shardlog.ShardRef, s *shardRow, firstPos, lastPos, arrival int64, records []shardlog.Entry) error {
	keys := make([]string, len(records))
	data := make([][]byte, len(records))
	for i := range records {
		keys[i] = records[i].PartitionKey
		data[i] = records[i].Data
		if data[i] == nil {
			data[i] = []byte{}
		}
	}
	b := &pgx.Batch{}
	b.Queue(`WITH ins AS (
			INSERT INTO `+e.q+`.records (shard_key, pos, arrival, ord, pkey, data)
			SELECT $1, $2::bigint + u.i - 1, $3, $4::bigint + u.i - 1, u.k, u.d
			FROM unnest($5::text[], $6::bytea[]) WITH ORDINALITY AS u(k, d, i)
		), upd AS (
			UPDATE `+e.q+`.shards SET last_pos = $7, last_arrival = $3, appended = appended + $8,
				first_pos = CASE WHEN first_pos = 0 THEN $2 ELSE first_pos END
			WHERE shard_key = $1
		)
		SELECT pg_notify($9, $10)`,
		s.key, firstPos, arrival, s.appended, keys, data, lastPos, int64(len(records)), e.channel, recordsPayload(ref))
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		if c := pgCode(err); c == codeNoPartition || c == codeUndefinedTable {
			return err
		}
		return wrap("append: insert", err)
	}
	_, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return wrap("append: commit (the batch may or may not be stored)", err)
	}
	return nil
}

// insertCopy is the alternative insert path, measured against
// insertUnnest: COPY the batch, then update the row and notify.
func (e *Engine) insertCopy(ctx context.Context, tx dbtx, ref shardlog.ShardRef, s *shardRow, firstPos, lastPos, arrival int64, records []shardlog.Entry) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{e.schema, "records"}, []string{"shard_key", "pos", "arrival", "ord", "pkey", "data"},
		pgx.CopyFromSlice(len(records), func(i int) ([]any, error) {
			d := records[i].Data
			if d == nil {
				d = []byte{}
			}
			return []any{s.key, firstPos + int64(i), arrival, s.appended + int64(i), records[i].PartitionKey, d}, nil
		}))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `WITH upd AS (
			UPDATE `+e.q+`.shards SET last_pos = $2, last_arrival = $3, appended = appended + $4,
				first_pos = CASE WHEN first_pos = 0 THEN $5 ELSE first_pos END
			WHERE shard_key = $1
		)
		SELECT pg_notify($6, $7)`, s.key, lastPos, arrival, int64(len(records)), firstPos, e.channel, recordsPayload(ref))
	return err
}
