package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func TestCreateLoadSaveUpdateRoundTrip(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t)

		c, err := repo.Create(e.ctx, "c-1", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		require.Equal(t, counterState{ID: "c-1", Version: 1, StoredVersion: 1, Name: "ann", Seen: map[string]int{}}, stateOf(c))

		c, err = repo.Update(e.ctx, "c-1", func(c *Counter) error { return c.Inc(0, 1, 2) })
		require.NoError(t, err)
		require.Equal(t, counterState{ID: "c-1", Version: 2, StoredVersion: 2, Name: "ann", N: 2, Seen: map[string]int{"0/1": 1}}, stateOf(c))

		loaded, err := repo.Load(e.ctx, "c-1")
		require.NoError(t, err)
		require.Equal(t, stateOf(c), stateOf(loaded))
		require.Equal(t, 2, loaded.Applied(), "no snapshots: Load replays every event")

		// Load, run commands by hand, Save.
		require.NoError(t, loaded.Inc(0, 2, 3))
		require.NoError(t, loaded.Inc(0, 3, 4))
		require.Equal(t, uint64(4), loaded.Version())
		require.Equal(t, uint64(2), loaded.StoredVersion())
		require.Equal(t, []any{Incremented{0, 2, 3}, Incremented{0, 3, 4}}, loaded.Pending())
		res, err := repo.Save(e.ctx, loaded)
		require.NoError(t, err)
		require.Equal(t, "c-1", res.StreamID)
		require.Equal(t, uint64(3), res.FirstVersion)
		require.Equal(t, uint64(4), res.LastVersion)
		require.False(t, res.Deduplicated)
		require.Equal(t, res.First.ShardID, res.Last.ShardID, "one append lands in one shard")
		require.Equal(t, uint64(4), loaded.StoredVersion())
		require.Empty(t, loaded.Pending())

		require.Equal(t, []any{Opened{"ann"}, Incremented{0, 1, 2}, Incremented{0, 2, 3}, Incremented{0, 3, 4}}, e.eventData(t, "c-1"))
		evs := e.events(t, "c-1")
		requireDense(t, evs, 4)
		require.Equal(t, res.Last, evs[3].Position)
		for _, ev := range evs {
			require.Equal(t, "c-1", ev.StreamID)
		}
		require.Equal(t, "Opened", evs[0].Type, "Apply registers an unknown event type under its Go type name")
		require.Equal(t, "Incremented", evs[1].Type)

		again, err := repo.Load(e.ctx, "c-1")
		require.NoError(t, err)
		require.Equal(t, counterState{ID: "c-1", Version: 4, StoredVersion: 4, Name: "ann", N: 9,
			Seen: map[string]int{"0/1": 1, "0/2": 1, "0/3": 1}}, stateOf(again))
		require.Equal(t, stateOf(e.replay(t, "c-1")), stateOf(again))
	})
}

func TestOrderRoundTrip(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo, err := aggregate.NewRepository(e.store, Orders)
		require.NoError(t, err)

		_, err = repo.Create(e.ctx, "o-1", func(o *Order) error { return o.Place("ann") })
		require.NoError(t, err)
		_, err = repo.Update(e.ctx, "o-1", func(o *Order) error { return o.Ship("ups") })
		require.ErrorIs(t, err, ErrEmpty)
		o, err := repo.Update(e.ctx, "o-1", func(o *Order) error {
			if err := o.Add("apple", 2); err != nil {
				return err
			}
			if err := o.Add("apple", 1); err != nil {
				return err
			}
			return o.Ship("ups")
		})
		require.NoError(t, err)
		require.Equal(t, uint64(4), o.Version())

		loaded, err := repo.Load(e.ctx, "o-1")
		require.NoError(t, err)
		require.Equal(t, "ann", loaded.Customer)
		require.Equal(t, map[string]int{"apple": 3}, loaded.Items)
		require.True(t, loaded.Shipped)
		require.Equal(t, uint64(4), loaded.Version())
		_, err = repo.Create(e.ctx, "o-1", func(o *Order) error { return o.Place("bo") })
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
	})
}

