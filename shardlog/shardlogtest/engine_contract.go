package shardlogtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// testEngine is the Engine group: it calls the engine's methods directly,
// without a Log, and checks each against the contract shardlog.Engine
// documents, so that an engine's fault shows at the method that has it,
// not only through the Kinesis rule it breaks.
func testEngine(t *testing.T, newEngine NewEngine) {
	t.Run("LoadStreamsEmpty", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		metas, err := e.LoadStreams(ctx)
		require.NoError(t, err)
		require.Empty(t, metas, "a fresh engine has no streams")
	})

	t.Run("SaveStreamRoundTrip", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		full := fullStreamMeta("full")
		requireNoZeroField(t, full, "StreamMeta")
		requireNoZeroField(t, full.Shards[1], "ShardMeta")
		requireNoZeroField(t, full.Consumers[0], "ConsumerMeta")
		require.NoError(t, e.SaveStream(ctx, full))
		bare := shardlog.StreamMeta{ID: 2, Name: "bare", Mode: shardlog.Provisioned, CreatedAt: Epoch, Shards: []shardlog.ShardMeta{{ID: "shardId-000000000000", CreatedAt: Epoch}}}
		require.NoError(t, e.SaveStream(ctx, bare))

		metas := loadStreams(t, ctx, e)
		require.Len(t, metas, 2)
		requireMetaEqual(t, bare, metas["bare"])
		requireMetaEqual(t, fullStreamMeta("full"), metas["full"])
	})

	t.Run("SaveStreamKeepsNoAlias", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		m := fullStreamMeta("s")
		require.NoError(t, e.SaveStream(ctx, m))
		// The caller's maps and slices are its own after SaveStream.
		m.Tags["env"] = "changed"
		m.Shards[0].Floor = 99
		m.Consumers[0].Name = "changed"
		requireMetaEqual(t, fullStreamMeta("s"), loadStreams(t, ctx, e)["s"])
		// And the loaded copy's are the caller's too.
		got := loadStreams(t, ctx, e)["s"]
		got.Tags["env"] = "changed again"
		got.Shards[0].Floor = 98
		requireMetaEqual(t, fullStreamMeta("s"), loadStreams(t, ctx, e)["s"])
	})

	t.Run("SaveStreamReplaces", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		require.NoError(t, e.SaveStream(ctx, fullStreamMeta("s")))
		require.NoError(t, e.SaveStream(ctx, fullStreamMeta("other")))
		// The new version replaces the old one whole: what it leaves out is
		// gone, nothing is merged.
		v2 := shardlog.StreamMeta{ID: 7, Name: "s", Mode: shardlog.OnDemand, CreatedAt: Epoch.Add(time.Hour), RetentionHours: 48,
			Shards: []shardlog.ShardMeta{{ID: "shardId-000000000005", Index: 5, CreatedAt: Epoch.Add(time.Hour)}}, NextShardIndex: 6}
		require.NoError(t, e.SaveStream(ctx, v2))
		metas := loadStreams(t, ctx, e)
		require.Len(t, metas, 2)
		requireMetaEqual(t, v2, metas["s"])
		requireMetaEqual(t, fullStreamMeta("other"), metas["other"])
	})

	t.Run("DropStream", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		a := saveStream(t, ctx, e, "a", 2)
		b := saveStream(t, ctx, e, "b", 1)
		for _, ref := range append(slices.Clone(a), b...) {
			appendOK(t, ctx, e, ref, Epoch, entries("k", 3)...)
		}
		require.NoError(t, e.DropStream(ctx, "a"))
		metas := loadStreams(t, ctx, e)
		require.NotContains(t, metas, "a")
		require.Contains(t, metas, "b")
		for _, ref := range a {
			if _, shared := e.(shardlog.SharedEngine); shared {
				// A shared engine refuses the dropped incarnation's shards.
				_, err := e.Read(ctx, ref, shardlog.SequenceNumber{}, 10, 1<<20)
				require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
				continue
			}
			requireEmptyShard(t, ctx, e, ref)
		}
		require.Len(t, readAll(t, ctx, e, b[0]), 3, "another stream keeps its records")

		// A new stream of the same name starts empty: it never sees the
		// dropped stream's records.
		a = saveStream(t, ctx, e, "a", 2)
		for _, ref := range a {
			requireEmptyShard(t, ctx, e, ref)
		}
		appendOK(t, ctx, e, a[0], Epoch.Add(time.Second), entries("new", 1)...)
		got := readAll(t, ctx, e, a[0])
		require.Len(t, got, 1)
		require.Equal(t, "new", got[0].PartitionKey)
	})

	t.Run("DropShard", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		refs := saveStream(t, ctx, e, "s", 2)
		for _, ref := range refs {
			appendOK(t, ctx, e, ref, Epoch, entries("k", 4)...)
		}
		require.NoError(t, e.DropShard(ctx, refs[0]))
		requireEmptyShard(t, ctx, e, refs[0])
		require.Len(t, readAll(t, ctx, e, refs[1]), 4, "the sibling keeps its records")
		require.Contains(t, loadStreams(t, ctx, e), "s", "the stream's metadata stays")
	})

	t.Run("AppendAssignsNumbers", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 4)[3]
		batch := []shardlog.Entry{{PartitionKey: "a", Data: []byte("one")}, {PartitionKey: "b", Data: []byte("two")}, {PartitionKey: "a", Data: []byte("three")}}
		first, arrival := appendOK(t, ctx, e, ref, Epoch, batch...)
		require.Equal(t, ref.Index, first.ShardIndex(), "the number names the shard")
		require.NotZero(t, first.Position())
		require.True(t, arrival.Equal(Epoch), "the arrival is now: %v, want %v", arrival, Epoch)

		// The next batch, with an earlier now: numbers still increase and the
		// arrival never goes back.
		first2, arrival2 := appendOK(t, ctx, e, ref, Epoch.Add(-time.Minute), shardlog.Entry{PartitionKey: "c", Data: []byte("four")})
		require.Positive(t, first2.Compare(batchSeq(first, 2)), "a later append is numbered after the earlier batch")
		require.False(t, arrival2.Before(arrival), "arrival went back from %v to %v", arrival, arrival2)

		first3, arrival3 := appendOK(t, ctx, e, ref, Epoch.Add(time.Second), shardlog.Entry{PartitionKey: "d", Data: []byte("five")})
		require.Positive(t, first3.Compare(first2))
		require.True(t, arrival3.Equal(Epoch.Add(time.Second)))

		want := []shardlog.Record{
			{SequenceNumber: first, ApproximateArrivalTimestamp: arrival, PartitionKey: "a", Data: []byte("one")},
			{SequenceNumber: batchSeq(first, 1), ApproximateArrivalTimestamp: arrival, PartitionKey: "b", Data: []byte("two")},
			{SequenceNumber: batchSeq(first, 2), ApproximateArrivalTimestamp: arrival, PartitionKey: "a", Data: []byte("three")},
			{SequenceNumber: first2, ApproximateArrivalTimestamp: arrival2, PartitionKey: "c", Data: []byte("four")},
			{SequenceNumber: first3, ApproximateArrivalTimestamp: arrival3, PartitionKey: "d", Data: []byte("five")},
		}
		requireRecords(t, want, readAll(t, ctx, e, ref))
	})

	t.Run("AppendCopiesData", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		buf := []byte("original")
		appendOK(t, ctx, e, ref, Epoch, shardlog.Entry{PartitionKey: "k", Data: buf})
		copy(buf, "CHANGED!")
		got := readAll(t, ctx, e, ref)
		require.Len(t, got, 1)
		require.Equal(t, "original", string(got[0].Data), "the caller may reuse its buffer once Append returned")
	})

	t.Run("AppendFloor", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		refs := saveStream(t, ctx, e, "s", 2)
		ref := refs[0]
		first, _ := appendOK(t, ctx, e, ref, Epoch, entries("k", 1)...)
		// A floor far above the clock: the append is numbered above it.
		high := ref
		high.Floor = first.Position() + 1_000_000_000
		got, _ := appendOK(t, ctx, e, high, Epoch, entries("k", 2)...)
		require.Greater(t, got.Position(), high.Floor, "positions are greater than the floor")
		// Back to the shard's own floor: numbers keep increasing.
		next, _ := appendOK(t, ctx, e, ref, Epoch, entries("k", 1)...)
		require.Positive(t, next.Compare(batchSeq(got, 1)))
		// A fresh shard whose floor is its parents' largest position.
		child := refs[1]
		child.Floor = next.Position()
		c, _ := appendOK(t, ctx, e, child, Epoch, entries("k", 1)...)
		require.Greater(t, c.Position(), next.Position())
		require.Equal(t, uint32(1), c.ShardIndex())
	})

	t.Run("AppendConcurrent", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		const writers, batches, size = 8, 10, 5
		type ack struct {
			first shardlog.SequenceNumber
			key   string
		}
		var mu sync.Mutex
		var acks []ack
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for b := range batches {
					key := fmt.Sprintf("w%d-b%d", w, b)
					first, _, err := e.Append(ctx, ref, Epoch, entries(key, size), nil)
					if err != nil {
						t.Errorf("Append: %v", err)
						return
					}
					mu.Lock()
					acks = append(acks, ack{first, key})
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		got := readAll(t, ctx, e, ref)
		require.Len(t, got, writers*batches*size)
		at := map[shardlog.SequenceNumber]int{}
		for i, r := range got {
			if i > 0 {
				require.Positive(t, r.SequenceNumber.Compare(got[i-1].SequenceNumber), "numbers increase in storage order")
			}
			at[r.SequenceNumber] = i
		}
		for _, a := range acks {
			i, ok := at[a.first]
			require.True(t, ok, "batch %s: its first number %v is not stored", a.key, a.first)
			for j := range size {
				r := got[i+j]
				require.Equal(t, batchSeq(a.first, j), r.SequenceNumber, "batch %s is contiguous", a.key)
				require.Equal(t, a.key, r.PartitionKey)
				require.Equal(t, fmt.Sprintf("%s/%d", a.key, j), string(r.Data), "batch %s is in request order", a.key)
				require.True(t, r.ApproximateArrivalTimestamp.Equal(got[i].ApproximateArrivalTimestamp), "one arrival per batch")
			}
		}
	})

	t.Run("ConditionExpected", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		// No records of the key: zero is expected.
		first, _ := appendCond(t, ctx, e, ref, Epoch, &shardlog.Condition{PartitionKey: "k"}, entries("k", 2)...)
		last := batchSeq(first, 1)
		// Other keys' records do not count.
		appendOK(t, ctx, e, ref, Epoch, entries("other", 3)...)

		requireConflict(t, ctx, e, ref, &shardlog.Condition{PartitionKey: "k"}, last)
		requireConflict(t, ctx, e, ref, &shardlog.Condition{PartitionKey: "k", Expected: first}, last)
		require.Len(t, readAll(t, ctx, e, ref), 5, "a conflicting append stores nothing")

		next, _ := appendCond(t, ctx, e, ref, Epoch, &shardlog.Condition{PartitionKey: "k", Expected: last}, entries("k", 3)...)
		requireConflict(t, ctx, e, ref, &shardlog.Condition{PartitionKey: "k", Expected: last}, batchSeq(next, 2))
		appendCond(t, ctx, e, ref, Epoch, &shardlog.Condition{PartitionKey: "fresh"}, entries("fresh", 1)...)
	})

	t.Run("ConditionInherited", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		refs := saveStream(t, ctx, e, "s", 2)
		parent, _ := appendOK(t, ctx, e, refs[0], Epoch, entries("k", 1)...)
		child := refs[1]
		// The key has no records in this shard: its latest is the inherited
		// one.
		requireConflict(t, ctx, e, child, &shardlog.Condition{PartitionKey: "k", Inherited: parent}, parent)
		first, _ := appendCond(t, ctx, e, child, Epoch, &shardlog.Condition{PartitionKey: "k", Expected: parent, Inherited: parent}, entries("k", 1)...)
		// Once it has records here, the inherited number no longer counts.
		requireConflict(t, ctx, e, child, &shardlog.Condition{PartitionKey: "k", Expected: parent, Inherited: parent}, first)
		appendCond(t, ctx, e, child, Epoch, &shardlog.Condition{PartitionKey: "k", Expected: first, Inherited: parent}, entries("k", 1)...)
	})

	t.Run("ConditionHorizon", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		old, _ := appendOK(t, ctx, e, ref, Epoch, entries("k", 1)...)
		// A record that arrived before the horizon counts as absent.
		horizon := Epoch.Add(time.Second)
		requireConflict(t, ctx, e, ref, &shardlog.Condition{PartitionKey: "k", Expected: old, Horizon: horizon}, shardlog.SequenceNumber{})
		inherited := shardlog.MakeSequenceNumber(5, 9)
		requireConflict(t, ctx, e, ref, &shardlog.Condition{PartitionKey: "k", Horizon: horizon, Inherited: inherited}, inherited)
		// At the horizon, it counts.
		requireConflict(t, ctx, e, ref, &shardlog.Condition{PartitionKey: "k", Horizon: Epoch}, old)
		first, _ := appendCond(t, ctx, e, ref, Epoch.Add(2*time.Second), &shardlog.Condition{PartitionKey: "k", Horizon: horizon}, entries("k", 1)...)
		requireConflict(t, ctx, e, ref, &shardlog.Condition{PartitionKey: "k", Horizon: horizon}, first)
	})

	t.Run("ConditionConcurrent", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		const racers = 8
		var won sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for range racers {
			won.Go(func() {
				_, _, err := e.Append(ctx, ref, Epoch, entries("k", 2), &shardlog.Condition{PartitionKey: "k"})
				var ce *shardlog.ConflictError
				switch {
				case err == nil:
					mu.Lock()
					winners++
					mu.Unlock()
				case !errors.As(err, &ce):
					t.Errorf("Append: %v, want nil or a *ConflictError", err)
				}
			})
		}
		won.Wait()
		require.Equal(t, 1, winners, "the check and the append are one step: exactly one racer expecting no records wins")
		require.Len(t, readAll(t, ctx, e, ref), 2)
	})

	t.Run("Seal", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		refs := saveStream(t, ctx, e, "s", 2)
		ref := refs[0]
		first, _ := appendOK(t, ctx, e, ref, Epoch, entries("k", 3)...)
		last := batchSeq(first, 2)
		got, err := e.Seal(ctx, ref)
		require.NoError(t, err)
		require.Equal(t, last, got, "Seal returns the last record's number")
		got, err = e.Seal(ctx, ref)
		require.NoError(t, err)
		require.Equal(t, last, got, "Seal is idempotent")

		_, _, err = e.Append(ctx, ref, Epoch, entries("k", 1), nil)
		require.ErrorIs(t, err, shardlog.ErrShardSealed)
		_, _, err = e.Append(ctx, ref, Epoch, entries("k", 1), &shardlog.Condition{PartitionKey: "k", Expected: last})
		require.ErrorIs(t, err, shardlog.ErrShardSealed, "a conditional append to a sealed shard")
		require.Len(t, readAll(t, ctx, e, ref), 3, "the records acknowledged before the seal stay; none after")
		b, err := e.Bounds(ctx, ref)
		require.NoError(t, err)
		require.True(t, b.Sealed)
		require.Equal(t, last, b.Last)

		// An empty shard seals at zero.
		got, err = e.Seal(ctx, refs[1])
		require.NoError(t, err)
		require.True(t, got.IsZero(), "Seal of an empty shard: %v", got)
		_, _, err = e.Append(ctx, refs[1], Epoch, entries("k", 1), nil)
		require.ErrorIs(t, err, shardlog.ErrShardSealed)
	})

	t.Run("SealConcurrent", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		// Appends race the seal, as puts race a reshard: every append
		// acknowledged is kept and numbered at most the last number Seal
		// returns; every other one fails with ErrShardSealed and stores
		// nothing.
		const writers, size = 8, 3
		var mu sync.Mutex
		var acked []shardlog.SequenceNumber
		enough := make(chan struct{})
		var once sync.Once
		var sealed atomic.Bool
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for b := 0; ; b++ {
					afterSeal := sealed.Load()
					first, _, err := e.Append(ctx, ref, Epoch, entries(fmt.Sprintf("w%d-b%d", w, b), size), nil)
					if errors.Is(err, shardlog.ErrShardSealed) {
						return
					}
					if err != nil {
						t.Errorf("Append racing Seal: %v, want nil or ErrShardSealed", err)
						return
					}
					if afterSeal {
						t.Errorf("writer %d: an Append begun after Seal returned succeeded", w)
						return
					}
					mu.Lock()
					acked = append(acked, first)
					if len(acked) >= 4*writers {
						once.Do(func() { close(enough) })
					}
					mu.Unlock()
				}
			})
		}
		<-enough
		last, err := e.Seal(ctx, ref)
		sealed.Store(true)
		require.NoError(t, err)
		wg.Wait()

		got := readAll(t, ctx, e, ref)
		require.Len(t, got, size*len(acked), "exactly the acknowledged batches are stored")
		require.Equal(t, got[len(got)-1].SequenceNumber, last, "Seal returns the last stored record's number")
		stored := map[shardlog.SequenceNumber]bool{}
		for _, r := range got {
			stored[r.SequenceNumber] = true
		}
		for _, first := range acked {
			for j := range size {
				n := batchSeq(first, j)
				require.True(t, stored[n], "acknowledged record %v is not stored", n)
				require.LessOrEqual(t, n.Compare(last), 0, "acknowledged record %v is after the seal's last %v", n, last)
			}
		}
		again, err := e.Seal(ctx, ref)
		require.NoError(t, err)
		require.Equal(t, last, again)
	})

	t.Run("ReadFrom", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		refs := saveStream(t, ctx, e, "s", 2)
		ref := refs[0]
		got, err := e.Read(ctx, refs[1], shardlog.SequenceNumber{}, 10, 1<<20)
		require.NoError(t, err)
		require.Empty(t, got, "a shard with no records")

		a, _ := appendOK(t, ctx, e, ref, Epoch, entries("k", 3)...)
		b, _ := appendOK(t, ctx, e, ref, Epoch.Add(time.Second), entries("k", 3)...)
		all := readAll(t, ctx, e, ref)
		require.Len(t, all, 6)

		read := func(from shardlog.SequenceNumber, max, maxBytes int) []shardlog.Record {
			t.Helper()
			got, err := e.Read(ctx, ref, from, max, maxBytes)
			require.NoError(t, err)
			return got
		}
		requireRecords(t, all, read(shardlog.SequenceNumber{}, 100, 1<<20))
		requireRecords(t, all[1:], read(batchSeq(a, 1), 100, 1<<20))
		requireRecords(t, all[3:], read(batchSeq(a, 3), 100, 1<<20)) // between the batches: from the next record
		requireRecords(t, all[3:], read(b, 100, 1<<20))
		require.Empty(t, read(batchSeq(b, 3), 100, 1<<20), "from past the last record")
		requireRecords(t, all[:2], read(shardlog.SequenceNumber{}, 2, 1<<20))
		requireRecords(t, all[4:5], read(batchSeq(b, 1), 1, 1<<20))
	})

	t.Run("ReadMaxBytes", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		// Sizes (data plus key): 10, 20, 30, 100, 10.
		sizes := []int{10, 20, 30, 100, 10}
		batch := make([]shardlog.Entry, len(sizes))
		for i, n := range sizes {
			batch[i] = shardlog.Entry{PartitionKey: "k", Data: []byte(strings.Repeat(string(rune('a'+i)), n-1))}
		}
		appendOK(t, ctx, e, ref, Epoch, batch...)
		all := readAll(t, ctx, e, ref)
		require.Len(t, all, 5)
		for i, r := range all {
			require.Equal(t, sizes[i], r.Size())
		}
		read := func(from shardlog.SequenceNumber, maxBytes int) []shardlog.Record {
			t.Helper()
			got, err := e.Read(ctx, ref, from, 100, maxBytes)
			require.NoError(t, err)
			return got
		}
		requireRecords(t, all[:3], read(all[0].SequenceNumber, 60), "exactly at the limit")
		requireRecords(t, all[:2], read(all[0].SequenceNumber, 59), "one byte under: the third is left")
		requireRecords(t, all[:1], read(all[0].SequenceNumber, 10))
		requireRecords(t, all[3:4], read(all[3].SequenceNumber, 50), "a first record larger than maxBytes comes alone")
		requireRecords(t, all[2:3], read(all[2].SequenceNumber, 100), "the record after it does not fit")
		requireRecords(t, all[:1], read(all[0].SequenceNumber, 1), "the oversize-first rule holds for the shard's first record")
	})

	t.Run("SeekTime", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		refs := saveStream(t, ctx, e, "s", 2)
		ref := refs[0]
		_, ok, err := e.SeekTime(ctx, refs[1], Epoch)
		require.NoError(t, err)
		require.False(t, ok, "a shard with no records")

		t1, t2, t3 := Epoch, Epoch.Add(time.Second), Epoch.Add(3*time.Second)
		a, _ := appendOK(t, ctx, e, ref, t1, entries("k", 2)...)
		b, _ := appendOK(t, ctx, e, ref, t2, entries("k", 2)...)
		c, _ := appendOK(t, ctx, e, ref, t3, entries("k", 2)...)
		for _, tc := range []struct {
			at   time.Time
			want shardlog.SequenceNumber
			ok   bool
		}{
			{t1.Add(-time.Hour), a, true},
			{t1, a, true},
			{t1.Add(time.Millisecond), b, true},
			{t2, b, true},
			{t2.Add(time.Millisecond), c, true},
			{t3, c, true},
			{t3.Add(time.Millisecond), shardlog.SequenceNumber{}, false},
		} {
			got, ok, err := e.SeekTime(ctx, ref, tc.at)
			require.NoError(t, err)
			require.Equal(t, tc.ok, ok, "SeekTime(%v)", tc.at)
			if ok {
				require.Equal(t, tc.want, got, "SeekTime(%v): the first record that arrived at or after it", tc.at)
			}
		}
	})

	t.Run("ReadKey", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		var want []shardlog.Record
		for i := range 6 {
			batch := []shardlog.Entry{
				{PartitionKey: "other", Data: fmt.Appendf(nil, "o%d", i)},
				{PartitionKey: "k", Data: fmt.Appendf(nil, "k%d", i)},
			}
			first, arrival := appendOK(t, ctx, e, ref, Epoch.Add(time.Duration(i)*time.Second), batch...)
			want = append(want, shardlog.Record{SequenceNumber: batchSeq(first, 1), ApproximateArrivalTimestamp: arrival, PartitionKey: "k", Data: batch[1].Data})
		}
		readKey := func(key string, after shardlog.SequenceNumber, max int) []shardlog.Record {
			t.Helper()
			got, err := e.ReadKey(ctx, ref, key, after, max)
			require.NoError(t, err)
			return got
		}
		requireRecords(t, want, readKey("k", shardlog.SequenceNumber{}, 100), "only the key's records, in order")
		requireRecords(t, want[3:], readKey("k", want[2].SequenceNumber, 100), "after is exclusive")
		requireRecords(t, want[3:], readKey("k", batchSeq(want[2].SequenceNumber, 1), 100), "after between the key's records")
		requireRecords(t, want[:2], readKey("k", shardlog.SequenceNumber{}, 2), "at most max")
		require.Empty(t, readKey("k", want[5].SequenceNumber, 100))
		require.Empty(t, readKey("none", shardlog.SequenceNumber{}, 100))
		require.Len(t, readKey("other", shardlog.SequenceNumber{}, 100), 6)

		r, ok, err := e.LastKey(ctx, ref, "k")
		require.NoError(t, err)
		require.True(t, ok)
		requireRecords(t, want[5:], []shardlog.Record{r}, "LastKey is the key's latest record")
		_, ok, err = e.LastKey(ctx, ref, "none")
		require.NoError(t, err)
		require.False(t, ok, "LastKey of a key with no records here")
	})

	t.Run("Bounds", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		b, err := e.Bounds(ctx, ref)
		require.NoError(t, err)
		require.Zero(t, b.Count)
		require.True(t, b.First.IsZero() && b.Last.IsZero(), "an empty shard: %+v", b)
		require.False(t, b.Sealed)

		a, at := appendOK(t, ctx, e, ref, Epoch, entries("k", 2)...)
		z, zt := appendOK(t, ctx, e, ref, Epoch.Add(time.Minute), entries("k", 3)...)
		b, err = e.Bounds(ctx, ref)
		require.NoError(t, err)
		require.Equal(t, int64(5), b.Count)
		require.Equal(t, a, b.First)
		require.Equal(t, batchSeq(z, 2), b.Last)
		require.True(t, b.FirstArrival.Equal(at), "FirstArrival %v, want %v", b.FirstArrival, at)
		require.True(t, b.LastArrival.Equal(zt), "LastArrival %v, want %v", b.LastArrival, zt)
		require.False(t, b.Sealed)
	})

	t.Run("Trim", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		refs := saveStream(t, ctx, e, "s", 2)
		ref := refs[0]
		require.NoError(t, e.Trim(ctx, refs[1], Epoch.Add(time.Hour)), "trimming a shard with no records")

		// Batches of about 64 KiB, a minute apart: enough for an engine that
		// trims whole files to have some to delete.
		const batches = 6
		for i := range batches {
			batch := make([]shardlog.Entry, 64)
			for j := range batch {
				batch[j] = shardlog.Entry{PartitionKey: fmt.Sprintf("k%d", j%4), Data: fmt.Appendf(nil, "%d/%d/%s", i, j, strings.Repeat("x", 1000))}
			}
			appendOK(t, ctx, e, ref, Epoch.Add(time.Duration(i)*time.Minute), batch...)
		}
		all := readAll(t, ctx, e, ref)
		require.Len(t, all, batches*64)

		cut := Epoch.Add(3 * time.Minute)
		require.NoError(t, e.Trim(ctx, ref, cut))
		kept := readAll(t, ctx, e, ref)
		// Trim may keep records that arrived before cut, but never removes
		// a later one, and what stays is a suffix of the shard: no hole.
		require.NotEmpty(t, kept)
		start := slices.IndexFunc(all, func(r shardlog.Record) bool { return r.SequenceNumber == kept[0].SequenceNumber })
		require.GreaterOrEqual(t, start, 0, "the first record kept, %v, was stored", kept[0].SequenceNumber)
		requireRecords(t, all[start:], kept, "what Trim keeps is a suffix of the shard")
		for _, r := range all[:start] {
			require.True(t, r.ApproximateArrivalTimestamp.Before(cut), "Trim removed %v, which arrived at %v, not before %v", r.SequenceNumber, r.ApproximateArrivalTimestamp, cut)
		}
		t.Logf("Trim kept %d of the %d records that arrived before the cut", countBefore(kept, cut), countBefore(all, cut))

		// Every reader agrees on what is left.
		b, err := e.Bounds(ctx, ref)
		require.NoError(t, err)
		require.Equal(t, int64(len(kept)), b.Count)
		require.Equal(t, kept[0].SequenceNumber, b.First)
		require.Equal(t, kept[len(kept)-1].SequenceNumber, b.Last)
		require.True(t, b.FirstArrival.Equal(kept[0].ApproximateArrivalTimestamp))
		// Trimmed names the last record removed: exact on a shared engine,
		// zero or exact on a single-owner one.
		var removed shardlog.SequenceNumber
		if start > 0 {
			removed = all[start-1].SequenceNumber
		}
		if _, shared := e.(shardlog.SharedEngine); shared || !b.Trimmed.IsZero() {
			require.Equal(t, removed, b.Trimmed, "ShardBounds.Trimmed is the last record Trim removed")
		}
		seq, ok, err := e.SeekTime(ctx, ref, Epoch)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, kept[0].SequenceNumber, seq, "SeekTime before everything finds the first record kept")
		for k := range 4 {
			key := fmt.Sprintf("k%d", k)
			var want []shardlog.Record
			for _, r := range kept {
				if r.PartitionKey == key {
					want = append(want, r)
				}
			}
			got, err := e.ReadKey(ctx, ref, key, shardlog.SequenceNumber{}, len(all))
			require.NoError(t, err)
			requireRecords(t, want, got, "ReadKey(%s) after Trim reads what Read reads", key)
		}

		// Appends go on after a trim, numbered after everything before it.
		first, _ := appendOK(t, ctx, e, ref, Epoch.Add(time.Hour), entries("k", 1)...)
		require.Positive(t, first.Compare(all[len(all)-1].SequenceNumber))
	})

	t.Run("NotifyOnAppend", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		ch := e.Notify(ref)
		requireOpen(t, ch, "before any append")
		appendOK(t, ctx, e, ref, Epoch, entries("k", 1)...)
		requireClosed(t, ch, "after an append")
		ch = e.Notify(ref)
		requireOpen(t, ch, "a channel taken after the append")
		appendOK(t, ctx, e, ref, Epoch, entries("k", 1)...)
		requireClosed(t, ch, "after the next append")
	})

	t.Run("NotifyOnSeal", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		appendOK(t, ctx, e, ref, Epoch, entries("k", 1)...)
		ch := e.Notify(ref)
		requireOpen(t, ch, "before the seal")
		_, err := e.Seal(ctx, ref)
		require.NoError(t, err)
		requireClosed(t, ch, "after the seal")
	})

	t.Run("NotifyWakesWaiter", func(t *testing.T) {
		t.Parallel()
		ctx, e := openEngine(t, newEngine)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		ch := e.Notify(ref)
		woke := make(chan struct{})
		go func() {
			<-ch
			close(woke)
		}()
		appendOK(t, ctx, e, ref, Epoch, entries("k", 1)...)
		requireClosed(t, woke, "a goroutine waiting on Notify")
	})

	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		e := newEngine(t)
		ref := saveStream(t, ctx, e, "s", 1)[0]
		appendOK(t, ctx, e, ref, Epoch, entries("k", 1)...)
		require.NoError(t, e.Close())
		_, _, err := e.Append(ctx, ref, Epoch, entries("k", 1), nil)
		require.ErrorIs(t, err, shardlog.ErrClosed, "Append after Close")
		requireClosed(t, e.Notify(ref), "Notify after Close: a waiter must not wait for ever")
	})
}

