package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// minInflightBytes is the least --max-inflight-bytes: the largest request
// body and the largest GetRecords response (10 MiB of records and twice
// their base64 encoding, about 37 MiB) must each fit.
const minInflightBytes = 64 << 20

// checkLimits returns what is wrong with the admission and clock-skew
// flags of opts, "" if nothing.
func checkLimits(opts serveOptions) string {
	switch {
	case opts.MaxInflightRequests < 1:
		return fmt.Sprintf("--max-inflight-requests must be at least 1, got %d", opts.MaxInflightRequests)
	case opts.MaxInflightBytes < minInflightBytes:
		return fmt.Sprintf("--max-inflight-bytes must be at least %s (the largest body is %s and the largest GetRecords response takes about 37MiB), got %d",
			byteSize(minInflightBytes), byteSize(awsproto.MaxBodySize), opts.MaxInflightBytes)
	case opts.BodyTimeout <= 0:
		return fmt.Sprintf("--body-timeout must be positive, got %s", opts.BodyTimeout)
	case opts.BodyRateGrace <= 0:
		return fmt.Sprintf("--body-rate-grace must be positive, got %s", opts.BodyRateGrace)
	case opts.MaxClockSkew <= 0:
		return fmt.Sprintf("--max-clock-skew must be positive, got %s", opts.MaxClockSkew)
	}
	return ""
}

// byteSize is a flag.Value of a size in bytes: a whole number, with an
// optional suffix KiB, MiB or GiB.
type byteSize int64

var sizeSuffixes = []struct {
	suffix string
	shift  uint
}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}}

// String implements flag.Value.
func (b byteSize) String() string {
	for _, s := range sizeSuffixes {
		if b > 0 && b%(1<<s.shift) == 0 {
			return strconv.FormatInt(int64(b)>>s.shift, 10) + s.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// Set implements flag.Value.
func (b *byteSize) Set(v string) error {
	num, shift := v, uint(0)
	for _, s := range sizeSuffixes {
		if n, ok := strings.CutSuffix(v, s.suffix); ok {
			num, shift = n, s.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return fmt.Errorf("want a number of bytes, optionally with KiB, MiB or GiB, got %q", v)
	}
	*b = byteSize(n << shift)
	return nil
}
