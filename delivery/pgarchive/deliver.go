package pgarchive

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
)

// deliverAttempts is how many times Deliver runs its transaction when a
// concurrent writer makes it fail with a unique violation, a deadlock or a
// serialization failure.
const deliverAttempts = 3

// archiveColumns are the archive table's columns in CopyFrom order.
var archiveColumns = []string{"stream", "shard", "seq", "partition_key", "arrival", "data", "stream_id", "version", "type", "event_id"}

// Deliver stores b's records in the archive table and records b.Shard in
// the shard catalog, in one transaction. It implements
// delivery.Destination.
//
// It is idempotent on (stream, shard, sequence number), and fast in the
// usual case, a shard's batches in order, each after the last:
//
//  1. It upserts the shard's catalog row. The row lock this takes
//     serializes deliverers of one shard (say, the old and new holders of
//     a lease during a handover) until the transaction ends.
//  2. It reads the largest sequence number archived for the shard (the
//     primary key's index answers it).
//  3. It copies the records above it straight into the table with
//     COPY (pgx CopyFrom), with no temporary table and no conflict check.
//  4. Records at or below that maximum are a retry (the same First,
//     perhaps a different Last) or a batch delivered out of order; they
//     are inserted with INSERT ... ON CONFLICT DO NOTHING, which skips the
//     rows that exist and adds any that are missing. A runtime delivers a
//     shard's batches in order, so this path costs only retries.
//
// A retry never duplicates a row: the primary key (stream, shard, seq)
// makes a second row for a record impossible, and steps 2-4 make sure a
// retry does not fail on it either; a row that exists keeps its first
// contents. If a concurrent writer still makes the transaction fail with a
// unique violation or a deadlock, Deliver runs it again (up to three
// times in all), re-reading the maximum, so the race is not surfaced.
//
// The records must be in increasing sequence-number order, as a shard
// gives them; Deliver returns a *shardlog.ArgumentError otherwise, and for
// a batch without Source or Shard.ShardID. Arrival times are stored with
// PostgreSQL's microsecond precision.
func (a *Archive) Deliver(ctx context.Context, b *delivery.Batch) error {
	if err := validateBatch(b); err != nil {
		return err
	}
	src := a.rows(b)
	var err error
	for attempt := 1; ; attempt++ {
		if err = a.deliverOnce(ctx, b, src); err == nil {
			return nil
		}
		if attempt == deliverAttempts || !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("pgarchive: deliver %s/%s %s-%s to %s: %w", b.Source, b.Shard.ShardID, b.First, b.Last, a.name, err)
}

func validateBatch(b *delivery.Batch) error {
	if b == nil {
		return &shardlog.ArgumentError{Field: "Batch", Reason: "must not be nil"}
	}
	if b.Source == "" {
		return &shardlog.ArgumentError{Field: "Source", Reason: "must not be empty"}
	}
	if b.Shard.ShardID == "" {
		return &shardlog.ArgumentError{Field: "Shard.ShardID", Reason: "must not be empty"}
	}
	for i, r := range b.Records {
		if r.SequenceNumber.IsZero() {
			return &shardlog.ArgumentError{Field: fmt.Sprintf("Records[%d].SequenceNumber", i), Reason: "must not be zero"}
		}
		if i > 0 && r.SequenceNumber.Compare(b.Records[i-1].SequenceNumber) <= 0 {
			return &shardlog.ArgumentError{Field: fmt.Sprintf("Records[%d].SequenceNumber", i),
				Reason: fmt.Sprintf("%s is not after the previous record's %s: records must be in increasing order", r.SequenceNumber, b.Records[i-1].SequenceNumber)}
		}
	}
	return nil
}

// retryable reports whether err is a conflict with a concurrent writer
// that running the transaction again resolves.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "23505", "40P01", "40001": // unique_violation, deadlock_detected, serialization_failure
		return true
	}
	return false
}

