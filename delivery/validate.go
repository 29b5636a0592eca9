package delivery

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// The limits New checks a Config against.
const (
	MaxNameLength        = 64
	MinBufferSizeMiB     = 1
	MaxBufferSizeMiB     = 128
	DefaultBufferSizeMiB = 5
	MaxBufferInterval    = 900 * time.Second
	DefaultInterval      = 300 * time.Second
	MaxRetryDuration     = 24 * time.Hour
	DefaultRetryDuration = 24 * time.Hour
	MaxTransformRetries  = 300
	DefaultTransformTry  = 3
	MinLeaseTTL          = 30 * time.Millisecond
	DefaultLeaseTTL      = 10 * time.Second
	DefaultShutdown      = 30 * time.Second
	DefaultRelist        = 10 * time.Second
)

// badConfig is the error New returns for a field that breaks a rule.
func badConfig(field, format string, args ...any) error {
	return &shardlog.ArgumentError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// validName reports whether name is 1-64 characters of [a-zA-Z0-9_.-].
func validName(name string) bool {
	if len(name) < 1 || len(name) > MaxNameLength {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if !validName(c.Name) {
		return c, badConfig("Name", "%q must be 1-%d characters of [a-zA-Z0-9_.-]", clipName(c.Name, 80), MaxNameLength)
	}
	if c.Version < 0 {
		return c, badConfig("Version", "%d is negative", c.Version)
	}
	if c.Version == 0 {
		c.Version = 1
	}
	if err := c.Source.withDefaults(); err != nil {
		return c, err
	}
	b := &c.Buffering
	if b.SizeMiB == 0 {
		b.SizeMiB = DefaultBufferSizeMiB
	}
	if b.SizeMiB < MinBufferSizeMiB || b.SizeMiB > MaxBufferSizeMiB {
		return c, badConfig("Buffering.SizeMiB", "%d is outside %d-%d", b.SizeMiB, MinBufferSizeMiB, MaxBufferSizeMiB)
	}
	if b.Interval == 0 && !b.IntervalSet {
		b.Interval = DefaultInterval
	}
	b.IntervalSet = true
	if b.Interval < 0 || b.Interval > MaxBufferInterval {
		return c, badConfig("Buffering.Interval", "%s is outside 0-%s", b.Interval, MaxBufferInterval)
	}
	if c.TransformRetries == 0 {
		c.TransformRetries = DefaultTransformTry
	}
	if c.TransformRetries < 0 {
		c.TransformRetries = 0
	}
	if c.TransformRetries > MaxTransformRetries {
		return c, badConfig("TransformRetries", "%d exceeds the maximum of %d", c.TransformRetries, MaxTransformRetries)
	}
	if c.Destination == nil {
		return c, badConfig("Destination", "is required")
	}
	r := &c.Retry
	if r.Duration == 0 {
		r.Duration = DefaultRetryDuration
	}
	if r.Duration > MaxRetryDuration {
		return c, badConfig("Retry.Duration", "%s exceeds the maximum of %s", r.Duration, MaxRetryDuration)
	}
	if r.MinBackoff < 0 {
		return c, badConfig("Retry.MinBackoff", "%s is negative", r.MinBackoff)
	}
	if r.MaxBackoff < 0 {
		return c, badConfig("Retry.MaxBackoff", "%s is negative", r.MaxBackoff)
	}
	if r.MinBackoff == 0 {
		r.MinBackoff = time.Second
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = max(time.Minute, r.MinBackoff)
	}
	if r.MaxBackoff < r.MinBackoff {
		return c, badConfig("Retry.MaxBackoff", "%s is below Retry.MinBackoff (%s)", r.MaxBackoff, r.MinBackoff)
	}
	if r.OnExhausted != ToErrorOutput && r.OnExhausted != Stop {
		return c, badConfig("Retry.OnExhausted", "%d is neither ToErrorOutput (0) nor Stop (1)", r.OnExhausted)
	}
	if c.ShutdownTimeout < 0 {
		return c, badConfig("ShutdownTimeout", "%s is negative", c.ShutdownTimeout)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdown
	}
	if c.RelistInterval < 0 {
		return c, badConfig("RelistInterval", "%s is negative", c.RelistInterval)
	}
	if c.RelistInterval == 0 {
		c.RelistInterval = DefaultRelist
	}
	if c.ErrorOutput == nil {
		if eo, ok := c.Destination.(ErrorOutput); ok {
			c.ErrorOutput = eo
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// withDefaults validates the source and fills its zero fields.
func (s *Source) withDefaults() error {
	if s.Log == nil {
		return badConfig("Source.Log", "is required")
	}
	if s.StreamName == "" {
		return badConfig("Source.StreamName", "is required")
	}
	if s.Checkpoints == nil {
		if s.Owner != "" {
			return badConfig("Source.Checkpoints", "is required with Source.Owner: a projection.SharedStore")
		}
		s.Checkpoints = projection.NewMemoryStore()
	}
	if s.Owner != "" {
		if _, ok := s.Checkpoints.(projection.SharedStore); !ok {
			return badConfig("Source.Checkpoints", "%T keeps no leases: with Source.Owner set, use a projection.SharedStore", s.Checkpoints)
		}
	}
	if s.LeaseTTL == 0 {
		s.LeaseTTL = DefaultLeaseTTL
	}
	if s.LeaseTTL < MinLeaseTTL {
		return badConfig("Source.LeaseTTL", "%s is below the minimum of %s", s.LeaseTTL, MinLeaseTTL)
	}
	return nil
}

func clipName(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