func TestLoadMissingIsStreamNotFound(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t)

		c, err := repo.Load(e.ctx, "nobody")
		require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
		require.Nil(t, c)

		ran := false
		c, err = repo.Update(e.ctx, "nobody", func(c *Counter) error { ran = true; return c.Inc(0, 1, 1) })
		require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
		require.Nil(t, c)
		require.False(t, ran, "Update runs no command on a missing aggregate")
		require.Zero(t, e.version(t, "nobody"))
	})
}

func TestCreateOfExistingIDIsWrongExpectedVersion(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t)
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)

		// As many events as the stream has: the store compares event IDs.
		c, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("bo") })
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
		require.Nil(t, c)
		var wrong *eventstore.WrongExpectedVersionError
		require.ErrorAs(t, err, &wrong)
		require.Equal(t, eventstore.NoStream, wrong.Expected)
		require.Equal(t, uint64(1), wrong.Actual)

		// More events than the stream has.
		_, err = repo.Create(e.ctx, "c", func(c *Counter) error {
			if err := c.Open("cy"); err != nil {
				return err
			}
			return c.Inc(0, 1, 1)
		})
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)

		require.Equal(t, []any{Opened{"ann"}}, e.eventData(t, "c"))
	})
}

func TestSaveWithNothingRecordedIsANoOp(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t)

		// A new aggregate with nothing recorded creates no stream.
		n, err := repo.New("fresh")
		require.NoError(t, err)
		res, err := repo.Save(e.ctx, n)
		require.NoError(t, err)
		require.Equal(t, eventstore.AppendResult{StreamID: "fresh"}, res)
		_, err = repo.Load(e.ctx, "fresh")
		require.ErrorIs(t, err, eventstore.ErrStreamNotFound)

		_, err = repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		c, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		res, err = repo.Save(e.ctx, c)
		require.NoError(t, err)
		require.Equal(t, eventstore.AppendResult{StreamID: "c", LastVersion: 1}, res)
		require.Equal(t, uint64(1), e.version(t, "c"))

		// An Update whose command records nothing writes nothing.
		c, err = repo.Update(e.ctx, "c", func(*Counter) error { return nil })
		require.NoError(t, err)
		require.Equal(t, uint64(1), c.Version())
		require.Len(t, e.events(t, "c"), 1)
	})
}

func TestCommandErrorSavesNothing(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t)
		errRefused := errors.New("refused")

		// Create: a failing command leaves no stream, even if it recorded.
		c, err := repo.Create(e.ctx, "c", func(c *Counter) error {
			require.NoError(t, c.Open("ann"))
			return errRefused
		})
		require.Same(t, errRefused, err, "the command's error is returned as is")
		require.Nil(t, c)
		require.Zero(t, e.version(t, "c"))

		_, err = repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)

		// Update: events recorded before the error are not saved.
		c, err = repo.Update(e.ctx, "c", func(c *Counter) error {
			require.NoError(t, c.Inc(0, 1, 5))
			return errRefused
		})
		require.Same(t, errRefused, err)
		require.Nil(t, c)
		c, err = repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(0, 2, -1) })
		require.Same(t, ErrNonPositive, err)
		require.Nil(t, c)

		require.Equal(t, []any{Opened{"ann"}}, e.eventData(t, "c"))
	})
}

func TestSaveAgainAfterSuccessRecordsNothingNew(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t)
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)

		c, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		require.NoError(t, c.Inc(0, 1, 1))
		res, err := repo.Save(e.ctx, c)
		require.NoError(t, err)
		require.Equal(t, uint64(2), res.LastVersion)

		res, err = repo.Save(e.ctx, c)
		require.NoError(t, err)
		require.Equal(t, eventstore.AppendResult{StreamID: "c", LastVersion: 2}, res)
		require.Len(t, e.events(t, "c"), 2)

		// The saved aggregate stays usable: its stored version moved on.
		require.NoError(t, c.Inc(0, 2, 1))
		res, err = repo.Save(e.ctx, c)
		require.NoError(t, err)
		require.Equal(t, uint64(3), res.FirstVersion)
		require.Equal(t, uint64(3), res.LastVersion)
		require.Equal(t, []any{Opened{"ann"}, Incremented{0, 1, 1}, Incremented{0, 2, 1}}, e.eventData(t, "c"))
	})
}

