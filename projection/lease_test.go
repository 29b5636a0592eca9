package projection_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shared is what the instances of a lease test share: the lease and
// checkpoint store, and a read model that commits with the checkpoints (a
// stand-in for pgprojection, which does the same in PostgreSQL).
type shared struct {
	store *projection.MemoryStore
	m     *model

	mu      sync.Mutex          // serialises commits
	inHand  map[string]string   // shard → live owner inside a handler
	overlap []string            // two live owners in one shard's handlers
	holders map[string][]string // shard → owners that acquired it, in order
}

// instance is one runner's view of shared: it can be killed, after which
// every store call fails, as if the process had died.
type instance struct {
	*shared
	owner string
	dead  atomic.Bool
	// partitioned fails the lease calls; stall, when set, holds commits
	// (after the handlers ran) until it is closed; fenced counts commits
	// refused for a stale token.
	partitioned atomic.Bool
	stall       atomic.Pointer[chan struct{}]
	fenced      atomic.Int64
	// lostAcks makes that many commits succeed but report an error, as
	// a connection that fails after the server committed would.
	lostAcks atomic.Int64
}

var errDead = errors.New("instance is dead")

type stagedKey struct{}

func (in *instance) check() error {
	if in.dead.Load() {
		return errDead
	}
	return nil
}

func (in *instance) Checkpoints(ctx context.Context, p string) (map[string]projection.Progress, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	return in.store.Checkpoints(ctx, p)
}
func (in *instance) SaveCheckpoint(ctx context.Context, p, shard string, pr projection.Progress, token uint64) error {
	if err := in.check(); err != nil {
		return err
	}
	return in.store.SaveCheckpoint(ctx, p, shard, pr, token)
}
func (in *instance) Park(ctx context.Context, p string, ev projection.Parked, pr projection.Progress, token uint64) error {
	if err := in.check(); err != nil {
		return err
	}
	return in.store.Park(ctx, p, ev, pr, token)
}
func (in *instance) Parked(ctx context.Context, p string) ([]projection.Parked, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	return in.store.Parked(ctx, p)
}
func (in *instance) Reset(ctx context.Context, p string) error {
	if err := in.check(); err != nil {
		return err
	}
	return in.store.Reset(ctx, p)
}
func (in *instance) leaseCheck() error {
	if in.partitioned.Load() {
		return errPartitioned
	}
	return in.check()
}

var errPartitioned = errors.New("partitioned from the lease store")

func (in *instance) Heartbeat(ctx context.Context, p, owner string, ttl time.Duration) ([]string, error) {
	if err := in.leaseCheck(); err != nil {
		return nil, err
	}
	return in.store.Heartbeat(ctx, p, owner, ttl)
}
func (in *instance) Leases(ctx context.Context, p string) ([]projection.Lease, error) {
	if err := in.leaseCheck(); err != nil {
		return nil, err
	}
	return in.store.Leases(ctx, p)
}
func (in *instance) Acquire(ctx context.Context, p, shard, owner string, ttl time.Duration) (projection.Lease, error) {
	if err := in.leaseCheck(); err != nil {
		return projection.Lease{}, err
	}
	l, err := in.store.Acquire(ctx, p, shard, owner, ttl)
	if err == nil {
		in.mu.Lock()
		in.holders[shard] = append(in.holders[shard], owner)
		in.mu.Unlock()
	}
	return l, err
}
func (in *instance) Renew(ctx context.Context, l projection.Lease, ttl time.Duration) (projection.Lease, error) {
	if err := in.leaseCheck(); err != nil {
		return projection.Lease{}, err
	}
	return in.store.Renew(ctx, l, ttl)
}
func (in *instance) Release(ctx context.Context, l projection.Lease) error {
	if err := in.leaseCheck(); err != nil {
		return err
	}
	return in.store.Release(ctx, l)
}

