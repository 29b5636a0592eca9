package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/killtest"
	"github.com/shoal-dev/shoal/internal/pgtest"
	"github.com/shoal-dev/shoal/shardlog"
)

// The child's side of TestMultiProcessKill. Every line it prints is one
// of these (W is the writer: slot.generation.goroutine; N the writer's
// operation counter, from 1):
//
//	MPREADY                    the Log is open, writers start
//	MS W N K                   operation N of W, of kind K (p, b, c, s
//	                           or m, as below), is about to be sent
//	MA p W N SEQ               PutRecord acknowledged
//	MA b W N SEQ SEQ...        PutRecords acknowledged, one SEQ per entry
//	MA c W N FIRST LAST        AppendKey acknowledged
//	MR c W N ACTUAL            AppendKey refused: the key's latest was ACTUAL
//	MA s W N                   SplitShard acknowledged
//	MA m W N                   MergeShards acknowledged
//	MPFAIL message             anything else went wrong; the child exits
//
// Every record's data names it (mpData): the parent checks the log
// against these lines.

// mpData is the data of record i of cnt of operation n of writer w, on
// key; expected is the ExpectedSequenceNumber of an AppendKey (op 'c'),
// "-" for the others.
func mpData(w string, op byte, key string, n, i, cnt int, expected string) []byte {
	return fmt.Appendf(nil, "mp|%s|%c|%s|%d|%d|%d|%s", w, op, key, n, i, cnt, expected)
}

// TestMultiProcessKillChild is a child of TestMultiProcessKill; it runs
// only when the parent sets SHOAL_MPKILL_SCHEMA, and never returns: the
// parent kills it.
func TestMultiProcessKillChild(t *testing.T) {
	schema := os.Getenv(mpEnvSchema)
	if schema == "" {
		t.Skip("child of TestMultiProcessKill: runs only when " + mpEnvSchema + " is set")
	}
	url := os.Getenv(pgtest.Env)
	out := killtest.NewOut(mpFail)
	slot, gen, seed := out.Int(mpEnvSlot), out.Int(mpEnvGen), out.Uint64(mpEnvSeed)
	ctx := context.Background()
	l, err := mpOpen(ctx, url, schema)
	if err != nil {
		out.Fail("open: %v", err)
	}
	out.WriteString(mpReady + "\n")
	g := 0
	spawn := func(f func(c *mpChild)) {
		c := &mpChild{out: out, log: l, w: fmt.Sprintf("%d.%d.%d", slot, gen, g), rng: rand.New(rand.NewPCG(seed, uint64(g)))}
		g++
		go f(c)
	}
	for range mpPutWriters {
		spawn((*mpChild).putRecords1)
	}
	for range mpBatchWriter {
		spawn((*mpChild).putRecords)
	}
	for range mpCondWriters {
		spawn((*mpChild).appendKeys)
	}
	if slot == 0 {
		spawn((*mpChild).reshard)
	}
	select {} // until killed
}

// mpChild is one goroutine of a child: a writer or the resharder.
type mpChild struct {
	out *killtest.Out
	log *shardlog.Log
	w   string
	rng *rand.Rand
	n   int
}

// send numbers the next operation, of kind kind, and prints that it is
// about to go.
func (c *mpChild) send(kind byte) int {
	c.n++
	c.out.WriteString(fmt.Sprintf("MS %s %d %c\n", c.w, c.n, kind))
	return c.n
}

// pause lets the other processes in now and then: 0-2 ms.
func (c *mpChild) pause() { time.Sleep(time.Duration(c.rng.IntN(2000)) * time.Microsecond) }

// putRecords1 puts one record at a time on the shared keys.
func (c *mpChild) putRecords1() {
	ctx := context.Background()
	for {
		key := mpPutKeys[c.rng.IntN(len(mpPutKeys))]
		n := c.send('p')
		res, err := c.log.PutRecord(ctx, shardlog.PutRecordInput{StreamName: mpStream, PartitionKey: key, Data: mpData(c.w, 'p', key, n, 0, 1, "-")})
		if err != nil {
			c.out.Fail("%s PutRecord %d on %s: %v", c.w, n, key, err)
		}
		if res.SequenceNumber.ShardID() != res.ShardID {
			c.out.Fail("%s PutRecord %d: shard %s, sequence number %s of %s", c.w, n, res.ShardID, res.SequenceNumber, res.SequenceNumber.ShardID())
		}
		c.out.WriteString(fmt.Sprintf("MA p %s %d %s\n", c.w, n, res.SequenceNumber))
		c.pause()
	}
}

// putRecords puts batches of 1-mpMaxBatch records on random shared keys.
func (c *mpChild) putRecords() {
	ctx := context.Background()
	for {
		cnt := 1 + c.rng.IntN(mpMaxBatch)
		n := c.send('b')
		entries := make([]shardlog.PutRecordsEntry, cnt)
		for i := range entries {
			key := mpPutKeys[c.rng.IntN(len(mpPutKeys))]
			entries[i] = shardlog.PutRecordsEntry{PartitionKey: key, Data: mpData(c.w, 'b', key, n, i, cnt, "-")}
		}
		res, err := c.log.PutRecords(ctx, shardlog.PutRecordsInput{StreamName: mpStream, Records: entries})
		if err != nil {
			c.out.Fail("%s PutRecords %d: %v", c.w, n, err)
		}
		if res.FailedRecordCount > 0 || len(res.Records) != cnt {
			// The stream has no provisioned limits: nothing is throttled,
			// and the server is up.
			for _, r := range res.Records {
				if r.Err != nil {
					c.out.Fail("%s PutRecords %d: %d of %d failed, as %s: %v", c.w, n, res.FailedRecordCount, cnt, r.ErrorCode, r.Err)
				}
			}
			c.out.Fail("%s PutRecords %d: %d results for %d entries", c.w, n, len(res.Records), cnt)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "MA b %s %d", c.w, n)
		for _, r := range res.Records {
			if r.SequenceNumber.ShardID() != r.ShardID {
				c.out.Fail("%s PutRecords %d: shard %s, sequence number %s of %s", c.w, n, r.ShardID, r.SequenceNumber, r.SequenceNumber.ShardID())
			}
			fmt.Fprintf(&b, " %s", r.SequenceNumber)
		}
		b.WriteByte('\n')
		c.out.WriteString(b.String())
		c.pause()
	}
}