func TestSaveConflictLeavesAggregateUnchanged(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t)
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)

		a, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		b, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		require.NoError(t, a.Inc(1, 1, 1))
		require.NoError(t, b.Inc(2, 1, 10))
		_, err = repo.Save(e.ctx, a)
		require.NoError(t, err)

		before := stateOf(b)
		_, err = repo.Save(e.ctx, b)
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
		var wrong *eventstore.WrongExpectedVersionError
		require.ErrorAs(t, err, &wrong)
		require.Equal(t, eventstore.Exact(1), wrong.Expected)
		require.Equal(t, uint64(2), wrong.Actual)
		require.Equal(t, before, stateOf(b))
		require.Equal(t, []any{Incremented{2, 1, 10}}, b.Pending())

		_, err = repo.Save(e.ctx, b)
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion, "saving a stale aggregate again still conflicts")
		require.Equal(t, []any{Opened{"ann"}, Incremented{1, 1, 1}}, e.eventData(t, "c"))
	})
}

// A Save whose append reached the log but whose caller saw an error is
// repeated with the same event IDs: the store recognises them.
func TestResaveAfterUncertainFailureIsIdempotent(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		var fe *faultyEngine
		e := newEnv(t, ek, withEngineWrapper(func(en shardlog.Engine) shardlog.Engine {
			fe = &faultyEngine{Engine: en}
			return fe
		}))
		repo := e.repo(t)
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)

		t.Run("ack lost", func(t *testing.T) {
			c, err := repo.Load(e.ctx, "c")
			require.NoError(t, err)
			require.NoError(t, c.Inc(0, 1, 1))
			require.NoError(t, c.Inc(0, 2, 1))
			fe.arm(lostAck)
			_, err = repo.Save(e.ctx, c)
			require.ErrorIs(t, err, errLostAck)
			require.NotErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
			require.Equal(t, uint64(1), c.StoredVersion(), "a failed Save leaves the aggregate as it was")
			require.Len(t, c.Pending(), 2)
			require.Equal(t, uint64(3), e.version(t, "c"), "the events did reach the log")

			res, err := repo.Save(e.ctx, c)
			require.NoError(t, err)
			require.True(t, res.Deduplicated)
			require.Equal(t, uint64(2), res.FirstVersion)
			require.Equal(t, uint64(3), res.LastVersion)
			require.Equal(t, uint64(3), c.StoredVersion())
			require.Empty(t, c.Pending())
			requireDense(t, e.events(t, "c"), 3)
		})

		t.Run("ack lost, then another writer", func(t *testing.T) {
			c, err := repo.Load(e.ctx, "c")
			require.NoError(t, err)
			require.NoError(t, c.Inc(0, 3, 1))
			require.NoError(t, c.Inc(0, 4, 1))
			fe.arm(lostAck)
			_, err = repo.Save(e.ctx, c)
			require.ErrorIs(t, err, errLostAck)
			_, err = repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(9, 1, 100) })
			require.NoError(t, err)

			res, err := repo.Save(e.ctx, c)
			require.NoError(t, err, "the events are found by ID below the other writer's")
			require.True(t, res.Deduplicated)
			require.Equal(t, uint64(4), res.FirstVersion)
			require.Equal(t, uint64(5), res.LastVersion)
			requireDense(t, e.events(t, "c"), 6)
		})

		t.Run("append failed", func(t *testing.T) {
			c, err := repo.Load(e.ctx, "c")
			require.NoError(t, err)
			require.NoError(t, c.Inc(0, 5, 1))
			fe.arm(failedAppend)
			_, err = repo.Save(e.ctx, c)
			require.ErrorIs(t, err, errLostAck)
			require.Equal(t, uint64(6), e.version(t, "c"))

			res, err := repo.Save(e.ctx, c)
			require.NoError(t, err)
			require.False(t, res.Deduplicated)
			require.Equal(t, uint64(7), res.LastVersion)
		})

		final, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		require.Equal(t, counterState{ID: "c", Version: 7, StoredVersion: 7, Name: "ann", N: 105,
			Seen: map[string]int{"0/1": 1, "0/2": 1, "0/3": 1, "0/4": 1, "0/5": 1, "9/1": 1}}, stateOf(final))
	})
}

