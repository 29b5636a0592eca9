package projection

import (
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// CheckLeaseArgs validates the owner and TTL a LeaseStore is given, so
// every store refuses them with the same *shardlog.ArgumentError.
func CheckLeaseArgs(owner string, ttl time.Duration) error {
	if owner == "" {
		return &shardlog.ArgumentError{Field: "owner", Reason: "must not be empty"}
	}
	if ttl <= 0 {
		return &shardlog.ArgumentError{Field: "ttl", Reason: fmt.Sprintf("%s must be positive", ttl)}
	}
	return nil
}
