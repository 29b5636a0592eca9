package shardlogtest

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// mlTags returns every tag a Log lists for a stream.
func mlTags(m *mlHarness, l *shardlog.Log, stream string) (map[string]string, error) {
	out := map[string]string{}
	res, err := l.ListTagsForStream(m.Ctx, shardlog.ListTagsForStreamInput{StreamName: stream})
	if err != nil {
		return nil, err
	}
	for _, tag := range res.Tags {
		out[tag.Key] = tag.Value
	}
	return out, nil
}

// mlConsumers returns the names of the consumers a Log lists for a stream.
func mlConsumers(m *mlHarness, l *shardlog.Log, stream string) ([]string, error) {
	res, err := l.ListStreamConsumers(m.Ctx, shardlog.ListStreamConsumersInput{StreamName: stream})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range res.Consumers {
		out = append(out, c.ConsumerName)
	}
	return out, nil
}

// mlPutHash puts one record routed by an explicit hash key.
func mlPutHash(m *mlHarness, l *shardlog.Log, stream string, hk *big.Int, data string) (*shardlog.PutRecordOutput, error) {
	return l.PutRecord(m.Ctx, shardlog.PutRecordInput{StreamName: stream, PartitionKey: "k", ExplicitHashKey: hk.String(), Data: []byte(data)})
}