func TestMetadataMergedFieldByField(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t)
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") },
			aggregate.WithMetadata(eventstore.Metadata{CorrelationID: "create"}))
		require.NoError(t, err)

		c, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		recMD := eventstore.Metadata{CorrelationID: "rec-corr", Fields: map[string]string{"user": "rec", "only-rec": "1"}}
		c.RecordWith(Incremented{0, 1, 1}, recMD)
		c.Record(Incremented{0, 2, 1})
		c.RecordWith(Incremented{0, 3, 1}, eventstore.Metadata{CausationID: "rec-cause"})
		_, err = repo.Save(e.ctx, c, aggregate.WithMetadata(eventstore.Metadata{
			CorrelationID: "save-corr",
			CausationID:   "save-cause",
			Fields:        map[string]string{"user": "save", "tenant": "t1"},
		}))
		require.NoError(t, err)
		require.Equal(t, map[string]string{"user": "rec", "only-rec": "1"}, recMD.Fields, "the recorded metadata is not modified")

		// Without WithMetadata, RecordWith's metadata is stored as is.
		c.RecordWith(Incremented{0, 4, 1}, eventstore.Metadata{Fields: map[string]string{"k": "v"}})
		c.Record(Incremented{0, 5, 1})
		_, err = repo.Save(e.ctx, c)
		require.NoError(t, err)

		// Update passes its options to Save.
		_, err = repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(0, 6, 1) },
			aggregate.WithMetadata(eventstore.Metadata{CausationID: "cmd-6"}))
		require.NoError(t, err)

		var got []eventstore.Metadata
		for _, ev := range e.events(t, "c") {
			got = append(got, ev.Metadata)
		}
		require.Equal(t, []eventstore.Metadata{
			{CorrelationID: "create"},
			{CorrelationID: "rec-corr", CausationID: "save-cause", Fields: map[string]string{"user": "rec", "only-rec": "1", "tenant": "t1"}},
			{CorrelationID: "save-corr", CausationID: "save-cause", Fields: map[string]string{"user": "save", "tenant": "t1"}},
			{CorrelationID: "save-corr", CausationID: "rec-cause", Fields: map[string]string{"user": "save", "tenant": "t1"}},
			{Fields: map[string]string{"k": "v"}},
			{},
			{CausationID: "cmd-6"},
		}, got)
	})
}

// ---------------------------------------------------------------------------
// Concurrency.

const (
	writers         = 16
	updatesPerWrite = 25
)

// barrier lets n goroutines through once all n have arrived.
func barrier(n int) func() {
	var wg sync.WaitGroup
	wg.Add(n)
	return func() { wg.Done(); wg.Wait() }
}

// Snapshots keep each Load short (a tail of at most 20 events): without
// them every retry replays up to 400 events, which takes tens of seconds
// under -race on a small machine. The no-retry test below runs without
// snapshots; the final check here replays the full history.
func TestConcurrentUpdatesWithRetriesApplyEveryCommandOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek, withSnapshotStore(eventstore.NewMemorySnapshots()))
		repo := e.repo(t, aggregate.WithRetries(10_000), aggregate.WithSnapshotEvery(20))
		_, err := repo.Create(e.ctx, "hot", func(c *Counter) error { return c.Open("hot") })
		require.NoError(t, err)

		var runs atomic.Int64
		wait := barrier(writers)
		errs := make(chan error, writers*updatesPerWrite)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				first := true
				for i := range updatesPerWrite {
					_, err := repo.Update(e.ctx, "hot", func(c *Counter) error {
						runs.Add(1)
						if first {
							// Every writer loads version 1 before any saves:
							// all but one must retry.
							first = false
							wait()
						}
						return c.Inc(w, i, 1)
					})
					if err != nil {
						errs <- fmt.Errorf("writer %d update %d: %w", w, i, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}

		total := writers * updatesPerWrite
		require.GreaterOrEqual(t, runs.Load(), int64(total+writers-1), "commands were re-run after conflicts")
		c, err := repo.Load(e.ctx, "hot")
		require.NoError(t, err)
		require.Equal(t, total, c.N)
		require.Equal(t, uint64(total+1), c.Version())
		want := map[string]int{}
		for w := range writers {
			for i := range updatesPerWrite {
				want[seenKey(w, i)] = 1
			}
		}
		require.Equal(t, want, c.Seen, "every increment exactly once")
		requireDense(t, e.events(t, "hot"), total+1)
		require.Equal(t, stateOf(e.replay(t, "hot")), stateOf(c), "the snapshot-based Load agrees with a full replay")
		t.Logf("%d command runs for %d updates", runs.Load(), total)
	})
}

