package shardlog_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
)

// TestNotFoundMessages checks that ResourceNotFound errors are worded as
// Kinesis words them, with the Log's account.
func TestNotFoundMessages(t *testing.T) {
	ctx := context.Background()
	l, err := shardlog.Open(ctx, memory.New(), shardlog.WithARNScope("eu-west-1", "123456789012"), shardlog.WithRetentionInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: "foo", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"Stream", func() error {
			_, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: "bar"})
			return err
		}, "Stream bar under account 123456789012 not found."},
		{"StreamOfPut", func() error {
			_, err := l.PutRecord(ctx, shardlog.PutRecordInput{StreamName: "bar", PartitionKey: "k", Data: []byte("x")})
			return err
		}, "Stream bar under account 123456789012 not found."},
		{"Shard", func() error {
			_, err := l.GetShardIterator(ctx, shardlog.GetShardIteratorInput{StreamName: "foo", ShardID: "shardId-000000000005", ShardIteratorType: shardlog.TrimHorizon})
			return err
		}, "Shard shardId-000000000005 in stream foo under account 123456789012 does not exist"},
		{"ShardToMerge", func() error {
			return l.MergeShards(ctx, shardlog.MergeShardsInput{StreamName: "foo", ShardToMerge: "shardId-000000000005", AdjacentShardToMerge: "shardId-000000000000"})
		}, "Shard shardId-000000000005 in stream foo under account 123456789012 does not exist"},
		{"Consumer", func() error {
			_, err := l.DescribeStreamConsumer(ctx, shardlog.DescribeStreamConsumerInput{StreamName: "foo", ConsumerName: "app"})
			return err
		}, "Consumer app under stream foo under account 123456789012 not found."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, shardlog.ErrResourceNotFound) {
				t.Fatalf("err = %v, want ErrResourceNotFound", err)
			}
			// The wire layer sends the text after the sentinel's.
			msg := strings.TrimPrefix(err.Error(), shardlog.ErrResourceNotFound.Error()+": ")
			if msg != c.want {
				t.Fatalf("message = %q, want %q", msg, c.want)
			}
		})
	}
}
