package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// TestGroupSemantics runs one group by hand: each member's condition sees
// the stored state and the members before it, a conflicting member fails
// alone, and the others are numbered in queue order, each batch at
// consecutive positions.
func TestGroupSemantics(t *testing.T) {
	pool := testPool(t)
	e := openEngine(t, pool, freshSchema(t, pool))
	_, refs := newStream(t, e, "s", 1, 1)
	ref := refs[0]
	stored, _, err := e.Append(t.Context(), ref, epoch, entries("old", 1), nil)
	require.NoError(t, err)

	req := func(recs []shardlog.Entry, cond *shardlog.Condition) *appendReq {
		return &appendReq{ctx: t.Context(), now: epoch.Add(time.Second), records: recs, cond: cond, done: make(chan struct{})}
	}
	group := []*appendReq{
		req(entries("k", 2), &shardlog.Condition{PartitionKey: "k"}),                       // k has none: wins
		req(entries("k", 1), &shardlog.Condition{PartitionKey: "k"}),                       // k has member 0's now: conflict
		req(entries("x", 3), nil),                                                          // unconditional
		req(entries("old", 1), &shardlog.Condition{PartitionKey: "old", Expected: stored}), // the stored latest: wins
		req(nil, &shardlog.Condition{PartitionKey: "old", Expected: stored}),               // member 3 changed it: conflict
		req(entries("k", 1), &shardlog.Condition{PartitionKey: "k"}),                       // filled in below
	}
	e.runGroup(ref, group[:5])

	require.NoError(t, group[0].err)
	var conflict *shardlog.ConflictError
	require.ErrorAs(t, group[1].err, &conflict)
	require.Equal(t, group[0].first.Position()+1, conflict.Actual.Position(), "member 1 sees member 0's last record of k")
	require.NoError(t, group[2].err)
	require.NoError(t, group[3].err)
	require.ErrorAs(t, group[4].err, &conflict)
	require.Equal(t, group[3].first, conflict.Actual, "member 4 sees member 3's record of old")
	require.Equal(t, group[0].first.Position()+2, group[2].first.Position(), "member 2 follows member 0")
	require.Equal(t, group[2].first.Position()+3, group[3].first.Position(), "member 3 follows member 2")

	got := readAll(t, e, ref)
	require.Len(t, got, 1+2+3+1)
	var keys []string
	for _, r := range got[1:] {
		keys = append(keys, string(r.Data))
	}
	require.Equal(t, []string{"k/0", "k/1", "x/0", "x/1", "x/2", "old/0"}, keys, "members 0, 2, 3 in queue order, 1 and 4 absent")

	// The next group's conditions see what the previous one committed.
	group[5].cond.Expected = shardlog.MakeSequenceNumber(group[0].first.Position()+1, ref.Index)
	e.runGroup(ref, group[5:])
	require.NoError(t, group[5].err)
}

// TestGroupCommitConcurrent: goroutines race conditional appends of one
// key on one shard, round after round, with the same expectation, while
// others append unconditionally to the same shard. Exactly one
// conditional append wins each round, the losers are told the winner's
// number, and every acknowledged record is stored exactly once, each
// batch contiguous.
func TestGroupCommitConcurrent(t *testing.T) {
	pool := testPool(t)
	e := openEngine(t, pool, freshSchema(t, pool))
	_, refs := newStream(t, e, "s", 1, 1)
	ref := refs[0]
	const (
		racers = 12
		rounds = 15
		others = 4
		puts   = 30
	)
	ctx := t.Context()

	var (
		mu     sync.Mutex
		acked  = map[string]shardlog.SequenceNumber{} // data of each acknowledged batch's first record → its number
		sizes  = map[string]int{}
		stop   = make(chan struct{})
		wgPuts sync.WaitGroup
	)
	for g := range others {
		wgPuts.Add(1)
		go func() {
			defer wgPuts.Done()
			for i := 0; i < puts; i++ {
				recs := entries(fmt.Sprintf("u%d-%d", g, i), 1+i%3)
				first, _, err := e.Append(ctx, ref, time.Now(), recs, nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[string(recs[0].Data)], sizes[string(recs[0].Data)] = first, len(recs)
				mu.Unlock()
			}
		}()
	}

	var expected shardlog.SequenceNumber // the key's latest: zero at first
	for round := range rounds {
		type result struct {
			first shardlog.SequenceNumber
			err   error
			data  string
		}
		results := make([]result, racers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				recs := entries(fmt.Sprintf("r%d-%d", round, i), 2)
				recs[0].PartitionKey, recs[1].PartitionKey = "key", "key"
				first, _, err := e.Append(ctx, ref, time.Now(), recs, &shardlog.Condition{PartitionKey: "key", Expected: expected})
				results[i] = result{first, err, string(recs[0].Data)}
			}()
		}
		close(start)
		wg.Wait()
		winners := 0
		var winner result
		for _, r := range results {
			if r.err == nil {
				winners++
				winner = r
			}
		}
		require.Equal(t, 1, winners, "round %d: exactly one append with expectation %s wins", round, expected)
		latest := shardlog.MakeSequenceNumber(winner.first.Position()+1, ref.Index)
		for _, r := range results {
			if r.err != nil {
				var c *shardlog.ConflictError
				require.ErrorAs(t, r.err, &c, "round %d", round)
				require.Equal(t, latest, c.Actual, "round %d: a loser is told the winner's last record", round)
			}
		}
		mu.Lock()
		acked[winner.data], sizes[winner.data] = winner.first, 2
		mu.Unlock()
		expected = latest
	}
	close(stop)
	wgPuts.Wait()

	got := readAll(t, e, ref)
	seen := map[string]int{}
	for i, r := range got {
		if i > 0 {
			require.Less(t, got[i-1].SequenceNumber.Position(), r.SequenceNumber.Position())
		}
		seen[string(r.Data)]++
	}
	total := 0
	for first, sn := range acked {
		n := sizes[first]
		total += n
		// The batch is stored once, contiguous from its acknowledged number.
		idx := -1
		for i, r := range got {
			if r.SequenceNumber == sn {
				idx = i
			}
		}
		require.GreaterOrEqual(t, idx, 0, "batch %s acknowledged at %s is stored", first, sn)
		prefix := first[:len(first)-2] // "<key>/0" → "<key>"
		for j := range n {
			require.Equal(t, fmt.Sprintf("%s/%d", prefix, j), string(got[idx+j].Data), "batch %s contiguous", first)
			require.Equal(t, sn.Position()+uint64(j), got[idx+j].SequenceNumber.Position())
			require.Equal(t, 1, seen[string(got[idx+j].Data)], "record %s stored once", got[idx+j].Data)
		}
	}
	require.Len(t, got, total, "nothing stored that was not acknowledged")
}

