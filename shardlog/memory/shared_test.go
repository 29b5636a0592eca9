package memory

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/internal/changefeed"
)

// sharedStream stores a one-shard stream with the given ID through e and
// returns its shard's reference.
func sharedStream(t *testing.T, e *Engine, name string, id uint64) shardlog.ShardRef {
	t.Helper()
	m, err := e.UpdateStream(ctx, name, func(_ shardlog.MetaTx, cur *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
		require.Nil(t, cur)
		return &shardlog.StreamMeta{ID: id, Name: name, Shards: []shardlog.ShardMeta{{ID: "shardId-000000000000"}}}, nil
	})
	require.NoError(t, err)
	return m.Shards[0].Ref(&m)
}

// closeShard returns m with its first shard closed at last.
func closeShard(m *shardlog.StreamMeta, last shardlog.SequenceNumber) *shardlog.StreamMeta {
	m.Shards[0].Closed, m.Shards[0].EndingSequenceNumber = true, last
	m.Revision++
	return m
}

// recv returns the next name on a change feed, failing after a second.
func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case name, ok := <-ch:
		require.True(t, ok, "the change feed is closed")
		return name
	case <-time.After(time.Second):
		t.Fatal("no change announced within a second")
		return ""
	}
}

// requireQuiet checks nothing more arrives on a change feed for a moment.
func requireQuiet(t *testing.T, ch <-chan string) {
	t.Helper()
	select {
	case name := <-ch:
		t.Fatalf("unexpected change %q", name)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestAttachSharesRecordsAndMetadata(t *testing.T) {
	a := New()
	b := a.Attach()
	defer a.Close()
	defer b.Close()
	r := sharedStream(t, a, "s", 1)

	m, ok, err := b.LoadStream(ctx, "s")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(1), m.ID)
	_, ok, err = b.LoadStream(ctx, "none")
	require.NoError(t, err)
	require.False(t, ok)

	ch := b.Notify(r)
	first, _, err := a.Append(ctx, r, t0, entries("k", "x"), nil)
	require.NoError(t, err)
	requireClosed(t, ch)
	recs, err := b.Read(ctx, r, shardlog.SequenceNumber{}, 10, 1<<20)
	require.NoError(t, err)
	require.Equal(t, []string{"x"}, datas(recs))

	// A conditional append through b sees a's record.
	_, _, err = b.Append(ctx, r, t0, entries("k", "y"), &shardlog.Condition{PartitionKey: "k"})
	var ce *shardlog.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, first, ce.Actual)
}

func TestCloseOneHandle(t *testing.T) {
	a := New()
	b := a.Attach()
	defer a.Close()
	r := sharedStream(t, a, "s", 1)
	changes := b.Changes()
	require.Equal(t, "s", recv(t, changes))
	waiting := a.Notify(r)

	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "closing twice is fine")
	_, ok := <-changes
	require.False(t, ok, "the closed handle's change feed is closed")
	requireClosed(t, b.Notify(r))
	_, _, err := b.Append(ctx, r, t0, entries("k", "x"), nil)
	require.ErrorIs(t, err, shardlog.ErrClosed)
	_, _, err = b.LoadStream(ctx, "s")
	require.ErrorIs(t, err, shardlog.ErrClosed)
	_, err = b.UpdateStream(ctx, "s", func(shardlog.MetaTx, *shardlog.StreamMeta) (*shardlog.StreamMeta, error) { return nil, nil })
	require.ErrorIs(t, err, shardlog.ErrClosed)
	requireClosed(t, waiting) // a spurious wake-up for the other handle's waiter

	// a is undisturbed, and a handle attached from the closed one works.
	_, _, err = a.Append(ctx, r, t0, entries("k", "x"), nil)
	require.NoError(t, err)
	c := b.Attach()
	recs, err := c.Read(ctx, r, shardlog.SequenceNumber{}, 10, 1<<20)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.NoError(t, c.Close())

	// Closing the last handle releases the log; later handles are closed.
	require.NoError(t, a.Close())
	d := a.Attach()
	_, _, err = d.LoadStream(ctx, "s")
	require.ErrorIs(t, err, shardlog.ErrClosed)
	_, ok = <-d.Changes()
	require.False(t, ok)
	require.NoError(t, d.Close())
}

