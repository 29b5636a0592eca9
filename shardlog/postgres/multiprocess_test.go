package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/internal/killtest"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/postgres"
)

// The multi-process kill -9 proof of the PostgreSQL engine. Three child
// processes (this test binary, re-executed) open one log (one schema,
// fresh for the run) on the server in SHOAL_TEST_POSTGRES, each through
// its own engine and Log. In every child, goroutines write without pause:
// PutRecord and PutRecords on a few keys every child writes, and AppendKey
// with ExpectedSequenceNumber (from LastKey, or from the Actual of the
// conflict it just got) on a few other keys, so that conditional appends
// of different processes conflict. The child in slot 0 also splits and
// merges shards in a loop. Each operation is printed before it is sent
// (MS) and its outcome after it returned (MA for an acknowledgement with
// its sequence numbers, MR for a conflict).
//
// Every second (with up to ±250 ms of jitter) the parent SIGKILLs one
// child, picked at random, in the middle of its transactions, and starts
// a new one in its slot; a kill may also land in a reshard or in Open.
// After the last kill it kills the other two, opens a fresh Log and
// checks (mpcheck):
//
//   - every acknowledged record is in the log exactly once, in the shard
//     and at the sequence number its acknowledgement gave, its bytes what
//     the writer sent;
//   - no record is there twice; every record there was sent by a writer;
//     a record that was not acknowledged is there only if its operation
//     was cut by a kill (it committed before the kill: allowed, once),
//     never if its operation was answered with a conflict; an AppendKey
//     batch is whole (all its records, at consecutive positions) or absent;
//   - ReadKey of every key yields the records the shard scan found for it,
//     with sequence numbers increasing; the records of one writer (one
//     goroutine, which waits for each acknowledgement) appear in the order
//     it wrote them;
//   - the records of each conditional key form one chain: every AppendKey
//     batch expected exactly the sequence number of the record before it
//     (zero for the first), across processes, kills and reshards;
//   - the Log the parent kept open during the run, which learnt of the
//     reshards from the other processes only, reads the same by key;
//   - and the run did what it claims: conflicts happened, splits and
//     merges were acknowledged, and kills cut operations in flight.
//
// Knobs: SHOAL_KILL_CYCLES sets the number of kills (one a second;
// default 20, 5 with -short) for soak runs, SHOAL_KILL_SEED_PARENT
// replays the parent's choices (the kill times still vary), and
// SHOAL_KILL_KEEP=1 keeps the schema (its name is logged).
const (
	mpEnvSchema = "SHOAL_MPKILL_SCHEMA" // the log's schema; the child runs only if set
	mpEnvSlot   = "SHOAL_MPKILL_SLOT"   // 0-2; slot 0 reshards
	mpEnvGen    = "SHOAL_MPKILL_GEN"    // how many children ran in the slot before
	mpEnvSeed   = "SHOAL_MPKILL_SEED"   // the child's random seed

	mpEnvCycles = "SHOAL_KILL_CYCLES"
	mpEnvSeedP  = "SHOAL_KILL_SEED_PARENT"
	mpEnvKeep   = "SHOAL_KILL_KEEP"

	mpFail   = "MPFAIL"
	mpReady  = "MPREADY"
	mpStream = "mpkill"

	mpChildren    = 3
	mpShards      = 4 // at creation; the resharder keeps 2-8 open
	mpMinOpen     = 2
	mpMaxOpen     = 8
	mpPutWriters  = 2 // PutRecord goroutines per child
	mpBatchWriter = 1 // PutRecords goroutines per child
	mpCondWriters = 2 // AppendKey goroutines per child
	mpMaxBatch    = 8 // PutRecords entries
	mpMaxCond     = 3 // AppendKey records
)

// The keys every child writes: mpPutKeys by PutRecord(s), mpCondKeys by
// AppendKey only, so that each conditional key's records form a chain.
var (
	mpPutKeys  = []string{"put-0", "put-1", "put-2", "put-3", "put-4", "put-5"}
	mpCondKeys = []string{"cond-0", "cond-1", "cond-2", "cond-3"}
)

// mpOpen opens a Log on the schema through a new engine, as each process
// does.
func mpOpen(ctx context.Context, url, schema string) (*shardlog.Log, error) {
	eng, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		return nil, fmt.Errorf("postgres.Open: %w", err)
	}
	l, err := shardlog.Open(ctx, eng, shardlog.WithRetentionInterval(0))
	if err != nil {
		_ = eng.Close()
		return nil, fmt.Errorf("shardlog.Open: %w", err)
	}
	return l, nil
}

