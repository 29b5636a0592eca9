package memory

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
)

var (
	ctx = context.Background()
	ref = shardlog.ShardRef{Stream: "s", ID: "shardId-000000000003", Index: 3, Floor: 0}
	t0  = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
)

func entries(key string, data ...string) []shardlog.Entry {
	out := make([]shardlog.Entry, len(data))
	for i, d := range data {
		out[i] = shardlog.Entry{PartitionKey: key, Data: []byte(d)}
	}
	return out
}

func datas(recs []shardlog.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Data)
	}
	return out
}

func TestAppendRead(t *testing.T) {
	e := New()
	defer e.Close()

	batch := entries("k", "a", "b", "c")
	first, arrival, err := e.Append(ctx, ref, t0, batch, nil)
	require.NoError(t, err)
	require.Equal(t, t0, arrival)
	require.Equal(t, uint32(3), first.ShardIndex())
	batch[0].Data[0] = 'X' // the engine copied the data

	first2, arrival2, err := e.Append(ctx, ref, t0.Add(-time.Second), entries("j", "d", "e"), nil)
	require.NoError(t, err)
	require.Equal(t, t0, arrival2, "arrival never goes backwards")
	require.Equal(t, 1, first2.Compare(first))

	recs, err := e.Read(ctx, ref, shardlog.SequenceNumber{}, 100, 1<<20)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, datas(recs))
	for i := 1; i < len(recs); i++ {
		require.Equal(t, 1, recs[i].SequenceNumber.Compare(recs[i-1].SequenceNumber))
	}
	require.Equal(t, first, recs[0].SequenceNumber)
	require.Equal(t, first.Next(), recs[1].SequenceNumber)

	// From, max and maxBytes.
	recs, err = e.Read(ctx, ref, recs[1].SequenceNumber, 2, 1<<20)
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c"}, datas(recs))
	recs, err = e.Read(ctx, ref, shardlog.SequenceNumber{}, 100, 4) // each record is 2 bytes
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, datas(recs))
	recs, err = e.Read(ctx, ref, shardlog.SequenceNumber{}, 100, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, datas(recs), "a first record larger than maxBytes is returned alone")
	recs, err = e.Read(ctx, ref, first2.Next().Next(), 100, 100)
	require.NoError(t, err)
	require.Empty(t, recs)

	b, err := e.Bounds(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, int64(5), b.Count)
	require.Equal(t, first, b.First)
	require.Equal(t, first2.Next(), b.Last)
	require.False(t, b.Sealed)

	sn, ok, err := e.SeekTime(ctx, ref, t0)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, first, sn)
	_, ok, err = e.SeekTime(ctx, ref, t0.Add(time.Nanosecond))
	require.NoError(t, err)
	require.False(t, ok)
}

func TestConditionalConflict(t *testing.T) {
	e := New()
	defer e.Close()
	inherited := shardlog.MakeSequenceNumber(10, 1)

	// No records here: the inherited number is the actual one.
	_, _, err := e.Append(ctx, ref, t0, entries("k", "x"), &shardlog.Condition{PartitionKey: "k", Inherited: inherited})
	var ce *shardlog.ConflictError
	require.ErrorAs(t, err, &ce)
	require.ErrorIs(t, err, shardlog.ErrKeyConflict)
	require.Equal(t, shardlog.ConflictError{PartitionKey: "k", Actual: inherited}, *ce)
	b, err := e.Bounds(ctx, ref)
	require.NoError(t, err)
	require.Zero(t, b.Count)

	first, _, err := e.Append(ctx, ref, t0, entries("k", "x"), &shardlog.Condition{PartitionKey: "k", Expected: inherited, Inherited: inherited})
	require.NoError(t, err)
	last, ok, err := e.LastKey(ctx, ref, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, first, last.SequenceNumber)
	require.Equal(t, "x", string(last.Data))

	// Now the key's own latest counts.
	_, _, err = e.Append(ctx, ref, t0, entries("k", "y"), &shardlog.Condition{PartitionKey: "k", Expected: inherited, Inherited: inherited})
	require.ErrorAs(t, err, &ce)
	require.Equal(t, first, ce.Actual)
	_, _, err = e.Append(ctx, ref, t0, entries("k", "y"), &shardlog.Condition{PartitionKey: "k", Expected: first})
	require.NoError(t, err)
	b, err = e.Bounds(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, int64(2), b.Count)

	// Records that arrived before the horizon count as absent.
	horizon := t0.Add(time.Second)
	_, _, err = e.Append(ctx, ref, t0, entries("k", "z"), &shardlog.Condition{PartitionKey: "k", Expected: first, Horizon: horizon})
	require.ErrorAs(t, err, &ce)
	require.True(t, ce.Actual.IsZero())
	_, _, err = e.Append(ctx, ref, horizon, entries("k", "z"), &shardlog.Condition{PartitionKey: "k", Inherited: inherited, Expected: inherited, Horizon: horizon})
	require.NoError(t, err)
}

