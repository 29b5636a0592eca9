package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// Group commit: the concurrent Appends of one process to one shard share
// one transaction. Each Append joins its shard's queue; if no Append of
// the shard is running, it leads: it takes the queued appends, in arrival
// order, up to maxGroupRecords records and maxGroupBytes bytes (always at
// least one), and runs them as one transaction (appendGroup); then it
// hands the lead to the first append still queued, which takes the next
// group. So a shard's appends queue behind one transaction, not behind
// one transaction each, and a commit's WAL flush acknowledges every
// append of its group.

const (
	maxGroupRecords = 5000
	maxGroupBytes   = 8 << 20
)

// appendReq is one Append in its shard's queue, and its result.
type appendReq struct {
	ctx     context.Context
	now     time.Time
	records []shardlog.Entry
	cond    *shardlog.Condition
	size    int

	// done is closed when the result is set, or when the request is to
	// lead (lead is then true).
	done  chan struct{}
	lead  bool // guarded by Engine.qmu
	taken bool // in a group; guarded by Engine.qmu

	first   shardlog.SequenceNumber
	arrival time.Time
	err     error
}

// shardQueue is the queue of one shard's appends.
type shardQueue struct {
	pending []*appendReq
	leading bool // an Append leads; if false, pending is empty
}

// Append stores the batch: all of it, at consecutive positions, or none.
// Concurrent Appends to the same shard join one transaction (see
// appendGroup); each gets its own result. It returns once COMMIT returned:
// the records are as durable as the server's synchronous_commit makes a
// commit. Arrival times are kept to the microsecond, PostgreSQL's
// precision; now is truncated to it before numbering, so the arrival
// returned is the one stored.
func (e *Engine) Append(ctx context.Context, ref shardlog.ShardRef, now time.Time, records []shardlog.Entry, cond *shardlog.Condition) (shardlog.SequenceNumber, time.Time, error) {
	if e.isClosed() {
		return shardlog.SequenceNumber{}, time.Time{}, errClosed
	}
	r := &appendReq{ctx: ctx, now: now.Round(0).Truncate(time.Microsecond), records: records, cond: cond, done: make(chan struct{})}
	for i := range records {
		r.size += len(records[i].PartitionKey) + len(records[i].Data)
	}
	e.qmu.Lock()
	q := e.queues[ref]
	if q == nil {
		q = &shardQueue{}
		e.queues[ref] = q
	}
	q.pending = append(q.pending, r)
	leader := !q.leading
	r.lead = leader
	q.leading = true
	e.qmu.Unlock()

	if !leader {
		select {
		case <-r.done:
		case <-ctx.Done():
			e.qmu.Lock()
			if !r.taken && !r.lead {
				// Still queued: leave the queue, nothing was stored.
				q.pending = slices.DeleteFunc(q.pending, func(x *appendReq) bool { return x == r })
				e.qmu.Unlock()
				return shardlog.SequenceNumber{}, time.Time{}, ctx.Err()
			}
			e.qmu.Unlock()
			<-r.done // in a group (whose outcome it must tell) or leading
		}
		if !r.lead {
			return r.first, r.arrival, r.err
		}
	}
	e.lead(ref, q)
	return r.first, r.arrival, r.err
}

// lead runs one group, whose first member is the caller's own request,
// delivers the other members' results and hands the lead to the next
// queued request, if any.
func (e *Engine) lead(ref shardlog.ShardRef, q *shardQueue) {
	e.qmu.Lock()
	n, records, bytes := 0, 0, 0
	for n < len(q.pending) {
		r := q.pending[n]
		if n > 0 && (records+len(r.records) > maxGroupRecords || bytes+r.size > maxGroupBytes) {
			break
		}
		r.taken = true
		records += len(r.records)
		bytes += r.size
		n++
	}
	group := slices.Clone(q.pending[:n])
	q.pending = slices.Delete(q.pending, 0, n)
	e.qmu.Unlock()

	// Members whose context is done before the group starts are not in it.
	live := group[:0:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		live = append(live, r)
	}
	if len(live) > 0 {
		e.runGroup(ref, live)
	}

	e.qmu.Lock()
	if len(q.pending) > 0 {
		next := q.pending[0]
		next.lead = true
		close(next.done)
	} else {
		q.leading = false
		if e.queues[ref] == q {
			delete(e.queues, ref)
		}
	}
	e.qmu.Unlock()
	for _, r := range group[1:] {
		close(r.done)
	}
}

// runGroup runs the group's transaction with a context that is cancelled
// once every member's context is done, and retries it after creating the
// partitions it found missing.
func (e *Engine) runGroup(ref shardlog.ShardRef, group []*appendReq) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(group[0].ctx))
	defer cancel()
	left := int32(len(group))
	for _, r := range group {
		stop := context.AfterFunc(r.ctx, func() {
			if atomic.AddInt32(&left, -1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	fail := func(err error) {
		for _, r := range group {
			r.first, r.arrival, r.err = shardlog.SequenceNumber{}, time.Time{}, err
			if errors.Is(err, context.Canceled) && r.ctx.Err() != nil {
				// The group's context was cancelled because every
				// member's was: tell each its own.
				r.err = fmt.Errorf("postgres engine: append: %w", r.ctx.Err())
			}
		}
	}
	for attempt := 0; ; attempt++ {
		if e.isClosed() {
			fail(errClosed)
			return
		}
		lastPos, err := e.appendGroup(ctx, ref, group)
		if missing, ok := err.(errPartitionMissing); ok && attempt < 5 {
			if err := e.ensurePartitions(ctx, missing.from, missing.to, true); err != nil {
				fail(err)
				return
			}
			continue
		}
		if err != nil {
			fail(err)
			return
		}
		if lastPos != 0 {
			e.wake(waiterKey(ref.Stream, ref.ID))
			e.notifyLater(recordsPayload(ref))
			e.prepareNext(uint64(lastPos))
		}
		return
	}
}
