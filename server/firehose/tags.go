package firehose

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// mergeTags adds tags to have (a tag of an existing key replaces its
// value) and returns the result sorted by key; more than maxTags in all
// is a LimitExceededException.
func mergeTags(have []storedTag, field string, tags []tag) ([]storedTag, error) {
	out := slices.Clone(have)
	for i, t := range tags {
		key, value, err := checkTag(fmt.Sprintf("%s[%d]", field, i), t)
		if err != nil {
			return nil, err
		}
		var v *string
		if t.Value != nil {
			v = &value
		}
		if j := slices.IndexFunc(out, func(s storedTag) bool { return s.Key == key }); j >= 0 {
			out[j].Value = v
		} else {
			out = append(out, storedTag{Key: key, Value: v})
		}
	}
	if len(out) > maxTags {
		return nil, awsproto.Errorf(errLimitExceeded, "%s: the delivery stream would have %d tags; the limit is %d", field, len(out), maxTags)
	}
	slices.SortFunc(out, func(a, b storedTag) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// tagStream is TagDeliveryStream: 1-50 tags, at most 50 on the stream.
func (a *api) tagStream(ctx context.Context, in *tagInput) (*empty, error) {
	name, err := checkName("DeliveryStreamName", in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 || len(in.Tags) > maxTags {
		return nil, invalidArg("Tags", "has %d tags: 1-%d are allowed", len(in.Tags), maxTags)
	}
	if _, err := mergeTags(nil, "Tags", in.Tags); err != nil { // bad input first, then not found
		return nil, err
	}
	err = a.m.modify(ctx, name, false, func(cfg *streamConfig) error {
		tags, err := mergeTags(cfg.Tags, "Tags", in.Tags)
		if err != nil {
			return err
		}
		cfg.Tags = tags
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &empty{}, nil
}

// untagStream is UntagDeliveryStream: 1-50 keys; keys the stream does
// not have are ignored.
func (a *api) untagStream(ctx context.Context, in *untagInput) (*empty, error) {
	name, err := checkName("DeliveryStreamName", in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 || len(in.TagKeys) > maxTags {
		return nil, invalidArg("TagKeys", "has %d keys: 1-%d are allowed", len(in.TagKeys), maxTags)
	}
	for i, k := range in.TagKeys {
		if _, _, err := checkTag(fmt.Sprintf("TagKeys[%d]", i), tag{Key: &k}); err != nil {
			return nil, err
		}
	}
	err = a.m.modify(ctx, name, false, func(cfg *streamConfig) error {
		cfg.Tags = slices.DeleteFunc(cfg.Tags, func(t storedTag) bool { return slices.Contains(in.TagKeys, t.Key) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &empty{}, nil
}

// listTags is ListTagsForDeliveryStream: Limit 1-50 (default 50), in key
// order after ExclusiveStartTagKey.
func (a *api) listTags(ctx context.Context, in *listTagsInput) (*listTagsOutput, error) {
	name, err := checkName("DeliveryStreamName", in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	limit := maxTags
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > maxTags {
			return nil, invalidArg("Limit", "%d is out of range: 1-%d", *in.Limit, maxTags)
		}
		limit = int(*in.Limit)
	}
	start := ""
	if in.ExclusiveStartTagKey != nil {
		start = *in.ExclusiveStartTagKey
		if len(start) > maxTagKeyLength {
			return nil, invalidArg("ExclusiveStartTagKey", "is %d characters long; the limit is %d", len(start), maxTagKeyLength)
		}
	}
	snap, err := a.m.get(name)
	if err != nil {
		return nil, err
	}
	out := &listTagsOutput{Tags: []tagOut{}}
	for _, t := range snap.cfg.Tags {
		if start != "" && t.Key <= start {
			continue
		}
		if len(out.Tags) == limit {
			out.HasMoreTags = true
			break
		}
		out.Tags = append(out.Tags, tagOut{Key: t.Key, Value: t.Value})
	}
	return out, nil
}
