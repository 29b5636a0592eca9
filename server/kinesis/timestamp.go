package kinesis

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// epoch is a timestamp on the wire: seconds since the Unix epoch as a JSON
// number with millisecond precision, e.g. 1545084650.987.
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

// timeOf returns the time of p, or the zero time if p is nil.
func timeOf(p *epoch) time.Time {
	if p == nil {
		return time.Time{}
	}
	return time.Time(*p)
}
