package shardlogtest

import (
	"crypto/md5"
	"errors"
	"fmt"
	"iter"
	"math/big"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// streamsRequireArg asserts that err wraps sentinel and is an
// *shardlog.ArgumentError naming field.
func streamsRequireArg(t *testing.T, err error, sentinel error, field string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, sentinel)
	var ae *shardlog.ArgumentError
	require.True(t, errors.As(err, &ae), "error %v is not an *ArgumentError", err)
	require.Equal(t, field, ae.Field, "field of %v", err)
}

// streamsNames returns n distinct valid stream names.
func streamsNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// streamsTwo128 returns 2^128.
func streamsTwo128() *big.Int { return new(big.Int).Lsh(big.NewInt(1), 128) }

// streamsMaxHash returns 2^128-1.
func streamsMaxHash() *big.Int { return new(big.Int).Sub(streamsTwo128(), big.NewInt(1)) }

// streamsMD5 returns MD5(utf8(key)) read as an unsigned big-endian integer.
func streamsMD5(key string) *big.Int {
	sum := md5.Sum([]byte(key))
	return new(big.Int).SetBytes(sum[:])
}

func streamsBig(t *testing.T, h shardlog.HashKey) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(h.String(), 10)
	require.True(t, ok, "hash key %q is not decimal", h.String())
	return v
}