// openEngine returns a fresh engine, closed when t ends, and t's context.
func openEngine(t *testing.T, newEngine NewEngine) (context.Context, shardlog.Engine) {
	t.Helper()
	e := newEngine(t)
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	return t.Context(), e
}

// streamIDs numbers the streams saveStream makes: each is a new stream,
// as each CreateStream's is, even under an earlier stream's name.
var streamIDs atomic.Uint64

// saveStream saves the metadata of a new stream of n shards, as
// CreateStream does before any append, and returns the shards' references.
func saveStream(t *testing.T, ctx context.Context, e shardlog.Engine, name string, n int) []shardlog.ShardRef {
	t.Helper()
	m := shardlog.StreamMeta{ID: 0x5eed_0000 + streamIDs.Add(1), Name: name, Mode: shardlog.Provisioned, CreatedAt: Epoch, RetentionHours: 24, NextShardIndex: uint32(n)}
	refs := make([]shardlog.ShardRef, n)
	for i := range n {
		sm := shardlog.ShardMeta{ID: fmt.Sprintf("shardId-%012d", i), Index: uint32(i), CreatedAt: Epoch}
		m.Shards = append(m.Shards, sm)
		refs[i] = sm.Ref(&m)
	}
	require.NoError(t, e.SaveStream(ctx, m))
	return refs
}

