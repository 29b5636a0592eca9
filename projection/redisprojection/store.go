// Package redisprojection keeps projection checkpoints, parked events and
// leases in Redis: a projection.SharedStore that several runner instances
// share.
//
// # Keys
//
// Every key of a projection carries the hash tag {<prefix>:<projection>},
// so they all live in one Redis Cluster slot and one script may touch them
// together:
//
//	{<prefix>:<projection>}:cp       hash  shard → progress (JSON, sequence numbers as decimal strings)
//	{<prefix>:<projection>}:parked   hash  "<sequence number>:<shard>" → parked event (JSON)
//	{<prefix>:<projection>}:leases   hash  shard → "<token>:<expiry ms>:<owner>"
//	{<prefix>:<projection>}:members  zset  owner → heartbeat expiry (ms)
//
// # Atomicity
//
// Every operation of more than one step is one Lua script, run with
// EVALSHA, so Redis applies it atomically: a fenced SaveCheckpoint checks
// the writer's token against the shard's lease and writes in the same
// script; Park writes the parked event and the checkpoint together, fenced
// the same way; Acquire, Renew, Release and Heartbeat read, judge and
// write a lease or heartbeat in one script. Reset deletes the checkpoints
// and parked events in one DEL. Lease and heartbeat expiry is judged by
// the Redis server's clock (TIME, read inside the scripts), never by the
// instances' clocks.
//
// # Durability
//
// A checkpoint is only as durable as the Redis server is configured to
// be: with appendonly and appendfsync always it survives a server crash
// once written; with appendfsync everysec (the default) the last second
// of writes may be lost; with RDB snapshots only, everything since the
// last snapshot. A lost checkpoint makes a projection replay events it had
// applied, so its handlers must then be idempotent. Failover to a replica
// may likewise lose recent writes (replication is asynchronous), leases
// and fencing tokens included.
package redisprojection

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// DefaultKeyPrefix is the key prefix a Store uses unless WithKeyPrefix
// gives another.
const DefaultKeyPrefix = "shoal:projection"

// Store is a projection.SharedStore in Redis. It is safe for concurrent
// use.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var _ projection.SharedStore = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithKeyPrefix sets the prefix of every key the Store uses (default
// DefaultKeyPrefix), so several applications can share one Redis.
func WithKeyPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// New returns a Store on client. The client may be a single node, a
// failover or a cluster client.
func New(client redis.UniversalClient, opts ...Option) *Store {
	s := &Store{client: client, prefix: DefaultKeyPrefix}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s
}

// key returns the key of one of projection's structures.
func (s *Store) key(projection, kind string) string {
	return "{" + s.prefix + ":" + projection + "}:" + kind
}

// Checkpoints implements projection.CheckpointStore.
func (s *Store) Checkpoints(ctx context.Context, proj string) (map[string]projection.Progress, error) {
	raw, err := s.client.HGetAll(ctx, s.key(proj, "cp")).Result()
	if err != nil {
		return nil, fmt.Errorf("redisprojection: checkpoints of %s: %w", proj, err)
	}
	out := make(map[string]projection.Progress, len(raw))
	for shard, v := range raw {
		var p projection.Progress
		if err := json.Unmarshal([]byte(v), &p); err != nil {
			return nil, fmt.Errorf("redisprojection: checkpoint of %s/%s: %w", proj, shard, err)
		}
		out[shard] = p
	}
	return out, nil
}

// SaveCheckpoint implements projection.CheckpointStore. A non-zero token
// must be the shard's current lease token, checked atomically with the
// write, else the error wraps projection.ErrLeaseLost.
func (s *Store) SaveCheckpoint(ctx context.Context, proj, shard string, p projection.Progress, token uint64) error {
	v, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("redisprojection: checkpoint of %s/%s: %w", proj, shard, err)
	}
	err = saveScript.Run(ctx, s.client, []string{s.key(proj, "leases"), s.key(proj, "cp")},
		shard, strconv.FormatUint(token, 10), v).Err()
	return s.scriptErr(err, "save checkpoint", proj, shard, token)
}

// parkedRecord is the stored form of a projection.Parked.
type parkedRecord struct {
	Shard          string                  `json:"shard"`
	SequenceNumber shardlog.SequenceNumber `json:"seq"`
	StreamID       string                  `json:"stream,omitempty"`
	Version        uint64                  `json:"version,omitempty"`
	EventID        string                  `json:"eventId,omitempty"`
	Type           string                  `json:"type,omitempty"`
	Error          string                  `json:"error,omitempty"`
	Attempts       int                     `json:"attempts,omitempty"`
	ParkedAt       time.Time               `json:"parkedAt"`
}

