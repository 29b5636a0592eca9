package shardlog

import (
	"context"
	"maps"
	"slices"
	"strings"
)

func validateTags(tags map[string]string, max int) error {
	if len(tags) > max {
		return invalidAs(ErrLimitExceeded, "Tags", "%d tags exceed the limit of %d", len(tags), max)
	}
	for k, v := range tags {
		if err := validateTagKey(k); err != nil {
			return err
		}
		if n := len([]rune(v)); n > MaxTagValueLength {
			return invalid("Tags", "value of tag %q has length %d, over the limit of %d", truncate(k, 64), n, MaxTagValueLength)
		}
	}
	return nil
}

func validateTagKey(k string) error {
	if n := len([]rune(k)); n < 1 || n > MaxTagKeyLength {
		return invalid("Tags", "tag key length %d is outside 1-%d", n, MaxTagKeyLength)
	}
	return nil
}

// AddTagsToStreamInput is the input of AddTagsToStream.
type AddTagsToStreamInput struct {
	StreamName string
	Tags       map[string]string // 1-MaxTagsPerCall
}

// AddTagsToStream adds or overwrites up to MaxTagsPerCall tags. A stream
// holds at most MaxTagsPerStream tags (ErrLimitExceeded past that).
func (l *Log) AddTagsToStream(ctx context.Context, in AddTagsToStreamInput) error {
	tags := in.Tags
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return invalid("Tags", "at least one tag is required")
	}
	if len(tags) > MaxTagsPerCall {
		return invalid("Tags", "%d tags exceed the limit of %d per call", len(tags), MaxTagsPerCall)
	}
	if err := validateTags(tags, MaxTagsPerCall); err != nil {
		return err
	}
	return l.update(ctx, s, func(m *StreamMeta) error {
		merged := maps.Clone(m.Tags)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, tags)
		if len(merged) > MaxTagsPerStream {
			return invalidAs(ErrLimitExceeded, "Tags", "stream would have %d tags; the limit is %d", len(merged), MaxTagsPerStream)
		}
		m.Tags = merged
		return nil
	})
}

// RemoveTagsFromStreamInput is the input of RemoveTagsFromStream.
type RemoveTagsFromStreamInput struct {
	StreamName string
	TagKeys    []string // 1-MaxTagsPerStream
}

// RemoveTagsFromStream removes tags by key; keys the stream does not have
// are ignored.
func (l *Log) RemoveTagsFromStream(ctx context.Context, in RemoveTagsFromStreamInput) error {
	keys := in.TagKeys
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return err
	}
	if len(keys) < 1 || len(keys) > MaxTagsPerStream {
		return invalid("TagKeys", "%d keys is outside 1-%d", len(keys), MaxTagsPerStream)
	}
	for _, k := range keys {
		if err := validateTagKey(k); err != nil {
			return err
		}
	}
	return l.update(ctx, s, func(m *StreamMeta) error {
		for _, k := range keys {
			delete(m.Tags, k)
		}
		return nil
	})
}

// Tag is a stream tag.
type Tag struct{ Key, Value string }

// ListTagsForStreamInput is the input of ListTagsForStream. It pages as
// Kinesis does: by key, after ExclusiveStartTagKey.
type ListTagsForStreamInput struct {
	StreamName           string
	ExclusiveStartTagKey string // list the tags after this key
	Limit                int    // 1-MaxListTagsLimit; zero means MaxListTagsLimit
}

// ListTagsForStreamOutput is one page of tags, in key order.
type ListTagsForStreamOutput struct {
	Tags        []Tag
	HasMoreTags bool // more tags follow the last one in Tags
}

// ListTagsForStream lists a stream's tags in key order, a page at a time.
func (l *Log) ListTagsForStream(ctx context.Context, in ListTagsForStreamInput) (*ListTagsForStreamOutput, error) {
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return nil, err
	}
	limit := in.Limit
	if limit == 0 {
		limit = MaxListTagsLimit
	}
	if limit < 1 || limit > MaxListTagsLimit {
		return nil, invalid("Limit", "%d is outside 1-%d", limit, MaxListTagsLimit)
	}
	out := &ListTagsForStreamOutput{Tags: []Tag{}}
	s.mu.RLock()
	keys := slices.Sorted(maps.Keys(s.meta.Tags))
	for _, k := range keys {
		if strings.Compare(k, in.ExclusiveStartTagKey) <= 0 {
			continue
		}
		if len(out.Tags) == limit {
			out.HasMoreTags = true
			break
		}
		out.Tags = append(out.Tags, Tag{k, s.meta.Tags[k]})
	}
	s.mu.RUnlock()
	return out, nil
}
