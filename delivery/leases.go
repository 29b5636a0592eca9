package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// Leases: with Source.Owner set, the instances of a delivery stream share
// its shards through the projection.SharedStore, under the delivery
// stream's name, exactly as projection runners do: a heartbeat lists the
// live instances, each takes at most its share of the ready shards, leases
// are renewed every LeaseTTL/3, and checkpoint writes carry the lease's
// fencing token.

// renew extends this instance's leases and returns how many it holds. It
// runs first in every scheduling pass, so a slow listing does not let
// leases lapse. Workers handing their shard over are renewed too: they
// are delivering their buffers.
func (s *Stream) renew(ctx context.Context, sc *sched) int {
	ttl := s.cfg.Source.LeaseTTL
	held := 0
	for id, sl := range sc.slots {
		if sl.lost {
			continue
		}
		sent := time.Now()
		l, err := s.leases.Renew(ctx, sl.lease, ttl)
		if err != nil {
			if errors.Is(err, projection.ErrLeaseLost) {
				sl.lost = true
				sl.cancel(errLeaseLost)
				continue
			}
			s.cfg.Logger.Warn("delivery: renewing a lease failed", "deliveryStream", s.cfg.Name, "shard", id, "err", err)
		} else {
			sl.lease = l
			sl.w.valid.Store(sent.Add(ttl).UnixNano())
		}
		if !sl.stopping {
			held++
		}
	}
	return held
}

// balance gives up shards beyond this instance's share and takes free or
// expired ones up to it. With R ready shards and n live instances, an
// instance's share is R/n, plus one for the first R mod n instances in
// name order (never more than ceil(R/n)).
func (s *Stream) balance(ctx, wctx context.Context, sc *sched, ready []shardlog.Shard, held int) error {
	ttl, owner, name := s.cfg.Source.LeaseTTL, s.cfg.Source.Owner, s.cfg.Name
	owners, err := s.leases.Heartbeat(ctx, name, owner, ttl)
	if err != nil {
		return fmt.Errorf("delivery %s: heartbeat: %w", name, err)
	}
	if !slices.Contains(owners, owner) {
		owners = append(owners, owner)
		slices.Sort(owners)
	}
	// Shards this instance runs count towards its share, ready or not
	// (a running shard is not done, so it is ready).
	total := len(ready)
	fair := projection.FairShare(total, owners, owner)
	if held > fair {
		var mine []string
		for id, sl := range sc.slots {
			if !sl.stopping && !sl.lost {
				mine = append(mine, id)
			}
		}
		slices.Sort(mine)
		for _, id := range mine[fair:] {
			sc.slots[id].stopping = true
			sc.slots[id].cancel(errRebalance) // released once it has delivered
		}
		return nil
	}
	if held == fair {
		return nil
	}
	leases, err := s.leases.Leases(ctx, name)
	if err != nil {
		return fmt.Errorf("delivery %s: leases: %w", name, err)
	}
	busy := map[string]bool{}
	for _, l := range leases {
		if !l.Expired {
			busy[l.Shard] = true
		}
	}
	for _, sh := range ready {
		if held >= fair {
			break
		}
		id := sh.ShardID
		if sc.slots[id] != nil || busy[id] {
			continue
		}
		sent := time.Now()
		l, err := s.leases.Acquire(ctx, name, id, owner, ttl)
		if errors.Is(err, projection.ErrLeaseHeld) {
			continue
		}
		if err != nil {
			return fmt.Errorf("delivery %s: acquire %s: %w", name, id, err)
		}
		// Read the checkpoint now that the lease is ours: the previous
		// holder may have moved it since the scheduler read it.
		cps, err := s.cfg.Source.Checkpoints.Checkpoints(ctx, name)
		if err == nil && cps[id].Done {
			if err = s.leases.Release(ctx, l); err == nil {
				continue
			}
		}
		if err != nil {
			_ = s.leases.Release(context.WithoutCancel(ctx), l)
			return fmt.Errorf("delivery %s: after acquiring %s: %w", name, id, err)
		}
		s.cfg.Logger.Info("delivery: lease acquired", "deliveryStream", name, "shard", id, "owner", owner, "token", l.Token)
		s.start(wctx, sc, sh, cps, l, sent.Add(ttl).UnixNano())
		held++
	}
	return nil
}

// leave removes this instance from the live list, so the others take its
// shards without waiting for its heartbeat to expire.
func (s *Stream) leave() {
	if s.leases == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Source.LeaseTTL)
	defer cancel()
	if _, err := s.leases.Heartbeat(ctx, s.cfg.Name, s.cfg.Source.Owner, 0); err != nil {
		s.cfg.Logger.Warn("delivery: leaving failed; the heartbeat will expire", "deliveryStream", s.cfg.Name, "err", err)
	}
}

// errLeaseLost stops a worker whose lease another instance took, or that
// it could not renew within its TTL: it drops its buffer, unchecked.
var errLeaseLost = fmt.Errorf("%w: another instance delivers the shard", projection.ErrLeaseLost)