func testMultiLogVisibility(t *testing.T, newShared NewSharedEngines) {
	t.Run("a stream created through one Log is usable by name through another at once", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 3)
		a, b, c := m.Logs[0], m.Logs[1], m.Logs[2]
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 2, Tags: map[string]string{"born": "a"}}))

		// No waiting: b puts right away (it loads the stream on a miss).
		out, err := b.PutRecord(m.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte("from-b")})
		require.NoError(t, err, "a stream another Log created")
		d, err := mlDescribe(m.Ctx, c, "s")
		require.NoError(t, err)
		require.Equal(t, shardlog.StatusActive, d.StreamStatus)
		require.Len(t, d.Shards, 2)
		require.Equal(t, "a", d.Tags["born"])
		require.NoError(t, mlSameOpenShards(m.Ctx, a, c, "s"))
		require.Equal(t, []string{"from-b"}, rsData(m.H(0).ReadShard("s", out.ShardID)), "the creator reads what another Log put")
		require.Equal(t, []string{"from-b"}, rsData(m.H(2).ReadShard("s", out.ShardID)))

		// And the other way round: a stream b creates is a's at once too.
		require.NoError(t, b.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "t", ShardCount: 1}))
		out, err = a.PutRecord(m.Ctx, shardlog.PutRecordInput{StreamName: "t", PartitionKey: "k", Data: []byte("from-a")})
		require.NoError(t, err)
		require.Equal(t, []string{"from-a"}, rsData(m.H(1).ReadShard("t", out.ShardID)))

		// A name taken through one Log is taken for all.
		err = c.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1})
		require.ErrorIs(t, err, shardlog.ErrResourceInUse, "CreateStream of a name another Log created")
		mlSeen(t, "the third Log lists both streams", func() error {
			var names []string
			for s, err := range c.ListStreamsAll(m.Ctx) {
				if err != nil {
					return err
				}
				names = append(names, s.StreamName)
			}
			if !slices.Equal(names, []string{"s", "t"}) {
				return fmt.Errorf("streams %v", names)
			}
			return nil
		})
	})

	t.Run("changes through one Log are seen by the others within a second", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 3)
		a, b, c := m.Logs[0], m.Logs[1], m.Logs[2]
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 2}))
		// b and c know the stream before it changes: they must learn of
		// the changes, not load the stream afresh.
		for _, l := range []*shardlog.Log{b, c} {
			_, err := mlDescribe(m.Ctx, l, "s")
			require.NoError(t, err)
		}
		seenByAll := func(what string, check func(l *shardlog.Log) error) {
			t.Helper()
			for i, l := range []*shardlog.Log{b, c} {
				mlSeen(t, fmt.Sprintf("Log %d sees %s", i+1, what), func() error { return check(l) })
			}
		}

		require.NoError(t, a.AddTagsToStream(m.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{"team": "orders", "env": "test"}}))
		seenByAll("added tags", func(l *shardlog.Log) error {
			tags, err := mlTags(m, l, "s")
			if err == nil && (tags["team"] != "orders" || tags["env"] != "test") {
				err = fmt.Errorf("tags %v", tags)
			}
			return err
		})
		require.NoError(t, a.RemoveTagsFromStream(m.Ctx, shardlog.RemoveTagsFromStreamInput{StreamName: "s", TagKeys: []string{"env"}}))
		seenByAll("a removed tag", func(l *shardlog.Log) error {
			d, err := mlDescribe(m.Ctx, l, "s")
			if err == nil && (len(d.Tags) != 1 || d.Tags["team"] != "orders") {
				err = fmt.Errorf("tags %v", d.Tags)
			}
			return err
		})

		require.NoError(t, a.IncreaseStreamRetentionPeriod(m.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 48}))
		seenByAll("a longer retention", func(l *shardlog.Log) error {
			d, err := mlDescribe(m.Ctx, l, "s")
			if err == nil && d.RetentionPeriodHours != 48 {
				err = fmt.Errorf("retention %d hours", d.RetentionPeriodHours)
			}
			return err
		})
		require.NoError(t, a.DecreaseStreamRetentionPeriod(m.Ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 36}))
		seenByAll("a shorter retention", func(l *shardlog.Log) error {
			d, err := mlDescribe(m.Ctx, l, "s")
			if err == nil && d.RetentionPeriodHours != 36 {
				err = fmt.Errorf("retention %d hours", d.RetentionPeriodHours)
			}
			return err
		})

		reg, err := a.RegisterStreamConsumer(m.Ctx, shardlog.RegisterStreamConsumerInput{StreamName: "s", ConsumerName: "projector"})
		require.NoError(t, err)
		seenByAll("a registered consumer", func(l *shardlog.Log) error {
			names, err := mlConsumers(m, l, "s")
			if err == nil && !slices.Equal(names, []string{"projector"}) {
				err = fmt.Errorf("consumers %v", names)
			}
			if err == nil {
				var d *shardlog.DescribeStreamConsumerOutput
				d, err = l.DescribeStreamConsumer(m.Ctx, shardlog.DescribeStreamConsumerInput{StreamName: "s", ConsumerName: "projector"})
				if err == nil && d.ConsumerDescription.ConsumerARN != reg.ConsumerARN {
					err = fmt.Errorf("consumer ARN %s, want %s", d.ConsumerDescription.ConsumerARN, reg.ConsumerARN)
				}
			}
			return err
		})
		require.NoError(t, a.DeregisterStreamConsumer(m.Ctx, shardlog.DeregisterStreamConsumerInput{StreamName: "s", ConsumerName: "projector"}))
		seenByAll("a deregistered consumer", func(l *shardlog.Log) error {
			names, err := mlConsumers(m, l, "s")
			if err == nil && len(names) != 0 {
				err = fmt.Errorf("consumers %v", names)
			}
			return err
		})

		require.NoError(t, a.UpdateMaxRecordSize(m.Ctx, shardlog.UpdateMaxRecordSizeInput{StreamName: "s", MaxRecordSizeInKiB: 2048}))
		seenByAll("a larger record size", func(l *shardlog.Log) error {
			d, err := mlDescribe(m.Ctx, l, "s")
			if err == nil && d.MaxRecordSizeInKiB != 2048 {
				err = fmt.Errorf("max record size %d KiB", d.MaxRecordSizeInKiB)
			}
			return err
		})
		large := make([]byte, 1536<<10) // over the default limit, within the new one
		_, err = b.PutRecord(m.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: large})
		require.NoError(t, err, "b takes a record as large as a allowed")

		_, err = a.UpdateShardCount(m.Ctx, shardlog.UpdateShardCountInput{StreamName: "s", TargetShardCount: 4})
		require.NoError(t, err)
		seenByAll("a new shard count", func(l *shardlog.Log) error {
			d, err := mlDescribe(m.Ctx, l, "s")
			if err == nil && d.OpenShardCount != 4 {
				err = fmt.Errorf("%d open shards", d.OpenShardCount)
			}
			if err == nil {
				err = mlSameOpenShards(m.Ctx, a, l, "s")
			}
			return err
		})
		require.NoError(t, a.UpdateStreamMode(m.Ctx, shardlog.UpdateStreamModeInput{StreamName: "s", StreamMode: shardlog.OnDemand}))
		seenByAll("a new capacity mode", func(l *shardlog.Log) error {
			d, err := mlDescribe(m.Ctx, l, "s")
			if err == nil && d.StreamMode != shardlog.OnDemand {
				err = fmt.Errorf("mode %s", d.StreamMode)
			}
			return err
		})

		// And b routes by the new layout.
		for i := range 8 {
			hk := new(big.Int).Mul(big.NewInt(int64(2*i+1)), new(big.Int).Rsh(streamsTwo128(), 4)) // the middle of each eighth
			out, err := mlPutHash(m, b, "s", hk, fmt.Sprint("after-", i))
			require.NoError(t, err)
			k, err := shardlog.ParseHashKey(hk.String())
			require.NoError(t, err)
			require.Equal(t, mlOwner(t, m.Ctx, a, "s", k), out.ShardID, "put %d went to a shard that does not own its hash key", i)
		}
	})
}

