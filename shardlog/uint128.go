package shardlog

import (
	"math/bits"
	"strconv"
)

// uint128 is an unsigned 128-bit integer. Hash keys and sequence numbers are
// both 128-bit values written as decimal strings on the wire.
type uint128 struct{ hi, lo uint64 }

var maxUint128 = uint128{^uint64(0), ^uint64(0)}

func (a uint128) cmp(b uint128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a uint128) add64(n uint64) uint128 {
	lo, carry := bits.Add64(a.lo, n, 0)
	return uint128{a.hi + carry, lo}
}

func (a uint128) sub64(n uint64) uint128 {
	lo, borrow := bits.Sub64(a.lo, n, 0)
	return uint128{a.hi - borrow, lo}
}

func (a uint128) add(b uint128) uint128 {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	return uint128{a.hi + b.hi + carry, lo}
}

// mul64 returns a*n, and false if it overflows 128 bits.
func (a uint128) mul64(n uint64) (uint128, bool) {
	hh, hl := bits.Mul64(a.hi, n)
	lh, ll := bits.Mul64(a.lo, n)
	hi, carry := bits.Add64(hl, lh, 0)
	return uint128{hi, ll}, hh == 0 && carry == 0
}

// divmod64 returns a/n and a%n.
func (a uint128) divmod64(n uint64) (uint128, uint64) {
	qhi, r := a.hi/n, a.hi%n
	qlo, r := bits.Div64(r, a.lo, n)
	return uint128{qhi, qlo}, r
}

const pow10e19 = 10_000_000_000_000_000_000

func (a uint128) String() string {
	if a.hi == 0 {
		return strconv.FormatUint(a.lo, 10)
	}
	q, r := a.divmod64(pow10e19)
	tail := strconv.FormatUint(r, 10)
	pad := "0000000000000000000"[:19-len(tail)]
	return q.String() + pad + tail
}

// parseUint128 parses a canonical decimal string: digits only, no sign, no
// leading zeros (except "0" itself), at most 2^128-1.
func parseUint128(s string) (uint128, bool) {
	if s == "" || len(s) > 39 || (len(s) > 1 && s[0] == '0') {
		return uint128{}, false
	}
	var v uint128
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return uint128{}, false
		}
		m, ok := v.mul64(10)
		if !ok {
			return uint128{}, false
		}
		n := m.add64(uint64(c - '0'))
		if n.cmp(m) < 0 { // wrapped
			return uint128{}, false
		}
		v = n
	}
	return v, true
}