func TestConcurrentUpdatesWithoutRetriesFailWithWrongExpectedVersion(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t, aggregate.WithRetries(0))
		_, err := repo.Create(e.ctx, "hot", func(c *Counter) error { return c.Open("hot") })
		require.NoError(t, err)

		var (
			mu       sync.Mutex
			ok       = map[string]int{}
			failures int
			others   []error
		)
		wait := barrier(writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range updatesPerWrite {
					runs := 0
					_, err := repo.Update(e.ctx, "hot", func(c *Counter) error {
						runs++
						if i == 0 {
							wait()
						}
						return c.Inc(w, i, 1)
					})
					mu.Lock()
					switch {
					case runs != 1:
						others = append(others, fmt.Errorf("writer %d update %d: command ran %d times with WithRetries(0)", w, i, runs))
					case err == nil:
						ok[seenKey(w, i)]++
					case errors.Is(err, eventstore.ErrWrongExpectedVersion):
						failures++
					default:
						others = append(others, err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Empty(t, others)
		require.GreaterOrEqual(t, failures, writers-1, "all writers loaded version 1 first; one save wins")
		require.Equal(t, writers*updatesPerWrite, failures+len(ok))

		// The successes are exactly the events stored.
		stored := map[string]int{}
		for _, d := range e.eventData(t, "hot")[1:] {
			inc := d.(Incremented)
			stored[seenKey(inc.Writer, inc.Seq)]++
		}
		require.Equal(t, ok, stored)
		c, err := repo.Load(e.ctx, "hot")
		require.NoError(t, err)
		require.Equal(t, ok, c.Seen)
		require.Equal(t, len(ok), c.N)
		requireDense(t, e.events(t, "hot"), len(ok)+1)
		t.Logf("%d saved, %d conflicts", len(ok), failures)
	})
}

// ---------------------------------------------------------------------------
// Resharding in the middle of an aggregate's history.

func TestUpdatesAcrossReshards(t *testing.T) {
	for _, snapshots := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshots=%v", snapshots), func(t *testing.T) {
			eachEngine(t, func(t *testing.T, ek engineKind) {
				var opts []envOption
				var repoOpts []aggregate.RepositoryOption
				var snaps *countingSnapshots
				if snapshots {
					snaps = newCountingSnapshots()
					opts = append(opts, withSnapshotStore(snaps))
					repoOpts = append(repoOpts, aggregate.WithSnapshotEvery(4))
				}
				e := newEnv(t, ek, opts...)
				repo := e.repo(t, repoOpts...)
				const id = "acct-7"
				_, err := repo.Create(e.ctx, id, func(c *Counter) error { return c.Open("ann") })
				require.NoError(t, err)
				seq := 0
				updates := func(n int) {
					t.Helper()
					for range n {
						seq++
						_, err := repo.Update(e.ctx, id, func(c *Counter) error { return c.Inc(0, seq, seq) })
						require.NoError(t, err)
					}
				}
				check := func(step string) {
					t.Helper()
					c, err := repo.Load(e.ctx, id)
					require.NoError(t, err, step)
					ref := e.replay(t, id)
					require.Equal(t, stateOf(ref), stateOf(c), step)
					require.Equal(t, uint64(seq+1), c.Version(), step)
					require.Equal(t, seq*(seq+1)/2, c.N, step)
					if snapshots {
						sv := snapshotVersion(t, snaps, id)
						require.Equal(t, uint64(seq+1)/4*4, sv, step)
						require.Equal(t, int(c.Version()-sv), c.Applied(), "%s: Load applies only the events after the snapshot", step)
					} else {
						require.Equal(t, seq+1, c.Applied(), step)
					}
				}
				reshard := func(step string, op func()) {
					t.Helper()
					before := e.shardOf(t, id).ShardID
					op()
					require.NotEqual(t, before, e.shardOf(t, id).ShardID, "%s moves the key to a new shard", step)
					check("after " + step)
				}

				updates(5) // versions 1-6
				check("before resharding")
				reshard("split", func() { e.splitShardOf(t, id) })
				updates(5) // 7-11
				check("after updates in the split child")
				reshard("merge", func() { e.mergeShardOf(t, id) })
				updates(5) // 12-16
				reshard("update shard count", func() {
					_, err := e.log.UpdateShardCount(e.ctx, shardlog.UpdateShardCountInput{StreamName: e.stream, TargetShardCount: len(e.openShards(t)) + 1})
					require.NoError(t, err)
				})
				updates(5) // 17-21
				check("at the end")

				evs := e.events(t, id)
				requireDense(t, evs, 21)
				shards := map[string]bool{}
				for _, ev := range evs {
					shards[ev.Position.ShardID] = true
				}
				require.Len(t, shards, 4, "the history spans the original shard and three successors")
			})
		})
	}
}