// streamsRequireTiling asserts that the open shards cover [0, 2^128-1]
// exactly: sorted by start, contiguous, no overlap.
func streamsRequireTiling(t *testing.T, shards []shardlog.Shard) {
	t.Helper()
	var open []shardlog.Shard
	for _, s := range shards {
		if !s.Closed {
			open = append(open, s)
		}
	}
	require.NotEmpty(t, open)
	slices.SortFunc(open, func(a, b shardlog.Shard) int {
		return a.HashKeyRange.StartingHashKey.Compare(b.HashKeyRange.StartingHashKey)
	})
	next := big.NewInt(0)
	for _, s := range open {
		start, end := streamsBig(t, s.HashKeyRange.StartingHashKey), streamsBig(t, s.HashKeyRange.EndingHashKey)
		require.Zero(t, next.Cmp(start), "shard %s starts at %s, want %s (gap or overlap)", s.ShardID, start, next)
		require.True(t, start.Cmp(end) <= 0, "shard %s range is empty: [%s, %s]", s.ShardID, start, end)
		next = new(big.Int).Add(end, big.NewInt(1))
	}
	require.Zero(t, next.Cmp(streamsTwo128()), "open shards end at %s, want 2^128-1", new(big.Int).Sub(next, big.NewInt(1)))
}

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
					_, err = h.Log.DescribeStream(h.Ctx, "s")
					require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "a refused stream must not exist")
					return
				}
				require.NoError(t, err)
				d, err := h.Log.DescribeStream(h.Ctx, "s")
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
		d, err := h.Log.DescribeStream(h.Ctx, "od")
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
			_, err = h.Log.DescribeStream(h.Ctx, "m")
			require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		}
	})

	t.Run("DuplicateNameInUse", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("dup", 2)
		err := h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "dup", ShardCount: 5})
		require.ErrorIs(t, err, shardlog.ErrResourceInUse)
		d, err := h.Log.DescribeStream(h.Ctx, "dup")
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
				d, err := h.Log.DescribeStream(h.Ctx, c.stream)
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
				err := h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "r", ShardCount: 1, MaxRecordSizeKiB: c.kib})
				if c.want < 0 {
					streamsRequireArg(t, err, shardlog.ErrValidation, "MaxRecordSizeInKiB")
					return
				}
				require.NoError(t, err)
				d, err := h.Log.DescribeStream(h.Ctx, "r")
				require.NoError(t, err)
				require.Equal(t, c.want, d.MaxRecordSizeKiB)
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
		d, err := h.Log.DescribeStream(h.Ctx, "desc.Stream-1")
		require.NoError(t, err)
		require.Equal(t, "desc.Stream-1", d.StreamName)
		require.Equal(t, "arn:aws:kinesis:us-east-1:000000000000:stream/desc.Stream-1", d.StreamARN)
		require.Equal(t, h.Log.StreamARN("desc.Stream-1"), d.StreamARN)
		require.Equal(t, shardlog.StatusActive, d.StreamStatus)
		require.Equal(t, shardlog.Provisioned, d.StreamMode)
		require.Equal(t, shardlog.DefaultRetentionHours, d.RetentionPeriodHours)
		require.Equal(t, 24, d.RetentionPeriodHours)
		require.True(t, d.StreamCreationTimestamp.Equal(created), "creation time %v, want %v", d.StreamCreationTimestamp, created)
		require.Equal(t, shardlog.DefaultMaxRecordSizeKiB, d.MaxRecordSizeKiB)
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
		d2, err := h.Log.DescribeStream(h.Ctx, "desc.Stream-1")
		require.NoError(t, err)
		require.Equal(t, tags, d2.Tags)
		require.Equal(t, "shardId-000000000000", d2.Shards[0].ShardID)

		// A stream without tags describes an empty, non-nil map.
		h.CreateStream("untagged", 1)
		d3, err := h.Log.DescribeStream(h.Ctx, "untagged")
		require.NoError(t, err)
		require.NotNil(t, d3.Tags)
		require.Empty(t, d3.Tags)
	})

	t.Run("ARNScope", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine, shardlog.WithARNScope("eu-west-1", "123456789012"))
		h.CreateStream("scoped", 1)
		d, err := h.Log.DescribeStream(h.Ctx, "scoped")
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
		oldIt, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "gone", ShardID: "shardId-000000000000", ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)

		require.NoError(t, h.Log.DeleteStream(h.Ctx, "gone", false))
		_, err = h.Log.DescribeStream(h.Ctx, "gone")
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		require.ErrorIs(t, h.Log.DeleteStream(h.Ctx, "gone", false), shardlog.ErrResourceNotFound)
		_, err = h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "gone", PartitionKey: "k", Data: []byte("x")})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		l, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{})
		require.NoError(t, err)
		require.Empty(t, l.StreamNames)

		h.Clock.Advance(time.Second)
		h.CreateStream("gone", 2)
		d, err := h.Log.DescribeStream(h.Ctx, "gone")
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
		_, err := h.Log.RegisterStreamConsumer(h.Ctx, "c", "app")
		require.NoError(t, err)
		require.ErrorIs(t, h.Log.DeleteStream(h.Ctx, "c", false), shardlog.ErrResourceInUse)
		d, err := h.Log.DescribeStream(h.Ctx, "c")
		require.NoError(t, err, "a refused delete leaves the stream")
		require.Equal(t, 1, d.ConsumerCount)
		require.NoError(t, h.Log.DeleteStream(h.Ctx, "c", true))
		_, err = h.Log.DescribeStream(h.Ctx, "c")
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)

		// Once the consumer is deregistered, no flag is needed.
		h.CreateStream("c2", 1)
		_, err = h.Log.RegisterStreamConsumer(h.Ctx, "c2", "app")
		require.NoError(t, err)
		require.NoError(t, h.Log.DeregisterStreamConsumer(h.Ctx, "c2", "app"))
		require.NoError(t, h.Log.DeleteStream(h.Ctx, "c2", false))
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
			"DescribeStream": func() error { _, err := h.Log.DescribeStream(h.Ctx, m); return err },
			"DeleteStream":   func() error { return h.Log.DeleteStream(h.Ctx, m, true) },
			"PutRecord": func() error {
				_, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: m, PartitionKey: "k", Data: []byte("d")})
				return err
			},
			"PutRecords": func() error {
				_, err := h.Log.PutRecords(h.Ctx, m, []shardlog.PutRecordsEntry{{PartitionKey: "k", Data: []byte("d")}})
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
			"IncreaseRetention": func() error { return h.Log.IncreaseStreamRetentionPeriod(h.Ctx, m, 48) },
			"DecreaseRetention": func() error { return h.Log.DecreaseStreamRetentionPeriod(h.Ctx, m, 24) },
			"UpdateStreamMode":  func() error { return h.Log.UpdateStreamMode(h.Ctx, m, shardlog.OnDemand) },
			"UpdateMaxRecord":   func() error { return h.Log.UpdateMaxRecordSize(h.Ctx, m, 2048) },
			"AddTags":           func() error { return h.Log.AddTagsToStream(h.Ctx, m, map[string]string{"a": "b"}) },
			"RemoveTags":        func() error { return h.Log.RemoveTagsFromStream(h.Ctx, m, []string{"a"}) },
			"ListTags":          func() error { _, _, err := h.Log.ListTagsForStream(h.Ctx, m, "", 0); return err },
			"SplitShard": func() error {
				return h.Log.SplitShard(h.Ctx, m, "shardId-000000000000", "1000")
			},
			"MergeShards": func() error {
				return h.Log.MergeShards(h.Ctx, m, "shardId-000000000000", "shardId-000000000001")
			},
			"UpdateShardCount": func() error { _, err := h.Log.UpdateShardCount(h.Ctx, m, 2); return err },
			"RegisterConsumer": func() error { _, err := h.Log.RegisterStreamConsumer(h.Ctx, m, "c"); return err },
			"SetProvisionedLimits": func() error {
				return h.Log.SetProvisionedLimits(h.Ctx, m, true)
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
			d, err := h.Log.DescribeStream(h.Ctx, "mode")
			require.NoError(t, err)
			return d.StreamMode
		}

		// Same mode and bad modes are refused and do not count.
		streamsRequireArg(t, h.Log.UpdateStreamMode(h.Ctx, "mode", shardlog.Provisioned), shardlog.ErrInvalidArgument, "StreamModeDetails.StreamMode")
		streamsRequireArg(t, h.Log.UpdateStreamMode(h.Ctx, "mode", "BURST"), shardlog.ErrInvalidArgument, "StreamModeDetails.StreamMode")
		streamsRequireArg(t, h.Log.UpdateStreamMode(h.Ctx, "mode", ""), shardlog.ErrInvalidArgument, "StreamModeDetails.StreamMode")

		require.NoError(t, h.Log.UpdateStreamMode(h.Ctx, "mode", shardlog.OnDemand))
		require.Equal(t, shardlog.OnDemand, mode())
		require.Equal(t, before, h.AllShards("mode"), "switching modes keeps the shards")
		streamsRequireArg(t, h.Log.UpdateStreamMode(h.Ctx, "mode", shardlog.OnDemand), shardlog.ErrInvalidArgument, "StreamModeDetails.StreamMode")

		h.Clock.Advance(time.Hour)
		require.NoError(t, h.Log.UpdateStreamMode(h.Ctx, "mode", shardlog.Provisioned))
		require.Equal(t, shardlog.Provisioned, mode())

		h.Clock.Advance(time.Hour)
		err := h.Log.UpdateStreamMode(h.Ctx, "mode", shardlog.OnDemand)
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded, "a third change within 24 hours")
		require.Equal(t, shardlog.Provisioned, mode())

		// 24 hours after the first change, one change is allowed again.
		h.Clock.Advance(22*time.Hour + time.Second)
		require.NoError(t, h.Log.UpdateStreamMode(h.Ctx, "mode", shardlog.OnDemand))
		require.Equal(t, shardlog.OnDemand, mode())
		require.ErrorIs(t, h.Log.UpdateStreamMode(h.Ctx, "mode", shardlog.Provisioned), shardlog.ErrLimitExceeded,
			"the second change is still inside the window")

		h.Clock.Advance(time.Hour)
		require.NoError(t, h.Log.UpdateStreamMode(h.Ctx, "mode", shardlog.Provisioned))
		require.Equal(t, before, h.AllShards("mode"))
	})

	t.Run("UpdateMaxRecordSize", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("size", 1)
		size := func() int {
			d, err := h.Log.DescribeStream(h.Ctx, "size")
			require.NoError(t, err)
			return d.MaxRecordSizeKiB
		}
		for _, bad := range []int{1023, 10241, 0, -1} {
			streamsRequireArg(t, h.Log.UpdateMaxRecordSize(h.Ctx, "size", bad), shardlog.ErrValidation, "MaxRecordSizeInKiB")
			require.Equal(t, shardlog.DefaultMaxRecordSizeKiB, size())
		}
		require.NoError(t, h.Log.UpdateMaxRecordSize(h.Ctx, "size", 10240))
		require.Equal(t, 10240, size())
		// The raised limit takes effect: a record over 1 MiB is accepted.
		h.Put("size", "k", make([]byte, 1<<20))
		require.NoError(t, h.Log.UpdateMaxRecordSize(h.Ctx, "size", 1024))
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
			"DescribeStream": func() error { _, err := h.Log.DescribeStream(h.Ctx, "s"); return err },
			"DeleteStream":   func() error { return h.Log.DeleteStream(h.Ctx, "s", true) },
			"ListStreams": func() error {
				_, err := h.Log.ListStreams(h.Ctx, shardlog.ListStreamsInput{})
				return err
			},
			"PutRecord": func() error {
				_, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte("d")})
				return err
			},
			"PutRecords": func() error {
				_, err := h.Log.PutRecords(h.Ctx, "s", []shardlog.PutRecordsEntry{{PartitionKey: "k", Data: []byte("d")}})
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
			"IncreaseRetention": func() error { return h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 48) },
			"UpdateStreamMode":  func() error { return h.Log.UpdateStreamMode(h.Ctx, "s", shardlog.OnDemand) },
			"AddTags":           func() error { return h.Log.AddTagsToStream(h.Ctx, "s", map[string]string{"a": "b"}) },
			"ListTags":          func() error { _, _, err := h.Log.ListTagsForStream(h.Ctx, "s", "", 0); return err },
			"EnforceRetention":  func() error { return h.Log.EnforceRetention(h.Ctx) },
		}
		for name, op := range ops {
			require.ErrorIs(t, op(), shardlog.ErrClosed, name)
		}
	})
}