// TestGroupCommitSealRace: appends racing a seal either commit before it
// (at or below the number Seal returns) or fail with ErrShardSealed;
// none fails otherwise, and every acknowledged one is stored.
func TestGroupCommitSealRace(t *testing.T) {
	pool := testPool(t)
	e := openEngine(t, pool, freshSchema(t, pool))
	_, refs := newStream(t, e, "s", 1, 1)
	ref := refs[0]
	var (
		mu    sync.Mutex
		acked []shardlog.SequenceNumber
		wg    sync.WaitGroup
	)
	sealed := make(chan shardlog.SequenceNumber, 1)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				first, _, err := e.Append(t.Context(), ref, time.Now(), entries(fmt.Sprintf("g%d-%d", g, i), 1), nil)
				if errors.Is(err, shardlog.ErrShardSealed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, first)
				mu.Unlock()
				if g == 0 && i == 20 {
					go func() {
						last, err := e.Seal(context.Background(), ref)
						if err != nil {
							t.Error(err)
						}
						sealed <- last
					}()
				}
			}
		}()
	}
	wg.Wait()
	last := <-sealed
	got := readAll(t, e, ref)
	require.Len(t, got, len(acked), "every acknowledged append is stored, nothing else")
	require.Equal(t, last, got[len(got)-1].SequenceNumber, "Seal counts every append committed before it")
	for _, sn := range acked {
		require.LessOrEqual(t, sn.Position(), last.Position())
	}
}

// TestNotifyRecheck: a Notify channel is closed after notifyRecheck even
// if no notification comes, so a reader in another process finds records
// whose NOTIFY was lost (their writer died between COMMIT and NOTIFY).
func TestNotifyRecheck(t *testing.T) {
	defer func(d time.Duration) { notifyRecheck = d }(notifyRecheck)
	notifyRecheck = 200 * time.Millisecond
	pool := testPool(t)
	schema := freshSchema(t, pool)
	writer := openEngine(t, pool, schema)
	reader := openEngine(t, pool, schema)
	_, refs := newStream(t, writer, "s", 1, 1)
	requireChange(t, reader, "s")
	ref := refs[0]
	_, _, err := writer.Append(t.Context(), ref, time.Now(), entries("first", 1), nil) // creates the partitions
	require.NoError(t, err)
	time.Sleep(3 * notifyRecheck) // its notification is delivered and past

	created := time.Now() // before Notify, which starts the re-check timer
	waiter := reader.Notify(ref)
	// The writer commits and "dies" before its NOTIFY: appendGroup is the
	// transaction alone, without the wake-up runGroup sends after it.
	r := &appendReq{ctx: t.Context(), now: time.Now(), records: entries("k", 1), done: make(chan struct{})}
	_, err = writer.appendGroup(t.Context(), ref, []*appendReq{r})
	require.NoError(t, err)
	require.NoError(t, r.err)
	requireWoken(t, waiter, "a waiter whose notification was lost")
	require.GreaterOrEqual(t, time.Since(created), notifyRecheck, "woken by the re-check timer, not by a notification")
	got, err := reader.Read(t.Context(), ref, shardlog.SequenceNumber{}, 10, 1<<20)
	require.NoError(t, err)
	require.Len(t, got, 2, "the re-check finds the record")

	// And with nothing appended at all, a waiter is still woken.
	requireWoken(t, reader.Notify(ref), "an idle waiter after notifyRecheck")
}