func TestAppendFloor(t *testing.T) {
	e := New()
	defer e.Close()
	r := shardlog.ShardRef{Stream: "s", ID: "shardId-000000000001", Index: 1, Floor: 1 << 60}
	first, _, err := e.Append(ctx, r, t0, entries("k", "a"), nil)
	require.NoError(t, err)
	require.Equal(t, uint64(1<<60+1), first.Position())

	// A later append may raise the floor for itself.
	r.Floor = 1 << 61
	second, _, err := e.Append(ctx, r, t0, entries("k", "b"), nil)
	require.NoError(t, err)
	require.Equal(t, uint64(1<<61+1), second.Position())
	r.Floor = 0
	third, _, err := e.Append(ctx, r, t0, entries("k", "c"), nil)
	require.NoError(t, err)
	require.Equal(t, second.Next(), third)
}

func TestSeal(t *testing.T) {
	e := New()
	defer e.Close()

	last, err := e.Seal(ctx, shardlog.ShardRef{Stream: "s", ID: "empty"})
	require.NoError(t, err)
	require.True(t, last.IsZero())

	first, _, err := e.Append(ctx, ref, t0, entries("k", "a", "b"), nil)
	require.NoError(t, err)
	ch := e.Notify(ref)
	last, err = e.Seal(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, first.Next(), last)
	requireClosed(t, ch)

	_, _, err = e.Append(ctx, ref, t0, entries("k", "c"), nil)
	require.ErrorIs(t, err, shardlog.ErrShardSealed)
	last2, err := e.Seal(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, last, last2)
	b, err := e.Bounds(ctx, ref)
	require.NoError(t, err)
	require.True(t, b.Sealed)
	require.Equal(t, int64(2), b.Count)
}

func TestTrim(t *testing.T) {
	e := New()
	defer e.Close()

	var firsts []shardlog.SequenceNumber
	for i := range 100 {
		key := fmt.Sprint("k", i%3)
		first, _, err := e.Append(ctx, ref, t0.Add(time.Duration(i)*time.Second), entries(key, fmt.Sprint(i)), nil)
		require.NoError(t, err)
		firsts = append(firsts, first)
	}
	require.NoError(t, e.Trim(ctx, ref, t0.Add(10*time.Second)))
	b, err := e.Bounds(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, int64(90), b.Count)
	require.Equal(t, firsts[10], b.First)
	require.Equal(t, t0.Add(10*time.Second), b.FirstArrival)

	recs, err := e.Read(ctx, ref, shardlog.SequenceNumber{}, 1, 100)
	require.NoError(t, err)
	require.Equal(t, []string{"10"}, datas(recs))
	sn, ok, err := e.SeekTime(ctx, ref, t0)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, firsts[10], sn)

	// Trim past the half, so the slice is compacted, then keep appending.
	require.NoError(t, e.Trim(ctx, ref, t0.Add(98*time.Second)))
	_, _, err = e.Append(ctx, ref, t0.Add(200*time.Second), entries("k0", "new"), nil)
	require.NoError(t, err)
	recs, err = e.Read(ctx, ref, shardlog.SequenceNumber{}, 100, 1000)
	require.NoError(t, err)
	require.Equal(t, []string{"98", "99", "new"}, datas(recs))
	recs, err = e.ReadKey(ctx, ref, "k2", shardlog.SequenceNumber{}, 100)
	require.NoError(t, err)
	require.Equal(t, []string{"98"}, datas(recs))
	recs, err = e.ReadKey(ctx, ref, "k0", shardlog.SequenceNumber{}, 100)
	require.NoError(t, err)
	require.Equal(t, []string{"99", "new"}, datas(recs))

	// Trim everything: k1's last record is gone.
	require.NoError(t, e.Trim(ctx, ref, t0.Add(time.Hour)))
	_, ok, err = e.LastKey(ctx, ref, "k1")
	require.NoError(t, err)
	require.False(t, ok)
	b, err = e.Bounds(ctx, ref)
	require.NoError(t, err)
	require.Zero(t, b.Count)
	require.True(t, b.First.IsZero())
}