func TestChangesFeed(t *testing.T) {
	a := New()
	b := a.Attach()
	defer a.Close()
	defer b.Close()
	ca, cb := a.Changes(), b.Changes()
	require.Equal(t, ca, a.Changes(), "one channel per handle")

	sharedStream(t, a, "s", 1)
	require.Equal(t, "s", recv(t, ca), "the handle that made the change hears of it too")
	require.Equal(t, "s", recv(t, cb))
	require.NoError(t, b.SaveStream(ctx, shardlog.StreamMeta{ID: 2, Name: "t"}))
	require.Equal(t, "t", recv(t, ca))
	require.Equal(t, "t", recv(t, cb))
	require.NoError(t, a.DropStream(ctx, "t"))
	require.Equal(t, "t", recv(t, ca))
	require.Equal(t, "t", recv(t, cb))
	require.NoError(t, a.DropStream(ctx, "never"))
	requireQuiet(t, ca)

	// A failed update announces nothing.
	boom := errors.New("boom")
	_, err := a.UpdateStream(ctx, "s", func(shardlog.MetaTx, *shardlog.StreamMeta) (*shardlog.StreamMeta, error) { return nil, boom })
	require.Same(t, boom, err, "fn's error comes back unwrapped")
	requireQuiet(t, ca)

	// Changes nobody reads coalesce: a name is queued once (plus, at
	// most, the one the feed is already handing over).
	for range 100 {
		require.NoError(t, a.SaveStream(ctx, shardlog.StreamMeta{ID: 3, Name: "u"}))
	}
	require.Equal(t, "u", recv(t, cb))
	select {
	case name := <-cb:
		require.Equal(t, "u", name)
		requireQuiet(t, cb)
	case <-time.After(20 * time.Millisecond):
	}

	// A backlog past changefeed.MaxPending names turns into "": reload everything.
	for i := range changefeed.MaxPending + 10 {
		require.NoError(t, a.SaveStream(ctx, shardlog.StreamMeta{ID: 4, Name: fmt.Sprint("v", i)}))
	}
	got := []string{recv(t, cb)}
	if got[0] != "" {
		got = append(got, recv(t, cb))
	}
	require.Equal(t, "", got[len(got)-1], "after %q", got)
	requireQuiet(t, cb)
}