func TestConcurrentUpdatesDuringReshards(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t, aggregate.WithRetries(10_000))
		const id, w, n = "busy", 8, 15
		_, err := repo.Create(e.ctx, id, func(c *Counter) error { return c.Open("busy") })
		require.NoError(t, err)

		var done atomic.Int64
		errs := make(chan error, w*n+3)
		var wg sync.WaitGroup
		for g := range w {
			wg.Go(func() {
				for i := range n {
					if _, err := repo.Update(e.ctx, id, func(c *Counter) error { return c.Inc(g, i, 1) }); err != nil {
						errs <- err
					}
					done.Add(1)
				}
			})
		}
		// Reshard while the writers run, each step after some progress.
		waitFor := func(k int64) {
			for done.Load() < k {
				time.Sleep(100 * time.Microsecond)
			}
		}
		waitFor(w * n / 4)
		e.splitShardOf(t, id)
		waitFor(w * n / 2)
		e.mergeShardOf(t, id)
		waitFor(3 * w * n / 4)
		_, err = e.log.UpdateShardCount(e.ctx, shardlog.UpdateShardCountInput{StreamName: e.stream, TargetShardCount: len(e.openShards(t)) + 1})
		require.NoError(t, err)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}

		c, err := repo.Load(e.ctx, id)
		require.NoError(t, err)
		require.Equal(t, w*n, c.N)
		require.Len(t, c.Seen, w*n)
		for k, v := range c.Seen {
			require.Equal(t, 1, v, k)
		}
		requireDense(t, e.events(t, id), w*n+1)
	})
}

// ---------------------------------------------------------------------------
// Errors.

func TestRecordOfUnhandledEventFailsSave(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t)
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)

		c, err := repo.Load(e.ctx, "c")
		require.NoError(t, err)
		require.NoError(t, c.Inc(0, 1, 1))
		before := stateOf(c)
		c.Record(Unhandled{X: 1})
		var ue *aggregate.UnhandledEventError
		require.ErrorAs(t, c.Err(), &ue)
		require.Equal(t, &aggregate.UnhandledEventError{Aggregate: "counter", Event: "aggregate_test.Unhandled"}, ue)
		require.Equal(t, before, stateOf(c), "the state does not change")
		c.Record(Incremented{0, 2, 1})
		require.Equal(t, before, stateOf(c), "after a failed Record, later ones are ignored")

		_, err = repo.Save(e.ctx, c)
		require.ErrorAs(t, err, &ue)
		require.Equal(t, uint64(1), e.version(t, "c"), "nothing is saved, not even the events before")

		u, err := repo.Update(e.ctx, "c", func(c *Counter) error { c.Record(Unhandled{}); return nil })
		require.ErrorAs(t, err, &ue)
		require.Nil(t, u)
		_, err = repo.Create(e.ctx, "d", func(c *Counter) error { c.Record(Unhandled{}); return nil })
		require.ErrorAs(t, err, &ue)
		require.Equal(t, uint64(1), e.version(t, "c"))
		require.Zero(t, e.version(t, "d"))
	})
}

// Foreign is an event another service writes to the same stream.
type Foreign struct{ Note string }

