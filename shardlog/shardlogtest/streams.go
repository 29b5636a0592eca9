package shardlogtest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func testStreams(t *testing.T, newEngine NewEngine) {
	t.Run("CreateShardCount", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			n  int
			ok bool
		}{
			{1, true}, {2, true}, {100, true}, {shardlog.MaxShardsPerStream, true},
			{0, false}, {-1, false}, {shardlog.MaxShardsPerStream + 1, false},
		}
		for _, c := range cases {
			t.Run(fmt.Sprint(c.n), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				err := h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: c.n})
				if !c.ok {
					streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "ShardCount")
					_, err = h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "s"})
					require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "a refused stream must not exist")
					return
				}
				require.NoError(t, err)
				d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "s"})
				require.NoError(t, err)
				require.Len(t, d.Shards, c.n)
				require.Equal(t, c.n, d.OpenShardCount)
				require.Equal(t, shardlog.Provisioned, d.StreamMode)
				for i, s := range d.Shards {
					require.Equal(t, fmt.Sprintf("shardId-%012d", i), s.ShardID)
				}
			})
		}
	})

	t.Run("OnDemandDefaultsToFourShards", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "od", StreamMode: shardlog.OnDemand}))
		d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "od"})
		require.NoError(t, err)
		require.Equal(t, shardlog.OnDemand, d.StreamMode)
		require.Len(t, d.Shards, shardlog.DefaultOnDemandShards)
		require.Equal(t, shardlog.DefaultOnDemandShards, d.OpenShardCount)
		streamsRequireTiling(t, d.Shards)
	})

	t.Run("ProvisionedRequiresShardCount", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		err := h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "p", StreamMode: shardlog.Provisioned})
		streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "ShardCount")
	})

	t.Run("BadModeRefused", func(t *testing.T) {
		t.Parallel()
		for _, mode := range []shardlog.StreamMode{"provisioned", "ON-DEMAND", "AUTO"} {
			h := NewHarness(t, newEngine)
			err := h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "m", ShardCount: 1, StreamMode: mode})
			streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "StreamModeDetails.StreamMode")
			_, err = h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "m"})
			require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		}
	})

	t.Run("DuplicateNameInUse", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("dup", 2)
		err := h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "dup", ShardCount: 5})
		require.ErrorIs(t, err, shardlog.ErrResourceInUse)
		d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "dup"})
		require.NoError(t, err)
		require.Len(t, d.Shards, 2, "the existing stream must be untouched")
		// Names are case-sensitive: another case is another stream.
		h.CreateStream("DUP", 1)
	})

	t.Run("StreamNames", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name, stream string
			ok           bool
		}{
			{"length1", "a", true},
			{"length128", strings.Repeat("n", shardlog.MaxStreamNameLength), true},
			{"lower", "abcdefghijklmnopqrstuvwxyz", true},
			{"upper", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", true},
			{"digits", "0123456789", true},
			{"underscore", "_", true},
			{"dot", ".", true},
			{"hyphen", "-", true},
			{"mixed", "My_Stream.v2-0", true},
			{"length0", "", false},
			{"length129", strings.Repeat("n", shardlog.MaxStreamNameLength+1), false},
			{"space", "a b", false},
			{"slash", "a/b", false},
			{"colon", "a:b", false},
			{"star", "a*", false},
			{"plus", "a+b", false},
			{"nonASCII", "strëam", false},
			{"nul", "a\x00b", false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				err := h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: c.stream, ShardCount: 1})
				if !c.ok {
					streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "StreamName")
					l, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{})
					require.NoError(t, err)
					require.Empty(t, l.StreamNames)
					return
				}
				require.NoError(t, err)
				d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: c.stream})
				require.NoError(t, err)
				require.Equal(t, c.stream, d.StreamName)
				h.Put(c.stream, "k", []byte("v"))
			})
		}
	})

	t.Run("CreateMaxRecordSize", func(t *testing.T) {
		t.Parallel()
		cases := []struct{ kib, want int }{
			{0, shardlog.DefaultMaxRecordSizeKiB},
			{1023, -1},
			{1024, 1024},
			{4096, 4096},
			{10240, 10240},
			{10241, -1},
			{-1, -1},
		}
		for _, c := range cases {
			t.Run(fmt.Sprint(c.kib), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				err := h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "r", ShardCount: 1, MaxRecordSizeInKiB: c.kib})
				if c.want < 0 {
					streamsRequireArg(t, err, shardlog.ErrValidation, "MaxRecordSizeInKiB")
					return
				}
				require.NoError(t, err)
				d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "r"})
				require.NoError(t, err)
				require.Equal(t, c.want, d.MaxRecordSizeInKiB)
			})
		}
	})

	t.Run("DescribeStream", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.Clock.Advance(1234 * time.Millisecond)
		created := h.Clock.Now()
		tags := map[string]string{"team": "core", "env": "test"}
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "desc.Stream-1", ShardCount: 3, Tags: tags}))
		h.Clock.Advance(time.Hour)
		d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "desc.Stream-1"})
		require.NoError(t, err)
		require.Equal(t, "desc.Stream-1", d.StreamName)
		require.Equal(t, "arn:aws:kinesis:us-east-1:000000000000:stream/desc.Stream-1", d.StreamARN)
		require.Equal(t, h.Log.StreamARN("desc.Stream-1"), d.StreamARN)
		require.Equal(t, shardlog.StatusActive, d.StreamStatus)
		require.Equal(t, shardlog.Provisioned, d.StreamMode)
		require.Equal(t, shardlog.DefaultRetentionHours, d.RetentionPeriodHours)
		require.Equal(t, 24, d.RetentionPeriodHours)
		require.True(t, d.StreamCreationTimestamp.Equal(created), "creation time %v, want %v", d.StreamCreationTimestamp, created)
		require.Equal(t, shardlog.DefaultMaxRecordSizeKiB, d.MaxRecordSizeInKiB)
		require.False(t, d.ProvisionedLimits)
		require.Zero(t, d.ConsumerCount)
		require.Equal(t, tags, d.Tags)
		require.Equal(t, 3, d.OpenShardCount)
		require.Len(t, d.Shards, 3)
		for i, s := range d.Shards {
			require.Equal(t, fmt.Sprintf("shardId-%012d", i), s.ShardID)
			require.Empty(t, s.ParentShardID)
			require.Empty(t, s.AdjacentParentShardID)
			require.False(t, s.Closed)
			require.True(t, s.EndingSequenceNumber.IsZero(), "an open shard has no ending sequence number")
		}
		streamsRequireTiling(t, d.Shards)

		// The description is a copy: changing it changes nothing.
		d.Tags["team"] = "other"
		d.Shards[0].ShardID = "x"
		d2, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "desc.Stream-1"})
		require.NoError(t, err)
		require.Equal(t, tags, d2.Tags)
		require.Equal(t, "shardId-000000000000", d2.Shards[0].ShardID)

		// A stream without tags describes an empty, non-nil map.
		h.CreateStream("untagged", 1)
		d3, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "untagged"})
		require.NoError(t, err)
		require.NotNil(t, d3.Tags)
		require.Empty(t, d3.Tags)
	})

	t.Run("ARNScope", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine, shardlog.WithARNScope("eu-west-1", "123456789012"))
		h.CreateStream("scoped", 1)
		d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "scoped"})
		require.NoError(t, err)
		require.Equal(t, "arn:aws:kinesis:eu-west-1:123456789012:stream/scoped", d.StreamARN)
	})

	t.Run("DeleteThenRecreate", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("gone", 2)
		for i := range 10 {
			h.Put("gone", fmt.Sprint("k", i), []byte("old"))
		}
		oldItOut, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "gone", ShardID: "shardId-000000000000", ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)
		oldIt := oldItOut.ShardIterator

		require.NoError(t, h.Log.DeleteStream(h.Ctx, shardlog.DeleteStreamInput{StreamName: "gone"}))
		_, err = h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "gone"})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.DeleteStream(h.Ctx, shardlog.DeleteStreamInput{StreamName: "gone"}), shardlog.ErrResourceNotFound)
		_, err = h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "gone", PartitionKey: "k", Data: []byte("x")})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		l, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{})
		require.NoError(t, err)
		require.Empty(t, l.StreamNames)

		h.Clock.Advance(time.Second)
		h.CreateStream("gone", 2)
		d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "gone"})
		require.NoError(t, err)
		require.True(t, d.StreamCreationTimestamp.Equal(h.Clock.Now()))
		require.Len(t, d.Shards, 2)
		for _, s := range d.Shards {
			require.Empty(t, h.ReadShard("gone", s.ShardID), "a re-created stream starts empty")
		}
		// An iterator of the deleted stream does not read the new one.
		_, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: oldIt})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)

		h.Put("gone", "k0", []byte("new"))
		var got []shardlog.Record
		for _, s := range d.Shards {
			got = append(got, h.ReadShard("gone", s.ShardID)...)
		}
		require.Len(t, got, 1)
		require.Equal(t, []byte("new"), got[0].Data)
	})

	t.Run("DeleteWithConsumer", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("c", 1)
		_, err := h.Log.RegisterStreamConsumer(h.Ctx, shardlog.RegisterStreamConsumerInput{StreamName: "c", ConsumerName: "app"})
		require.NoError(t, err)
		require.ErrorIs(t, h.Log.DeleteStream(h.Ctx, shardlog.DeleteStreamInput{StreamName: "c"}), shardlog.ErrResourceInUse)
		d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "c"})
		require.NoError(t, err, "a refused delete leaves the stream")
		require.Equal(t, 1, d.ConsumerCount)
		require.NoError(t, h.Log.DeleteStream(h.Ctx, shardlog.DeleteStreamInput{StreamName: "c", EnforceConsumerDeletion: true}))
		_, err = h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "c"})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)

		// Once the consumer is deregistered, no flag is needed.
		h.CreateStream("c2", 1)
		_, err = h.Log.RegisterStreamConsumer(h.Ctx, shardlog.RegisterStreamConsumerInput{StreamName: "c2", ConsumerName: "app"})
		require.NoError(t, err)
		require.NoError(t, h.Log.DeregisterStreamConsumer(h.Ctx, shardlog.DeregisterStreamConsumerInput{StreamName: "c2", ConsumerName: "app"}))
		require.NoError(t, h.Log.DeleteStream(h.Ctx, shardlog.DeleteStreamInput{StreamName: "c2"}))
	})

	t.Run("ListStreamsSorted", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		l, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{})
		require.NoError(t, err)
		require.Empty(t, l.StreamNames)
		require.False(t, l.HasMoreStreams)
		require.Empty(t, l.NextToken)

		names := []string{"delta", "alpha", "Charlie", "bravo", "0zero", "a-b", "a_b", "a.b", "Z"}
		for i, n := range names {
			require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{
				StreamName: n, ShardCount: 1, StreamMode: []shardlog.StreamMode{shardlog.Provisioned, shardlog.OnDemand}[i%2],
			}))
			h.Clock.Advance(time.Second)
		}
		l, err = h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{})
		require.NoError(t, err)
		want := slices.Clone(names)
		sort.Strings(want)
		require.Equal(t, want, l.StreamNames)
		require.False(t, l.HasMoreStreams)
		require.Empty(t, l.NextToken)
		require.Len(t, l.StreamSummaries, len(names))
		for _, s := range l.StreamSummaries {
			i := slices.Index(names, s.StreamName)
			require.GreaterOrEqual(t, i, 0)
			require.Equal(t, h.Log.StreamARN(s.StreamName), s.StreamARN)
			require.Equal(t, shardlog.StatusActive, s.StreamStatus)
			require.Equal(t, []shardlog.StreamMode{shardlog.Provisioned, shardlog.OnDemand}[i%2], s.StreamMode)
			require.True(t, s.StreamCreationTimestamp.Equal(Epoch.Add(time.Duration(i)*time.Second)))
		}
		for i, s := range l.StreamSummaries {
			require.Equal(t, l.StreamNames[i], s.StreamName)
		}
	})

	t.Run("ListStreamsPaging", func(t *testing.T) {
		t.Parallel()
		for _, total := range []int{7, 6} {
			t.Run(fmt.Sprint(total), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				names := streamsNames("p", total)
				for _, i := range rand.New(rand.NewPCG(1, uint64(total))).Perm(total) {
					h.CreateStream(names[i], 1)
				}
				var got []string
				var pages []int
				in := shardlog.ListStreamsInput{Limit: 3}
				for {
					out, err := h.Log.ListStreams(h.Ctx, in)
					require.NoError(t, err)
					require.LessOrEqual(t, len(out.StreamNames), 3)
					got = append(got, out.StreamNames...)
					pages = append(pages, len(out.StreamNames))
					require.Equal(t, out.HasMoreStreams, out.NextToken != "", "HasMoreStreams iff NextToken")
					if !out.HasMoreStreams {
						break
					}
					require.Less(t, len(pages), 10, "paging does not end")
					in = shardlog.ListStreamsInput{Limit: 3, NextToken: out.NextToken}
				}
				require.Equal(t, names, got)
				if total == 7 {
					require.Equal(t, []int{3, 3, 1}, pages)
				} else {
					require.Equal(t, []int{3, 3}, pages, "a full last page reports no more streams")
				}
			})
		}
	})

	t.Run("ListStreamsExclusiveStart", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		names := streamsNames("x", 5)
		for _, n := range names {
			h.CreateStream(n, 1)
		}
		out, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{ExclusiveStartStreamName: names[1]})
		require.NoError(t, err)
		require.Equal(t, names[2:], out.StreamNames)
		require.False(t, out.HasMoreStreams)

		out, err = h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{ExclusiveStartStreamName: names[1], Limit: 2})
		require.NoError(t, err)
		require.Equal(t, names[2:4], out.StreamNames)
		require.True(t, out.HasMoreStreams)

		// The start name need not exist.
		out, err = h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{ExclusiveStartStreamName: "x-002a"})
		require.NoError(t, err)
		require.Equal(t, names[3:], out.StreamNames)

		out, err = h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{ExclusiveStartStreamName: names[4]})
		require.NoError(t, err)
		require.Empty(t, out.StreamNames)
		require.False(t, out.HasMoreStreams)

		first, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{Limit: 1})
		require.NoError(t, err)
		require.NotEmpty(t, first.NextToken)
		_, err = h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{NextToken: first.NextToken, ExclusiveStartStreamName: names[0]})
		streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "NextToken")
	})

	t.Run("ListStreamsLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		names := streamsNames("l", shardlog.DefaultListStreamsLimit+1)
		for _, n := range names {
			h.CreateStream(n, 1)
		}
		out, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{Limit: 0})
		require.NoError(t, err)
		require.Equal(t, names[:shardlog.DefaultListStreamsLimit], out.StreamNames, "limit 0 means the default")
		require.True(t, out.HasMoreStreams)

		out, err = h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{Limit: 1})
		require.NoError(t, err)
		require.Equal(t, names[:1], out.StreamNames)

		out, err = h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{Limit: shardlog.MaxListStreamsLimit})
		require.NoError(t, err)
		require.Equal(t, names, out.StreamNames)
		require.False(t, out.HasMoreStreams)

		for _, bad := range []int{shardlog.MaxListStreamsLimit + 1, -1} {
			_, err = h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{Limit: bad})
			streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "Limit")
		}
	})

	t.Run("ListStreamsTokenExpires", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		names := streamsNames("e", 3)
		for _, n := range names {
			h.CreateStream(n, 1)
		}
		first, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{Limit: 1})
		require.NoError(t, err)
		require.NotEmpty(t, first.NextToken)
		h.Clock.Advance(shardlog.NextTokenLifetime)
		out, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{Limit: 1, NextToken: first.NextToken})
		require.NoError(t, err, "a token is valid for five minutes")
		require.Equal(t, names[1:2], out.StreamNames)
		h.Clock.Advance(time.Second)
		_, err = h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{Limit: 1, NextToken: first.NextToken})
		require.ErrorIs(t, err, shardlog.ErrExpiredNextToken)
		// The newer token from the second page is still good.
		out, err = h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{Limit: 1, NextToken: out.NextToken})
		require.NoError(t, err)
		require.Equal(t, names[2:], out.StreamNames)
	})

	t.Run("ListStreamsTokenExpiresAfter5m1s", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		for _, n := range streamsNames("e", 2) {
			h.CreateStream(n, 1)
		}
		first, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{Limit: 1})
		require.NoError(t, err)
		h.Clock.Advance(5*time.Minute + time.Second)
		_, err = h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{NextToken: first.NextToken})
		require.ErrorIs(t, err, shardlog.ErrExpiredNextToken)
	})

	t.Run("ListStreamsBadToken", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		for _, n := range streamsNames("b", 2) {
			h.CreateStream(n, 2)
		}
		first, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{Limit: 1})
		require.NoError(t, err)
		tok := first.NextToken
		require.NotEmpty(t, tok)

		// Change one character in the middle (within the base64 alphabet).
		b := []byte(tok)
		mid := len(b) / 2
		if b[mid] == 'A' {
			b[mid] = 'B'
		} else {
			b[mid] = 'A'
		}
		shards, err := h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{StreamName: "b-000", MaxResults: 1})
		require.NoError(t, err)
		require.NotEmpty(t, shards.NextToken)
		other := NewHarness(t, newEngine)
		for _, n := range streamsNames("b", 2) {
			other.CreateStream(n, 1)
		}
		foreign, err := other.Log.ListStreams(other.Ctx, shardlog.ListStreamsInput{Limit: 1})
		require.NoError(t, err)

		for name, bad := range map[string]string{
			"tampered":      string(b),
			"truncated":     tok[:len(tok)-2],
			"garbage":       "not a token!",
			"shardsToken":   shards.NextToken,
			"otherLogToken": foreign.NextToken,
		} {
			_, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{NextToken: bad})
			require.ErrorIs(t, err, shardlog.ErrInvalidArgument, name)
			streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "NextToken")
		}
	})

	t.Run("MissingStreamNotFound", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("exists", 1)
		const m = "missing"
		ops := map[string]func() error{
			"DescribeStream": func() error {
				_, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: m})
				return err
			},
			"DeleteStream": func() error {
				return h.Log.DeleteStream(h.Ctx, shardlog.DeleteStreamInput{StreamName: m, EnforceConsumerDeletion: true})
			},
			"PutRecord": func() error {
				_, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: m, PartitionKey: "k", Data: []byte("d")})
				return err
			},
			"PutRecords": func() error {
				_, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: m, Records: []shardlog.PutRecordsEntry{{PartitionKey: "k", Data: []byte("d")}}})
				return err
			},
			"GetShardIterator": func() error {
				_, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: m, ShardID: "shardId-000000000000", ShardIteratorType: shardlog.TrimHorizon})
				return err
			},
			"ListShards": func() error {
				_, err := h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{StreamName: m})
				return err
			},
			"IncreaseRetention": func() error {
				return h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: m, RetentionPeriodHours: 48})
			},
			"DecreaseRetention": func() error {
				return h.Log.DecreaseStreamRetentionPeriod(h.Ctx, shardlog.DecreaseStreamRetentionPeriodInput{StreamName: m, RetentionPeriodHours: 24})
			},
			"UpdateStreamMode": func() error {
				return h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: m, StreamMode: shardlog.OnDemand})
			},
			"UpdateMaxRecord": func() error {
				return h.Log.UpdateMaxRecordSize(h.Ctx, shardlog.UpdateMaxRecordSizeInput{StreamName: m, MaxRecordSizeInKiB: 2048})
			},
			"AddTags": func() error {
				return h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: m, Tags: map[string]string{"a": "b"}})
			},
			"RemoveTags": func() error {
				return h.Log.RemoveTagsFromStream(h.Ctx, shardlog.RemoveTagsFromStreamInput{StreamName: m, TagKeys: []string{"a"}})
			},
			"ListTags": func() error {
				_, err := h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: m})
				return err
			},
			"SplitShard": func() error {
				return h.Log.SplitShard(h.Ctx, shardlog.SplitShardInput{StreamName: m, ShardToSplit: "shardId-000000000000", NewStartingHashKey: "1000"})
			},
			"MergeShards": func() error {
				return h.Log.MergeShards(h.Ctx, shardlog.MergeShardsInput{StreamName: m, ShardToMerge: "shardId-000000000000", AdjacentShardToMerge: "shardId-000000000001"})
			},
			"UpdateShardCount": func() error {
				_, err := h.Log.UpdateShardCount(h.Ctx, shardlog.UpdateShardCountInput{StreamName: m, TargetShardCount: 2})
				return err
			},
			"RegisterConsumer": func() error {
				_, err := h.Log.RegisterStreamConsumer(h.Ctx, shardlog.RegisterStreamConsumerInput{StreamName: m, ConsumerName: "c"})
				return err
			},
			"SetProvisionedLimits": func() error {
				return h.Log.SetProvisionedLimits(h.Ctx, shardlog.SetProvisionedLimitsInput{StreamName: m, ProvisionedLimits: true})
			},
		}
		for name, op := range ops {
			require.ErrorIs(t, op(), shardlog.ErrResourceNotFound, name)
		}
	})

	t.Run("UpdateStreamMode", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("mode", 3)
		before := h.AllShards("mode")
		mode := func() shardlog.StreamMode {
			d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "mode"})
			require.NoError(t, err)
			return d.StreamMode
		}

		// Same mode and bad modes are refused and do not count.
		streamsRequireArg(t, h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: "mode", StreamMode: shardlog.Provisioned}), shardlog.ErrInvalidArgument, "StreamModeDetails.StreamMode")
		streamsRequireArg(t, h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: "mode", StreamMode: "BURST"}), shardlog.ErrInvalidArgument, "StreamModeDetails.StreamMode")
		streamsRequireArg(t, h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: "mode"}), shardlog.ErrInvalidArgument, "StreamModeDetails.StreamMode")

		require.NoError(t, h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: "mode", StreamMode: shardlog.OnDemand}))
		require.Equal(t, shardlog.OnDemand, mode())
		require.Equal(t, before, h.AllShards("mode"), "switching modes keeps the shards")
		streamsRequireArg(t, h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: "mode", StreamMode: shardlog.OnDemand}), shardlog.ErrInvalidArgument, "StreamModeDetails.StreamMode")

		h.Clock.Advance(time.Hour)
		require.NoError(t, h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: "mode", StreamMode: shardlog.Provisioned}))
		require.Equal(t, shardlog.Provisioned, mode())

		h.Clock.Advance(time.Hour)
		err := h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: "mode", StreamMode: shardlog.OnDemand})
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded, "a third change within 24 hours")
		require.Equal(t, shardlog.Provisioned, mode())

		// 24 hours after the first change, one change is allowed again.
		h.Clock.Advance(22*time.Hour + time.Second)
		require.NoError(t, h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: "mode", StreamMode: shardlog.OnDemand}))
		require.Equal(t, shardlog.OnDemand, mode())
		require.ErrorIs(t, h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: "mode", StreamMode: shardlog.Provisioned}), shardlog.ErrLimitExceeded,
			"the second change is still inside the window")

		h.Clock.Advance(time.Hour)
		require.NoError(t, h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: "mode", StreamMode: shardlog.Provisioned}))
		require.Equal(t, before, h.AllShards("mode"))
	})

	t.Run("UpdateMaxRecordSize", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("size", 1)
		size := func() int {
			d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "size"})
			require.NoError(t, err)
			return d.MaxRecordSizeInKiB
		}
		for _, bad := range []int{1023, 10241, 0, -1} {
			streamsRequireArg(t, h.Log.UpdateMaxRecordSize(h.Ctx, shardlog.UpdateMaxRecordSizeInput{StreamName: "size", MaxRecordSizeInKiB: bad}), shardlog.ErrValidation, "MaxRecordSizeInKiB")
			require.Equal(t, shardlog.DefaultMaxRecordSizeKiB, size())
		}
		require.NoError(t, h.Log.UpdateMaxRecordSize(h.Ctx, shardlog.UpdateMaxRecordSizeInput{StreamName: "size", MaxRecordSizeInKiB: 10240}))
		require.Equal(t, 10240, size())
		// The raised limit takes effect: a record over 1 MiB is accepted.
		h.Put("size", "k", make([]byte, 1<<20))
		require.NoError(t, h.Log.UpdateMaxRecordSize(h.Ctx, shardlog.UpdateMaxRecordSizeInput{StreamName: "size", MaxRecordSizeInKiB: 1024}))
		require.Equal(t, 1024, size())
		_, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "size", PartitionKey: "k", Data: make([]byte, 1<<20)})
		require.ErrorIs(t, err, shardlog.ErrInvalidArgument, "the lowered limit takes effect")
	})

	t.Run("ClosedLog", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.Put("s", "k", []byte("v"))
		require.NoError(t, h.Log.Close())
		require.NoError(t, h.Log.Close(), "Close is idempotent")
		ops := map[string]func() error{
			"CreateStream": func() error {
				return h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "t", ShardCount: 1})
			},
			"DescribeStream": func() error {
				_, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "s"})
				return err
			},
			"DeleteStream": func() error {
				return h.Log.DeleteStream(h.Ctx, shardlog.DeleteStreamInput{StreamName: "s", EnforceConsumerDeletion: true})
			},
			"ListStreams": func() error {
				_, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{})
				return err
			},
			"PutRecord": func() error {
				_, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte("d")})
				return err
			},
			"PutRecords": func() error {
				_, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: []shardlog.PutRecordsEntry{{PartitionKey: "k", Data: []byte("d")}}})
				return err
			},
			"GetShardIterator": func() error {
				_, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: "shardId-000000000000", ShardIteratorType: shardlog.TrimHorizon})
				return err
			},
			"ListShards": func() error {
				_, err := h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{StreamName: "s"})
				return err
			},
			"IncreaseRetention": func() error {
				return h.Log.IncreaseStreamRetentionPeriod(h.Ctx, shardlog.IncreaseStreamRetentionPeriodInput{StreamName: "s", RetentionPeriodHours: 48})
			},
			"UpdateStreamMode": func() error {
				return h.Log.UpdateStreamMode(h.Ctx, shardlog.UpdateStreamModeInput{StreamName: "s", StreamMode: shardlog.OnDemand})
			},
			"AddTags": func() error {
				return h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{"a": "b"}})
			},
			"ListTags": func() error {
				_, err := h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: "s"})
				return err
			},
			"EnforceRetention": func() error { return h.Log.EnforceRetention(h.Ctx) },
		}
		for name, op := range ops {
			require.ErrorIs(t, op(), shardlog.ErrClosed, name)
		}
	})
}