func testMultiLogDeletion(t *testing.T, newShared NewSharedEngines) {
	// hk is in the first shard of two, and in the second of three: a Log
	// routing by a deleted two-shard stream's layout would put it in the
	// wrong shard of a re-created three-shard stream.
	third := new(big.Int).Div(streamsTwo128(), big.NewInt(3))
	hk := new(big.Int).Add(third, new(big.Int).Rsh(streamsTwo128(), 3))
	hkKey, err := shardlog.ParseHashKey(hk.String())
	require.NoError(t, err)

	t.Run("a stream deleted through one Log is gone for the others within a second", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 2)
		a, b := m.Logs[0], m.Logs[1]
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "gone", ShardCount: 2}))
		oldOwner := mlOwner(t, m.Ctx, a, "gone", hkKey)
		_, err := mlPutHash(m, b, "gone", hk, "old")
		require.NoError(t, err)

		require.NoError(t, a.DeleteStream(m.Ctx, shardlog.DeleteStreamInput{StreamName: "gone"}))
		mlSeen(t, "the other Log answers ResourceNotFound", func() error {
			_, err := mlDescribe(m.Ctx, b, "gone")
			if !errors.Is(err, shardlog.ErrResourceNotFound) {
				return fmt.Errorf("DescribeStream: %v", err)
			}
			return nil
		})
		_, err = mlPutHash(m, b, "gone", hk, "lost")
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "a put to a stream another Log deleted")

		// Created again with another layout: b routes by the new one.
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "gone", ShardCount: 3}))
		newOwner := mlOwner(t, m.Ctx, a, "gone", hkKey)
		require.NotEqual(t, oldOwner, newOwner, "the test's hash key must move to another shard")
		out, err := mlPutHash(m, b, "gone", hk, "new")
		require.NoError(t, err)
		require.Equal(t, newOwner, out.ShardID)
		for _, s := range m.H(0).AllShards("gone") {
			want := []string(nil)
			if s.ShardID == newOwner {
				want = []string{"new"}
			}
			require.Equal(t, want, rdNilIfEmpty(rsData(m.H(0).ReadShard("gone", s.ShardID))), "shard %s of the new stream", s.ShardID)
		}
	})

	t.Run("a Log that missed a delete never puts by the old layout", func(t *testing.T) {
		t.Parallel()
		m := mlOpen(t, newShared, 2)
		a, b := m.Logs[0], m.Logs[1]
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "again", ShardCount: 2}))
		oldOwner := mlOwner(t, m.Ctx, a, "again", hkKey)
		_, err := mlPutHash(m, b, "again", hk, "old")
		require.NoError(t, err)

		// Delete and create again while b hears of neither: b holds the
		// old layout when it puts.
		m.Lag[1].Pause()
		require.NoError(t, a.DeleteStream(m.Ctx, shardlog.DeleteStreamInput{StreamName: "again"}))
		require.NoError(t, a.CreateStream(m.Ctx, shardlog.CreateStreamInput{StreamName: "again", ShardCount: 3}))
		newOwner := mlOwner(t, m.Ctx, a, "again", hkKey)
		require.NotEqual(t, oldOwner, newOwner, "the test's hash key must move to another shard")
		var acked []string
		for i := range 20 {
			d := fmt.Sprint("put-", i)
			out, err := mlPutHash(m, b, "again", hk, d)
			if errors.Is(err, shardlog.ErrResourceNotFound) {
				continue // b had not learned of the new stream yet: fine
			}
			require.NoError(t, err, "put %d", i)
			require.Equal(t, newOwner, out.ShardID, "put %d was routed by a deleted stream's layout", i)
			acked = append(acked, d)
		}
		// Once b has learned of the new stream, its puts succeed.
		m.Lag[1].Resume()
		mlSeen(t, "puts through the other Log succeed", func() error {
			_, err := mlPutHash(m, b, "again", hk, "last")
			return err
		})
		acked = append(acked, "last")
		for _, s := range m.H(0).AllShards("again") {
			want := []string(nil)
			if s.ShardID == newOwner {
				want = acked
			}
			require.Equal(t, want, rdNilIfEmpty(rsData(m.H(0).ReadShard("again", s.ShardID))), "shard %s of the new stream", s.ShardID)
		}
	})
}
