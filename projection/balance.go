package projection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// renew extends this instance's leases. It runs first in every
// scheduling pass, before anything else can fail, so a slow store or a
// failing read of shards or checkpoints does not let held leases lapse. It
// returns how many leases this instance holds.
func (pr *projRun) renew(ctx context.Context, s *sched) int {
	ttl := pr.opts.LeaseTTL
	held := 0
	for id, sl := range s.slots {
		if sl.stopping || sl.lost {
			continue
		}
		sent := time.Now()
		l, err := pr.leases.Renew(ctx, sl.lease, ttl)
		if err != nil {
			if errors.Is(err, ErrLeaseLost) {
				sl.lost = true
				sl.cancel()
				continue
			}
			pr.opts.Logger.Warn("projection: renewing a lease failed", "projection", pr.p.name, "shard", id, "err", err)
			held++ // still valid until its local deadline
			continue
		}
		sl.lease = l
		sl.w.valid.Store(sent.Add(ttl).UnixNano())
		held++
	}
	return held
}

// balance gives up shards beyond this instance's share and takes free or
// expired ones up to it. With R ready shards and n live instances, each
// instance's share is R/n rounded down, plus one for the first R mod n
// instances in name order: the shares add up to R, so an instance that
// joins always gets shards from those above their share. Instances give
// shards up voluntarily, so a shard changes hands only once its holder
// released it or its lease expired.
func (pr *projRun) balance(ctx, wctx context.Context, s *sched, ready []string, held int) error {
	ttl, owner, name := pr.opts.LeaseTTL, pr.opts.Owner, pr.p.name
	owners, err := pr.leases.Heartbeat(ctx, name, owner, ttl)
	if err != nil {
		return fmt.Errorf("projection %s: heartbeat: %w", name, err)
	}
	if !slices.Contains(owners, owner) {
		owners = append(owners, owner)
		slices.Sort(owners)
	}
	fair := FairShare(len(ready), owners, owner)
	if held > fair {
		var mine []string
		for id, sl := range s.slots {
			if !sl.stopping && !sl.lost {
				mine = append(mine, id)
			}
		}
		slices.SortFunc(mine, compareShard)
		for _, id := range mine[fair:] {
			s.slots[id].stopping = true
			s.slots[id].cancel() // released when the worker has stopped
		}
		return nil
	}
	if held == fair {
		return nil
	}
	leases, err := pr.leases.Leases(ctx, name)
	if err != nil {
		return fmt.Errorf("projection %s: leases: %w", name, err)
	}
	busy := map[string]bool{}
	for _, l := range leases {
		if !l.Expired {
			busy[l.Shard] = true
		}
	}
	for _, id := range ready {
		if held >= fair {
			break
		}
		if s.slots[id] != nil || busy[id] {
			continue
		}
		sent := time.Now()
		l, err := pr.leases.Acquire(ctx, name, id, owner, ttl)
		if errors.Is(err, ErrLeaseHeld) {
			continue
		}
		if err != nil {
			return fmt.Errorf("projection %s: acquire %s: %w", name, id, err)
		}
		// Read the checkpoint now that the lease is ours: the previous
		// holder may have moved it since the scheduler read it.
		cps, err := pr.cps.Checkpoints(ctx, name)
		if err == nil && cps[id].Done {
			err = pr.leases.Release(ctx, l)
			if err == nil {
				continue
			}
		}
		if err != nil {
			_ = pr.leases.Release(context.WithoutCancel(ctx), l)
			return fmt.Errorf("projection %s: after acquiring %s: %w", name, id, err)
		}
		pr.opts.Observer.Lease(LeaseChange{Projection: name, Shard: id, Owner: owner, Token: l.Token, Held: true})
		pr.opts.Logger.Info("projection: lease acquired", "projection", name, "shard", id, "owner", owner, "token", l.Token)
		pr.start(wctx, s, id, cps[id].After, l, sent.Add(ttl).UnixNano())
		held++
	}
	return nil
}

// FairShare is owner's share of ready shards among the live owners
// (sorted, owner included, as LeaseStore.Heartbeat returns them): ready
// divided evenly, the first ready%len(owners) owners taking one more, so
// the shares add up to ready. Every consumer that balances leases the way
// the runner does (the delivery package's) uses it, so instances agree.
func FairShare(ready int, owners []string, owner string) int {
	n := len(owners)
	fair := ready / n
	if slices.Index(owners, owner) < ready%n {
		fair++
	}
	return fair
}
