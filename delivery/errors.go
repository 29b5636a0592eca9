package delivery

import (
	"errors"
	"fmt"

	"github.com/shoal-dev/shoal/shardlog"
)

// More errors of the delivery stream (see also ErrInvalidSource and
// ErrServiceUnavailable).
var (
	// ErrRunning: Run was called on a Stream that already ran.
	ErrRunning = errors.New("delivery: a Stream runs once")
	// ErrNoErrorOutput: records failed (processing, or delivery past the
	// retry duration) and there is no error output to record them in; the
	// stream stops instead of dropping them.
	ErrNoErrorOutput = errors.New("delivery: records failed and there is no error output")
)

// DeliveryError is the error Run stops with when a batch could not be
// delivered: the destination refused it for the whole retry duration
// under RetryPolicy.OnExhausted = Stop, or its records could not be
// recorded in the error output. The source checkpoint stays before First,
// so a restart delivers the batch again.
type DeliveryError struct {
	DeliveryStream string
	ShardID        string
	First, Last    shardlog.SequenceNumber
	Attempts       int
	Err            error
}

// Error implements error.
func (e *DeliveryError) Error() string {
	return fmt.Sprintf("delivery %s: shard %s records %s-%s: after %d attempts: %v", e.DeliveryStream, e.ShardID, e.First, e.Last, e.Attempts, e.Err)
}

// Unwrap returns the destination's (or error output's) error.
func (e *DeliveryError) Unwrap() error { return e.Err }
