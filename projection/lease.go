package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// Lease gives one owner (a runner instance) the right to process one shard
// for one projection until it expires. Token grows by one every time the
// lease changes hands; checkpoint writes carry it as a fencing token.
type Lease struct {
	Projection string
	Shard      string
	Owner      string // empty once released
	Token      uint64
	// Expired is whether the lease had expired (or was released) when the
	// store listed it, judged by the store's own clock.
	Expired bool
}

// LeaseStore keeps leases, KCL-style, and the list of live instances that
// balancing divides the shards among. Expiry is judged by the store's clock
// (the database's, Redis's), so instances need not agree on the time; a
// holder only assumes its lease is valid until its local send time of the
// last successful renewal plus the TTL, which is never later than the
// store's expiry.
type LeaseStore interface {
	// Heartbeat records owner as a live instance of projection for ttl
	// (ttl <= 0 removes it: a graceful leave) and returns the live owners,
	// sorted.
	Heartbeat(ctx context.Context, projection, owner string, ttl time.Duration) ([]string, error)
	// Leases lists the projection's leases.
	Leases(ctx context.Context, projection string) ([]Lease, error)
	// Acquire gives owner the lease on shard for ttl if nobody holds it,
	// it was released, or it expired; its token grows by one. Otherwise it
	// returns ErrLeaseHeld.
	Acquire(ctx context.Context, projection, shard, owner string, ttl time.Duration) (Lease, error)
	// Renew extends l for ttl if l.Owner still holds it at l.Token, else
	// returns ErrLeaseLost. An expired lease nobody took is renewed.
	Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// Release gives l up (its token stays, so a later holder's is higher),
	// or returns ErrLeaseLost if l.Owner no longer holds it at l.Token.
	Release(ctx context.Context, l Lease) error
}

// SharedStore is a checkpoint store that also keeps leases, and fences
// checkpoint writes with the lease tokens: what several runner instances
// need to share a projection's shards.
type SharedStore interface {
	CheckpointStore
	LeaseStore
}

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
