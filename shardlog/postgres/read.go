package postgres

import (
	"context"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/shardlog"
)

// Every read is one statement: the shard's row (incarnation, seal,
// horizon) joined laterally to its records, so the records and the seal
// come from one snapshot, and the record scan is an index range scan of
// the (shard_key, pos) or (shard_key, pkey, pos) index bounded below by
// the horizon, which prunes the partitions retention has passed.
// The caller's bound on positions is a condition of its own (pos >= $n,
// not GREATEST($n, horizon)), so that the planner prunes the partitions
// before it when it plans the query, and does not plan a scan of every
// partition only to skip them at run time: a read near the end of a
// shard plans one or two partitions. The horizon, read from the shard's
// row, prunes at run time. Records that arrived before the horizon
// (trimmed, their partition not yet dropped) are filtered out: since a record's position is at least its
// arrival in microseconds, every one of them below the horizon's position
// is skipped by the index bound, not read.

// minPos returns the least position of shard idx whose sequence number is
// >= sn (inclusive) or > sn (!inclusive), and false if there is none that
// the engine stores.
func minPos(sn shardlog.SequenceNumber, idx uint32, inclusive bool) (int64, bool) {
	p := sn.Position()
	if sn.ShardIndex() > idx || (!inclusive && sn.ShardIndex() == idx) {
		if p == math.MaxUint64 {
			return 0, false
		}
		p++
	}
	if p > math.MaxInt64 {
		return 0, false
	}
	return int64(p), true
}

// ceilMicro returns t in Unix microseconds, rounded up: a record whose
// arrival (whole microseconds) is >= the result is not before t.
func ceilMicro(t time.Time) int64 {
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return us
}

// shardRecords runs a read and collects the shard's incarnation and seal
// and the records; the query's columns are stream_id, sealed, pos,
// arrival, pkey, data, with the record columns NULL when none matched.
// A shard with no row (its stream was dropped, or never saved) is not
// found, as one of another incarnation of its stream.
func (e *Engine) shardRecords(ctx context.Context, op string, ref shardlog.ShardRef, sql string, args ...any) (recs []shardlog.Record, sealed bool, err error) {
	if e.isClosed() {
		return nil, false, errClosed
	}
	rows, err := e.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, wrap(op, err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var streamID int64
		var pos, arrival *int64
		var pkey *string
		var data []byte
		if err := rows.Scan(&streamID, &sealed, &pos, &arrival, &pkey, &data); err != nil {
			return nil, false, wrap(op, err)
		}
		if uint64(streamID) != ref.StreamID {
			return nil, false, notFound(ref)
		}
		found = true
		if pos == nil {
			continue
		}
		if data == nil {
			data = []byte{}
		}
		recs = append(recs, shardlog.Record{
			SequenceNumber:              shardlog.MakeSequenceNumber(uint64(*pos), ref.Index),
			ApproximateArrivalTimestamp: time.UnixMicro(*arrival).UTC(),
			PartitionKey:                *pkey,
			Data:                        data,
		})
	}
	if err := rows.Err(); err != nil {
		return nil, false, wrap(op, err)
	}
	if !found {
		return nil, false, notFound(ref)
	}
	return recs, sealed, nil
}

// Read returns the shard's live records with sequence numbers >= from: at
// most max, within maxBytes (data plus partition key) except that the
// first is returned whatever its size. The byte limit is applied in the
// query, so no more rows than returned leave the server.
func (e *Engine) Read(ctx context.Context, ref shardlog.ShardRef, from shardlog.SequenceNumber, max, maxBytes int) ([]shardlog.Record, error) {
	p, ok := minPos(from, ref.Index, true)
	if !ok || max <= 0 {
		return nil, e.closedErr()
	}
	recs, _, err := e.shardRecords(ctx, "read", ref, `
		SELECT s.stream_id, s.sealed, r.pos, r.arrival, r.pkey, r.data
		FROM `+e.q+`.shards s
		LEFT JOIN LATERAL (
			SELECT x.*, sum(octet_length(x.data) + octet_length(x.pkey)) OVER w AS cum, row_number() OVER w AS n
			FROM (
				SELECT pos, arrival, pkey, data FROM `+e.q+`.records
				WHERE shard_key = s.shard_key AND pos >= $3::bigint AND pos >= s.horizon AND arrival >= s.horizon
				ORDER BY pos LIMIT $4
			) x
			WINDOW w AS (ORDER BY x.pos ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
		) r ON true
		WHERE s.stream = $1 AND s.shard_id = $2 AND (r.pos IS NULL OR r.n = 1 OR r.cum <= $5)
		ORDER BY r.pos`,
		ref.Stream, ref.ID, p, max, maxBytes)
	return recs, err
}

func (e *Engine) closedErr() error {
	if e.isClosed() {
		return errClosed
	}
	return nil
}

// SeekTime returns the sequence number of the first live record that
// arrived at or after t, and false if there is none.
func (e *Engine) SeekTime(ctx context.Context, ref shardlog.ShardRef, t time.Time) (shardlog.SequenceNumber, bool, error) {
	us := ceilMicro(t)
	recs, _, err := e.shardRecords(ctx, "seek time", ref, `
		SELECT s.stream_id, s.sealed, r.pos, r.arrival, r.pkey, r.data
		FROM `+e.q+`.shards s
		LEFT JOIN LATERAL (
			SELECT pos, arrival, pkey, data FROM `+e.q+`.records
			WHERE shard_key = s.shard_key AND pos >= $3::bigint AND pos >= s.horizon AND arrival >= GREATEST($3::bigint, s.horizon)
			ORDER BY pos LIMIT 1
		) r ON true
		WHERE s.stream = $1 AND s.shard_id = $2`,
		ref.Stream, ref.ID, us)
	if err != nil || len(recs) == 0 {
		return shardlog.SequenceNumber{}, false, err
	}
	return recs[0].SequenceNumber, true, nil
}

