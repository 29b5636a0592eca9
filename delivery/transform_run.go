package delivery

import (
	"context"
	"time"
)

// runTransform runs t over b.Records with Firehose's contract: Ok records
// keep their place with the returned data, Dropped ones leave the batch,
// ProcessingFailed ones (and every record of an invocation that failed
// retries+1 times, or whose response broke the contract) are returned as
// failed records for the error output. backoff gives the wait before
// retry n (1-based). The error is only ctx's. TODO(keys): the contract.
func runTransform(ctx context.Context, t Transform, retries int, b *Batch, backoff func(attempt int) time.Duration) (failed []FailedRecord, err error) {
	return nil, ctx.Err()
}
