package shardlogtest

import (
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// Helpers of this file are prefixed with rs so they cannot collide with
// those of the other groups.

// rsBig returns a hash key as a big integer.
func rsBig(h shardlog.HashKey) *big.Int {
	b, ok := new(big.Int).SetString(h.String(), 10)
	if !ok {
		panic("shardlogtest: hash key " + h.String() + " is not decimal")
	}
	return b
}

// rsMid returns the midpoint a split of r at which leaves two non-empty halves.
func rsMid(r shardlog.HashKeyRange) string {
	s, e := rsBig(r.StartingHashKey), rsBig(r.EndingHashKey)
	m := new(big.Int).Add(s, e)
	m.Add(m, big.NewInt(1))
	return m.Rsh(m, 1).String()
}

// rsRequireArg asserts err wraps sentinel and is an *ArgumentError on field.
func rsRequireArg(t *testing.T, err error, sentinel error, field string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, sentinel)
	var ae *shardlog.ArgumentError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, field, ae.Field, "field of %v", err)
}

// rsShard returns the described shard with the given ID.
func rsShard(h *Harness, stream, id string) shardlog.Shard {
	h.T.Helper()
	for _, s := range h.AllShards(stream) {
		if s.ShardID == id {
			return s
		}
	}
	h.T.Fatalf("shard %s not described", id)
	return shardlog.Shard{}
}

// rsConsumer registers a consumer and returns its ARN.
func rsConsumer(h *Harness, stream, name string) string {
	h.T.Helper()
	c, err := h.Log.RegisterStreamConsumer(h.Ctx, shardlog.RegisterStreamConsumerInput{StreamName: stream, ConsumerName: name})
	require.NoError(h.T, err)
	return c.ConsumerARN
}

// rsSubscribe subscribes from a starting position.
func rsSubscribe(h *Harness, arn, shard string, pos shardlog.StartingPosition) *shardlog.Subscription {
	h.T.Helper()
	sub, err := h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arn, ShardID: shard, StartingPosition: pos})
	require.NoError(h.T, err)
	return sub
}

func rsData(recs []shardlog.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Data)
	}
	return out
}

func rsIDs(shards []shardlog.Shard) []string {
	out := make([]string, len(shards))
	for i, s := range shards {
		out[i] = s.ShardID
	}
	return out
}

func rsChildIDs(cs []shardlog.ChildShard) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ShardID
	}
	slices.Sort(out)
	return out
}

func rsShardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }
