// Package sdktest holds what the tests that drive Shoal's servers through
// the AWS SDK for Go v2 share.
package sdktest

import (
	"errors"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Retryer returns the retryer of SDK clients in tests: it retries (up to 3
// attempts, without backoff) only a call whose connection the client's own
// transport closed under it, and nothing the server answered, so that tests
// see every error the server returns (throttling included) at once.
//
// Such a close is a client-side race in net/http's transport as the SDK
// drives it ("https response error StatusCode: 200 ... deserialization
// failed ... use of closed network connection", aws/aws-sdk-go-v2#2737):
// the server answered 200, and the SDK's standard retryer retries it for
// the same reason (aws/aws-sdk-go-v2#2949). Without this, roughly one test
// run in ten failed on it after a large GetRecords response.
func Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.RateLimiter = ratelimit.None
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, net.ErrClosed) {
				return aws.TrueTernary
			}
			return aws.FalseTernary
		})}
	})
}
