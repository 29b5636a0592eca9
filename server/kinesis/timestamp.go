package kinesis

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// epoch is a timestamp on the wire: in JSON 1.1, seconds since the Unix
// epoch as a number with millisecond precision, e.g. 1545084650.987; in
// CBOR 1.1, milliseconds since the epoch as an integer.
type epoch time.Time

// maxEpochSeconds bounds accepted timestamps (about the year 5138), so that
// converting to milliseconds cannot overflow.
const maxEpochSeconds = 1e11

// MarshalJSON encodes the time as epoch seconds with three decimals.
func (e epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', 3, 64), nil
}

// UnmarshalJSON decodes epoch seconds, rounded to the millisecond.
func (e *epoch) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("timestamp %.32q is not a number of epoch seconds", b)
	}
	if math.IsNaN(f) || math.Abs(f) > maxEpochSeconds {
		return fmt.Errorf("timestamp %s is out of range", b)
	}
	*e = epoch(time.UnixMilli(int64(math.Round(f * 1000))))
	return nil
}

// MarshalCBOR encodes the time as an integer of epoch milliseconds, as
// AWS CBOR 1.1 does (and kinesis-mock), untagged.
func (e epoch) MarshalCBOR() ([]byte, error) {
	return cbor.Marshal(time.Time(e).UnixMilli())
}

// UnmarshalCBOR decodes a CBOR 1.1 timestamp. An integer is epoch
// milliseconds. The AWS Java SDK writes one under tag 1 (which RFC 8949
// defines as seconds, but the SDK fills with milliseconds), so tag 1 is
// peeled off and its integer read as milliseconds too. A float, which
// the SDKs do not send, is read liberally: as seconds if its magnitude
// is below 1e11 (the year 5138 in seconds, 1973 in milliseconds), else
// as milliseconds. Null leaves e unchanged.
func (e *epoch) UnmarshalCBOR(b []byte) error {
	if len(b) > 0 && b[0]>>5 == 6 { // major type 6: a tag
		var tag cbor.RawTag
		if err := cbor.Unmarshal(b, &tag); err != nil {
			return err
		}
		if tag.Number != 1 {
			return fmt.Errorf("timestamp has CBOR tag %d, not 1 (epoch time)", tag.Number)
		}
		b = tag.Content
	}
	if len(b) == 0 {
		return fmt.Errorf("timestamp is empty")
	}
	var ms float64
	switch major := b[0] >> 5; {
	case major == 0 || major == 1: // unsigned or negative integer
		var n int64
		if err := cbor.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("timestamp is not an integer of epoch milliseconds: %w", err)
		}
		if n > maxEpochSeconds*1000 || n < -maxEpochSeconds*1000 {
			return fmt.Errorf("timestamp %d is out of range", n)
		}
		*e = epoch(time.UnixMilli(n))
		return nil
	case b[0] == 0xf6 || b[0] == 0xf7: // null, undefined
		return nil
	case major == 7:
		var f float64
		if err := cbor.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("timestamp is not a number of epoch milliseconds: %w", err)
		}
		ms = f
		if math.Abs(f) < maxEpochSeconds {
			ms = f * 1000
		}
	default:
		return fmt.Errorf("timestamp is not a number of epoch milliseconds (CBOR major type %d)", major)
	}
	if math.IsNaN(ms) || math.Abs(ms) > maxEpochSeconds*1000 {
		return fmt.Errorf("timestamp %v is out of range", ms)
	}
	*e = epoch(time.UnixMilli(int64(math.Round(ms))))
	return nil
}

// timeOf returns the time of p, or the zero time if p is nil.
func timeOf(p *epoch) time.Time {
	if p == nil {
		return time.Time{}
	}
	return time.Time(*p)
}