func testTags(t *testing.T, newEngine NewEngine) {
	tagSet := func(prefix string, n int) map[string]string {
		m := make(map[string]string, n)
		for i := range n {
			m[fmt.Sprintf("%s%02d", prefix, i)] = fmt.Sprint("v", i)
		}
		return m
	}
	described := func(h *Harness, stream string) map[string]string {
		h.T.Helper()
		d, err := h.Log.DescribeStream(h.Ctx, stream)
		require.NoError(h.T, err)
		return d.Tags
	}

	t.Run("AddPerCallLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		streamsRequireArg(t, h.Log.AddTagsToStream(h.Ctx, "s", tagSet("k", shardlog.MaxTagsPerCall+1)), shardlog.ErrInvalidArgument, "Tags")
		require.Empty(t, described(h, "s"), "a refused call adds nothing")
		streamsRequireArg(t, h.Log.AddTagsToStream(h.Ctx, "s", map[string]string{}), shardlog.ErrInvalidArgument, "Tags")
		streamsRequireArg(t, h.Log.AddTagsToStream(h.Ctx, "s", nil), shardlog.ErrInvalidArgument, "Tags")
		ten := tagSet("k", shardlog.MaxTagsPerCall)
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, "s", ten))
		require.Equal(t, ten, described(h, "s"))
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, "s", map[string]string{"one": "1"}))
		require.Len(t, described(h, "s"), 11)
	})

	t.Run("StreamLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		all := map[string]string{}
		for c := range shardlog.MaxTagsPerStream / shardlog.MaxTagsPerCall {
			batch := tagSet(fmt.Sprintf("b%d-", c), shardlog.MaxTagsPerCall)
			require.NoError(t, h.Log.AddTagsToStream(h.Ctx, "s", batch))
			for k, v := range batch {
				all[k] = v
			}
		}
		require.Len(t, all, shardlog.MaxTagsPerStream)
		require.Equal(t, all, described(h, "s"))

		err := h.Log.AddTagsToStream(h.Ctx, "s", map[string]string{"fifty-one": "x"})
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded)
		// A call that would go past the limit adds none of its tags.
		err = h.Log.AddTagsToStream(h.Ctx, "s", map[string]string{"b0-00": "changed", "new": "x"})
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded)
		require.Equal(t, all, described(h, "s"))

		// Overwriting at the limit does not grow the count.
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, "s", map[string]string{"b0-00": "changed"}))
		all["b0-00"] = "changed"
		require.Equal(t, all, described(h, "s"))

		// Removing one makes room for one.
		require.NoError(t, h.Log.RemoveTagsFromStream(h.Ctx, "s", []string{"b1-05"}))
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, "s", map[string]string{"fifty": "x"}))
		require.Len(t, described(h, "s"), shardlog.MaxTagsPerStream)
	})

	t.Run("KeyAndValueLength", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name       string
			key, value string
			ok         bool
		}{
			{"key1", "k", "v", true},
			{"key128ASCII", strings.Repeat("k", 128), "v", true},
			{"key128MultiByte", strings.Repeat("ü", 128), "v", true},
			{"key128Emoji", strings.Repeat("🙂", 128), "v", true},
			{"key129ASCII", strings.Repeat("k", 129), "v", false},
			{"key129MultiByte", strings.Repeat("ü", 129), "v", false},
			{"keyEmpty", "", "v", false},
			{"valueEmpty", "k", "", true},
			{"value256ASCII", "k", strings.Repeat("v", 256), true},
			{"value256MultiByte", "k", strings.Repeat("é", 256), true},
			{"value256Emoji", "k", strings.Repeat("🙂", 256), true},
			{"value257ASCII", "k", strings.Repeat("v", 257), false},
			{"value257MultiByte", "k", strings.Repeat("é", 257), false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", 1)
				tags := map[string]string{c.key: c.value}
				err := h.Log.AddTagsToStream(h.Ctx, "s", tags)
				cerr := h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "c", ShardCount: 1, Tags: tags})
				if !c.ok {
					streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "Tags")
					streamsRequireArg(t, cerr, shardlog.ErrInvalidArgument, "Tags")
					require.Empty(t, described(h, "s"))
					return
				}
				require.NoError(t, err)
				require.NoError(t, cerr)
				require.Equal(t, tags, described(h, "s"))
				require.Equal(t, tags, described(h, "c"))
				got, _, err := h.Log.ListTagsForStream(h.Ctx, "s", "", 0)
				require.NoError(t, err)
				require.Equal(t, []shardlog.Tag{{Key: c.key, Value: c.value}}, got)
			})
		}
	})

	t.Run("AddOverwrites", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, "s", map[string]string{"a": "1", "b": "2"}))
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, "s", map[string]string{"b": "two", "c": "3"}))
		require.Equal(t, map[string]string{"a": "1", "b": "two", "c": "3"}, described(h, "s"))
	})

	t.Run("Remove", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, "s", map[string]string{"a": "1", "b": "2", "c": "3"}))
		require.NoError(t, h.Log.RemoveTagsFromStream(h.Ctx, "s", []string{"b", "unknown"}))
		require.Equal(t, map[string]string{"a": "1", "c": "3"}, described(h, "s"))
		require.NoError(t, h.Log.RemoveTagsFromStream(h.Ctx, "s", []string{"nothing", "here"}), "unknown keys are ignored")
		require.Equal(t, map[string]string{"a": "1", "c": "3"}, described(h, "s"))

		streamsRequireArg(t, h.Log.RemoveTagsFromStream(h.Ctx, "s", nil), shardlog.ErrInvalidArgument, "TagKeys")
		streamsRequireArg(t, h.Log.RemoveTagsFromStream(h.Ctx, "s", []string{}), shardlog.ErrInvalidArgument, "TagKeys")
		keys51 := streamsNames("k", shardlog.MaxTagsPerStream+1)
		keys51[0] = "a"
		streamsRequireArg(t, h.Log.RemoveTagsFromStream(h.Ctx, "s", keys51), shardlog.ErrInvalidArgument, "TagKeys")
		require.Equal(t, map[string]string{"a": "1", "c": "3"}, described(h, "s"), "a refused call removes nothing")
		err := h.Log.RemoveTagsFromStream(h.Ctx, "s", []string{""})
		require.ErrorIs(t, err, shardlog.ErrInvalidArgument, "empty key")

		keys50 := keys51[:shardlog.MaxTagsPerStream]
		require.NoError(t, h.Log.RemoveTagsFromStream(h.Ctx, "s", keys50))
		require.Equal(t, map[string]string{"c": "3"}, described(h, "s"))
	})

	t.Run("ListOrdering", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		tags := map[string]string{"zeta": "1", "Alpha": "2", "alpha": "3", "_u": "4", "0": "5", "é": "6", "b:c": "7"}
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, "s", tags))
		got, more, err := h.Log.ListTagsForStream(h.Ctx, "s", "", 0)
		require.NoError(t, err)
		require.False(t, more)
		var keys []string
		for _, tg := range got {
			keys = append(keys, tg.Key)
			require.Equal(t, tags[tg.Key], tg.Value)
		}
		want := make([]string, 0, len(tags))
		for k := range tags {
			want = append(want, k)
		}
		sort.Strings(want)
		require.Equal(t, want, keys)

		h.CreateStream("empty", 1)
		got, more, err = h.Log.ListTagsForStream(h.Ctx, "empty", "", 0)
		require.NoError(t, err)
		require.Empty(t, got)
		require.False(t, more)
	})

	t.Run("ListPaging", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		all := tagSet("t", 23)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1, Tags: all}))
		want := make([]string, 0, len(all))
		for k := range all {
			want = append(want, k)
		}
		sort.Strings(want)

		var keys []string
		start := ""
		calls := 0
		for {
			page, more, err := h.Log.ListTagsForStream(h.Ctx, "s", start, 5)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 5)
			calls++
			for _, tg := range page {
				keys = append(keys, tg.Key)
				require.Equal(t, all[tg.Key], tg.Value)
			}
			if !more {
				break
			}
			require.Len(t, page, 5, "a page before the last is full")
			start = page[len(page)-1].Key
		}
		require.Equal(t, want, keys)
		require.Equal(t, 5, calls)

		// Start key need not be a tag; a full last page has more == false.
		page, more, err := h.Log.ListTagsForStream(h.Ctx, "s", "t17a", 5)
		require.NoError(t, err)
		require.False(t, more)
		require.Len(t, page, 5)
		require.Equal(t, "t18", page[0].Key)
		page, more, err = h.Log.ListTagsForStream(h.Ctx, "s", "t22", 5)
		require.NoError(t, err)
		require.Empty(t, page)
		require.False(t, more)
	})

	t.Run("ListLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		all := tagSet("t", shardlog.MaxTagsPerStream)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1, Tags: all}))
		for _, limit := range []int{0, shardlog.MaxListTagsLimit} {
			page, more, err := h.Log.ListTagsForStream(h.Ctx, "s", "", limit)
			require.NoError(t, err)
			require.Len(t, page, shardlog.MaxTagsPerStream)
			require.False(t, more)
		}
		page, more, err := h.Log.ListTagsForStream(h.Ctx, "s", "", 1)
		require.NoError(t, err)
		require.Len(t, page, 1)
		require.True(t, more)
		page, more, err = h.Log.ListTagsForStream(h.Ctx, "s", "", 49)
		require.NoError(t, err)
		require.Len(t, page, 49)
		require.True(t, more)
		for _, bad := range []int{shardlog.MaxListTagsLimit + 1, -1} {
			_, _, err = h.Log.ListTagsForStream(h.Ctx, "s", "", bad)
			streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "Limit")
		}
	})

	t.Run("AtCreateStream", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		fifty := tagSet("t", shardlog.MaxTagsPerStream)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "fifty", ShardCount: 1, Tags: fifty}))
		require.Equal(t, fifty, described(h, "fifty"))
		err := h.Log.AddTagsToStream(h.Ctx, "fifty", map[string]string{"more": "x"})
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded)

		err = h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "fifty-one", ShardCount: 1, Tags: tagSet("t", shardlog.MaxTagsPerStream+1)})
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded)
		_, err = h.Log.DescribeStream(h.Ctx, "fifty-one")
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)

		// The caller's map is copied: changing it later changes nothing.
		mine := map[string]string{"a": "1"}
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "copy", ShardCount: 1, Tags: mine}))
		mine["a"] = "changed"
		mine["b"] = "2"
		require.Equal(t, map[string]string{"a": "1"}, described(h, "copy"))
	})
}