// Park implements projection.CheckpointStore: the parked event (replacing
// one parked at the same shard and sequence number) and the checkpoint are
// written atomically, fenced by token as in SaveCheckpoint.
func (s *Store) Park(ctx context.Context, proj string, ev projection.Parked, p projection.Progress, token uint64) error {
	cp, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("redisprojection: park in %s/%s: %w", proj, ev.Shard, err)
	}
	rec, err := json.Marshal(parkedRecord(ev))
	if err != nil {
		return fmt.Errorf("redisprojection: park in %s/%s: %w", proj, ev.Shard, err)
	}
	// The decimal sequence number holds no ':', so the field is unambiguous.
	field := ev.SequenceNumber.String() + ":" + ev.Shard
	err = parkScript.Run(ctx, s.client,
		[]string{s.key(proj, "leases"), s.key(proj, "cp"), s.key(proj, "parked")},
		ev.Shard, strconv.FormatUint(token, 10), cp, field, rec).Err()
	return s.scriptErr(err, "park", proj, ev.Shard, token)
}

// Parked implements projection.CheckpointStore: oldest first (by ParkedAt,
// then shard and sequence number).
func (s *Store) Parked(ctx context.Context, proj string) ([]projection.Parked, error) {
	raw, err := s.client.HGetAll(ctx, s.key(proj, "parked")).Result()
	if err != nil {
		return nil, fmt.Errorf("redisprojection: parked events of %s: %w", proj, err)
	}
	out := make([]projection.Parked, 0, len(raw))
	for field, v := range raw {
		var rec parkedRecord
		if err := json.Unmarshal([]byte(v), &rec); err != nil {
			return nil, fmt.Errorf("redisprojection: parked event %q of %s: %w", field, proj, err)
		}
		out = append(out, projection.Parked(rec))
	}
	slices.SortFunc(out, func(a, b projection.Parked) int {
		return cmp.Or(a.ParkedAt.Compare(b.ParkedAt), cmp.Compare(a.Shard, b.Shard), a.SequenceNumber.Compare(b.SequenceNumber))
	})
	return out, nil
}

// Reset implements projection.CheckpointStore: it deletes the projection's
// checkpoints and parked events in one command, and keeps its leases.
func (s *Store) Reset(ctx context.Context, proj string) error {
	if err := s.client.Del(ctx, s.key(proj, "cp"), s.key(proj, "parked")).Err(); err != nil {
		return fmt.Errorf("redisprojection: reset %s: %w", proj, err)
	}
	return nil
}

// Heartbeat implements projection.LeaseStore, by the Redis server's clock.
func (s *Store) Heartbeat(ctx context.Context, proj, owner string, ttl time.Duration) ([]string, error) {
	live, err := heartbeatScript.Run(ctx, s.client, []string{s.key(proj, "members")}, owner, millis(ttl)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisprojection: heartbeat of %s in %s: %w", owner, proj, err)
	}
	slices.Sort(live)
	return live, nil
}

// Leases implements projection.LeaseStore, judging expiry by the Redis
// server's clock.
func (s *Store) Leases(ctx context.Context, proj string) ([]projection.Lease, error) {
	raw, err := leasesScript.Run(ctx, s.client, []string{s.key(proj, "leases")}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisprojection: leases of %s: %w", proj, err)
	}
	if len(raw)%2 != 1 {
		return nil, fmt.Errorf("redisprojection: leases of %s: unexpected reply of %d values", proj, len(raw))
	}
	now, err := strconv.ParseInt(raw[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("redisprojection: leases of %s: server time: %w", proj, err)
	}
	out := make([]projection.Lease, 0, len(raw)/2)
	for i := 1; i < len(raw); i += 2 {
		shard := raw[i]
		tok, exp, owner, err := parseLease(raw[i+1])
		if err != nil {
			return nil, fmt.Errorf("redisprojection: lease of %s/%s: %w", proj, shard, err)
		}
		out = append(out, projection.Lease{
			Projection: proj, Shard: shard, Owner: owner, Token: tok,
			Expired: owner == "" || exp <= now,
		})
	}
	slices.SortFunc(out, func(a, b projection.Lease) int { return cmp.Compare(a.Shard, b.Shard) })
	return out, nil
}

// parseLease decodes a leases hash value, "<token>:<expiry ms>:<owner>".
func parseLease(v string) (token uint64, expiry int64, owner string, err error) {
	tok, rest, ok1 := strings.Cut(v, ":")
	exp, owner, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return 0, 0, "", fmt.Errorf("corrupt value %q", v)
	}
	if token, err = strconv.ParseUint(tok, 10, 64); err != nil {
		return 0, 0, "", fmt.Errorf("corrupt token in %q: %w", v, err)
	}
	if expiry, err = strconv.ParseInt(exp, 10, 64); err != nil {
		return 0, 0, "", fmt.Errorf("corrupt expiry in %q: %w", v, err)
	}
	return token, expiry, owner, nil
}

