package pgarchive

import (
	"context"
	"fmt"
	"iter"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// ReadKey yields the archived records of in.PartitionKey in the shardlog
// stream in.StreamName with sequence numbers after in.After, oldest first.
// It implements eventstore.Archive.
//
// It reads the index on (stream, partition_key, seq) a page of PageSize
// rows at a time, each page starting after the last one's final sequence
// number, so its cost is proportional to the key's archived records and
// no connection is held while the consumer runs. Across a reshard the
// order is the log's: a child shard's sequence numbers exceed its
// parents'. Stopping the iteration early is fine.
func (a *Archive) ReadKey(ctx context.Context, in shardlog.ReadKeyInput) iter.Seq2[shardlog.Record, error] {
	return func(yield func(shardlog.Record, error) bool) {
		if err := required("StreamName", in.StreamName, "PartitionKey", in.PartitionKey); err != nil {
			yield(shardlog.Record{}, err)
			return
		}
		sql := a.readKeySQL()
		a.pages(ctx, yield, in.After, func(after shardlog.SequenceNumber) ([]shardlog.Record, error) {
			rows, err := a.pool.Query(ctx, sql, in.StreamName, in.PartitionKey, after.String())
			if err != nil {
				return nil, err
			}
			return collect(rows, func(r *shardlog.Record, seq *string, row pgx.CollectableRow) error {
				r.PartitionKey = in.PartitionKey
				return row.Scan(seq, &r.ApproximateArrivalTimestamp, &r.Data)
			})
		}, func(err error) error {
			return fmt.Errorf("pgarchive: read key %q of %s from %s: %w", in.PartitionKey, in.StreamName, a.name, err)
		})
	}
}

// ReadShard yields the archived records of one shard with sequence numbers
// after in.After (zero: from its first), oldest first, a page of PageSize
// rows at a time through the primary key. It implements
// eventstore.ShardArchive. Stopping the iteration early is fine.
func (a *Archive) ReadShard(ctx context.Context, in eventstore.ArchiveShardInput) iter.Seq2[shardlog.Record, error] {
	return func(yield func(shardlog.Record, error) bool) {
		if err := required("StreamName", in.StreamName, "ShardID", in.ShardID); err != nil {
			yield(shardlog.Record{}, err)
			return
		}
		sql := a.readShardSQL()
		a.pages(ctx, yield, in.After, func(after shardlog.SequenceNumber) ([]shardlog.Record, error) {
			rows, err := a.pool.Query(ctx, sql, in.StreamName, in.ShardID, after.String())
			if err != nil {
				return nil, err
			}
			return collect(rows, func(r *shardlog.Record, seq *string, row pgx.CollectableRow) error {
				return row.Scan(seq, &r.PartitionKey, &r.ApproximateArrivalTimestamp, &r.Data)
			})
		}, func(err error) error {
			return fmt.Errorf("pgarchive: read shard %s/%s from %s: %w", in.StreamName, in.ShardID, a.name, err)
		})
	}
}

// readKeySQL reads a page of a key's records: a range scan of the index
// on (stream, partition_key, seq) that stops after PageSize rows. The
// text form of seq has its own name: a bare "seq" in ORDER BY would name
// it, and sort the page as text after reading every row of the key.
func (a *Archive) readKeySQL() string {
	return `SELECT seq::text AS seq_text, arrival, data FROM ` + a.table + `
WHERE stream = $1 AND partition_key = $2 AND seq > $3::text::numeric
ORDER BY seq LIMIT ` + fmt.Sprint(PageSize+1)
}

// readShardSQL reads a page of a shard's records through the primary key.
func (a *Archive) readShardSQL() string {
	return `SELECT seq::text AS seq_text, partition_key, arrival, data FROM ` + a.table + `
WHERE stream = $1 AND shard = $2 AND seq > $3::text::numeric
ORDER BY seq LIMIT ` + fmt.Sprint(PageSize+1)
}

// pages runs page from after until a page says there is no more,
// yielding each record;
// the query and its rows are done before the consumer sees a record.
func (a *Archive) pages(ctx context.Context, yield func(shardlog.Record, error) bool, after shardlog.SequenceNumber,
	page func(after shardlog.SequenceNumber) ([]shardlog.Record, error), wrap func(error) error) {
	for {
		if err := ctx.Err(); err != nil {
			yield(shardlog.Record{}, wrap(err))
			return
		}
		recs, err := page(after)
		if err != nil {
			yield(shardlog.Record{}, wrap(err))
			return
		}
		// A page asks for one row more than it yields: a short page
		// ends the read without a last, empty query.
		more := len(recs) > PageSize
		if more {
			recs = recs[:PageSize]
		}
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
		if !more {
			return
		}
		after = recs[len(recs)-1].SequenceNumber
	}
}

// collect scans rows into records: scan fills all but the sequence
// number, which it scans as text into seq.
func collect(rows pgx.Rows, scan func(r *shardlog.Record, seq *string, row pgx.CollectableRow) error) ([]shardlog.Record, error) {
	var seq string
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (shardlog.Record, error) {
		var r shardlog.Record
		if err := scan(&r, &seq, row); err != nil {
			return r, err
		}
		sn, err := parseSeq("seq", seq)
		if err != nil {
			return r, err
		}
		r.SequenceNumber = sn
		r.ApproximateArrivalTimestamp = r.ApproximateArrivalTimestamp.UTC()
		if r.Data == nil {
			r.Data = []byte{}
		}
		return r, nil
	})
}

