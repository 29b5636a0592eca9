package shardlog

import (
	"fmt"
	"time"
)

// SequenceNumber identifies a record within a stream. Its decimal form (at
// most 29 digits) is what Kinesis clients see; in Go it is a comparable value.
//
// Encoding: the value is position·2^32 + shardIndex, where shardIndex is the
// number in the shard's ID ("shardId-000000000007" → 7) and position is the
// shard's sequencer position. Positions are assigned by the shard's single
// sequencer as max(previous+1, floor+1, arrival time in Unix microseconds),
// where floor is the largest position of the shard's parents. Hence:
//
//   - within a shard, numbers strictly increase in storage order;
//   - numbers are unique across the stream (the low 32 bits name the shard);
//   - a child shard's first number is greater than every number in its
//     parents (its positions start above their largest);
//   - across shards, numbers roughly follow arrival time, as in Kinesis,
//     though nothing may rely on order across shards.
//
// The zero SequenceNumber is no record: "before the first record" in
// positions and "the key has no records" in AppendKey expectations.
type SequenceNumber struct {
	pos   uint64
	shard uint32
}

// MakeSequenceNumber builds a sequence number from a shard sequencer
// position and a shard index. Engines use it to rebuild numbers they stored.
func MakeSequenceNumber(position uint64, shardIndex uint32) SequenceNumber {
	return SequenceNumber{pos: position, shard: shardIndex}
}

// ParseSequenceNumber parses the decimal form. It accepts only numbers this
// package can have produced; anything else is an *ArgumentError naming field.
func ParseSequenceNumber(field, s string) (SequenceNumber, error) {
	if len(s) > 129 {
		return SequenceNumber{}, invalid(field, "length %d exceeds 129 digits", len(s))
	}
	v, ok := parseUint128(s)
	if !ok || v.hi>>32 != 0 {
		return SequenceNumber{}, invalid(field, "%q is not a sequence number of this log", truncate(s, 64))
	}
	return SequenceNumber{pos: v.hi<<32 | v.lo>>32, shard: uint32(v.lo)}, nil
}

func (s SequenceNumber) u128() uint128 {
	return uint128{hi: s.pos >> 32, lo: s.pos<<32 | uint64(s.shard)}
}

// String returns the decimal form.
func (s SequenceNumber) String() string { return s.u128().String() }

// IsZero reports whether s is the zero value (no record).
func (s SequenceNumber) IsZero() bool { return s.pos == 0 && s.shard == 0 }

// Position returns the shard sequencer position encoded in s.
func (s SequenceNumber) Position() uint64 { return s.pos }

// ShardIndex returns the index of the shard that assigned s.
func (s SequenceNumber) ShardIndex() uint32 { return s.shard }

// ShardID returns the ID of the shard that assigned s.
func (s SequenceNumber) ShardID() string { return shardID(s.shard) }

// Compare compares two sequence numbers as integers: -1, 0 or +1.
func (s SequenceNumber) Compare(o SequenceNumber) int { return s.u128().cmp(o.u128()) }

// Next returns the smallest sequence number of the same shard after s.
func (s SequenceNumber) Next() SequenceNumber { return SequenceNumber{pos: s.pos + 1, shard: s.shard} }

// MarshalText encodes the decimal form.
func (s SequenceNumber) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes the decimal form.
func (s *SequenceNumber) UnmarshalText(b []byte) error {
	v, err := ParseSequenceNumber("SequenceNumber", string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// CompareSequenceNumbers compares two decimal sequence numbers as integers,
// the way Kinesis asks clients to compare them. It returns an error if
// either is not a decimal integer.
func CompareSequenceNumbers(a, b string) (int, error) {
	x, ok1 := parseUint128(a)
	y, ok2 := parseUint128(b)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("%w: sequence numbers must be decimal integers", ErrInvalidArgument)
	}
	return x.cmp(y), nil
}

// Sequencer assigns sequence numbers and arrival times for one shard. An
// engine keeps one per open shard and calls Next under the shard's write
// lock, so the encoding above lives here, once, for every engine.
type Sequencer struct {
	shard       uint32
	last        uint64    // last assigned position (or the floor)
	lastArrival time.Time // arrival time of the last record
}

// NewSequencer returns the sequencer of shard index. floor is the shard's
// position floor (ShardMeta.Floor); lastPos and lastArrival are those of its
// last stored record (zero for an empty shard). An engine passes each
// append's ShardRef.Floor to Next as well: it may be raised for one append
// (SequenceNumberForOrdering).
func NewSequencer(shardIndex uint32, floor, lastPos uint64, lastArrival time.Time) *Sequencer {
	return &Sequencer{shard: shardIndex, last: max(floor, lastPos), lastArrival: lastArrival}
}

// Next reserves n consecutive positions for a batch that arrives at now and
// returns the first sequence number and the batch's arrival time. Every
// position is greater than floor (ShardRef.Floor of the append). Arrival
// times never go backwards within a shard, so time seeks can bisect.
func (q *Sequencer) Next(n int, now time.Time, floor uint64) (first SequenceNumber, arrival time.Time) {
	// Compare and keep wall-clock times: two readings of time.Now compare
	// by the monotonic clock, which keeps going forward when the system
	// clock is set back, and the stored arrival would then go backwards.
	now = now.Round(0)
	if now.Before(q.lastArrival) {
		now = q.lastArrival
	}
	pos := max(q.last, floor) + 1
	if us := now.UnixMicro(); us > 0 && uint64(us) > pos {
		pos = uint64(us)
	}
	q.last = pos + uint64(n) - 1
	q.lastArrival = now
	return SequenceNumber{pos: pos, shard: q.shard}, now
}

// Last returns the last assigned position.
func (q *Sequencer) Last() uint64 { return q.last }

// nth returns the sequence number i places after first in one batch.
func nth(first SequenceNumber, i int) SequenceNumber {
	return SequenceNumber{pos: first.pos + uint64(i), shard: first.shard}
}
