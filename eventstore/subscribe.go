package eventstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/shoal-dev/shoal/shardlog"
)

// Checkpoint is how far a subscriber got in each shard. It marshals to JSON
// (sequence numbers as decimal strings) for storage.
type Checkpoint struct {
	Shards map[string]ShardProgress `json:"shards"`
}

// ShardProgress is a subscriber's progress in one shard.
type ShardProgress struct {
	// After is the sequence number of the last event handled, or, for a
	// shard that StartAtLatest started at its end, the position it started
	// after; zero: none.
	After shardlog.SequenceNumber `json:"after,omitzero"`
	// Done is set once the shard is closed and all its events were
	// handled; its children may then start.
	Done bool `json:"done,omitempty"`
}

// Clone returns a deep copy of c.
func (c Checkpoint) Clone() Checkpoint {
	return Checkpoint{Shards: maps.Clone(c.Shards)}
}

// SubscribeOptions configures Subscribe.
type SubscribeOptions struct {
	// From is where to resume. A shard it does not mention starts at its
	// trim horizon (its oldest retained event), or at its end with
	// StartAtLatest.
	From Checkpoint
	// StartAtLatest starts the open shards that From does not mention at
	// their end and skips the closed ones: only events appended from now
	// on are delivered. Events fixes these starting positions before it
	// yields anything and records them in the Checkpoint, so a resumed
	// subscription continues from them. Shards created later start at
	// their beginning, and so do the shards that descend from one From
	// mentions: their events come after the checkpoint.
	StartAtLatest bool
	// CatchUpOnly ends the subscription once every shard is read to its
	// current end, instead of waiting for new events: a replay.
	CatchUpOnly bool
	// BatchSize is how many records a shard reader fetches at a time
	// (1-10000; zero: 1000).
	BatchSize int
}

// Subscription delivers every event of the store: each shard in order,
// shards in parallel, and after a reshard a child shard only once every
// parent was read to its end, so the events of one stream (aggregate)
// always arrive in version order. Events of different shards interleave.
type Subscription struct {
	store *Store
	opts  SubscribeOptions

	mu       sync.Mutex
	progress Checkpoint
	lag      map[string]int64
	running  atomic.Bool // Events runs once
}

// Subscribe returns a subscription; Events starts it.
func (s *Store) Subscribe(opts SubscribeOptions) (*Subscription, error) {
	if opts.BatchSize == 0 {
		opts.BatchSize = 1000
	}
	if opts.BatchSize < 1 || opts.BatchSize > shardlog.MaxGetRecordsLimit {
		return nil, &shardlog.ArgumentError{Field: "BatchSize", Reason: fmt.Sprintf("%d is outside 1-%d", opts.BatchSize, shardlog.MaxGetRecordsLimit)}
	}
	cp := opts.From.Clone()
	if cp.Shards == nil {
		cp.Shards = map[string]ShardProgress{}
	}
	opts.From = cp.Clone() // the caller may reuse its map
	return &Subscription{store: s, opts: opts, progress: cp, lag: map[string]int64{}}, nil
}

// Checkpoint returns the progress so far: every event Events has yielded,
// the one being handled included. Save it after handling an event, and
// pass it as SubscribeOptions.From to resume after that event.
func (sub *Subscription) Checkpoint() Checkpoint {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.progress.Clone()
}

// MillisBehindLatest returns, per shard being read, how far its last read
// was behind the shard's newest record.
func (sub *Subscription) MillisBehindLatest() map[string]int64 {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return maps.Clone(sub.lag)
}

// shardItem is what a shard reader hands to Events.
type shardItem struct {
	shard    string
	events   []Event
	lag      int64
	end      bool // the shard is closed and read to its end
	caughtUp bool // CatchUpOnly: the reader stopped at the shard's end
	children []shardlog.ChildShard
	err      error
}