// fullStreamMeta is a stream's metadata with every field set.
func fullStreamMeta(name string) shardlog.StreamMeta {
	hk := func(s string) shardlog.HashKey {
		k, err := shardlog.ParseHashKey(s)
		if err != nil {
			panic(err)
		}
		return k
	}
	at := func(m int) time.Time { return Epoch.Add(time.Duration(m) * time.Minute) }
	return shardlog.StreamMeta{
		ID:                 0xfeedface12345678,
		Revision:           7,
		Name:               name,
		Mode:               shardlog.OnDemand,
		CreatedAt:          at(0),
		RetentionHours:     168,
		ExpiredBefore:      at(-60),
		MaxRecordSizeKiB:   2048,
		ProvisionedLimits:  true,
		Tags:               map[string]string{"env": "test", "team": "shoal"},
		NextShardIndex:     3,
		Consumers:          []shardlog.ConsumerMeta{{Name: "c1", CreatedAt: at(5)}, {Name: "c2", CreatedAt: at(6)}},
		ScalingEvents:      []time.Time{at(10), at(11)},
		ModeChanges:        []time.Time{at(12)},
		EnhancedMonitoring: []string{"IncomingBytes", "OutgoingRecords"},
		EncryptionType:     shardlog.EncryptionKMS,
		KeyID:              "alias/orders",
		EncryptionKeyIDs:   []string{"alias/old", "alias/orders"},
		Shards: []shardlog.ShardMeta{
			{
				ID: "shardId-000000000000", Index: 0,
				HashKeyRange:         shardlog.HashKeyRange{StartingHashKey: hk("0"), EndingHashKey: hk("340282366920938463463374607431768211455")},
				CreatedAt:            at(0),
				Closed:               true,
				ClosedAt:             at(10),
				EndingSequenceNumber: shardlog.MakeSequenceNumber(1_767_323_045_123_456, 0),
			},
			{
				ID: "shardId-000000000002", Index: 2,
				ParentShardID:         "shardId-000000000000",
				AdjacentParentShardID: "shardId-000000000001",
				HashKeyRange:          shardlog.HashKeyRange{StartingHashKey: hk("170141183460469231731687303715884105728"), EndingHashKey: hk("340282366920938463463374607431768211455")},
				Floor:                 1_767_323_045_123_456,
				CreatedAt:             at(10),
				Closed:                true,
				ClosedAt:              at(20),
				EndingSequenceNumber:  shardlog.MakeSequenceNumber(1_767_323_645_000_001, 2),
			},
		},
	}
}