func TestUpdateStreamSealsOnlyOnSuccess(t *testing.T) {
	a := New()
	b := a.Attach()
	defer a.Close()
	defer b.Close()
	r := sharedStream(t, a, "s", 1)
	last, _, err := b.Append(ctx, r, t0, entries("k", "x"), nil)
	require.NoError(t, err)

	boom := errors.New("boom")
	_, err = a.UpdateStream(ctx, "s", func(tx shardlog.MetaTx, cur *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
		got, err := tx.Seal(ctx, r)
		require.NoError(t, err)
		require.Equal(t, last, got)
		return nil, boom
	})
	require.Same(t, boom, err)
	_, _, err = b.Append(ctx, r, t0, entries("k", "y"), nil)
	require.NoError(t, err, "a failed update seals nothing")
	_, sealed, err := b.ReadKeySealed(ctx, r, "k", shardlog.SequenceNumber{}, 10)
	require.NoError(t, err)
	require.False(t, sealed)

	// An append waiting on the seal's lock fails once the update is stored.
	var lastSeal shardlog.SequenceNumber
	appended := make(chan error, 1)
	m, err := a.UpdateStream(ctx, "s", func(tx shardlog.MetaTx, cur *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
		lastSeal, err = tx.Seal(ctx, r)
		require.NoError(t, err)
		again, err := tx.Seal(ctx, r)
		require.NoError(t, err)
		require.Equal(t, lastSeal, again, "sealing twice in one update")
		go func() {
			_, _, err := b.Append(ctx, r, t0, entries("k", "late"), nil)
			appended <- err
		}()
		select {
		case err := <-appended:
			t.Errorf("an append went through a shard being sealed: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		return closeShard(cur, lastSeal), nil
	})
	require.NoError(t, err)
	require.True(t, m.Shards[0].Closed)
	require.ErrorIs(t, <-appended, shardlog.ErrShardSealed)
	bounds, err := b.Bounds(ctx, r)
	require.NoError(t, err)
	require.True(t, bounds.Sealed)
	require.Equal(t, lastSeal, bounds.Last, "the seal's last record is the shard's last")
	recs, sealed, err := b.ReadKeySealed(ctx, r, "k", shardlog.SequenceNumber{}, 10)
	require.NoError(t, err)
	require.True(t, sealed)
	require.Equal(t, []string{"x", "y"}, datas(recs))
	rec, found, sealed, err := b.LastKeySealed(ctx, r, "k")
	require.NoError(t, err)
	require.True(t, found)
	require.True(t, sealed)
	require.Equal(t, lastSeal, rec.SequenceNumber)

	// The seal outlives DropShard: the metadata calls the shard closed.
	require.NoError(t, a.DropShard(ctx, r))
	_, _, err = b.Append(ctx, r, t0, entries("k", "z"), nil)
	require.ErrorIs(t, err, shardlog.ErrShardSealed)
	_, found, sealed, err = b.LastKeySealed(ctx, r, "k")
	require.NoError(t, err)
	require.False(t, found)
	require.True(t, sealed)
}

func TestSealRacesAppends(t *testing.T) {
	a := New()
	b := a.Attach()
	defer a.Close()
	defer b.Close()
	r := sharedStream(t, a, "s", 1)

	type ack struct {
		seq shardlog.SequenceNumber
		err error
	}
	acks := make([][]ack, 4)
	var wg sync.WaitGroup
	for w := range acks {
		wg.Go(func() {
			for i := 0; ; i++ {
				first, _, err := b.Append(ctx, r, t0, entries("k", fmt.Sprint(w, "-", i)), nil)
				acks[w] = append(acks[w], ack{first, err})
				if err != nil {
					return
				}
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	var last shardlog.SequenceNumber
	_, err := a.UpdateStream(ctx, "s", func(tx shardlog.MetaTx, cur *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
		var err error
		last, err = tx.Seal(ctx, r)
		return closeShard(cur, last), err
	})
	require.NoError(t, err)
	wg.Wait()

	recs, err := a.Read(ctx, r, shardlog.SequenceNumber{}, 1<<30, 1<<30)
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	require.Equal(t, last, recs[len(recs)-1].SequenceNumber, "Seal's last is the shard's last record")
	n := 0
	for _, as := range acks {
		for i, x := range as {
			if i == len(as)-1 {
				require.ErrorIs(t, x.err, shardlog.ErrShardSealed)
				continue
			}
			require.NoError(t, x.err)
			require.LessOrEqual(t, x.seq.Compare(last), 0, "an acknowledged append after the seal")
			n++
		}
	}
	require.Len(t, recs, n, "every acknowledged append is kept, no other")
}

func TestIncarnation(t *testing.T) {
	a := New()
	b := a.Attach()
	defer a.Close()
	defer b.Close()
	old := sharedStream(t, a, "s", 1)
	_, _, err := b.Append(ctx, old, t0, entries("k", "x"), nil)
	require.NoError(t, err)

	require.NoError(t, a.DropStream(ctx, "s"))
	_, _, err = b.Append(ctx, old, t0, entries("k", "y"), nil)
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "an append to a deleted stream")
	_, err = b.Read(ctx, old, shardlog.SequenceNumber{}, 10, 1<<20)
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound)

	// Created again, with another ID: the old references stay refused and
	// never reach the new stream's shards.
	cur := sharedStream(t, a, "s", 2)
	for _, fn := range []func() error{
		func() error { _, _, err := b.Append(ctx, old, t0, entries("k", "y"), nil); return err },
		func() error { _, err := b.Seal(ctx, old); return err },
		func() error { _, err := b.Read(ctx, old, shardlog.SequenceNumber{}, 10, 1<<20); return err },
		func() error { _, _, err := b.LastKey(ctx, old, "k"); return err },
		func() error { _, _, err := b.ReadKeySealed(ctx, old, "k", shardlog.SequenceNumber{}, 10); return err },
		func() error { _, err := b.Bounds(ctx, old); return err },
		func() error { return b.DropShard(ctx, old) },
		func() error { return b.Trim(ctx, old, t0) },
	} {
		require.ErrorIs(t, fn(), shardlog.ErrResourceNotFound)
	}
	bounds, err := b.Bounds(ctx, cur)
	require.NoError(t, err)
	require.Zero(t, bounds.Count)
	require.False(t, bounds.Sealed)
	_, _, err = b.Append(ctx, cur, t0, entries("k", "z"), nil)
	require.NoError(t, err)

	// An update that replaces the stream by another incarnation drops the
	// old one's records too.
	_, err = a.UpdateStream(ctx, "s", func(_ shardlog.MetaTx, m *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
		m.ID = 3
		return m, nil
	})
	require.NoError(t, err)
	_, err = b.Read(ctx, cur, shardlog.SequenceNumber{}, 10, 1<<20)
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	cur.StreamID = 3
	recs, err := b.Read(ctx, cur, shardlog.SequenceNumber{}, 10, 1<<20)
	require.NoError(t, err)
	require.Empty(t, recs)
}

func TestUpdateStreamSerialized(t *testing.T) {
	a := New()
	b := a.Attach()
	defer a.Close()
	defer b.Close()
	sharedStream(t, a, "s", 1)
	var wg sync.WaitGroup
	for _, e := range []*Engine{a, b, a, b} {
		wg.Go(func() {
			for range 50 {
				_, err := e.UpdateStream(ctx, "s", func(_ shardlog.MetaTx, m *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
					m.Revision++ // a lost update would lose an increment
					return m, nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	m, _, err := b.LoadStream(ctx, "s")
	require.NoError(t, err)
	require.Equal(t, uint64(200), m.Revision)

	_, err = a.UpdateStream(ctx, "s", func(_ shardlog.MetaTx, m *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
		m.Name = "other"
		return m, nil
	})
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
	_, err = a.UpdateStream(ctx, "s", func(tx shardlog.MetaTx, m *shardlog.StreamMeta) (*shardlog.StreamMeta, error) {
		_, err := tx.Seal(ctx, shardlog.ShardRef{Stream: "t", ID: "shardId-000000000000"})
		return m, err
	})
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument, "an update seals only its own stream's shards")
}
