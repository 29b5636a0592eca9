package eventstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		clk := newFakeClock()
		e := newEnv(t, kind, withClock(clk), withShards(3))
		s := e.store()
		ctx := e.ctx
		const id = "acct"

		// Five appends, a second apart, interleaved with other streams.
		data := []any{opened{Owner: "ann", Limit: 100}, deposited{Amount: 10}, deposited{Amount: 20, Note: "gift"}, withdrawn{Amount: 5}, deposited{Amount: 1}, withdrawn{Amount: 2}}
		batches := [][]any{data[:1], data[1:3], data[3:4], data[4:5], data[5:]}
		var results []eventstore.AppendResult
		var times []time.Time
		for i, b := range batches {
			clk.Advance(time.Second)
			_, err := s.Append(ctx, fmt.Sprintf("noise-%d", i), eventstore.Any, deposited{Amount: i})
			require.NoError(t, err)
			res, err := s.Append(ctx, id, eventstore.Any, b...)
			require.NoError(t, err)
			require.True(t, res.RecordedAt.Equal(clk.Now()), "recorded at %v, clock %v", res.RecordedAt, clk.Now())
			results = append(results, res)
			for range b {
				times = append(times, clk.Now())
			}
		}

		all := mustReadAll(t, s.Read(ctx, id, 0))
		require.Equal(t, span(1, 6), versions(all))
		require.Equal(t, all, mustReadAll(t, s.Read(ctx, id, 1)))
		var last shardlog.SequenceNumber
		for i, ev := range all {
			require.Equal(t, id, ev.StreamID)
			require.Equal(t, uint32(1), ev.SchemaVersion)
			require.NotZero(t, ev.ID)
			require.Equal(t, byte(7), ev.ID[6]>>4, "a UUID v7")
			require.True(t, ev.RecordedAt.Equal(times[i]), "v%d recorded at %v, want %v", ev.Version, ev.RecordedAt, times[i])
			require.False(t, ev.Position.SequenceNumber.IsZero())
			require.Equal(t, ev.Position.SequenceNumber.ShardID(), ev.Position.ShardID)
			require.Equal(t, e.owner(id).ShardID, ev.Position.ShardID)
			require.Equal(t, ev.Position.ShardID+"/"+ev.Position.SequenceNumber.String(), ev.Position.String())
			require.Positive(t, ev.Position.SequenceNumber.Compare(last), "positions increase")
			last = ev.Position.SequenceNumber
			d, err := ev.Data()
			require.NoError(t, err)
			require.Equal(t, data[i], d)
			require.NotEmpty(t, ev.Payload())
		}
		require.Equal(t, "acct.opened", all[0].Type)
		require.Equal(t, "acct.deposited", all[1].Type)
		require.Equal(t, "acct.withdrawn", all[3].Type)
		for i, res := range results {
			first := all[res.FirstVersion-1]
			lastEv := all[res.LastVersion-1]
			require.Equal(t, res.First, first.Position, "append %d", i)
			require.Equal(t, res.Last, lastEv.Position, "append %d", i)
		}

		// From a version.
		require.Equal(t, span(3, 6), versions(mustReadAll(t, s.Read(ctx, id, 3))))
		require.Equal(t, all[2:], mustReadAll(t, s.Read(ctx, id, 3)))
		require.Equal(t, []uint64{6}, versions(mustReadAll(t, s.Read(ctx, id, 6))))
		require.Empty(t, mustReadAll(t, s.Read(ctx, id, 7)))
		require.Empty(t, mustReadAll(t, s.Read(ctx, "no-such-stream", 0)))

		// Stopping early.
		n := 0
		for _, err := range s.Read(ctx, id, 0) {
			require.NoError(t, err)
			if n++; n == 2 {
				break
			}
		}
		require.Equal(t, 2, n)

		// Backward, from the end and from a version.
		back := mustReadAll(t, s.ReadBackward(ctx, id, 0))
		require.Equal(t, span(6, 1), versions(back))
		for i, ev := range back {
			require.Equal(t, all[len(all)-1-i].ID, ev.ID)
			require.Equal(t, all[len(all)-1-i].Position, ev.Position)
		}
		require.Equal(t, span(4, 1), versions(mustReadAll(t, s.ReadBackward(ctx, id, 4))))
		require.Equal(t, []uint64{1}, versions(mustReadAll(t, s.ReadBackward(ctx, id, 1))))
		require.Equal(t, span(6, 1), versions(mustReadAll(t, s.ReadBackward(ctx, id, 99))))
		require.Empty(t, mustReadAll(t, s.ReadBackward(ctx, "no-such-stream", 0)))
		n = 0
		for _, err := range s.ReadBackward(ctx, id, 0) {
			require.NoError(t, err)
			n++
			break
		}
		require.Equal(t, 1, n)

		// Last, Version, Exists.
		lastEv, err := s.Last(ctx, id)
		require.NoError(t, err)
		require.Equal(t, all[5].ID, lastEv.ID)
		require.Equal(t, uint64(6), lastEv.Version)
		require.Equal(t, all[5].Position, lastEv.Position)
		d, err := eventstore.DataAs[withdrawn](&lastEv)
		require.NoError(t, err)
		require.Equal(t, withdrawn{Amount: 2}, d)
		_, err = s.Last(ctx, "no-such-stream")
		require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
		v, err := s.Version(ctx, id)
		require.NoError(t, err)
		require.Equal(t, uint64(6), v)
		ok, err := s.Exists(ctx, id)
		require.NoError(t, err)
		require.True(t, ok)

		// Load without snapshots is Read from version 1.
		ld, err := s.Load(ctx, id, nil)
		require.NoError(t, err)
		require.Nil(t, ld.Snapshot)
		require.Equal(t, all, mustReadAll(t, ld.Events))

		// The other streams are apart.
		for i := range batches {
			evs := mustReadAll(t, s.Read(ctx, fmt.Sprintf("noise-%d", i), 0))
			require.Len(t, evs, 1)
			require.Equal(t, fmt.Sprintf("noise-%d", i), evs[0].StreamID)
		}

		// A restart changes nothing (file engine).
		e.reopenLog()
		s = e.store()
		require.Equal(t, versions(all), versions(mustReadAll(t, s.Read(ctx, id, 0))))
		again := mustReadAll(t, s.Read(ctx, id, 0))
		for i := range all {
			require.Equal(t, all[i].ID, again[i].ID)
			require.Equal(t, all[i].Position, again[i].Position)
			require.True(t, all[i].RecordedAt.Equal(again[i].RecordedAt))
			require.Equal(t, all[i].Payload(), again[i].Payload())
		}
		res, err := s.Append(ctx, id, eventstore.Exact(6), deposited{Amount: 3})
		require.NoError(t, err)
		require.Equal(t, uint64(7), res.LastVersion)
	})
}

