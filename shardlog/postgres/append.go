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

// dbtx is what the append path needs of a connection in a transaction:
// a pgx.Tx or a pool connection on which BEGIN was sent.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// keyState is a key's latest live record in the shard as a group's
// conditions see it: the stored one, or one appended earlier in the group.
type keyState struct {
	found        bool
	pos, arrival int64
}

// appendGroup runs the group's appends as one transaction in two round
// trips: BEGIN, the shard row's lock and the latest record of every key a
// member's condition names, in one pipeline; then one INSERT of every
// member's records (which also updates the row) and COMMIT in another.
// Under the lock it evaluates, in queue order, each member's condition
// against the stored state and the members before it, and numbers the
// members that pass with one Sequencer, each batch at consecutive
// positions. A member that fails its condition, or whose positions would
// overflow, gets its own error and stores nothing; the others go on. A
// sealed shard fails every member with ErrShardSealed. An error of the
// transaction itself is returned, for every member. It returns the last
// position stored, 0 if none.
func (e *Engine) appendGroup(ctx context.Context, ref shardlog.ShardRef, group []*appendReq) (int64, error) {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return 0, wrap("append: connect", err)
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

	var condKeys []string
	seen := map[string]bool{}
	for _, r := range group {
		if r.cond != nil && !seen[r.cond.PartitionKey] {
			seen[r.cond.PartitionKey] = true
			condKeys = append(condKeys, r.cond.PartitionKey)
		}
	}
	const keysQuery = `SELECT k.k, r.pos, r.arrival FROM %s.shards s
		CROSS JOIN unnest($3::text[]) AS k(k)
		JOIN LATERAL (
			SELECT pos, arrival FROM %s.records
			WHERE shard_key = s.shard_key AND pkey = k.k AND pos >= s.horizon
			ORDER BY pos DESC LIMIT 1
		) r ON true
		WHERE s.stream = $1 AND s.shard_id = $2`
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT `+shardCols+` FROM `+e.q+`.shards WHERE stream = $1 AND shard_id = $2 FOR UPDATE`, ref.Stream, ref.ID)
	if len(condKeys) > 0 {
		// After the lock, so it reads what the previous holder committed.
		b.Queue(fmt.Sprintf(keysQuery, e.q, e.q), ref.Stream, ref.ID, condKeys)
	}
	br := conn.SendBatch(ctx, b)
	var (
		s      shardRow
		found  bool
		latest = map[string]keyState{}
	)
	readKeys := func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var k string
			var st keyState
			if err := rows.Scan(&k, &st.pos, &st.arrival); err != nil {
				return err
			}
			st.found = true
			latest[k] = st
		}
		return rows.Err()
	}
	_, err = br.Exec()
	if err == nil {
		s, found, err = scanShard(br.QueryRow())
	}
	if err == nil && len(condKeys) > 0 {
		rows, qerr := br.Query()
		if qerr == nil {
			err = readKeys(rows)
		} else {
			err = qerr
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, wrap("append: lock shard", err)
	}
	if !found || s.streamID != ref.StreamID {
		// The slow path: the shard may need its row (see lockShard).
		if s, err = e.lockShard(ctx, conn, ref); err != nil {
			return 0, err
		}
		clear(latest)
		if len(condKeys) > 0 {
			rows, err := conn.Query(ctx, fmt.Sprintf(keysQuery, e.q, e.q), ref.Stream, ref.ID, condKeys)
			if err == nil {
				err = readKeys(rows)
			}
			if err != nil {
				return 0, wrap("append: condition", err)
			}
		}
	}
	if s.sealed {
		err := fmt.Errorf("postgres engine: append to %s/%s: %w", ref.Stream, ref.ID, shardlog.ErrShardSealed)
		for _, r := range group {
			r.first, r.arrival, r.err = shardlog.SequenceNumber{}, time.Time{}, err
		}
		return 0, nil
	}

	var lastArrival time.Time
	if s.lastPos != 0 {
		lastArrival = time.UnixMicro(s.lastArrival)
	}
	seq := shardlog.NewSequencer(ref.Index, ref.Floor, uint64(s.lastPos), lastArrival)
	var (
		n                int
		pos, arr         []int64
		keys             []string
		data             [][]byte
		firstPos, endPos int64
		endArrival       int64
	)
	for _, r := range group {
		r.first, r.arrival, r.err = shardlog.SequenceNumber{}, time.Time{}, nil
		if r.cond != nil {
			st := latest[r.cond.PartitionKey]
			if err := checkLatest(ref, &s, r.cond, st.found, st.pos, st.arrival); err != nil {
				r.err = err
				continue
			}
		}
		if len(r.records) == 0 {
			continue
		}
		first, arrival := seq.Next(len(r.records), r.now, ref.Floor)
		if seq.Last() > math.MaxInt64 {
			r.err = fmt.Errorf("postgres engine: append to %s/%s: %w: position %d is past the largest this engine stores (2^63-1)",
				ref.Stream, ref.ID, shardlog.ErrInvalidArgument, seq.Last())
			continue
		}
		r.first, r.arrival = first, arrival
		p, a := int64(first.Position()), arrival.UnixMicro()
		if n == 0 {
			firstPos = p
		}
		for i := range r.records {
			pos = append(pos, p+int64(i))
			arr = append(arr, a)
			keys = append(keys, r.records[i].PartitionKey)
			d := r.records[i].Data
			if d == nil {
				d = []byte{}
			}
			data = append(data, d)
			latest[r.records[i].PartitionKey] = keyState{found: true, pos: p + int64(i), arrival: a}
		}
		n += len(r.records)
		endPos, endArrival = p+int64(len(r.records))-1, a
	}
	if n == 0 {
		return 0, nil // nothing to store: the deferred ROLLBACK releases the lock
	}
	from, to := e.partitionOf(firstPos), e.partitionOf(endPos)
	if !e.partitionsKnown(from, to) {
		return 0, errPartitionMissing{from, to}
	}
	rows := groupRows{pos: pos, arrival: arr, keys: keys, data: data, firstPos: firstPos, lastPos: endPos, lastArrival: endArrival}
	if e.copyInsert {
		err = e.insertCopy(ctx, conn, &s, rows)
		if err == nil {
			if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
				return 0, wrap("append: commit (the batch may or may not be stored)", err)
			}
		}
	} else {
		err = e.insertUnnestCommit(ctx, conn, &s, rows)
	}
	if err != nil {
		if c := pgCode(err); c == codeNoPartition || c == codeUndefinedTable {
			e.forgetPartitions(from, to)
			return 0, errPartitionMissing{from, to}
		}
		return 0, err
	}
	return endPos, nil
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

// groupRows are the rows a group inserts, in position order, and the
// shard row's new state.
type groupRows struct {
	pos, arrival      []int64
	keys              []string
	data              [][]byte
	firstPos, lastPos int64
	lastArrival       int64
}

// insertUnnestCommit inserts the group's rows and updates the shard's row
// in one statement, a multi-row INSERT from arrays, and commits, in one
// round trip. It is the insert path: faster than COPY for batches of up
// to 500 records (see BenchmarkAppend500 in insertpath_test.go). It
// does not notify: the wake-up is sent after COMMIT (see notifyLater).
func (e *Engine) insertUnnestCommit(ctx context.Context, conn *pgxpool.Conn, s *shardRow, g groupRows) error {
	b := &pgx.Batch{}
	b.Queue(`WITH ins AS (
			INSERT INTO `+e.q+`.records (shard_key, pos, arrival, ord, pkey, data)
			SELECT $1, u.p, u.a, $2::bigint + u.i - 1, u.k, u.d
			FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::bytea[]) WITH ORDINALITY AS u(p, a, k, d, i)
		)
		UPDATE `+e.q+`.shards SET last_pos = $7, last_arrival = $8, appended = appended + $9,
			first_pos = CASE WHEN first_pos = 0 THEN $10 ELSE first_pos END
		WHERE shard_key = $1`,
		s.key, s.appended, g.pos, g.arrival, g.keys, g.data, g.lastPos, g.lastArrival, int64(len(g.pos)), g.firstPos)
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
// insertUnnestCommit: COPY the rows, then update the row.
func (e *Engine) insertCopy(ctx context.Context, tx dbtx, s *shardRow, g groupRows) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{e.schema, "records"}, []string{"shard_key", "pos", "arrival", "ord", "pkey", "data"},
		pgx.CopyFromSlice(len(g.pos), func(i int) ([]any, error) {
			return []any{s.key, g.pos[i], g.arrival[i], s.appended + int64(i), g.keys[i], g.data[i]}, nil
		}))
	if err != nil {
		if c := pgCode(err); c == codeNoPartition || c == codeUndefinedTable {
			return err
		}
		return wrap("append: insert", err)
	}
	_, err = tx.Exec(ctx, `UPDATE `+e.q+`.shards SET last_pos = $2, last_arrival = $3, appended = appended + $4,
			first_pos = CASE WHEN first_pos = 0 THEN $5 ELSE first_pos END
		WHERE shard_key = $1`, s.key, g.lastPos, g.lastArrival, int64(len(g.pos)), g.firstPos)
	return wrap("append: update shard", err)
}