func TestReadKeyAfter(t *testing.T) {
	e := New()
	defer e.Close()

	var batch []shardlog.Entry
	for i := range 10 {
		batch = append(batch, shardlog.Entry{PartitionKey: fmt.Sprint("k", i%2), Data: []byte(fmt.Sprint(i))})
	}
	_, _, err := e.Append(ctx, ref, t0, batch, nil)
	require.NoError(t, err)

	recs, err := e.ReadKey(ctx, ref, "k1", shardlog.SequenceNumber{}, 100)
	require.NoError(t, err)
	require.Equal(t, []string{"1", "3", "5", "7", "9"}, datas(recs))
	recs2, err := e.ReadKey(ctx, ref, "k1", recs[1].SequenceNumber, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"5", "7"}, datas(recs2))
	recs2, err = e.ReadKey(ctx, ref, "k1", recs[4].SequenceNumber, 2)
	require.NoError(t, err)
	require.Empty(t, recs2)
	recs2, err = e.ReadKey(ctx, ref, "none", shardlog.SequenceNumber{}, 2)
	require.NoError(t, err)
	require.Empty(t, recs2)
	last, ok, err := e.LastKey(ctx, ref, "k1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, recs[4], last)
}

func requireClosed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("notify channel not closed")
	}
}

func requireOpen(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
		t.Fatal("notify channel closed")
	default:
	}
}

func TestNotify(t *testing.T) {
	e := New()
	ch := e.Notify(ref)
	requireOpen(t, ch)
	require.Equal(t, ch, e.Notify(ref))

	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ch
	}()
	_, _, err := e.Append(ctx, ref, t0, entries("k", "a"), nil)
	require.NoError(t, err)
	requireClosed(t, done)

	ch2 := e.Notify(ref)
	requireOpen(t, ch2)
	// A failed append does not notify.
	_, _, err = e.Append(ctx, ref, t0, entries("k", "b"), &shardlog.Condition{PartitionKey: "k"})
	require.ErrorIs(t, err, shardlog.ErrKeyConflict)
	requireOpen(t, ch2)

	require.NoError(t, e.Close())
	requireClosed(t, ch2)
	requireClosed(t, e.Notify(ref))
	_, _, err = e.Append(ctx, ref, t0, entries("k", "c"), nil)
	require.ErrorIs(t, err, shardlog.ErrClosed)
}

func TestMetadataCopies(t *testing.T) {
	e := New()
	defer e.Close()
	m := shardlog.StreamMeta{Name: "b", Tags: map[string]string{"x": "1"}, Shards: []shardlog.ShardMeta{{ID: "s0"}}}
	require.NoError(t, e.SaveStream(ctx, m))
	require.NoError(t, e.SaveStream(ctx, shardlog.StreamMeta{Name: "a"}))
	m.Tags["x"] = "2"
	m.Shards[0].ID = "changed"

	got, err := e.LoadStreams(ctx)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "a", got[0].Name)
	require.Equal(t, "1", got[1].Tags["x"])
	require.Equal(t, "s0", got[1].Shards[0].ID)
	got[1].Tags["x"] = "3"
	got2, err := e.LoadStreams(ctx)
	require.NoError(t, err)
	require.Equal(t, "1", got2[1].Tags["x"])

	bref := shardlog.ShardRef{Stream: "b", ID: "s0"}
	_, _, err = e.Append(ctx, bref, t0, entries("k", "a"), nil)
	require.NoError(t, err)
	require.NoError(t, e.DropStream(ctx, "b"))
	got, err = e.LoadStreams(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1)
	b, err := e.Bounds(ctx, bref)
	require.NoError(t, err)
	require.Zero(t, b.Count)
}

func TestConcurrentAppends(t *testing.T) {
	e := New()
	defer e.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		r := shardlog.ShardRef{Stream: "s", ID: fmt.Sprint(g % 2), Index: uint32(g % 2)}
		wg.Go(func() {
			for i := range 200 {
				if _, _, err := e.Append(ctx, r, time.Now(), entries("k", "x"), nil); err != nil {
					t.Error(err)
				}
				if i%50 == 0 {
					_ = e.Trim(ctx, r, time.Now().Add(-time.Millisecond))
				}
				_, _ = e.Read(ctx, r, shardlog.SequenceNumber{}, 10, 100)
				_, _, _ = e.LastKey(ctx, r, "k")
				_ = e.Notify(r)
			}
		})
	}
	wg.Wait()
	for i := range 2 {
		r := shardlog.ShardRef{Stream: "s", ID: fmt.Sprint(i), Index: uint32(i)}
		recs, err := e.Read(ctx, r, shardlog.SequenceNumber{}, 10000, 1<<30)
		require.NoError(t, err)
		for j := 1; j < len(recs); j++ {
			require.Equal(t, 1, recs[j].SequenceNumber.Compare(recs[j-1].SequenceNumber))
		}
	}
}