// TestMultiProcessKill is the parent: see the comment above.
func TestMultiProcessKill(t *testing.T) {
	url := pgtest.URL(t)
	killtest.SkipUnlessSIGKILL(t)
	kills := 20
	if testing.Short() {
		kills = 5
	}
	kills = killtest.Cycles(mpEnvCycles, kills)
	rng := killtest.Rand(t, mpEnvSeedP)
	ctx := t.Context()

	pool := pgtest.Pool(t)
	schema := pgtest.UniqueName("shoal_mpkill_")
	if os.Getenv(mpEnvKeep) == "1" {
		t.Logf("schema %s (kept)", schema)
	} else {
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := pool.Exec(cctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
		})
	}

	// The watcher: a Log open for the whole run that writes nothing after
	// creating the stream, and so learns of reshards from the others.
	watcher, err := mpOpen(ctx, url, schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = watcher.Close() })
	if err := watcher.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: mpStream, ShardCount: mpShards}); err != nil {
		t.Fatal(err)
	}

	start := func(slot, gen int) *killtest.Child {
		return killtest.Start(t, killtest.Config{
			Test: "TestMultiProcessKillChild",
			Env: []string{
				mpEnvSchema + "=" + schema,
				fmt.Sprintf("%s=%d", mpEnvSlot, slot),
				fmt.Sprintf("%s=%d", mpEnvGen, gen),
				fmt.Sprintf("%s=%d", mpEnvSeed, rng.Uint64()),
			},
			Fail:  mpFail,
			Marks: []string{mpReady},
		})
	}
	var h mpHistory
	children := make([]*killtest.Child, mpChildren)
	gens := make([]int, mpChildren)
	for slot := range children {
		children[slot] = start(slot, 0)
	}
	for slot, c := range children {
		c.Await(t, mpReady, fmt.Sprintf("READY (slot %d)", slot))
	}

	began := time.Now()
	next := began
	for k := range kills {
		next = next.Add(time.Second)
		time.Sleep(time.Until(next.Add(time.Duration(rng.IntN(501)-250) * time.Millisecond)))
		slot := rng.IntN(mpChildren)
		lines := children[slot].Kill(t)
		inFlight, err := h.add(lines)
		if err != nil {
			t.Fatalf("kill %d (slot %d, generation %d): %v", k+1, slot, gens[slot], err)
		}
		t.Logf("kill %d at %v: slot %d generation %d, %d lines, %d operations in flight%s",
			k+1, time.Since(began).Round(time.Millisecond), slot, gens[slot], len(lines), len(inFlight), mpDescribe(inFlight))
		h.cutOps += len(inFlight)
		if len(inFlight) > 0 {
			h.cutKills++
		}
		gens[slot]++
		children[slot] = start(slot, gens[slot])
	}
	// The other children end the same way, cut in the middle too.
	for slot, c := range children {
		select {
		case <-c.Mark(mpReady):
		case <-c.Exited():
		case <-time.After(time.Minute):
		}
		lines := c.Kill(t)
		inFlight, err := h.add(lines)
		if err != nil {
			t.Fatalf("final kill (slot %d, generation %d): %v", slot, gens[slot], err)
		}
		h.cutOps += len(inFlight)
		t.Logf("final kill: slot %d generation %d, %d lines, %d operations in flight", slot, gens[slot], len(lines), len(inFlight))
	}
	t.Logf("%d kills in %v; %s", kills, time.Since(began).Round(time.Millisecond), h.summary())

	checked := time.Now()
	fresh, err := mpOpen(ctx, url, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	byKey := mpCheck(t, ctx, fresh, &h)
	mpCheckWatcher(t, ctx, watcher, byKey)
	t.Logf("checked in %v", time.Since(checked).Round(time.Millisecond))

	// The run did what it claims to test.
	if h.conflicts == 0 {
		t.Error("no conditional append conflicted: the writers of different processes never raced on a key")
	}
	if h.splits == 0 || h.merges == 0 {
		t.Errorf("%d splits and %d merges acknowledged: the resharder did not split and merge", h.splits, h.merges)
	}
	if h.cutKills == 0 {
		t.Error("no kill cut an operation in flight")
	}
}

// mpDescribe names a few of the operations cut by a kill.
func mpDescribe(ops []*mpOp) string {
	if len(ops) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(":")
	for i, op := range ops {
		if i == 4 {
			fmt.Fprintf(&b, " …")
			break
		}
		fmt.Fprintf(&b, " %s", op)
	}
	return b.String()
}
