package admission

import (
	"net/http"
	"sync"
	"time"
)

// Defaults of a Controller.
const (
	// DefaultMaxRequests is the default limit on requests in flight. A
	// request mostly waits on the disk or the network, not on a CPU, so
	// the limit is a fixed number rather than a multiple of GOMAXPROCS:
	// enough for many concurrent producers and consumers, and small
	// enough that their bodies fit the byte budget.
	DefaultMaxRequests = 256
	// DefaultBodyTimeout is how long a request body may take to arrive.
	DefaultBodyTimeout = time.Minute
	// DefaultMinBodyRate is the least average rate, in bytes a second, at
	// which a request body must arrive once DefaultBodyRateGrace has
	// passed: 64 KiB/s (512 kbit/s), a sixteenth of a 1 MiB/s uplink.
	DefaultMinBodyRate = 64 << 10
	// DefaultBodyRateGrace is the time a request body may take before
	// DefaultMinBodyRate applies: enough for a slow start, a lost packet
	// or two and a distant client.
	DefaultBodyRateGrace = 5 * time.Second
	// MinDefaultMaxBytes and MaxDefaultMaxBytes clamp the default byte
	// budget (see DefaultMaxBytes).
	MinDefaultMaxBytes = 64 << 20
	MaxDefaultMaxBytes = 1 << 30
	// pieceSize is how much of a body without a Content-Length is
	// reserved at a time.
	pieceSize = 64 << 10
)

// RequestTimeout is the exception of a body that did not arrive within
// the body timeout (the name AWS uses; the SDKs retry it).
const RequestTimeout = "RequestTimeout"

// DefaultThrottleType is the exception of a refusal when WithThrottleType
// is not given.
const DefaultThrottleType = "ThrottlingException"

// DefaultMaxBytes returns the default byte budget: a quarter of the
// memory the process may use (the cgroup's memory limit or GOMEMLIMIT if
// set and lower, else the physical memory), clamped to
// MinDefaultMaxBytes-MaxDefaultMaxBytes. A decoded body adds its data to
// what is counted, and the garbage collector lets the heap grow to twice
// what is live, so a quarter keeps the process well within its memory.
func DefaultMaxBytes() int64 {
	m := memoryLimit()
	if m <= 0 {
		return MinDefaultMaxBytes * 4
	}
	return min(max(m/4, MinDefaultMaxBytes), MaxDefaultMaxBytes)
}

// Option configures a Controller.
type Option func(*Controller)

// WithMaxRequests sets the limit on requests in flight; n <= 0 means
// DefaultMaxRequests.
func WithMaxRequests(n int) Option {
	return func(c *Controller) {
		if n > 0 {
			c.maxRequests = int64(n)
		}
	}
}

// WithMaxBytes sets the byte budget: the request bodies and reserved
// response bytes in flight. n <= 0 means DefaultMaxBytes().
func WithMaxBytes(n int64) Option {
	return func(c *Controller) {
		if n > 0 {
			c.maxBytes = n
		}
	}
}

// WithBodyTimeout sets how long a request body may take to arrive, from
// the moment its handler starts; d <= 0 means DefaultBodyTimeout.
func WithBodyTimeout(d time.Duration) Option {
	return func(c *Controller) {
		if d > 0 {
			c.bodyTimeout = d
		}
	}
}

// WithMinBodyRate sets the least average rate, in bytes a second, at
// which a request body must arrive after the grace period: from the
// handler's start, a body must have delivered at least
// rate × (elapsed − grace) bytes, or it is refused with RequestTimeout
// (and, on HTTP/1, its connection closed). A body that arrives faster
// earns time for a later stall. rate 0 turns the check off (the body
// timeout still applies); rate < 0 or grace < 0 means the default
// (DefaultMinBodyRate, DefaultBodyRateGrace).
func WithMinBodyRate(rate int64, grace time.Duration) Option {
	return func(c *Controller) {
		if rate >= 0 {
			c.minRate = rate
		}
		if grace >= 0 {
			c.rateGrace = grace
		}
	}
}