func (a *Archive) deliverOnce(ctx context.Context, b *delivery.Batch, src *rowSource) error {
	tx, err := a.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	// Steps 1 and 2 in one round trip. In READ COMMITTED each statement
	// takes a new snapshot, so the max, read after the catalog row's lock
	// is ours, sees every row an earlier holder committed.
	var q pgx.Batch
	q.Queue(a.upsertShardSQL(), a.shardArgs(b)...)
	var maxSeq pgtype.Text
	q.Queue(a.lastSeqSQL(), b.Source, b.Shard.ShardID).
		QueryRow(func(row pgx.Row) error {
			if err := row.Scan(&maxSeq); !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			return nil
		})
	if err := tx.SendBatch(ctx, &q).Close(); err != nil {
		return err
	}
	split := 0 // records[:split] are at or below the maximum
	if maxSeq.Valid {
		top, err := parseSeq("seq", maxSeq.String)
		if err != nil {
			return fmt.Errorf("the archive's largest sequence number: %w", err)
		}
		for split < len(b.Records) && b.Records[split].SequenceNumber.Compare(top) <= 0 {
			split++
		}
	}
	if split > 0 {
		if err := a.insertMissing(ctx, tx, b, src, split); err != nil {
			return err
		}
	}
	if split < len(b.Records) {
		src.reset(split, len(b.Records))
		if _, err := tx.CopyFrom(ctx, a.ident, archiveColumns, src); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// lastSeqSQL reads the largest sequence number archived for a shard: a
// backward scan of the primary key that reads one entry. (Not max(seq):
// on a table without statistics the planner may aggregate over every row
// of the shard instead.)
func (a *Archive) lastSeqSQL() string {
	return `SELECT seq::text AS last_seq FROM ` + a.table + ` WHERE stream = $1 AND shard = $2 ORDER BY seq DESC LIMIT 1`
}

// upsertShardSQL records a shard in the catalog, keeping what an earlier
// delivery knew: a shard once closed stays closed, with its ending
// sequence number.
func (a *Archive) upsertShardSQL() string {
	return `INSERT INTO ` + a.shards + ` AS s (stream, shard, parent, adjacent_parent, starting_hash_key, ending_hash_key, starting_seq, closed, ending_seq)
VALUES ($1, $2, $3, $4, $5::text::numeric, $6::text::numeric, $7::text::numeric, $8, $9::text::numeric)
ON CONFLICT (stream, shard) DO UPDATE SET
	parent            = CASE WHEN excluded.parent <> '' THEN excluded.parent ELSE s.parent END,
	adjacent_parent   = CASE WHEN excluded.adjacent_parent <> '' THEN excluded.adjacent_parent ELSE s.adjacent_parent END,
	starting_hash_key = excluded.starting_hash_key,
	ending_hash_key   = excluded.ending_hash_key,
	starting_seq      = COALESCE(s.starting_seq, excluded.starting_seq),
	closed            = s.closed OR excluded.closed,
	ending_seq        = COALESCE(excluded.ending_seq, s.ending_seq),
	updated_at        = now()`
}

// CloseShard records in the shard catalog that shard of stream is closed,
// with its ending sequence number. It implements delivery.ShardCloser.
func (a *Archive) CloseShard(ctx context.Context, stream string, shard shardlog.Shard) error {
	b := &delivery.Batch{Source: stream, Shard: shard}
	if err := validateBatch(b); err != nil {
		return err
	}
	if _, err := a.pool.Exec(ctx, a.upsertShardSQL(), a.shardArgs(b)...); err != nil {
		return fmt.Errorf("pgarchive: record the end of %s/%s in %s: %w", stream, shard.ShardID, a.name, err)
	}
	return nil
}

var _ delivery.ShardCloser = (*Archive)(nil)

func (a *Archive) shardArgs(b *delivery.Batch) []any {
	sh := b.Shard
	var start, end pgtype.Text
	if !sh.StartingSequenceNumber.IsZero() {
		start = pgtype.Text{String: sh.StartingSequenceNumber.String(), Valid: true}
	}
	if sh.Closed && !sh.EndingSequenceNumber.IsZero() {
		end = pgtype.Text{String: sh.EndingSequenceNumber.String(), Valid: true}
	}
	return []any{b.Source, sh.ShardID, sh.ParentShardID, sh.AdjacentParentShardID,
		sh.HashKeyRange.StartingHashKey.String(), sh.HashKeyRange.EndingHashKey.String(), start, sh.Closed, end}
}

// insertMissing inserts the records b.Records[:n], all at or below the
// shard's largest archived sequence number, skipping those archived.
func (a *Archive) insertMissing(ctx context.Context, tx pgx.Tx, b *delivery.Batch, src *rowSource, n int) error {
	seqs := make([]string, n)
	keys := make([]string, n)
	arrivals := make([]time.Time, n)
	data := make([][]byte, n)
	streamIDs := make([]pgtype.Text, n)
	versions := make([]pgtype.Int8, n)
	types := make([]pgtype.Text, n)
	ids := make([]pgtype.UUID, n)
	for i, r := range b.Records[:n] {
		seqs[i] = r.SequenceNumber.String()
		keys[i] = r.PartitionKey
		arrivals[i] = r.ApproximateArrivalTimestamp
		data[i] = nonNil(r.Data)
		if ev := src.events; ev != nil {
			streamIDs[i], versions[i], types[i], ids[i] = ev[i].streamID, ev[i].version, ev[i].typ, ev[i].id
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+a.table+` (stream, shard, seq, partition_key, arrival, data, stream_id, version, type, event_id)
SELECT $1, $2, u.seq::numeric, u.partition_key, u.arrival, u.data, u.stream_id, u.version, u.type, u.event_id
FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::bytea[], $7::text[], $8::bigint[], $9::text[], $10::uuid[])
	AS u(seq, partition_key, arrival, data, stream_id, version, type, event_id)
ON CONFLICT (stream, shard, seq) DO NOTHING`,
		b.Source, b.Shard.ShardID, seqs, keys, arrivals, data, streamIDs, versions, types, ids)
	return err
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// eventColumns are a record's decoded event columns (all NULL for a
// record that is not an event).
type eventColumns struct {
	streamID pgtype.Text
	version  pgtype.Int8
	typ      pgtype.Text
	id       pgtype.UUID
}

// rowSource is a pgx.CopyFromSource over a batch's records from..to. It
// reuses one values slice: CopyFrom encodes a row before asking for the
// next.
type rowSource struct {
	b              *delivery.Batch
	events         []eventColumns // by record, when the archive decodes events
	stream, shard  any            // boxed once
	from, to, next int
	vals           []any
}

var _ pgx.CopyFromSource = (*rowSource)(nil)

// rows returns the copy source of b, decoding the event columns if the
// archive has an event store.
func (a *Archive) rows(b *delivery.Batch) *rowSource {
	src := &rowSource{b: b, stream: b.Source, shard: b.Shard.ShardID, vals: make([]any, len(archiveColumns))}
	if a.events != nil {
		src.events = make([]eventColumns, len(b.Records))
		for i, r := range b.Records {
			ev, err := a.events.DecodeRecord(r)
			if err != nil {
				continue // not an event of the store: the columns stay NULL
			}
			c := &src.events[i]
			c.streamID = pgtype.Text{String: ev.StreamID, Valid: true}
			if ev.Version <= math.MaxInt64 {
				c.version = pgtype.Int8{Int64: int64(ev.Version), Valid: true}
			}
			c.typ = pgtype.Text{String: ev.Type, Valid: true}
			c.id = pgtype.UUID{Bytes: ev.ID, Valid: true}
		}
	}
	return src
}

func (s *rowSource) reset(from, to int) { s.from, s.to, s.next = from, to, from }

// Next implements pgx.CopyFromSource.
func (s *rowSource) Next() bool {
	if s.next >= s.to {
		return false
	}
	s.next++
	return true
}

// Values implements pgx.CopyFromSource.
func (s *rowSource) Values() ([]any, error) {
	i := s.next - 1
	r := &s.b.Records[i]
	v := s.vals
	v[0], v[1] = s.stream, s.shard
	v[2] = numeric(r.SequenceNumber)
	v[3] = r.PartitionKey
	v[4] = r.ApproximateArrivalTimestamp
	v[5] = nonNil(r.Data)
	if s.events != nil {
		c := &s.events[i]
		v[6], v[7], v[8], v[9] = c.streamID, c.version, c.typ, c.id
	} else {
		v[6], v[7], v[8], v[9] = nil, nil, nil, nil
	}
	return v, nil
}

// Err implements pgx.CopyFromSource.
func (s *rowSource) Err() error { return nil }