func testHashKeys(t *testing.T, newEngine NewEngine) {
	t.Run("HashPartitionKeyIsMD5BigEndian", func(t *testing.T) {
		t.Parallel()
		keys := []string{
			"a", "b", "partition-key", "0", "user-42", "order/2026/01",
			"é", "日本語のキー", "🙂🙃", "ünïcödé-κλειδί", "\x00", strings.Repeat("x", 256), strings.Repeat("é", 256),
		}
		for _, k := range keys {
			got := shardlog.HashPartitionKey(k)
			require.Equal(t, streamsMD5(k).String(), got.String(), "key %q", k)
		}
		// A known vector: MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
		want, _ := new(big.Int).SetString("0cc175b9c0f1b6a831c399e269772661", 16)
		require.Equal(t, want.String(), shardlog.HashPartitionKey("a").String())
	})

	t.Run("EvenRanges", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{1, 2, 3, 4, 5, 7, 10, 16, 1000} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", n)
				shards := h.AllShards("s")
				require.Len(t, shards, n)
				width := new(big.Int).Div(streamsTwo128(), big.NewInt(int64(n)))
				for i, s := range shards {
					require.Equal(t, fmt.Sprintf("shardId-%012d", i), s.ShardID)
					start := new(big.Int).Mul(width, big.NewInt(int64(i)))
					end := new(big.Int).Sub(new(big.Int).Add(start, width), big.NewInt(1))
					if i == n-1 {
						end = streamsMaxHash()
					}
					require.Equal(t, start.String(), s.HashKeyRange.StartingHashKey.String(), "shard %d start", i)
					require.Equal(t, end.String(), s.HashKeyRange.EndingHashKey.String(), "shard %d end", i)
				}
				streamsRequireTiling(t, shards)
			})
		}
	})

	t.Run("PutRoutesByHash", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 7)
		shards := h.AllShards("s")
		owner := func(hash *big.Int) string {
			for _, s := range shards {
				if streamsBig(t, s.HashKeyRange.StartingHashKey).Cmp(hash) <= 0 && hash.Cmp(streamsBig(t, s.HashKeyRange.EndingHashKey)) <= 0 {
					return s.ShardID
				}
			}
			t.Fatalf("no shard owns %s", hash)
			return ""
		}
		rng := rand.New(rand.NewPCG(7, 11))
		alphabet := []rune("abcXYZ019-_/:éü日本🙂")
		keys := make([]string, 200)
		entries := make([]shardlog.PutRecordsEntry, len(keys))
		used := map[string]bool{}
		for i := range keys {
			r := make([]rune, 1+rng.IntN(40))
			for j := range r {
				r[j] = alphabet[rng.IntN(len(alphabet))]
			}
			keys[i] = string(r)
			entries[i] = shardlog.PutRecordsEntry{PartitionKey: keys[i], Data: []byte{byte(i)}}
		}
		for i, k := range keys {
			want := owner(streamsMD5(k))
			out := h.Put("s", k, []byte{byte(i)})
			require.Equal(t, want, out.ShardID, "key %q", k)
			used[want] = true
		}
		require.Len(t, used, 7, "200 random keys reach every one of 7 shards")
		res, err := h.Log.PutRecords(h.Ctx, "s", entries)
		require.NoError(t, err)
		require.Zero(t, res.FailedRecordCount)
		for i, r := range res.Records {
			require.Equal(t, owner(streamsMD5(keys[i])), r.ShardID, "PutRecords key %q", keys[i])
		}
		// Each record is stored in the shard it was routed to.
		for _, s := range shards {
			for _, r := range h.ReadShard("s", s.ShardID) {
				require.Equal(t, s.ShardID, owner(streamsMD5(r.PartitionKey)))
			}
		}
	})

	t.Run("ExplicitHashKey", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 4)
		shards := h.AllShards("s")
		startOf := func(i int) *big.Int { return streamsBig(t, shards[i].HashKeyRange.StartingHashKey) }
		one := big.NewInt(1)
		// "k" hashes to some shard; an explicit key of another shard wins.
		cases := []struct {
			explicit string
			want     int
		}{
			{"0", 0},
			{"1", 0},
			{new(big.Int).Sub(startOf(1), one).String(), 0},
			{startOf(1).String(), 1},
			{startOf(2).String(), 2},
			{new(big.Int).Add(startOf(3), one).String(), 3},
			{streamsMaxHash().String(), 3},
			{"340282366920938463463374607431768211455", 3},
		}
		for _, c := range cases {
			for _, key := range []string{"k", "other", "日本"} {
				out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: key, Data: []byte("d"), ExplicitHashKey: c.explicit})
				require.NoError(t, err, c.explicit)
				require.Equal(t, shards[c.want].ShardID, out.ShardID, "explicit %s key %q", c.explicit, key)
			}
			res, err := h.Log.PutRecords(h.Ctx, "s", []shardlog.PutRecordsEntry{{PartitionKey: "k", Data: []byte("d"), ExplicitHashKey: c.explicit}})
			require.NoError(t, err)
			require.Equal(t, shards[c.want].ShardID, res.Records[0].ShardID, "PutRecords explicit %s", c.explicit)
		}

		// Empty means unset: the partition key's MD5 routes.
		for _, key := range []string{"k", "other", "日本"} {
			out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: key, Data: []byte("d"), ExplicitHashKey: ""})
			require.NoError(t, err)
			require.Equal(t, shardlog.HashPartitionKey(key).String(), streamsMD5(key).String())
			for _, s := range shards {
				if s.HashKeyRange.Contains(shardlog.HashPartitionKey(key)) {
					require.Equal(t, s.ShardID, out.ShardID)
				}
			}
		}

		for _, bad := range []string{
			"340282366920938463463374607431768211456", // 2^128
			"999999999999999999999999999999999999999",
			"1000000000000000000000000000000000000000", // 40 digits
			"-1", "01", "00", "abc", " 1", "1 ", "+1", "1.0", "1e3", "0x10", "١",
		} {
			_, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte("d"), ExplicitHashKey: bad})
			streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "ExplicitHashKey")
			_, err = h.Log.PutRecords(h.Ctx, "s", []shardlog.PutRecordsEntry{
				{PartitionKey: "k", Data: []byte("d")},
				{PartitionKey: "k", Data: []byte("d"), ExplicitHashKey: bad},
			})
			streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "Records.1.ExplicitHashKey")
		}
	})

	t.Run("PartitionKeyLength", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name, key string
			ok        bool
		}{
			{"1", "k", true},
			{"1MultiByte", "é", true},
			{"256ASCII", strings.Repeat("k", 256), true},
			{"256TwoByte", strings.Repeat("é", 256), true},
			{"256ThreeByte", strings.Repeat("日", 256), true},
			{"256FourByte", strings.Repeat("🙂", 256), true},
			{"empty", "", false},
			{"257ASCII", strings.Repeat("k", 257), false},
			{"257TwoByte", strings.Repeat("é", 257), false},
			{"257FourByte", strings.Repeat("🙂", 257), false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", 1)
				out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: c.key, Data: []byte("d")})
				res, rerr := h.Log.PutRecords(h.Ctx, "s", []shardlog.PutRecordsEntry{{PartitionKey: c.key, Data: []byte("d")}})
				if !c.ok {
					streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "PartitionKey")
					streamsRequireArg(t, rerr, shardlog.ErrInvalidArgument, "Records.0.PartitionKey")
					require.Empty(t, h.ReadShard("s", "shardId-000000000000"))
					return
				}
				require.NoError(t, err)
				require.NoError(t, rerr)
				require.Zero(t, res.FailedRecordCount)
				recs := h.ReadShard("s", out.ShardID)
				require.Len(t, recs, 2)
				for _, r := range recs {
					require.Equal(t, c.key, r.PartitionKey)
				}
			})
		}
	})

	t.Run("ParseHashKey", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, "0", shardlog.MinHashKey.String())
		require.Equal(t, streamsMaxHash().String(), shardlog.MaxHashKey.String())

		two64 := new(big.Int).Lsh(big.NewInt(1), 64)
		vals := []*big.Int{
			big.NewInt(0), big.NewInt(1), big.NewInt(9), big.NewInt(10),
			new(big.Int).Sub(two64, big.NewInt(1)), two64, new(big.Int).Add(two64, big.NewInt(1)),
			new(big.Int).Lsh(big.NewInt(1), 127), streamsMaxHash(),
			new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil),
		}
		rng := rand.New(rand.NewPCG(3, 5))
		for range 200 {
			var b [16]byte
			for i := range b {
				b[i] = byte(rng.UintN(256))
			}
			v := new(big.Int).SetBytes(b[:rng.IntN(17)])
			vals = append(vals, v)
		}
		keys := make([]shardlog.HashKey, len(vals))
		for i, v := range vals {
			s := v.String()
			k, err := shardlog.ParseHashKey(s)
			require.NoError(t, err, s)
			require.Equal(t, s, k.String())
			txt, err := k.MarshalText()
			require.NoError(t, err)
			require.Equal(t, s, string(txt))
			var u shardlog.HashKey
			require.NoError(t, u.UnmarshalText(txt))
			require.Zero(t, u.Compare(k))
			keys[i] = k
		}
		for i := range vals {
			j := rng.IntN(len(vals))
			require.Equal(t, vals[i].Cmp(vals[j]), keys[i].Compare(keys[j]), "%s vs %s", vals[i], vals[j])
		}
		for _, bad := range []string{"", "-1", "01", "00", "+5", "abc", " 1", "1.5", streamsTwo128().String(), strings.Repeat("9", 40)} {
			_, err := shardlog.ParseHashKey(bad)
			require.ErrorIs(t, err, shardlog.ErrInvalidArgument, "%q", bad)
			var u shardlog.HashKey
			require.Error(t, u.UnmarshalText([]byte(bad)), "%q", bad)
		}
		// Ranges contain their ends.
		lo, _ := shardlog.ParseHashKey("10")
		hi, _ := shardlog.ParseHashKey("20")
		r := shardlog.HashKeyRange{StartingHashKey: lo, EndingHashKey: hi}
		for s, want := range map[string]bool{"9": false, "10": true, "15": true, "20": true, "21": false} {
			k, _ := shardlog.ParseHashKey(s)
			require.Equal(t, want, r.Contains(k), s)
		}
	})
}

