package eventstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/stretchr/testify/require"
)

type placed struct {
	Customer string `json:"customer"`
	Total    int    `json:"total"`
}
type shipped struct{ Carrier string }

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	l, err := shardlog.Open(ctx, memory.New())
	require.NoError(t, err)
	reg := eventstore.NewRegistry()
	require.NoError(t, eventstore.Register[placed](reg, "placed"))
	require.NoError(t, eventstore.Register[shipped](reg, "shipped"))
	s, err := eventstore.Open(ctx, l, "events", eventstore.WithRegistry(reg), eventstore.CreateIfMissing(shardlog.CreateStreamInput{ShardCount: 2}))
	require.NoError(t, err)
	res, err := s.Append(ctx, "o-1", eventstore.NoStream, placed{"ann", 3})
	require.NoError(t, err)
	require.Equal(t, uint64(1), res.LastVersion)
	evs := []any{eventstore.NewEvent(shipped{"ups"}, eventstore.Metadata{CorrelationID: "c"}), eventstore.NewEvent(shipped{"dhl"}, eventstore.Metadata{})}
	res2, err := s.Append(ctx, "o-1", eventstore.Exact(1), evs...)
	require.NoError(t, err)
	require.Equal(t, uint64(3), res2.LastVersion)
	again, err := s.Append(ctx, "o-1", eventstore.Exact(1), evs...)
	require.NoError(t, err)
	require.True(t, again.Deduplicated)
	require.Equal(t, res2.First, again.First)
	require.Equal(t, res2.Last, again.Last)
	_, err = s.Append(ctx, "o-1", eventstore.Exact(1), shipped{"x"})
	var we *eventstore.WrongExpectedVersionError
	require.True(t, errors.As(err, &we), "%v", err)
	require.Equal(t, uint64(3), we.Actual)
	var got []any
	for ev, err := range s.Read(ctx, "o-1", 0) {
		require.NoError(t, err)
		d, err := ev.Data()
		require.NoError(t, err)
		got = append(got, d)
	}
	require.Equal(t, []any{placed{"ann", 3}, shipped{"ups"}, shipped{"dhl"}}, got)
	sub, err := s.Subscribe(eventstore.SubscribeOptions{CatchUpOnly: true})
	require.NoError(t, err)
	n := 0
	for _, err := range sub.Events(ctx) {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 3, n)
	t.Log(sub.Checkpoint())
}