// ArchivedShards lists the shards of stream that the archive holds
// records of (or that a delivery named, even with no records), in shard
// ID order, with their lineage, hash-key ranges and, for shards delivered
// as closed, Closed and EndingSequenceNumber. It implements
// eventstore.ShardArchive.
func (a *Archive) ArchivedShards(ctx context.Context, stream string) ([]shardlog.Shard, error) {
	if stream == "" {
		return nil, &shardlog.ArgumentError{Field: "StreamName", Reason: "must not be empty"}
	}
	rows, err := a.pool.Query(ctx, `SELECT shard, parent, adjacent_parent, starting_hash_key::text, ending_hash_key::text,
	starting_seq::text, closed, ending_seq::text
FROM `+a.shards+` WHERE stream = $1 ORDER BY shard`, stream)
	if err != nil {
		return nil, fmt.Errorf("pgarchive: archived shards of %s in %s: %w", stream, a.name, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (shardlog.Shard, error) {
		var (
			sh               shardlog.Shard
			startKey, endKey string
			startSeq, endSeq pgtype.Text
		)
		if err := row.Scan(&sh.ShardID, &sh.ParentShardID, &sh.AdjacentParentShardID, &startKey, &endKey, &startSeq, &sh.Closed, &endSeq); err != nil {
			return sh, err
		}
		if err := sh.HashKeyRange.StartingHashKey.UnmarshalText([]byte(startKey)); err != nil {
			return sh, err
		}
		if err := sh.HashKeyRange.EndingHashKey.UnmarshalText([]byte(endKey)); err != nil {
			return sh, err
		}
		var err error
		if startSeq.Valid {
			if sh.StartingSequenceNumber, err = parseSeq("starting_seq", startSeq.String); err != nil {
				return sh, err
			}
		}
		if endSeq.Valid {
			if sh.EndingSequenceNumber, err = parseSeq("ending_seq", endSeq.String); err != nil {
				return sh, err
			}
		}
		return sh, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgarchive: archived shards of %s in %s: %w", stream, a.name, err)
	}
	return out, nil
}

// required returns an *shardlog.ArgumentError for the first empty value
// of the (field, value) pairs.
func required(fieldsAndValues ...string) error {
	for i := 0; i+1 < len(fieldsAndValues); i += 2 {
		if fieldsAndValues[i+1] == "" {
			return &shardlog.ArgumentError{Field: fieldsAndValues[i], Reason: "must not be empty"}
		}
	}
	return nil
}