// Acquire implements projection.LeaseStore: it takes the lease if nobody
// holds it, it was released, or it expired by the Redis server's clock;
// otherwise the error wraps projection.ErrLeaseHeld and names the holder.
func (s *Store) Acquire(ctx context.Context, proj, shard, owner string, ttl time.Duration) (projection.Lease, error) {
	if err := projection.CheckLeaseArgs(owner, ttl); err != nil {
		return projection.Lease{}, err
	}
	res, err := acquireScript.Run(ctx, s.client, []string{s.key(proj, "leases")}, shard, owner, millis(ttl)).Slice()
	if err != nil {
		return projection.Lease{}, s.scriptErr(err, "acquire lease", proj, shard, 0)
	}
	if len(res) != 2 {
		return projection.Lease{}, fmt.Errorf("redisprojection: acquire lease %s/%s: unexpected reply %v", proj, shard, res)
	}
	ok, _ := res[0].(int64)
	val, _ := res[1].(string)
	if ok != 1 {
		return projection.Lease{}, fmt.Errorf("%w: %s/%s by %s", projection.ErrLeaseHeld, proj, shard, val)
	}
	tok, err := strconv.ParseUint(val, 10, 64)
	if err != nil {
		return projection.Lease{}, fmt.Errorf("redisprojection: acquire lease %s/%s: token %q: %w", proj, shard, val, err)
	}
	return projection.Lease{Projection: proj, Shard: shard, Owner: owner, Token: tok}, nil
}

// Renew implements projection.LeaseStore: l.Owner must still hold the lease
// at l.Token (an expired lease nobody took is renewed), else the error
// wraps projection.ErrLeaseLost.
func (s *Store) Renew(ctx context.Context, l projection.Lease, ttl time.Duration) (projection.Lease, error) {
	if err := projection.CheckLeaseArgs(l.Owner, ttl); err != nil {
		return projection.Lease{}, err
	}
	err := renewScript.Run(ctx, s.client, []string{s.key(l.Projection, "leases")},
		l.Shard, l.Owner, strconv.FormatUint(l.Token, 10), millis(ttl)).Err()
	if err != nil {
		return projection.Lease{}, s.scriptErr(err, "renew lease", l.Projection, l.Shard, l.Token)
	}
	l.Expired = false
	return l, nil
}

// Release implements projection.LeaseStore: it clears the owner and keeps
// the token, or returns an error wrapping projection.ErrLeaseLost if
// l.Owner no longer holds the lease at l.Token.
func (s *Store) Release(ctx context.Context, l projection.Lease) error {
	err := releaseScript.Run(ctx, s.client, []string{s.key(l.Projection, "leases")},
		l.Shard, l.Owner, strconv.FormatUint(l.Token, 10)).Err()
	return s.scriptErr(err, "release lease", l.Projection, l.Shard, l.Token)
}

// scriptErr maps a script's error reply to the package's errors.
func (s *Store) scriptErr(err error, op, proj, shard string, token uint64) error {
	switch {
	case err == nil:
		return nil
	case redis.HasErrorPrefix(err, "LEASE_LOST"):
		return fmt.Errorf("%w: %s %s/%s with token %d: %s", projection.ErrLeaseLost, op, proj, shard, token,
			strings.TrimPrefix(err.Error(), "LEASE_LOST "))
	default:
		return fmt.Errorf("redisprojection: %s %s/%s: %w", op, proj, shard, err)
	}
}

// millis returns ttl in whole milliseconds, rounded up (zero or less: 0).
func millis(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return ms
}