// InTx stages the handlers' writes and commits them with the fenced
// checkpoint, or not at all.
func (in *instance) InTx(ctx context.Context, p, shard string, pr projection.Progress, token uint64, apply func(context.Context) error) error {
	var staged []*eventstore.Event
	if err := apply(context.WithValue(ctx, stagedKey{}, &staged)); err != nil {
		return err
	}
	if c := in.stall.Load(); c != nil {
		<-*c
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.check(); err != nil {
		return err
	}
	if err := in.store.SaveCheckpoint(ctx, p, shard, pr, token); err != nil {
		if errors.Is(err, projection.ErrLeaseLost) {
			in.fenced.Add(1)
		}
		return err
	}
	for _, ev := range staged {
		in.m.apply(ev)
	}
	if in.lostAcks.Add(-1) >= 0 {
		return errors.New("connection reset after COMMIT was sent")
	}
	return nil
}

// handle is the projection's handler: it stages ev, and watches for two
// live owners inside one shard's handlers at once.
func (in *instance) handle(ctx context.Context, ev *eventstore.Event) error {
	staged := ctx.Value(stagedKey{}).(*[]*eventstore.Event)
	if !in.dead.Load() {
		in.mu.Lock()
		if o, busy := in.inHand[ev.Position.ShardID]; busy && o != in.owner {
			in.overlap = append(in.overlap, fmt.Sprintf("%s: %s and %s", ev.Position.ShardID, o, in.owner))
		}
		in.inHand[ev.Position.ShardID] = in.owner
		in.mu.Unlock()
		defer func() {
			in.mu.Lock()
			delete(in.inHand, ev.Position.ShardID)
			in.mu.Unlock()
		}()
	}
	*staged = append(*staged, ev)
	return nil
}

func (in *instance) projection() *projection.Projection {
	p := projection.New("shared")
	projection.On(p, func(ctx context.Context, ev projection.Event[placed]) error { return in.handle(ctx, ev.Event) })
	projection.On(p, func(ctx context.Context, ev projection.Event[paid]) error { return in.handle(ctx, ev.Event) })
	return p
}

// leaseObserver counts the leases each owner holds.
type leaseObserver struct {
	projection.NopObserver
	mu   sync.Mutex
	held map[string]map[string]bool // owner → shards
}

func (o *leaseObserver) Lease(c projection.LeaseChange) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.held[c.Owner] == nil {
		o.held[c.Owner] = map[string]bool{}
	}
	if c.Held {
		o.held[c.Owner][c.Shard] = true
	} else {
		delete(o.held[c.Owner], c.Shard)
	}
}

func (o *leaseObserver) count(owner string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.held[owner])
}