// requireNoZeroField fails if a field of v is zero: the round trip must
// cover every field, including ones added later.
func requireNoZeroField(t *testing.T, v any, what string) {
	t.Helper()
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		if f.IsExported() && rv.Field(i).IsZero() {
			t.Fatalf("the round-trip sample leaves %s.%s zero: set it in fullStreamMeta", what, f.Name)
		}
	}
}

// requireMetaEqual compares metadata field by field, times with Equal.
func requireMetaEqual(t *testing.T, want, got shardlog.StreamMeta) {
	t.Helper()
	norm := func(m shardlog.StreamMeta) shardlog.StreamMeta {
		m.CreatedAt, m.ExpiredBefore = m.CreatedAt.UTC(), m.ExpiredBefore.UTC()
		m.Shards = slices.Clone(m.Shards)
		for i := range m.Shards {
			m.Shards[i].CreatedAt, m.Shards[i].ClosedAt = m.Shards[i].CreatedAt.UTC(), m.Shards[i].ClosedAt.UTC()
		}
		m.Consumers = slices.Clone(m.Consumers)
		for i := range m.Consumers {
			m.Consumers[i].CreatedAt = m.Consumers[i].CreatedAt.UTC()
		}
		utc := func(ts []time.Time) []time.Time {
			out := slices.Clone(ts)
			for i := range out {
				out[i] = out[i].UTC()
			}
			return out
		}
		m.ScalingEvents, m.ModeChanges = utc(m.ScalingEvents), utc(m.ModeChanges)
		return m
	}
	require.Equal(t, norm(want), norm(got), "stream %s: loaded metadata differs from what was saved", want.Name)
}

