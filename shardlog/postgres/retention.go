package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/shardlog"
)

// Records are partitioned by position, in ranges of PartitionSpan worth of
// microseconds. A position is at least its record's arrival time in Unix
// microseconds (the sequencer makes it max(previous+1, floor+1, arrival)),
// so every record of partition [L, U) arrived before U, as a time: once
// every shard that may have records there has its retention horizon at or
// past U, the whole partition is dead and is dropped. Partitioning by
// position rather than by arrival time keeps reads by position (Read,
// ReadKey, LastKey, the conditional check) bounded to the partitions at or
// after their start, and the horizon itself prunes the older ones.

const partitionPrefix = "records_p"

func (e *Engine) partitionOf(pos int64) int64 { return pos / e.span }

// partitionBounds returns the partition's range of positions as SQL
// literals (the last partition ends at MAXVALUE).
func (e *Engine) partitionBounds(k int64) (lo int64, from, to string) {
	lo = k * e.span
	from = strconv.FormatInt(lo, 10)
	if lo > math.MaxInt64-e.span {
		return lo, from, "MAXVALUE"
	}
	return lo, from, strconv.FormatInt(lo+e.span, 10)
}

func (e *Engine) partitionsKnown(from, to int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := from; k <= to; k++ {
		if !e.parts[k] {
			return false
		}
	}
	return true
}

func (e *Engine) forgetPartitions(from, to int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := from; k <= to; k++ {
		delete(e.parts, k)
	}
}