func TestLoadOfStoredEventWithoutApplyFails(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t)
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		_, err = repo.Create(e.ctx, "d", func(c *Counter) error { return c.Open("bo") })
		require.NoError(t, err)

		// A registered type the Type has no Apply for.
		require.NoError(t, eventstore.Register[Unhandled](e.store.Registry(), "unhandled"))
		_, err = e.store.Append(e.ctx, "c", eventstore.Exact(1), Unhandled{X: 7})
		require.NoError(t, err)
		c, err := repo.Load(e.ctx, "c")
		var ue *aggregate.UnhandledEventError
		require.ErrorAs(t, err, &ue)
		require.Equal(t, "counter", ue.Aggregate)
		require.Nil(t, c)
		ran := false
		_, err = repo.Update(e.ctx, "c", func(c *Counter) error { ran = true; return nil })
		require.ErrorAs(t, err, &ue)
		require.False(t, ran)

		// A type name this store's registry does not know at all.
		reg := eventstore.NewRegistry()
		require.NoError(t, eventstore.Register[Foreign](reg, "foreign"))
		other := e.openStore(t, reg)
		_, err = other.Append(e.ctx, "d", eventstore.Exact(1), Foreign{Note: "hi"})
		require.NoError(t, err)
		_, err = repo.Load(e.ctx, "d")
		require.ErrorIs(t, err, eventstore.ErrUnknownEventType)
		var ut *eventstore.UnknownTypeError
		require.ErrorAs(t, err, &ut)
		require.Equal(t, "foreign", ut.Name)
	})
}

type noBase struct{ X int }

type pointerBase struct {
	*aggregate.Base
	X int
}

func TestNewRepositoryErrors(t *testing.T) {
	e := newEnv(t, engineKinds[0])

	t.Run("state without Base", func(t *testing.T) {
		typ := aggregate.Define[noBase]("nobase", aggregate.Apply(func(s *noBase, e Opened) {}))
		_, err := aggregate.NewRepository(e.store, typ)
		require.ErrorContains(t, err, "does not embed aggregate.Base")
		s, err := typ.New("x")
		require.ErrorContains(t, err, "does not embed aggregate.Base")
		require.Nil(t, s)
		_, err = typ.Replay("x", Opened{})
		require.Error(t, err)
	})

	t.Run("state embedding *Base", func(t *testing.T) {
		typ := aggregate.Define[pointerBase]("ptrbase")
		require.NotPanics(t, func() {
			_, err := aggregate.NewRepository(e.store, typ)
			require.ErrorContains(t, err, "embeds *aggregate.Base")
			s, err := typ.New("x")
			require.ErrorContains(t, err, "embeds *aggregate.Base")
			require.Nil(t, s)
		})
	})

	t.Run("negative retries", func(t *testing.T) {
		_, err := aggregate.NewRepository(e.store, Counters, aggregate.WithRetries(-1))
		require.ErrorContains(t, err, "WithRetries(-1)")
		_, err = aggregate.NewRepository(e.store, Counters, aggregate.WithRetries(0))
		require.NoError(t, err)
	})

	t.Run("snapshot policy without snapshot store", func(t *testing.T) {
		require.Nil(t, e.store.Snapshots())
		_, err := aggregate.NewRepository(e.store, Counters, aggregate.WithSnapshotEvery(10))
		require.ErrorContains(t, err, "eventstore.WithSnapshots")
		_, err = aggregate.NewRepository(e.store, Counters,
			aggregate.WithSnapshotWhen(func(*Counter, uint64, uint64) bool { return true }))
		require.ErrorContains(t, err, "eventstore.WithSnapshots")
	})

	t.Run("WithSnapshotWhen of another state type", func(t *testing.T) {
		store := newEnv(t, engineKinds[0], withSnapshotStore(eventstore.NewMemorySnapshots())).store
		_, err := aggregate.NewRepository(store, Counters,
			aggregate.WithSnapshotWhen(func(*Order, uint64, uint64) bool { return true }))
		require.ErrorContains(t, err, "WithSnapshotWhen")
	})

	t.Run("event type name taken", func(t *testing.T) {
		reg := eventstore.NewRegistry()
		require.NoError(t, eventstore.Register[Foreign](reg, "Incremented"))
		_, err := aggregate.NewRepository(e.openStore(t, reg), Counters)
		require.ErrorContains(t, err, "aggregate counter")
		require.ErrorContains(t, err, `"Incremented"`)
	})
}