// Events runs the subscription: it yields events until ctx is done (the
// sequence then ends without an error), an error, or, with CatchUpOnly,
// the end of every shard. Call it once.
func (sub *Subscription) Events(ctx context.Context) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if !sub.running.CompareAndSwap(false, true) {
			yield(Event{}, errors.New("eventstore: a Subscription's Events runs once; Subscribe again with its Checkpoint"))
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()

		shards, err := sub.store.Shards(ctx)
		if err != nil {
			if ctx.Err() == nil {
				yield(Event{}, fmt.Errorf("eventstore: subscribe: %w", err))
			}
			return
		}
		var latest []string // shards that start at their end
		follows := sub.followed(shards)
		for _, sh := range shards {
			if sub.opts.StartAtLatest && !follows[sh.ShardID] {
				if sh.Closed {
					sub.mu.Lock()
					sub.progress.Shards[sh.ShardID] = ShardProgress{Done: true}
					sub.mu.Unlock()
				} else {
					latest = append(latest, sh.ShardID)
				}
			}
		}
		// Fix where the latest shards start now, and record it: events
		// appended from here on are delivered, and a checkpoint taken
		// before any of them resumes from here rather than from a later end.
		for _, id := range latest {
			cur, err := sub.store.log.NewCursor(ctx, shardlog.NewCursorInput{StreamName: sub.store.stream, ShardID: id, StartingPosition: shardlog.StartingPosition{Type: shardlog.Latest}})
			if err != nil {
				if ctx.Err() == nil {
					yield(Event{}, fmt.Errorf("eventstore: subscribe to %s: %w", id, err))
				}
				return
			}
			next := cur.Position()
			sub.mu.Lock()
			sub.progress.Shards[id] = ShardProgress{After: shardlog.MakeSequenceNumber(next.Position()-1, next.ShardIndex())}
			sub.mu.Unlock()
		}
		items := make(chan shardItem, 16)
		started := map[string]bool{}
		active := 0
		// startReady starts the shards whose parents are done: parents
		// before children, so each stream's events arrive in order.
		startReady := func() {
			for _, sh := range shardlog.ReadyShards(shards, sub.done) {
				id := sh.ShardID
				if started[id] {
					continue
				}
				started[id] = true
				active++
				wg.Add(1)
				go func() {
					defer wg.Done()
					sub.readShard(ctx, id, items)
				}()
			}
		}
		startReady()
		for active > 0 {
			var it shardItem
			select {
			case it = <-items:
			case <-ctx.Done():
				return
			}
			for _, ev := range it.events { // those before an error too
				if ctx.Err() != nil {
					return
				}
				sub.mu.Lock()
				sub.progress.Shards[it.shard] = ShardProgress{After: ev.Position.SequenceNumber}
				sub.mu.Unlock()
				if !yield(ev, nil) {
					return
				}
			}
			if it.err != nil {
				if ctx.Err() == nil {
					yield(Event{}, it.err)
				}
				return
			}
			sub.mu.Lock()
			sub.lag[it.shard] = it.lag
			if it.end {
				p := sub.progress.Shards[it.shard]
				p.Done = true
				sub.progress.Shards[it.shard] = p
				delete(sub.lag, it.shard)
			}
			sub.mu.Unlock()
			if it.end || it.caughtUp {
				active--
			}
			if it.end {
				if !listsAll(shards, it.children) {
					// List again, so that a child's other parent (a
					// merge's) is listed with it and is read first.
					if shards, err = sub.store.Shards(ctx); err != nil {
						if ctx.Err() == nil {
							yield(Event{}, fmt.Errorf("eventstore: subscribe: %w", err))
						}
						return
					}
				}
				startReady()
			}
		}
	}
}

// listsAll reports whether every child is in shards.
func listsAll(shards []shardlog.Shard, children []shardlog.ChildShard) bool {
	for _, c := range children {
		if !slices.ContainsFunc(shards, func(sh shardlog.Shard) bool { return sh.ShardID == c.ShardID }) {
			return false
		}
	}
	return true
}