// loadPartitions learns which partitions exist.
func (e *Engine) loadPartitions(ctx context.Context) error {
	rows, err := e.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass`, e.q+".records")
	if err != nil {
		return wrap("list partitions", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return wrap("list partitions", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.parts)
	for _, n := range names {
		if k, err := strconv.ParseInt(strings.TrimPrefix(n, partitionPrefix), 10, 64); err == nil {
			e.parts[k] = true
		}
	}
	return nil
}

// ensurePartitions creates partitions from..to that do not exist, and, if
// ahead, the one after to, so that the next span's appends find theirs. Each is
// created as a plain table and then attached: ATTACH PARTITION takes only
// a SHARE UPDATE EXCLUSIVE lock on the records table, which appends and
// reads do not wait for (CREATE TABLE ... PARTITION OF would take ACCESS
// EXCLUSIVE). An advisory lock serializes the engines that create the
// same partition at once.
func (e *Engine) ensurePartitions(ctx context.Context, from, to int64, ahead bool) error {
	if e.isClosed() {
		return errClosed
	}
	if ahead && to < math.MaxInt64/e.span-1 {
		to++
	}
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return wrap("create partition: begin", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "shoal-partitions:"+e.schema); err != nil {
		return wrap("create partition: lock", err)
	}
	for k := from; k <= to; k++ {
		name := partitionPrefix + strconv.FormatInt(k, 10)
		var attached bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = $1::regclass AND c.relname = $2)`, e.q+".records", name).Scan(&attached); err != nil {
			return wrap("create partition", err)
		}
		if attached {
			continue
		}
		qn := e.q + "." + pgx.Identifier{name}.Sanitize()
		_, lo, hi := e.partitionBounds(k)
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+qn+` (LIKE `+e.q+`.records INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`); err != nil {
			return wrap("create partition "+name, err)
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE `+e.q+`.records ATTACH PARTITION `+qn+` FOR VALUES FROM (`+lo+`) TO (`+hi+`)`); err != nil {
			return wrap("attach partition "+name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap("create partition: commit", err)
	}
	e.mu.Lock()
	for k := from; k <= to; k++ {
		e.parts[k] = true
	}
	e.mu.Unlock()
	return nil
}

// prepareNext creates, in the background, the partition after the one of
// pos if it is not known to exist, so that appends rarely create one
// themselves. One creation runs at a time; Close waits for it.
func (e *Engine) prepareNext(pos uint64) {
	k := e.partitionOf(int64(pos)) + 1
	if int64(pos)%e.span < e.span/2 || k >= math.MaxInt64/e.span {
		return // not yet: the second half of the span has time enough
	}
	e.mu.Lock()
	if e.closed || e.parts[k] || e.preparing {
		e.mu.Unlock()
		return
	}
	e.preparing = true
	e.background.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.ensurePartitions(ctx, k, k, false); err != nil && !e.isClosed() {
			e.log.Warn("postgres engine: creating the next records partition failed; the append that needs it will", "schema", e.schema, "err", err)
		}
		e.mu.Lock()
		e.preparing = false
		e.mu.Unlock()
	}()
}

// Trim raises the shard's retention horizon to before: reads, Bounds and
// the conditional check ignore the records that arrived before it at once.
// Then it drops every partition, oldest first, whose records are all past
// their shards' horizons (see dropDeadPartitions). It deletes no row.
// Trimming a shard with no row is not an error.
func (e *Engine) Trim(ctx context.Context, ref shardlog.ShardRef, before time.Time) error {
	if e.isClosed() {
		return errClosed
	}
	h := ceilMicro(before)
	var streamID int64
	var horizon int64
	err := e.pool.QueryRow(ctx, `UPDATE `+e.q+`.shards SET horizon = GREATEST(horizon, $3)
		WHERE stream = $1 AND shard_id = $2 RETURNING stream_id, horizon`, ref.Stream, ref.ID, h).Scan(&streamID, &horizon)
	if err == pgx.ErrNoRows {
		return nil
	}
	if err != nil {
		return wrap("trim", err)
	}
	if uint64(streamID) != ref.StreamID {
		return notFound(ref)
	}
	return e.dropDeadPartitions(ctx, horizon)
}

// dropDeadPartitions drops the partitions, oldest first, that end at or
// before upTo and hold no live record: no shard that may have records in
// [L, U) (it has records at or after L, and its first is before U) has
// its horizon before U. Records of dropped streams and shards (no row
// holds their key) hold nothing back.
//
// It locks the records table first (ACCESS EXCLUSIVE, which DROP needs
// anyway), so that appends in flight commit before the check reads the
// shards' rows; with lock_timeout, so that readers never queue behind it
// for long: a drop that cannot get the lock is left to the next Trim.
func (e *Engine) dropDeadPartitions(ctx context.Context, upTo int64) error {
	e.mu.Lock()
	var cands []int64
	for k := range e.parts {
		if lo, _, _ := e.partitionBounds(k); lo <= upTo-e.span {
			cands = append(cands, k)
		}
	}
	e.mu.Unlock()
	if len(cands) == 0 {
		return nil
	}
	slices.Sort(cands)

	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return wrap("drop partitions: begin", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", max(1, e.dropWait.Milliseconds()))); err != nil {
		return wrap("drop partitions", err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+e.q+`.records IN ACCESS EXCLUSIVE MODE`); err != nil {
		if pgCode(err) == codeLockNotAvailable {
			e.log.Debug("postgres engine: partitions not dropped: the records table is busy", "schema", e.schema)
			return nil
		}
		return wrap("drop partitions: lock", err)
	}
	var dropped []int64
	for _, k := range cands {
		lo, _, _ := e.partitionBounds(k)
		hi := lo + e.span
		var live bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+e.q+`.shards
			WHERE appended > 0 AND last_pos >= $1 AND first_pos < $2 AND horizon < $2)`, lo, hi).Scan(&live); err != nil {
			return wrap("drop partitions", err)
		}
		if live {
			break
		}
		name := partitionPrefix + strconv.FormatInt(k, 10)
		if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+e.q+`.`+pgx.Identifier{name}.Sanitize()); err != nil {
			return wrap("drop partition "+name, err)
		}
		dropped = append(dropped, k)
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap("drop partitions: commit", err)
	}
	e.mu.Lock()
	for _, k := range dropped {
		delete(e.parts, k)
	}
	e.mu.Unlock()
	if len(dropped) > 0 {
		e.log.Info("postgres engine: dropped expired partitions", "schema", e.schema, "count", len(dropped))
	}
	return nil
}

// partitionsOf returns the numbers of the records partitions that exist,
// in order (for tests and tools).
func (e *Engine) partitions(ctx context.Context) ([]int64, error) {
	if err := e.loadPartitions(ctx); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]int64, 0, len(e.parts))
	for k := range e.parts {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}