func TestEventRegisteredByTheUserKeepsItsName(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		require.NoError(t, eventstore.Register[Opened](e.store.Registry(), "counter.opened"))
		repo := e.repo(t)
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)
		require.Equal(t, "counter.opened", e.events(t, "c")[0].Type)
		name, _, ok := eventstore.Lookup[Incremented](e.store.Registry())
		require.True(t, ok)
		require.Equal(t, "Incremented", name)
	})
}

func TestRecordOnAggregateNotMadeByTheRepository(t *testing.T) {
	e := newEnv(t, engineKinds[0])
	repo := e.repo(t)
	var c Counter
	require.NoError(t, c.Inc(0, 1, 1))
	require.ErrorContains(t, c.Err(), "not made by a Repository")
	require.Zero(t, c.Version())
	_, err := repo.Save(e.ctx, &c)
	require.ErrorContains(t, err, "not made by a Repository")
}

func TestTypeAccessorsAndReplay(t *testing.T) {
	require.Equal(t, "counter", Counters.Name())
	evs := Counters.Events()
	require.Equal(t, []reflect.Type{reflect.TypeFor[Opened](), reflect.TypeFor[Incremented](), reflect.TypeFor[Renamed]()}, evs)
	evs[0] = nil
	require.Equal(t, reflect.TypeFor[Opened](), Counters.Events()[0], "Events returns a copy")

	c, err := Counters.Replay("r", Opened{"ann"}, Incremented{0, 1, 2}, Renamed{"bo"})
	require.NoError(t, err)
	require.Equal(t, counterState{ID: "r", Version: 3, StoredVersion: 3, Name: "bo", N: 2, Seen: map[string]int{"0/1": 1}}, stateOf(c))
	_, err = Counters.Replay("r", Opened{"ann"}, Unhandled{})
	var ue *aggregate.UnhandledEventError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, "aggregate counter: no Apply for event aggregate_test.Unhandled", ue.Error())

	// A later Apply for the same event type replaces the earlier one.
	typ := aggregate.Define[Counter]("twice",
		aggregate.Apply(func(c *Counter, e Renamed) { c.Name = "first" }),
		aggregate.Apply(func(c *Counter, e Renamed) { c.Name = "second:" + e.Name }),
	)
	require.Len(t, typ.Events(), 1)
	r, err := typ.Replay("x", Renamed{"z"})
	require.NoError(t, err)
	require.Equal(t, "second:z", r.Name)

	n, err := Counters.New("n")
	require.NoError(t, err)
	require.Equal(t, counterState{ID: "n", Seen: nil}, stateOf(n))
}

func TestUpdateStopsRetryingWhenTheContextEnds(t *testing.T) {
	eachEngine(t, func(t *testing.T, ek engineKind) {
		e := newEnv(t, ek)
		repo := e.repo(t, aggregate.WithRetries(1_000_000))
		_, err := repo.Create(e.ctx, "c", func(c *Counter) error { return c.Open("ann") })
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(e.ctx)
		runs := 0
		_, err = repo.Update(ctx, "c", func(c *Counter) error {
			runs++
			if runs == 3 {
				cancel()
			}
			// Another writer always gets in first.
			_, err := repo.Update(e.ctx, "c", func(c *Counter) error { return c.Inc(1, runs, 1) })
			require.NoError(t, err)
			return c.Inc(0, runs, 1)
		})
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 3, runs)
		require.Equal(t, map[string]int{"1/1": 1, "1/2": 1, "1/3": 1}, e.replay(t, "c").Seen)
	})
}

// An Apply for an unnamed event type cannot register it by name: the
// error says to register it explicitly.
func TestApplyUnnamedEventTypeNeedsRegister(t *testing.T) {
	type state struct {
		aggregate.Base
		N int
	}
	typ := aggregate.Define[state]("unnamed",
		aggregate.Apply(func(s *state, e struct{ N int }) { s.N += e.N }))
	e := newEnv(t, engineKinds[0])
	_, err := aggregate.NewRepository(e.store, typ)
	require.ErrorContains(t, err, "eventstore.Register")
}