func loadStreams(t *testing.T, ctx context.Context, e shardlog.Engine) map[string]shardlog.StreamMeta {
	t.Helper()
	metas, err := e.LoadStreams(ctx)
	require.NoError(t, err)
	out := make(map[string]shardlog.StreamMeta, len(metas))
	for _, m := range metas {
		_, dup := out[m.Name]
		require.False(t, dup, "LoadStreams returned %s twice", m.Name)
		out[m.Name] = m
	}
	return out
}

// entries returns n entries of key whose data names the key and the index.
func entries(key string, n int) []shardlog.Entry {
	out := make([]shardlog.Entry, n)
	for i := range out {
		out[i] = shardlog.Entry{PartitionKey: key, Data: fmt.Appendf(nil, "%s/%d", key, i)}
	}
	return out
}

// batchSeq is the number of the i-th record of a batch numbered from first.
func batchSeq(first shardlog.SequenceNumber, i int) shardlog.SequenceNumber {
	return shardlog.MakeSequenceNumber(first.Position()+uint64(i), first.ShardIndex())
}

func appendOK(t *testing.T, ctx context.Context, e shardlog.Engine, ref shardlog.ShardRef, now time.Time, batch ...shardlog.Entry) (shardlog.SequenceNumber, time.Time) {
	t.Helper()
	return appendCond(t, ctx, e, ref, now, nil, batch...)
}