// appendKeys appends batches of 1-mpMaxCond records to the conditional
// keys, expecting the key's latest sequence number as LastKey returns it,
// or, right after a conflict, as the conflict reported it (then on the
// same key).
func (c *mpChild) appendKeys() {
	ctx := context.Background()
	var key string
	var expected shardlog.SequenceNumber
	retry := false
	for {
		if !retry {
			key = mpCondKeys[c.rng.IntN(len(mpCondKeys))]
			last, err := c.log.LastKey(ctx, shardlog.LastKeyInput{StreamName: mpStream, PartitionKey: key})
			if err != nil {
				c.out.Fail("%s LastKey %s: %v", c.w, key, err)
			}
			expected = last.Record.SequenceNumber
		}
		cnt := 1 + c.rng.IntN(mpMaxCond)
		n := c.send('c')
		data := make([][]byte, cnt)
		for i := range data {
			data[i] = mpData(c.w, 'c', key, n, i, cnt, expected.String())
		}
		res, err := c.log.AppendKey(ctx, shardlog.AppendKeyInput{StreamName: mpStream, PartitionKey: key, Data: data, ExpectedSequenceNumber: expected})
		var ce *shardlog.ConflictError
		switch {
		case err == nil:
			if res.First.ShardID() != res.ShardID || res.Last != res.SequenceNumber(cnt-1) {
				c.out.Fail("%s AppendKey %d: shard %s, first %s, last %s for %d records", c.w, n, res.ShardID, res.First, res.Last, cnt)
			}
			c.out.WriteString(fmt.Sprintf("MA c %s %d %s %s\n", c.w, n, res.First, res.Last))
			retry = false
		case errors.As(err, &ce):
			c.out.WriteString(fmt.Sprintf("MR c %s %d %s\n", c.w, n, ce.Actual))
			expected, retry = ce.Actual, !retry // once on the same key, then LastKey again
		default:
			c.out.Fail("%s AppendKey %d on %s expecting %s: %v", c.w, n, key, expected, err)
		}
		c.pause()
	}
}

// reshard splits and merges shards forever, keeping mpMinOpen-mpMaxOpen
// open: it splits a random open shard at the middle of its range, or
// merges a random pair of adjacent open shards, every 50-250 ms.
func (c *mpChild) reshard() {
	ctx := context.Background()
	for {
		time.Sleep(time.Duration(50+c.rng.IntN(200)) * time.Millisecond)
		var open []shardlog.Shard
		for s, err := range c.log.ListShardsAll(ctx, shardlog.ListShardsInput{StreamName: mpStream}) {
			if err != nil {
				c.out.Fail("%s ListShards: %v", c.w, err)
			}
			if !s.Closed {
				open = append(open, s)
			}
		}
		slices.SortFunc(open, func(a, b shardlog.Shard) int {
			return a.HashKeyRange.StartingHashKey.Compare(b.HashKeyRange.StartingHashKey)
		})
		split := len(open) <= mpMinOpen || (len(open) < mpMaxOpen && c.rng.IntN(2) == 0)
		if split {
			s := open[c.rng.IntN(len(open))]
			mid, ok := mpMiddle(s.HashKeyRange)
			if !ok {
				continue
			}
			n := c.send('s')
			if err := c.log.SplitShard(ctx, shardlog.SplitShardInput{StreamName: mpStream, ShardToSplit: s.ShardID, NewStartingHashKey: mid}); err != nil {
				c.out.Fail("%s SplitShard %d %s at %s: %v", c.w, n, s.ShardID, mid, err)
			}
			c.out.WriteString(fmt.Sprintf("MA s %s %d\n", c.w, n))
			continue
		}
		i := c.rng.IntN(len(open) - 1)
		a, b := open[i], open[i+1]
		if a.HashKeyRange.EndingHashKey.Compare(b.HashKeyRange.StartingHashKey) >= 0 {
			c.out.Fail("%s: open shards %s and %s overlap", c.w, a.ShardID, b.ShardID)
		}
		n := c.send('m')
		if err := c.log.MergeShards(ctx, shardlog.MergeShardsInput{StreamName: mpStream, ShardToMerge: a.ShardID, AdjacentShardToMerge: b.ShardID}); err != nil {
			c.out.Fail("%s MergeShards %d %s %s: %v", c.w, n, a.ShardID, b.ShardID, err)
		}
		c.out.WriteString(fmt.Sprintf("MA m %s %d\n", c.w, n))
	}
}

// mpMiddle returns the hash key that splits r in two halves, and false if
// r holds one key.
func mpMiddle(r shardlog.HashKeyRange) (string, bool) {
	start, _ := new(big.Int).SetString(r.StartingHashKey.String(), 10)
	end, _ := new(big.Int).SetString(r.EndingHashKey.String(), 10)
	width := new(big.Int).Sub(end, start)
	if width.Sign() <= 0 {
		return "", false
	}
	width.Add(width, big.NewInt(1)).Rsh(width, 1)
	return start.Add(start, width).String(), true
}