// ReadKey returns the key's live records in the shard with sequence
// numbers > after, in order, at most max, from the key index.
func (e *Engine) ReadKey(ctx context.Context, ref shardlog.ShardRef, partitionKey string, after shardlog.SequenceNumber, max int) ([]shardlog.Record, error) {
	recs, _, err := e.ReadKeySealed(ctx, ref, partitionKey, after, max)
	return recs, err
}

// ReadKeySealed is ReadKey that also reports, from the same snapshot,
// whether the shard was sealed.
func (e *Engine) ReadKeySealed(ctx context.Context, ref shardlog.ShardRef, partitionKey string, after shardlog.SequenceNumber, max int) ([]shardlog.Record, bool, error) {
	p, ok := minPos(after, ref.Index, false)
	if !ok || max <= 0 {
		// Nothing can be returned, but the seal is still asked.
		p, max = math.MaxInt64, 0
	}
	return e.shardRecords(ctx, "read key", ref, `
		SELECT s.stream_id, s.sealed, r.pos, r.arrival, r.pkey, r.data
		FROM `+e.q+`.shards s
		LEFT JOIN LATERAL (
			SELECT pos, arrival, pkey, data FROM `+e.q+`.records
			WHERE shard_key = s.shard_key AND pkey = $3 AND pos >= $4::bigint AND pos >= s.horizon AND arrival >= s.horizon
			ORDER BY pos LIMIT $5
		) r ON true
		WHERE s.stream = $1 AND s.shard_id = $2
		ORDER BY r.pos`,
		ref.Stream, ref.ID, partitionKey, p, max)
}

// LastKey returns the key's latest live record in the shard, and false if
// it has none here.
func (e *Engine) LastKey(ctx context.Context, ref shardlog.ShardRef, partitionKey string) (shardlog.Record, bool, error) {
	r, found, _, err := e.LastKeySealed(ctx, ref, partitionKey)
	return r, found, err
}

// LastKeySealed is LastKey that also reports, from the same snapshot,
// whether the shard was sealed.
func (e *Engine) LastKeySealed(ctx context.Context, ref shardlog.ShardRef, partitionKey string) (shardlog.Record, bool, bool, error) {
	recs, sealed, err := e.shardRecords(ctx, "last key", ref, `
		SELECT s.stream_id, s.sealed, r.pos, r.arrival, r.pkey, r.data
		FROM `+e.q+`.shards s
		LEFT JOIN LATERAL (
			SELECT pos, arrival, pkey, data FROM `+e.q+`.records
			WHERE shard_key = s.shard_key AND pkey = $3 AND pos >= s.horizon AND arrival >= s.horizon
			ORDER BY pos DESC LIMIT 1
		) r ON true
		WHERE s.stream = $1 AND s.shard_id = $2`,
		ref.Stream, ref.ID, partitionKey)
	if err != nil || len(recs) == 0 {
		return shardlog.Record{}, false, sealed, err
	}
	return recs[0], true, sealed, nil
}

// Bounds describes the shard's live records from its row and its first
// live record: Count is the number of records appended since the first
// live one (each record stores its ordinal), not a count(*).
func (e *Engine) Bounds(ctx context.Context, ref shardlog.ShardRef) (shardlog.ShardBounds, error) {
	if e.isClosed() {
		return shardlog.ShardBounds{}, errClosed
	}
	var (
		streamID, lastPos, lastArrival, appended, trimmed int64
		sealed                                            bool
		firstPos, firstArrival, firstOrd                  *int64
	)
	err := e.pool.QueryRow(ctx, `
		SELECT s.stream_id, s.sealed, s.last_pos, s.last_arrival, s.appended, s.trimmed_pos, r.pos, r.arrival, r.ord
		FROM `+e.q+`.shards s
		LEFT JOIN LATERAL (
			SELECT pos, arrival, ord FROM `+e.q+`.records
			WHERE shard_key = s.shard_key AND pos >= s.horizon AND arrival >= s.horizon
			ORDER BY pos LIMIT 1
		) r ON true
		WHERE s.stream = $1 AND s.shard_id = $2`, ref.Stream, ref.ID).
		Scan(&streamID, &sealed, &lastPos, &lastArrival, &appended, &trimmed, &firstPos, &firstArrival, &firstOrd)
	if err == pgx.ErrNoRows {
		return shardlog.ShardBounds{}, notFound(ref)
	}
	if err != nil {
		return shardlog.ShardBounds{}, wrap("bounds", err)
	}
	if uint64(streamID) != ref.StreamID {
		return shardlog.ShardBounds{}, notFound(ref)
	}
	b := shardlog.ShardBounds{Sealed: sealed}
	if trimmed > 0 {
		b.Trimmed = shardlog.MakeSequenceNumber(uint64(trimmed), ref.Index)
	}
	if firstPos != nil {
		b.Count = appended - *firstOrd
		b.First = shardlog.MakeSequenceNumber(uint64(*firstPos), ref.Index)
		b.FirstArrival = time.UnixMicro(*firstArrival).UTC()
		b.Last = shardlog.MakeSequenceNumber(uint64(lastPos), ref.Index)
		b.LastArrival = time.UnixMicro(lastArrival).UTC()
	}
	return b, nil
}
