package shardlogtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func testConsumers(t *testing.T, newEngine NewEngine) {
	arnOf := func(stream, consumer string, created time.Time) string {
		return fmt.Sprintf("arn:aws:kinesis:us-east-1:000000000000:stream/%s/consumer/%s:%d", stream, consumer, created.Unix())
	}

	t.Run("RegisterAndDescribe", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		c, err := h.Log.RegisterStreamConsumer(h.Ctx, shardlog.RegisterStreamConsumerInput{StreamName: "s", ConsumerName: "app"})
		require.NoError(t, err)
		want := shardlog.Consumer{
			ConsumerName:              "app",
			ConsumerARN:               arnOf("s", "app", Epoch),
			ConsumerStatus:            shardlog.ConsumerActive,
			ConsumerCreationTimestamp: Epoch,
			StreamARN:                 "arn:aws:kinesis:us-east-1:000000000000:stream/s",
		}
		require.Equal(t, want, c.Consumer)
		d, err := h.Log.DescribeStreamConsumer(h.Ctx, shardlog.DescribeStreamConsumerInput{StreamName: "s", ConsumerName: "app"})
		require.NoError(t, err)
		require.Equal(t, want, d.ConsumerDescription)
		sd, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "s"})
		require.NoError(t, err)
		require.Equal(t, 1, sd.ConsumerCount)

		_, err = h.Log.DescribeStreamConsumer(h.Ctx, shardlog.DescribeStreamConsumerInput{StreamName: "s", ConsumerName: "other"})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		_, err = h.Log.RegisterStreamConsumer(h.Ctx, shardlog.RegisterStreamConsumerInput{StreamName: "nope", ConsumerName: "app"})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		_, err = h.Log.DescribeStreamConsumer(h.Ctx, shardlog.DescribeStreamConsumerInput{StreamName: "nope", ConsumerName: "app"})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})

	t.Run("DuplicateName", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.CreateStream("t", 1)
		rsConsumer(h, "s", "app")
		_, err := h.Log.RegisterStreamConsumer(h.Ctx, shardlog.RegisterStreamConsumerInput{StreamName: "s", ConsumerName: "app"})
		require.ErrorIs(t, err, shardlog.ErrResourceInUse)
		// Names are unique per stream only.
		rsConsumer(h, "t", "app")
	})

	t.Run("PerStreamLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		for i := range shardlog.MaxConsumersPerStream {
			rsConsumer(h, "s", fmt.Sprintf("c%02d", i))
		}
		_, err := h.Log.RegisterStreamConsumer(h.Ctx, shardlog.RegisterStreamConsumerInput{StreamName: "s", ConsumerName: "one-too-many"})
		rsRequireArg(t, err, shardlog.ErrLimitExceeded, "ConsumerName")
		lc, err := h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "s"})
		require.NoError(t, err)
		cs, tok := lc.Consumers, lc.NextToken
		require.Empty(t, tok)
		require.Len(t, cs, shardlog.MaxConsumersPerStream)
		// Deregistering frees a slot.
		require.NoError(t, h.Log.DeregisterStreamConsumer(h.Ctx, shardlog.DeregisterStreamConsumerInput{StreamName: "s", ConsumerName: "c00"}))
		rsConsumer(h, "s", "one-too-many")
	})

	t.Run("NameValidation", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		long := strings.Repeat("c", shardlog.MaxConsumerNameLength)
		rsConsumer(h, "s", long)
		rsConsumer(h, "s", "a-Z_0.9")
		for _, name := range []string{long + "c", "", "a b", "a/b", "a:b", "ünï", "a*"} {
			_, err := h.Log.RegisterStreamConsumer(h.Ctx, shardlog.RegisterStreamConsumerInput{StreamName: "s", ConsumerName: name})
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ConsumerName")
		}
	})

	t.Run("ListPaging", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.CreateStream("t", 1)
		names := []string{"g", "c", "a", "f", "b", "e", "d"}
		for _, n := range names {
			rsConsumer(h, "s", n)
		}
		var got []string
		var sizes []int
		lc, err := h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "s", MaxResults: 3})
		for {
			require.NoError(t, err)
			cs, tok := lc.Consumers, lc.NextToken
			sizes = append(sizes, len(cs))
			for _, c := range cs {
				require.Equal(t, arnOf("s", c.ConsumerName, Epoch), c.ConsumerARN)
				require.Equal(t, shardlog.ConsumerActive, c.ConsumerStatus)
				got = append(got, c.ConsumerName)
			}
			if tok == "" {
				break
			}
			require.Less(t, len(sizes), 10)
			lc, err = h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "s", NextToken: tok, MaxResults: 3})
		}
		require.Equal(t, []string{"a", "b", "c", "d", "e", "f", "g"}, got)
		require.Equal(t, []int{3, 3, 1}, sizes)

		// MaxResults at and past its edges; tokens are bound to their stream
		// and expire.
		_, err = h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "s", MaxResults: 10000})
		require.NoError(t, err)
		for _, n := range []int{-1, 10001} {
			_, err = h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "s", MaxResults: n})
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "MaxResults")
		}
		lc, err = h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "s", MaxResults: 3})
		require.NoError(t, err)
		tok := lc.NextToken
		_, err = h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "t", NextToken: tok, MaxResults: 3})
		rsRequireArg(t, err, shardlog.ErrInvalidArgument, "NextToken")
		h.Clock.Advance(shardlog.NextTokenLifetime)
		_, err = h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "s", NextToken: tok, MaxResults: 3})
		require.NoError(t, err)
		h.Clock.Advance(time.Nanosecond)
		_, err = h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "s", NextToken: tok, MaxResults: 3})
		require.ErrorIs(t, err, shardlog.ErrExpiredNextToken)
	})

	t.Run("NextTokenOfRecreatedStream", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		create := func() {
			h.CreateStream("s", 3)
			for _, n := range []string{"a", "b", "c"} {
				rsConsumer(h, "s", n)
			}
		}
		create()
		lc, err := h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "s", MaxResults: 1})
		require.NoError(t, err)
		require.NotEmpty(t, lc.NextToken)
		ls, err := h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{StreamName: "s", MaxResults: 1})
		require.NoError(t, err)
		require.NotEmpty(t, ls.NextToken)
		require.NoError(t, h.Log.DeleteStream(h.Ctx, shardlog.DeleteStreamInput{StreamName: "s", EnforceConsumerDeletion: true}))
		create()
		// A page token of the deleted stream does not page through the new
		// one of the same name.
		_, err = h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "s", NextToken: lc.NextToken, MaxResults: 1})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "ListStreamConsumers")
		_, err = h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{NextToken: ls.NextToken, MaxResults: 1})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "ListShards")
	})

	t.Run("Deregister", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		oldARN := rsConsumer(h, "s", "app")
		require.NoError(t, h.Log.DeregisterStreamConsumer(h.Ctx, shardlog.DeregisterStreamConsumerInput{StreamName: "s", ConsumerName: "app"}))
		_, err := h.Log.DescribeStreamConsumer(h.Ctx, shardlog.DescribeStreamConsumerInput{StreamName: "s", ConsumerName: "app"})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.DeregisterStreamConsumer(h.Ctx, shardlog.DeregisterStreamConsumerInput{StreamName: "s", ConsumerName: "app"}), shardlog.ErrResourceNotFound)
		lc, err := h.Log.ListStreamConsumers(h.Ctx, shardlog.ListStreamConsumersInput{StreamName: "s"})
		require.NoError(t, err)
		cs := lc.Consumers
		require.Empty(t, cs)

		// Registered again later, the consumer has a new ARN; the old one
		// names nothing.
		h.Clock.Advance(2 * time.Second)
		newARN := rsConsumer(h, "s", "app")
		require.NotEqual(t, oldARN, newARN)
		require.Equal(t, arnOf("s", "app", Epoch.Add(2*time.Second)), newARN)
		_, err = h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: oldARN, ShardID: rsShardID(0), StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		sub := rsSubscribe(h, newARN, rsShardID(0), shardlog.StartingPosition{Type: shardlog.TrimHorizon})
		require.NoError(t, sub.Close())
	})

	t.Run("ParseConsumerARN", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("my.stream-1", 1)
		c, err := h.Log.RegisterStreamConsumer(h.Ctx, shardlog.RegisterStreamConsumerInput{StreamName: "my.stream-1", ConsumerName: "my_consumer.2"})
		require.NoError(t, err)
		stream, name, created, err := shardlog.ParseConsumerARN(c.ConsumerARN)
		require.NoError(t, err)
		require.Equal(t, "my.stream-1", stream)
		require.Equal(t, "my_consumer.2", name)
		require.True(t, created.Equal(Epoch), "created %v", created)
		require.Equal(t, c.ConsumerARN, h.Log.ConsumerARN(stream, name, created))

		for _, bad := range []string{
			"",
			"not-an-arn",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c",
			"arn:aws:sqs:us-east-1:000000000000:stream/s/consumer/c:1",
			"xrn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1",
			"arn:aws:kinesis:us-east-1:000000000000:table/s/consumer/c:1",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s/other/c:1",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c/x:1",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:abc",
			"arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:",
		} {
			_, _, _, err := shardlog.ParseConsumerARN(bad)
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ConsumerARN")
			_, err = h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: bad, ShardID: rsShardID(0), StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
			rsRequireArg(t, err, shardlog.ErrInvalidArgument, "ConsumerARN")
		}
	})

	t.Run("SubscribeUnknownConsumer", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		pos := shardlog.StartingPosition{Type: shardlog.TrimHorizon}
		for _, arn := range []string{
			arnOf("s", "ghost", Epoch),
			arnOf("nope", "ghost", Epoch),
		} {
			_, err := h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arn, ShardID: rsShardID(0), StartingPosition: pos})
			require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		}
		arn := rsConsumer(h, "s", "app")
		// Same name, another registration time.
		_, err := h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arnOf("s", "app", Epoch.Add(time.Second)), ShardID: rsShardID(0), StartingPosition: pos})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		// Unknown shard.
		_, err = h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arn, ShardID: rsShardID(7), StartingPosition: pos})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		require.NoError(t, h.Log.DeregisterStreamConsumer(h.Ctx, shardlog.DeregisterStreamConsumerInput{StreamName: "s", ConsumerName: "app"}))
		_, err = h.Log.SubscribeToShard(h.Ctx, shardlog.SubscribeToShardInput{ConsumerARN: arn, ShardID: rsShardID(0), StartingPosition: pos})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	})
}
