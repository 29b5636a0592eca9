package shardlogtest

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

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
		d, err := h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: stream})
		require.NoError(h.T, err)
		return d.Tags
	}

	t.Run("AddPerCallLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		streamsRequireArg(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: tagSet("k", shardlog.MaxTagsPerCall+1)}), shardlog.ErrInvalidArgument, "Tags")
		require.Empty(t, described(h, "s"), "a refused call adds nothing")
		streamsRequireArg(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{}}), shardlog.ErrInvalidArgument, "Tags")
		streamsRequireArg(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s"}), shardlog.ErrInvalidArgument, "Tags")
		ten := tagSet("k", shardlog.MaxTagsPerCall)
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: ten}))
		require.Equal(t, ten, described(h, "s"))
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{"one": "1"}}))
		require.Len(t, described(h, "s"), 11)
	})

	t.Run("StreamLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		all := map[string]string{}
		for c := range shardlog.MaxTagsPerStream / shardlog.MaxTagsPerCall {
			batch := tagSet(fmt.Sprintf("b%d-", c), shardlog.MaxTagsPerCall)
			require.NoError(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: batch}))
			for k, v := range batch {
				all[k] = v
			}
		}
		require.Len(t, all, shardlog.MaxTagsPerStream)
		require.Equal(t, all, described(h, "s"))

		err := h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{"fifty-one": "x"}})
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded)
		// A call that would go past the limit adds none of its tags.
		err = h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{"b0-00": "changed", "new": "x"}})
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded)
		require.Equal(t, all, described(h, "s"))

		// Overwriting at the limit does not grow the count.
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{"b0-00": "changed"}}))
		all["b0-00"] = "changed"
		require.Equal(t, all, described(h, "s"))

		// Removing one makes room for one.
		require.NoError(t, h.Log.RemoveTagsFromStream(h.Ctx, shardlog.RemoveTagsFromStreamInput{StreamName: "s", TagKeys: []string{"b1-05"}}))
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{"fifty": "x"}}))
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
				err := h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: tags})
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
				lt, err := h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: "s"})
				require.NoError(t, err)
				got := lt.Tags
				require.Equal(t, []shardlog.Tag{{Key: c.key, Value: c.value}}, got)
			})
		}
	})

	t.Run("AddOverwrites", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{"a": "1", "b": "2"}}))
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{"b": "two", "c": "3"}}))
		require.Equal(t, map[string]string{"a": "1", "b": "two", "c": "3"}, described(h, "s"))
	})

	t.Run("Remove", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: map[string]string{"a": "1", "b": "2", "c": "3"}}))
		require.NoError(t, h.Log.RemoveTagsFromStream(h.Ctx, shardlog.RemoveTagsFromStreamInput{StreamName: "s", TagKeys: []string{"b", "unknown"}}))
		require.Equal(t, map[string]string{"a": "1", "c": "3"}, described(h, "s"))
		require.NoError(t, h.Log.RemoveTagsFromStream(h.Ctx, shardlog.RemoveTagsFromStreamInput{StreamName: "s", TagKeys: []string{"nothing", "here"}}), "unknown keys are ignored")
		require.Equal(t, map[string]string{"a": "1", "c": "3"}, described(h, "s"))

		streamsRequireArg(t, h.Log.RemoveTagsFromStream(h.Ctx, shardlog.RemoveTagsFromStreamInput{StreamName: "s"}), shardlog.ErrInvalidArgument, "TagKeys")
		streamsRequireArg(t, h.Log.RemoveTagsFromStream(h.Ctx, shardlog.RemoveTagsFromStreamInput{StreamName: "s", TagKeys: []string{}}), shardlog.ErrInvalidArgument, "TagKeys")
		keys51 := streamsNames("k", shardlog.MaxTagsPerStream+1)
		keys51[0] = "a"
		streamsRequireArg(t, h.Log.RemoveTagsFromStream(h.Ctx, shardlog.RemoveTagsFromStreamInput{StreamName: "s", TagKeys: keys51}), shardlog.ErrInvalidArgument, "TagKeys")
		require.Equal(t, map[string]string{"a": "1", "c": "3"}, described(h, "s"), "a refused call removes nothing")
		err := h.Log.RemoveTagsFromStream(h.Ctx, shardlog.RemoveTagsFromStreamInput{StreamName: "s", TagKeys: []string{""}})
		require.ErrorIs(t, err, shardlog.ErrInvalidArgument, "empty key")

		keys50 := keys51[:shardlog.MaxTagsPerStream]
		require.NoError(t, h.Log.RemoveTagsFromStream(h.Ctx, shardlog.RemoveTagsFromStreamInput{StreamName: "s", TagKeys: keys50}))
		require.Equal(t, map[string]string{"c": "3"}, described(h, "s"))
	})

	t.Run("ListOrdering", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 1)
		tags := map[string]string{"zeta": "1", "Alpha": "2", "alpha": "3", "_u": "4", "0": "5", "é": "6", "b:c": "7"}
		require.NoError(t, h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "s", Tags: tags}))
		lt, err := h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: "s"})
		require.NoError(t, err)
		got, more := lt.Tags, lt.HasMoreTags
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
		lt, err = h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: "empty"})
		require.NoError(t, err)
		got, more = lt.Tags, lt.HasMoreTags
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
			lt, err := h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: "s", ExclusiveStartTagKey: start, Limit: 5})
			require.NoError(t, err)
			page, more := lt.Tags, lt.HasMoreTags
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
		lt, err := h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: "s", ExclusiveStartTagKey: "t17a", Limit: 5})
		require.NoError(t, err)
		page, more := lt.Tags, lt.HasMoreTags
		require.False(t, more)
		require.Len(t, page, 5)
		require.Equal(t, "t18", page[0].Key)
		lt, err = h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: "s", ExclusiveStartTagKey: "t22", Limit: 5})
		require.NoError(t, err)
		page, more = lt.Tags, lt.HasMoreTags
		require.Empty(t, page)
		require.False(t, more)
	})

	t.Run("ListLimit", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		all := tagSet("t", shardlog.MaxTagsPerStream)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "s", ShardCount: 1, Tags: all}))
		for _, limit := range []int{0, shardlog.MaxListTagsLimit} {
			lt, err := h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: "s", Limit: limit})
			require.NoError(t, err)
			page, more := lt.Tags, lt.HasMoreTags
			require.Len(t, page, shardlog.MaxTagsPerStream)
			require.False(t, more)
		}
		lt, err := h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: "s", Limit: 1})
		require.NoError(t, err)
		page, more := lt.Tags, lt.HasMoreTags
		require.Len(t, page, 1)
		require.True(t, more)
		lt, err = h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: "s", Limit: 49})
		require.NoError(t, err)
		page, more = lt.Tags, lt.HasMoreTags
		require.Len(t, page, 49)
		require.True(t, more)
		for _, bad := range []int{shardlog.MaxListTagsLimit + 1, -1} {
			_, err = h.Log.ListTagsForStream(h.Ctx, shardlog.ListTagsForStreamInput{StreamName: "s", Limit: bad})
			streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "Limit")
		}
	})

	t.Run("AtCreateStream", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		fifty := tagSet("t", shardlog.MaxTagsPerStream)
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "fifty", ShardCount: 1, Tags: fifty}))
		require.Equal(t, fifty, described(h, "fifty"))
		err := h.Log.AddTagsToStream(h.Ctx, shardlog.AddTagsToStreamInput{StreamName: "fifty", Tags: map[string]string{"more": "x"}})
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded)

		err = h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "fifty-one", ShardCount: 1, Tags: tagSet("t", shardlog.MaxTagsPerStream+1)})
		require.ErrorIs(t, err, shardlog.ErrLimitExceeded)
		_, err = h.Log.DescribeStream(h.Ctx, shardlog.DescribeStreamInput{StreamName: "fifty-one"})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound)

		// The caller's map is copied: changing it later changes nothing.
		mine := map[string]string{"a": "1"}
		require.NoError(t, h.Log.CreateStream(h.Ctx, shardlog.CreateStreamInput{StreamName: "copy", ShardCount: 1, Tags: mine}))
		mine["a"] = "changed"
		mine["b"] = "2"
		require.Equal(t, map[string]string{"a": "1"}, described(h, "copy"))
	})
}