// TestLeasesShareShards runs two and three instances over 8 shards with
// events arriving all along: the shards are balanced among them, one
// instance is killed mid-stream (its store calls fail, its leases are
// never released), the others take its shards over once its leases
// expire, and every event reaches the read model exactly once, each
// stream in order.
func TestLeasesShareShards(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d instances", n), func(t *testing.T) {
			t.Parallel()
			s := newStore(t, "memory", 8)
			sh := &shared{store: projection.NewMemoryStore(), m: newModel(), inHand: map[string]string{}, holders: map[string][]string{}}
			obs := &leaseObserver{held: map[string]map[string]bool{}}
			const ttl = 300 * time.Millisecond
			var insts []*instance
			var stops []func() error
			for i := range n {
				in := &instance{shared: sh, owner: fmt.Sprintf("node-%d", i)}
				insts = append(insts, in)
				r, err := projection.NewRunner(s, projection.Options{
					Checkpoints: in, Owner: in.owner, LeaseTTL: ttl, BatchSize: 20, Observer: obs,
					Logger: discardLogger(),
				}, in.projection())
				require.NoError(t, err)
				stops = append(stops, runInBackground(t, r))
				time.Sleep(ttl / 2) // join one after another
			}

			// A writer appends all along.
			const streams = 64
			var written atomic.Int64
			writerDone := make(chan struct{})
			stopWriting := make(chan struct{})
			go func() {
				defer close(writerDone)
				for v := uint64(1); ; v++ {
					for i := range streams {
						select {
						case <-stopWriting:
							return
						default:
						}
						var ev any = paid{Cents: int(v)}
						if v == 1 {
							ev = placed{}
						}
						if _, err := s.Append(context.Background(), prefixID("s", i), eventstore.Exact(v-1), ev); err != nil {
							t.Errorf("append: %v", err)
							return
						}
						written.Add(1)
					}
					time.Sleep(2 * time.Millisecond)
				}
			}()

			// Every instance gets a fair share.
			require.Eventually(t, func() bool {
				for _, in := range insts {
					if c := obs.count(in.owner); c < 8/n || c > (8+n-1)/n {
						return false
					}
				}
				return true
			}, 10*time.Second, 10*time.Millisecond, "balanced")
			for _, in := range insts {
				t.Logf("%s holds %d shards", in.owner, obs.count(in.owner))
			}

			// Kill the last instance mid-stream.
			victim := insts[n-1]
			victimShards := obs.count(victim.owner)
			require.Positive(t, victimShards)
			victim.dead.Store(true)
			killedAt := written.Load()
			require.Eventually(t, func() bool {
				total := 0
				for _, in := range insts[:n-1] {
					total += obs.count(in.owner)
				}
				return total == 8
			}, 10*time.Second, 10*time.Millisecond, "the survivors take the victim's shards")

			time.Sleep(100 * time.Millisecond)
			close(stopWriting)
			<-writerDone
			total := written.Load()
			require.Greater(t, total, killedAt, "events arrived after the kill")
			require.Eventually(t, func() bool { return sh.m.total() >= int(total) }, 20*time.Second, 10*time.Millisecond)
			time.Sleep(50 * time.Millisecond) // anything extra would show now
			for _, stop := range stops[:n-1] {
				require.NoError(t, stop())
			}
			if err := stops[n-1](); err != nil { // it may still be retrying its store
				assert.ErrorIs(t, err, errDead)
			}

			sh.m.mu.Lock()
			assert.Empty(t, sh.m.bad, "per-stream order")
			assert.Len(t, sh.m.applied, int(total), "every event applied")
			for id, c := range sh.m.applied {
				assert.Equal(t, 1, c, "event %s applied %d times", id, c)
			}
			sh.m.mu.Unlock()
			sh.mu.Lock()
			defer sh.mu.Unlock()
			assert.Empty(t, sh.overlap, "two live instances in one shard")
			moved := 0
			for _, hs := range sh.holders {
				if i := slices.Index(hs, victim.owner); i >= 0 && i < len(hs)-1 {
					moved++
				}
			}
			assert.Equal(t, victimShards, moved, "each of the victim's shards changed hands")
		})
	}
}