func testRetention(t *testing.T, newEngine NewEngine) {
	retention := func(h *Harness, stream string) int {
		h.T.Helper()
		d, err := h.Log.DescribeStream(h.Ctx, stream)
		require.NoError(h.T, err)
		return d.RetentionPeriodHours
	}
	readAll := func(h *Harness, stream string) []string {
		h.T.Helper()
		var out []string
		for _, s := range h.AllShards(stream) {
			for _, r := range h.ReadShard(stream, s.ShardID) {
				out = append(out, string(r.Data))
			}
		}
		sort.Strings(out)
		return out
	}
	const field = "RetentionPeriodHours"

	t.Run("Default", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		require.Equal(t, 24, retention(h, "s"))
	})

	t.Run("Increase", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 24), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 23), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 8761), shardlog.ErrInvalidArgument, field)
		require.Equal(t, 24, retention(h, "s"))
		require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 25))
		require.Equal(t, 25, retention(h, "s"))
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 25), shardlog.ErrInvalidArgument, field)
		require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 8760))
		require.Equal(t, 8760, retention(h, "s"))
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 8760), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 8761), shardlog.ErrInvalidArgument, field)
		require.Equal(t, 8760, retention(h, "s"))
	})

	t.Run("Decrease", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, "s", 24), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, "s", 23), shardlog.ErrInvalidArgument, field)
		require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 100))
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, "s", 100), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, "s", 101), shardlog.ErrInvalidArgument, field)
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, "s", 23), shardlog.ErrInvalidArgument, field)
		require.Equal(t, 100, retention(h, "s"))
		require.NoError(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, "s", 99))
		require.Equal(t, 99, retention(h, "s"))
		require.NoError(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, "s", 24))
		require.Equal(t, 24, retention(h, "s"))
		streamsRequireArg(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, "s", 24), shardlog.ErrInvalidArgument, field)
	})

	t.Run("ExpiredRecordsNeverReturned", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		var old []shardlog.PutRecordOutput
		for i := range 5 {
			old = append(old, h.Put("s", "key", []byte(fmt.Sprint("old", i))))
		}
		// At exactly the retention period the records are not yet older than it.
		h.Clock.Advance(24 * time.Hour)
		require.Len(t, readAll(h, "s"), 5)

		h.Clock.Advance(time.Millisecond)
		require.Empty(t, readAll(h, "s"), "TRIM_HORIZON reads nothing past retention")

		// GetRecords returns an empty batch with a next iterator.
		it, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: old[0].ShardID, ShardIteratorType: shardlog.TrimHorizon})
		require.NoError(t, err)
		res, err := h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: it})
		require.NoError(t, err)
		require.Empty(t, res.Records)
		require.NotEmpty(t, res.NextShardIterator)

		// Reading at an expired record's sequence number skips it too.
		at, err := h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: old[0].ShardID,
			ShardIteratorType: shardlog.AtSequenceNumber, StartingSequenceNumber: old[1].SequenceNumber})
		require.NoError(t, err)

		fresh := h.Put("s", "key", []byte("new"))
		require.Equal(t, []string{"new"}, readAll(h, "s"))
		res, err = h.Log.GetRecords(h.Ctx, shardlog.GetRecordsInput{ShardIterator: at})
		require.NoError(t, err)
		require.Len(t, res.Records, 1)
		require.Equal(t, fresh.SequenceNumber, res.Records[0].SequenceNumber)

		// Other read paths skip them too.
		c, err := h.Log.NewCursor(h.Ctx, "s", old[0].ShardID, shardlog.StartingPosition{Type: shardlog.TrimHorizon})
		require.NoError(t, err)
		b, err := c.Next(h.Ctx, 0)
		require.NoError(t, err)
		require.Len(t, b.Records, 1)
		require.Equal(t, []byte("new"), b.Records[0].Data)
		var byKey []string
		for r, err := range h.Log.ReadKey(h.Ctx, "s", "key", shardlog.SequenceNumber{}) {
			require.NoError(t, err)
			byKey = append(byKey, string(r.Data))
		}
		require.Equal(t, []string{"new"}, byKey)

		// After EnforceRetention, the same holds.
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Equal(t, []string{"new"}, readAll(h, "s"))
	})

	t.Run("LastKeySequenceIgnoresExpired", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.Put("s", "key", []byte("old"))
		h.Clock.Advance(24*time.Hour + time.Millisecond)
		seq, err := h.Log.LastKeySequence(h.Ctx, "s", "key")
		require.NoError(t, err)
		require.True(t, seq.IsZero(), "an expired record is not the key's latest")
	})

	for _, trimmed := range []bool{true, false} {
		t.Run(fmt.Sprintf("IncreaseDoesNotRevive/trimmed=%v", trimmed), func(t *testing.T) {
			t.Parallel()
			h := NewHarness(t, newEngine)
			h.CreateStream("s", 2)
			for i := range 6 {
				h.Put("s", fmt.Sprint("k", i), []byte(fmt.Sprint("old", i)))
			}
			h.Clock.Advance(24*time.Hour + time.Millisecond)
			if trimmed {
				require.NoError(t, h.Log.EnforceRetention(h.Ctx))
			}
			require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 48))
			require.Empty(t, readAll(h, "s"), "expired records stay expired after retention is raised")
			require.Empty(t, collectKey(t, h.Log.ReadKey(h.Ctx, "s", "k0", shardlog.SequenceNumber{})))
			h.Put("s", "k", []byte("new"))
			require.Equal(t, []string{"new"}, readAll(h, "s"))
		})
	}

	t.Run("IncreaseKeepsLiveRecordsLonger", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.Put("s", "k", []byte("a"))
		h.Clock.Advance(23 * time.Hour)
		require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 48))
		h.Clock.Advance(24 * time.Hour)
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Equal(t, []string{"a"}, readAll(h, "s"), "47h old, within 48h retention")
		h.Clock.Advance(time.Hour + time.Millisecond)
		require.Empty(t, readAll(h, "s"))
	})

	t.Run("DecreaseHidesOlderAtOnce", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		require.NoError(t, h.Log.IncreaseStreamRetentionPeriod(h.Ctx, "s", 72))
		h.Put("s", "k", []byte("a-60h"))
		h.Clock.Advance(36 * time.Hour)
		h.Put("s", "k", []byte("b-24h"))
		h.Clock.Advance(24 * time.Hour)
		h.Put("s", "k", []byte("c-0h"))
		require.Equal(t, []string{"a-60h", "b-24h", "c-0h"}, readAll(h, "s"))
		require.NoError(t, h.Log.DecreaseStreamRetentionPeriod(h.Ctx, "s", 24))
		require.Equal(t, []string{"b-24h", "c-0h"}, readAll(h, "s"), "no EnforceRetention needed")
		h.Clock.Advance(time.Millisecond)
		require.Equal(t, []string{"c-0h"}, readAll(h, "s"))
	})

	t.Run("ExpiredClosedShardDropped", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		h.Put("s", "k1", []byte("before"))
		mid := new(big.Int).Lsh(big.NewInt(1), 127).String()
		require.NoError(t, h.Log.SplitShard(h.Ctx, "s", "shardId-000000000000", mid))
		const parent = "shardId-000000000000"
		ids := func() []string {
			var out []string
			for _, s := range h.AllShards("s") {
				out = append(out, s.ShardID)
			}
			return out
		}
		listed := func() []string {
			out, err := h.Log.ListShards(h.Ctx, shardlog.ListShardsInput{StreamName: "s"})
			require.NoError(t, err)
			var ids []string
			for _, s := range out.Shards {
				ids = append(ids, s.ShardID)
			}
			return ids
		}
		all := []string{parent, "shardId-000000000001", "shardId-000000000002"}
		require.Equal(t, all, ids())

		// Within retention the closed parent stays, with its record.
		h.Clock.Advance(24 * time.Hour)
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Equal(t, all, ids())
		require.Equal(t, all, listed())
		require.Len(t, h.ReadShard("s", parent), 1)

		h.Put("s", "k2", []byte("child"))
		h.Clock.Advance(time.Millisecond)
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Equal(t, all[1:], ids(), "the expired parent leaves DescribeStream")
		require.Equal(t, all[1:], listed(), "and ListShards")
		d, err := h.Log.DescribeStream(h.Ctx, "s")
		require.NoError(t, err)
		require.Equal(t, 2, d.OpenShardCount)
		streamsRequireTiling(t, d.Shards)
		_, err = h.Log.GetShardIterator(h.Ctx, shardlog.GetShardIteratorInput{StreamName: "s", ShardID: parent, ShardIteratorType: shardlog.TrimHorizon})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		require.Equal(t, []string{"child"}, readAll(h, "s"), "the children and their records remain")

		// Open shards are never dropped, even with all records expired.
		h.Clock.Advance(100 * time.Hour)
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Equal(t, all[1:], ids())
		require.Empty(t, readAll(h, "s"))
		h.Put("s", "k3", []byte("later"))
		require.Equal(t, []string{"later"}, readAll(h, "s"))
	})

	t.Run("OpenShardNeverDropped", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("empty", 2)
		h.CreateStream("full", 1)
		h.Put("full", "k", []byte("x"))
		h.Clock.Advance(1000 * time.Hour)
		require.NoError(t, h.Log.EnforceRetention(h.Ctx))
		require.Len(t, h.OpenShards("empty"), 2)
		require.Len(t, h.OpenShards("full"), 1)
		streamsRequireTiling(t, h.AllShards("empty"))
		require.Empty(t, readAll(h, "full"))
	})
}

func collectKey(t *testing.T, seq iter.Seq2[shardlog.Record, error]) []shardlog.Record {
	t.Helper()
	var out []shardlog.Record
	for r, err := range seq {
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}