func appendCond(t *testing.T, ctx context.Context, e shardlog.Engine, ref shardlog.ShardRef, now time.Time, cond *shardlog.Condition, batch ...shardlog.Entry) (shardlog.SequenceNumber, time.Time) {
	t.Helper()
	first, arrival, err := e.Append(ctx, ref, now, batch, cond)
	require.NoError(t, err, "Append to %s", ref.ID)
	require.Greater(t, first.Position(), ref.Floor)
	return first, arrival
}

// requireConflict appends under cond and requires the *ConflictError that
// names actual, and that nothing was stored.
func requireConflict(t *testing.T, ctx context.Context, e shardlog.Engine, ref shardlog.ShardRef, cond *shardlog.Condition, actual shardlog.SequenceNumber) {
	t.Helper()
	before, err := e.Bounds(ctx, ref)
	require.NoError(t, err)
	_, _, err = e.Append(ctx, ref, Epoch, entries(cond.PartitionKey, 2), cond)
	var ce *shardlog.ConflictError
	require.ErrorAs(t, err, &ce, "Append expecting %v of %s", cond.Expected, cond.PartitionKey)
	require.Equal(t, cond.PartitionKey, ce.PartitionKey)
	require.Equal(t, cond.Expected, ce.Expected)
	require.Equal(t, actual, ce.Actual, "the conflict names the key's latest number")
	after, err := e.Bounds(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, before.Count, after.Count, "a conflicting append stores nothing")
	require.Equal(t, before.Last, after.Last)
}