// TestGracefulHandOver: an instance that stops gracefully releases its
// leases and leaves, so the other takes its shards at its next renewal
// rather than after the TTL; nothing is applied twice.
func TestGracefulHandOver(t *testing.T) {
	t.Parallel()
	s := newStore(t, "memory", 4)
	appendOrders(t, s, "g", 40, 2)
	sh := &shared{store: projection.NewMemoryStore(), m: newModel(), inHand: map[string]string{}, holders: map[string][]string{}}
	obs := &leaseObserver{held: map[string]map[string]bool{}}
	const ttl = 3 * time.Second
	var stops []func() error
	for i := range 2 {
		in := &instance{shared: sh, owner: fmt.Sprintf("node-%d", i)}
		r, err := projection.NewRunner(s, projection.Options{Checkpoints: in, Owner: in.owner, LeaseTTL: ttl, Observer: obs, Logger: discardLogger()}, in.projection())
		require.NoError(t, err)
		stops = append(stops, runInBackground(t, r))
	}
	require.Eventually(t, func() bool { return obs.count("node-0") == 2 && obs.count("node-1") == 2 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return sh.m.total() == 80 }, 10*time.Second, 10*time.Millisecond)
	start := time.Now()
	require.NoError(t, stops[1]())
	appendOrders(t, s, "h", 40, 1)
	require.Eventually(t, func() bool { return obs.count("node-0") == 4 }, 2*ttl, 10*time.Millisecond)
	assert.Less(t, time.Since(start), ttl, "taken over at a renewal, before the TTL ran out")
	require.Eventually(t, func() bool { return sh.m.total() == 120 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, stops[0]())
	sh.m.check(t, "g", 40, 2)
	sh.m.check(t, "h", 40, 1)
}

// TestFencedCommit pauses an instance in the middle of a commit while it
// is cut off from the lease store, as a long GC pause or a partition
// would: its lease expires, the other instance takes the shard over, and
// when the paused commit resumes, the fencing token refuses it; every
// event is still applied once.
func TestFencedCommit(t *testing.T) {
	t.Parallel()
	s := newStore(t, "memory", 2)
	sh := &shared{store: projection.NewMemoryStore(), m: newModel(), inHand: map[string]string{}, holders: map[string][]string{}}
	obs := &leaseObserver{held: map[string]map[string]bool{}}
	const ttl = 200 * time.Millisecond
	var insts []*instance
	for i := range 2 {
		in := &instance{shared: sh, owner: fmt.Sprintf("node-%d", i)}
		insts = append(insts, in)
		r, err := projection.NewRunner(s, projection.Options{Checkpoints: in, Owner: in.owner, LeaseTTL: ttl, Observer: obs, Logger: discardLogger()}, in.projection())
		require.NoError(t, err)
		runInBackground(t, r)
	}
	require.Eventually(t, func() bool { return obs.count("node-0") == 1 && obs.count("node-1") == 1 }, 10*time.Second, 10*time.Millisecond)
	victim := insts[1]
	var victimShard string
	obs.mu.Lock()
	for sh := range obs.held[victim.owner] {
		victimShard = sh
	}
	obs.mu.Unlock()

	stall := make(chan struct{})
	victim.stall.Store(&stall)
	victim.partitioned.Store(true)
	appendOrders(t, s, "f", 40, 2)
	// The other instance takes the victim's shard once its lease expires.
	require.Eventually(t, func() bool {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		hs := sh.holders[victimShard]
		return len(hs) > 1 && hs[len(hs)-1] == "node-0"
	}, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return sh.m.total() == 80 }, 10*time.Second, 10*time.Millisecond)
	// The paused commit resumes, with its stale token.
	victim.stall.Store(nil)
	close(stall)
	time.Sleep(100 * time.Millisecond)
	victim.partitioned.Store(false)
	appendOrders(t, s, "g", 40, 1)
	require.Eventually(t, func() bool { return sh.m.total() >= 120 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	sh.m.check(t, "f", 40, 2)
	sh.m.check(t, "g", 40, 1)
	assert.Positive(t, victim.fenced.Load(), "the paused commit was refused by its token")
}

// TestDeadlineReleasesLeases: a Run ended by its context's deadline stops
// as a cancelled one does: nil, and its leases given back.
func TestDeadlineReleasesLeases(t *testing.T) {
	t.Parallel()
	s := newStore(t, "memory", 2)
	appendOrders(t, s, "d", 10, 1)
	st := projection.NewMemoryStore()
	r, err := projection.NewRunner(s, projection.Options{Checkpoints: st, Owner: "solo", LeaseTTL: time.Minute, Logger: discardLogger()}, projectionInto("deadline", newModel()))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.NoError(t, r.Run(ctx))
	ls, err := st.Leases(context.Background(), "deadline")
	require.NoError(t, err)
	require.Len(t, ls, 2)
	for _, l := range ls {
		assert.True(t, l.Expired, "%s released", l.Shard)
		assert.Empty(t, l.Owner)
	}
}

// TestJoinGetsShare: an instance joining instances that hold their share
// rounded up still gets shards: with 4 shards, A and B hold 2 each until C
// joins; then the shares are 2, 1, 1.
func TestJoinGetsShare(t *testing.T) {
	t.Parallel()
	s := newStore(t, "memory", 4)
	st := projection.NewMemoryStore()
	obs := &leaseObserver{held: map[string]map[string]bool{}}
	start := func(owner string) {
		r, err := projection.NewRunner(s, projection.Options{Checkpoints: st, Owner: owner, LeaseTTL: 150 * time.Millisecond, Observer: obs, Logger: discardLogger()}, projectionInto("join", newModel()))
		require.NoError(t, err)
		runInBackground(t, r)
	}
	start("a")
	start("b")
	require.Eventually(t, func() bool { return obs.count("a") == 2 && obs.count("b") == 2 }, 5*time.Second, 5*time.Millisecond)
	start("c")
	require.Eventually(t, func() bool { return obs.count("a") == 2 && obs.count("b") == 1 && obs.count("c") == 1 }, 5*time.Second, 5*time.Millisecond,
		"shares 2/1/1")
}
