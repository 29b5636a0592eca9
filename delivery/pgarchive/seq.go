package pgarchive

import (
	"math/big"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shoal-dev/shoal/shardlog"
)

// numeric returns s as a PostgreSQL numeric, for CopyFrom (whose binary
// format takes no text). A sequence number is position·2^32 + shard index.
func numeric(s shardlog.SequenceNumber) pgtype.Numeric {
	pos := s.Position()
	hi, lo := pos>>32, pos<<32|uint64(s.ShardIndex())
	var n big.Int
	if hi == 0 {
		n.SetUint64(lo)
	} else {
		n.SetUint64(hi)
		n.Lsh(&n, 64)
		n.Or(&n, new(big.Int).SetUint64(lo))
	}
	return pgtype.Numeric{Int: &n, Valid: true}
}

// parseSeq parses a sequence number the database returned as text.
func parseSeq(field, s string) (shardlog.SequenceNumber, error) {
	return shardlog.ParseSequenceNumber(field, s)
}