func TestMetadata(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		s := e.store()
		ctx := e.ctx
		mds := []eventstore.Metadata{
			{},
			{CorrelationID: "corr-1"},
			{CausationID: "cause-1"},
			{CorrelationID: "corr-1", CausationID: "cause-2", Fields: map[string]string{"user": "ann", "tenant": "t-9", "trace": "ü→✓", "": "empty key", "z": ""}},
			{Fields: map[string]string{"only": "fields"}},
		}
		var evs []any
		for i, md := range mds {
			evs = append(evs, eventstore.NewEvent(deposited{Amount: i}, md))
		}
		evs = append(evs, withdrawn{Amount: 9}) // a plain value: no metadata
		_, err := s.Append(ctx, "md", eventstore.NoStream, evs...)
		require.NoError(t, err)
		got := mustReadAll(t, s.Read(ctx, "md", 0))
		require.Len(t, got, len(evs))
		for i, md := range mds {
			require.Equal(t, evs[i].(eventstore.Proposed).ID, got[i].ID)
			require.Equal(t, md, got[i].Metadata, "event %d", i)
		}
		require.Equal(t, eventstore.Metadata{}, got[len(got)-1].Metadata)
		last, err := s.Last(ctx, "md")
		require.NoError(t, err)
		require.Equal(t, eventstore.Metadata{}, last.Metadata)
		back := mustReadAll(t, s.ReadBackward(ctx, "md", 4))
		require.Equal(t, mds[3], back[0].Metadata)
	})
}

func TestDataAs(t *testing.T) {
	e := newEnv(t, "memory")
	s := e.store()
	ctx := e.ctx
	_, err := s.Append(ctx, "x", eventstore.NoStream, deposited{Amount: 4})
	require.NoError(t, err)
	ev, err := s.Last(ctx, "x")
	require.NoError(t, err)
	d, err := eventstore.DataAs[deposited](&ev)
	require.NoError(t, err)
	require.Equal(t, deposited{Amount: 4}, d)
	v1, err := ev.Data()
	require.NoError(t, err)
	v2, err := ev.Data()
	require.NoError(t, err)
	require.Equal(t, v1, v2)
	_, err = eventstore.DataAs[withdrawn](&ev)
	require.Error(t, err)
	require.Contains(t, err.Error(), "eventstore_test.deposited")
	a, err := eventstore.DataAs[any](&ev)
	require.NoError(t, err)
	require.Equal(t, deposited{Amount: 4}, a)

	// An Event made by hand has no store to decode it.
	var zero eventstore.Event
	_, err = zero.Data()
	require.Error(t, err)
}

// TestCorruptRecord: a record under a stream's key that is not an event
// envelope is reported, not skipped or misread.
func TestCorruptRecord(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		s := e.store()
		ctx := e.ctx
		_, err := s.Append(ctx, "c", eventstore.NoStream, deposited{Amount: 1})
		require.NoError(t, err)
		_, err = e.log.PutRecord(ctx, shardlog.PutRecordInput{StreamName: testStream, PartitionKey: "c", Data: []byte("not an event")})
		require.NoError(t, err)

		evs, err := readAll(t, s.Read(ctx, "c", 0))
		require.Equal(t, []uint64{1}, versions(evs))
		require.ErrorIs(t, err, eventstore.ErrCorruptEvent)
		_, err = readAll(t, s.ReadBackward(ctx, "c", 0))
		require.ErrorIs(t, err, eventstore.ErrCorruptEvent)
		_, err = s.Last(ctx, "c")
		require.ErrorIs(t, err, eventstore.ErrCorruptEvent)
		_, err = s.Version(ctx, "c")
		require.ErrorIs(t, err, eventstore.ErrCorruptEvent)
		_, err = s.Append(ctx, "c", eventstore.Any, deposited{Amount: 2})
		require.ErrorIs(t, err, eventstore.ErrCorruptEvent)
	})
}
