package shardlog

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// HashKey is a point in the 128-bit hash-key space [0, 2^128-1] that shards
// divide among themselves. A record's hash key is the MD5 digest of its
// partition key's UTF-8 bytes read as an unsigned big-endian integer, unless
// the producer gives an explicit hash key.
type HashKey struct{ v uint128 }

// MinHashKey and MaxHashKey bound the hash-key space.
var (
	MinHashKey = HashKey{}
	MaxHashKey = HashKey{maxUint128}
)

// HashPartitionKey returns the hash key Kinesis assigns to a partition key:
// MD5 over its UTF-8 bytes, read as an unsigned big-endian 128-bit integer.
func HashPartitionKey(partitionKey string) HashKey {
	sum := md5.Sum([]byte(partitionKey))
	return HashKey{uint128{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}}
}

// ParseHashKey parses a decimal hash key in [0, 2^128-1], the form of
// ExplicitHashKey and of shard hash-key ranges.
func ParseHashKey(s string) (HashKey, error) {
	v, ok := parseUint128(s)
	if !ok {
		return HashKey{}, invalid("ExplicitHashKey", "%q is not a decimal integer in [0, 2^128-1]", truncate(s, 64))
	}
	return HashKey{v}, nil
}

// String returns the decimal form.
func (h HashKey) String() string { return h.v.String() }

// Compare returns -1, 0 or +1 as h is less than, equal to or greater than o.
func (h HashKey) Compare(o HashKey) int { return h.v.cmp(o.v) }

// MarshalText encodes the key in decimal.
func (h HashKey) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes a decimal key.
func (h *HashKey) UnmarshalText(b []byte) error {
	v, ok := parseUint128(string(b))
	if !ok {
		return fmt.Errorf("shardlog: bad hash key %q", truncate(string(b), 64))
	}
	h.v = v
	return nil
}

// HashKeyRange is an inclusive range of hash keys owned by a shard.
type HashKeyRange struct {
	StartingHashKey HashKey
	EndingHashKey   HashKey
}

// Contains reports whether k lies in the range.
func (r HashKeyRange) Contains(k HashKey) bool {
	return r.StartingHashKey.Compare(k) <= 0 && k.Compare(r.EndingHashKey) <= 0
}

// evenRanges splits the hash-key space into n ranges as CreateStream does:
// range i is [i*floor(2^128/n), (i+1)*floor(2^128/n)-1], and the last range
// ends at 2^128-1.
func evenRanges(n int) []HashKeyRange {
	// floor(2^128/n) = floor((2^128-1)/n) unless n divides 2^128, i.e. n is a
	// power of two, where it is one more.
	width, rem := maxUint128.divmod64(uint64(n))
	if rem == uint64(n)-1 {
		width = width.add64(1)
	}
	out := make([]HashKeyRange, n)
	start := uint128{}
	for i := range n {
		end := start.add(width).sub64(1)
		if i == n-1 {
			end = maxUint128
		}
		out[i] = HashKeyRange{HashKey{start}, HashKey{end}}
		start = end.add64(1)
	}
	return out
}

// partitionKeyLen counts a partition key's length in Unicode code points,
// the unit of Kinesis's 1-256 limit.
func partitionKeyLen(k string) int { return utf8.RuneCountInString(k) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