// WithMaxBodySize sets the size above which a body's Content-Length is
// not reserved: the handler is expected to refuse such a body unread
// (awsproto does), and a body read anyway is reserved in pieces. n <= 0
// means no such size.
func WithMaxBodySize(n int64) Option {
	return func(c *Controller) { c.maxBody = n }
}

// WithThrottleType sets the exception name of a refusal for a request, so
// that a service answers as it would when overloaded (Kinesis:
// ProvisionedThroughputExceededException on its data plane,
// LimitExceededException on its control plane). Default:
// DefaultThrottleType.
func WithThrottleType(f func(r *http.Request) string) Option {
	return func(c *Controller) { c.throttleType = f }
}

// Controller admits requests within a limit on requests in flight and a
// byte budget. It is safe for concurrent use.
type Controller struct {
	maxRequests  int64
	maxBytes     int64
	maxBody      int64
	bodyTimeout  time.Duration
	minRate      int64 // bytes a second; 0: no minimum
	rateGrace    time.Duration
	throttleType func(r *http.Request) string

	mu       sync.Mutex
	requests int64
	bytes    int64
	stats    Stats
}

// Stats are a Controller's counters.
type Stats struct {
	// Requests and Bytes are in flight now.
	Requests, Bytes int64
	// PeakRequests and PeakBytes are the most ever in flight at once.
	PeakRequests, PeakBytes int64
	// Refused counts the requests refused for want of a slot or of bytes.
	Refused int64
	// TimedOut counts the bodies that did not arrive in time: within the
	// body timeout, or at the minimum rate (TooSlow of them).
	TimedOut int64
	// TooSlow counts the bodies refused for arriving below the minimum
	// rate.
	TooSlow int64
}

// New returns a Controller.
func New(opts ...Option) *Controller {
	c := &Controller{maxRequests: DefaultMaxRequests, bodyTimeout: DefaultBodyTimeout,
		minRate: DefaultMinBodyRate, rateGrace: DefaultBodyRateGrace}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxBytes()
	}
	return c
}

// MaxRequests returns the limit on requests in flight.
func (c *Controller) MaxRequests() int { return int(c.maxRequests) }

// MaxBytes returns the byte budget.
func (c *Controller) MaxBytes() int64 { return c.maxBytes }

// BodyTimeout returns how long a request body may take to arrive.
func (c *Controller) BodyTimeout() time.Duration { return c.bodyTimeout }

// MinBodyRate returns the least average rate of a request body, in bytes
// a second (0: none), and the grace period before it applies.
func (c *Controller) MinBodyRate() (int64, time.Duration) { return c.minRate, c.rateGrace }

// Stats returns the Controller's counters.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Requests, s.Bytes = c.requests, c.bytes
	return s
}

// acquire takes a request slot, or reports false (and counts a refusal).
func (c *Controller) acquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.requests >= c.maxRequests {
		c.stats.Refused++
		return false
	}
	c.requests++
	c.stats.PeakRequests = max(c.stats.PeakRequests, c.requests)
	return true
}

func (c *Controller) releaseSlot() {
	c.mu.Lock()
	c.requests--
	c.mu.Unlock()
}

// reserve takes n bytes of the budget, or reports false (and counts a
// refusal if refusal is set).
func (c *Controller) reserve(n int64, refusal bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > c.maxBytes-c.bytes {
		if refusal {
			c.stats.Refused++
		}
		return false
	}
	c.bytes += n
	c.stats.PeakBytes = max(c.stats.PeakBytes, c.bytes)
	return true
}

func (c *Controller) release(n int64) {
	c.mu.Lock()
	c.bytes -= n
	c.mu.Unlock()
}

func (c *Controller) timedOut(tooSlow bool) {
	c.mu.Lock()
	c.stats.TimedOut++
	if tooSlow {
		c.stats.TooSlow++
	}
	c.mu.Unlock()
}