// readAll reads every record of the shard with Read.
func readAll(t *testing.T, ctx context.Context, e shardlog.Engine, ref shardlog.ShardRef) []shardlog.Record {
	t.Helper()
	var out []shardlog.Record
	var from shardlog.SequenceNumber
	for {
		got, err := e.Read(ctx, ref, from, 100, 1<<20)
		require.NoError(t, err)
		if len(got) == 0 {
			return out
		}
		out = append(out, got...)
		from = got[len(got)-1].SequenceNumber.Next()
	}
}

func requireEmptyShard(t *testing.T, ctx context.Context, e shardlog.Engine, ref shardlog.ShardRef) {
	t.Helper()
	require.Empty(t, readAll(t, ctx, e, ref), "shard %s/%s holds records", ref.Stream, ref.ID)
	b, err := e.Bounds(ctx, ref)
	require.NoError(t, err)
	require.Zero(t, b.Count, "shard %s/%s: %+v", ref.Stream, ref.ID, b)
	_, ok, err := e.LastKey(ctx, ref, "k")
	require.NoError(t, err)
	require.False(t, ok, "shard %s/%s: LastKey finds a record", ref.Stream, ref.ID)
}

// requireRecords compares records field by field, arrival times with Equal.
func requireRecords(t *testing.T, want, got []shardlog.Record, msgAndArgs ...any) {
	t.Helper()
	desc := func(rs []shardlog.Record) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = fmt.Sprintf("%v@%s %s=%s", r.SequenceNumber, r.ApproximateArrivalTimestamp.UTC().Format(time.RFC3339Nano), r.PartitionKey, describeData(r.Data))
		}
		return out
	}
	require.Equal(t, desc(want), desc(got), msgAndArgs...)
}

// describeData is short data itself, and longer data's length and hash.
func describeData(b []byte) string {
	if len(b) <= 32 {
		return fmt.Sprintf("%q", b)
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%q…(%d bytes, sha256 %x)", b[:16], len(b), sum[:8])
}

func countBefore(rs []shardlog.Record, t time.Time) int {
	n := 0
	for _, r := range rs {
		if r.ApproximateArrivalTimestamp.Before(t) {
			n++
		}
	}
	return n
}

func requireOpen(t *testing.T, ch <-chan struct{}, when string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("the Notify channel is closed %s", when)
	default:
	}
}

func requireClosed(t *testing.T, ch <-chan struct{}, when string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("the Notify channel is not closed %s", when)
	}
}