// followed reports, for each listed shard, whether From mentions it or one
// of its ancestors: its events then come after the checkpoint, so
// StartAtLatest does not apply to it.
func (sub *Subscription) followed(shards []shardlog.Shard) map[string]bool {
	listed := make(map[string]shardlog.Shard, len(shards))
	for _, sh := range shards {
		listed[sh.ShardID] = sh
	}
	out := make(map[string]bool, len(shards))
	var follows func(id string) bool
	follows = func(id string) bool {
		if f, ok := out[id]; ok {
			return f
		}
		_, f := sub.opts.From.Shards[id]
		if sh, ok := listed[id]; ok && !f {
			for _, p := range []string{sh.ParentShardID, sh.AdjacentParentShardID} {
				if p != "" && follows(p) {
					f = true
				}
			}
		}
		out[id] = f
		return f
	}
	for id := range listed {
		follows(id)
	}
	return out
}

// done reports whether the subscriber finished shard id.
func (sub *Subscription) done(id string) bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.progress.Shards[id].Done
}

// readShard reads one shard into items until its end, ctx, or (with
// CatchUpOnly) its current end.
func (sub *Subscription) readShard(ctx context.Context, shardID string, items chan<- shardItem) {
	send := func(it shardItem) bool {
		it.shard = shardID
		select {
		case items <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	sub.mu.Lock()
	p := sub.progress.Shards[shardID]
	sub.mu.Unlock()
	rd, err := sub.store.ReadShard(ctx, shardID, p.After)
	if err != nil {
		send(shardItem{err: err})
		return
	}
	for first := true; ; first = false {
		b, err := rd.Next(ctx, sub.opts.BatchSize)
		it := shardItem{lag: b.MillisBehindLatest, end: b.End, children: b.ChildShards, events: b.Events, err: err}
		if err == nil && len(b.Events) == 0 && !b.End && sub.opts.CatchUpOnly {
			it.caughtUp = true
		}
		// The first read is reported even if empty, so MillisBehindLatest
		// lists every shard being read.
		if (first || len(it.events) > 0 || it.end || it.caughtUp || it.err != nil) && !send(it) {
			return
		}
		if it.end || it.caughtUp || it.err != nil {
			return
		}
		if len(b.Events) == 0 {
			if err := rd.Wait(ctx); err != nil {
				if ctx.Err() == nil {
					send(shardItem{err: err})
				}
				return
			}
		}
	}
}

// Shards returns the shardlog shards of the store's stream (not expired
// ones), with their parents: what a consumer that reads shards itself
// needs to read parents before children. With a ShardArchive
// (WithArchive), it also lists, as closed, the shards the log dropped once
// all their records expired but the archive holds, with the lineage the
// archive knows, so shardlog.ReadyShards still orders parents before
// children; ReadShard reads them from the archive.
func (s *Store) Shards(ctx context.Context) ([]shardlog.Shard, error) {
	d, err := s.log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: s.stream})
	if err != nil {
		return nil, fmt.Errorf("eventstore: shards: %w", err)
	}
	arch, ok := s.archive.(ShardArchive)
	if !ok {
		return d.Shards, nil
	}
	archived, err := arch.ArchivedShards(ctx, s.stream)
	if err != nil {
		return nil, fmt.Errorf("eventstore: archived shards: %w", err)
	}
	out := d.Shards
	for _, a := range archived {
		if slices.ContainsFunc(out, func(sh shardlog.Shard) bool { return sh.ShardID == a.ShardID }) {
			continue // the log still holds it: its own description wins
		}
		a.Closed = true // the log dropped it, so it was closed
		out = append(out, a)
	}
	// Shard IDs are zero-padded: their order is their index's.
	slices.SortStableFunc(out, func(a, b shardlog.Shard) int { return strings.Compare(a.ShardID, b.ShardID) })
	return out, nil
}
