package kinesis

import (
	"net/http"
	"strings"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// dataPlane are the operations Kinesis throttles with
// ProvisionedThroughputExceededException.
var dataPlane = map[string]bool{
	"PutRecord":        true,
	"PutRecords":       true,
	"GetRecords":       true,
	"GetShardIterator": true,
}

// ThrottleType returns the exception Kinesis answers a request with when
// it is over a rate or capacity limit: ProvisionedThroughputExceededException
// for the data plane (PutRecord, PutRecords, GetRecords, GetShardIterator),
// LimitExceededException for everything else. The AWS SDKs retry both
// with backoff. It suits admission.WithThrottleType.
func ThrottleType(r *http.Request) string {
	prefix, op, _ := strings.Cut(awsproto.Target(r), ".")
	if prefix == TargetPrefix && dataPlane[op] {
		return errThroughputExceeded
	}
	return errLimitExceeded
}
