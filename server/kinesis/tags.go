package kinesis

import (
	"context"
	"strings"

	"github.com/shoal-dev/shoal/shardlog"
)

type addTagsInput struct {
	streamRef
	Tags map[string]string `json:"Tags"`
}

func (a *api) addTags(ctx context.Context, in *addTagsInput) (empty, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return empty{}, err
	}
	if in.Tags == nil {
		return empty{}, missing("Tags")
	}
	return empty{}, a.log.AddTagsToStream(ctx, shardlog.AddTagsToStreamInput{StreamName: name, Tags: in.Tags})
}

type removeTagsInput struct {
	streamRef
	TagKeys []string `json:"TagKeys"`
}

func (a *api) removeTags(ctx context.Context, in *removeTagsInput) (empty, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return empty{}, err
	}
	if in.TagKeys == nil {
		return empty{}, missing("TagKeys")
	}
	return empty{}, a.log.RemoveTagsFromStream(ctx, shardlog.RemoveTagsFromStreamInput{StreamName: name, TagKeys: in.TagKeys})
}

type listTagsInput struct {
	streamRef
	ExclusiveStartTagKey *string `json:"ExclusiveStartTagKey"`
	Limit                *int    `json:"Limit"`
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type listTagsOutput struct {
	Tags        []tag `json:"Tags"`
	HasMoreTags bool  `json:"HasMoreTags"`
}

func (a *api) listTags(ctx context.Context, in *listTagsInput) (*listTagsOutput, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	if in.Limit != nil && *in.Limit == 0 {
		return nil, invalidArg("Limit", "0 is outside 1-50")
	}
	page, err := a.log.ListTagsForStream(ctx, shardlog.ListTagsForStreamInput{StreamName: name, ExclusiveStartTagKey: optional(in.ExclusiveStartTagKey), Limit: optional(in.Limit)})
	if err != nil {
		return nil, err
	}
	tags := page.Tags
	out := &listTagsOutput{Tags: make([]tag, len(tags)), HasMoreTags: page.HasMoreTags}
	for i, t := range tags {
		out.Tags[i] = tag{Key: t.Key, Value: t.Value}
	}
	return out, nil
}

// resourceRef addresses a taggable resource by ARN. Only streams carry
// tags here: a consumer ARN is refused.
type resourceRef struct {
	ResourceARN *string `json:"ResourceARN"`
}

// resource resolves the stream a ResourceARN names.
func (a *api) resource(r resourceRef) (string, error) {
	arn, err := required("ResourceARN", r.ResourceARN)
	if err != nil {
		return "", err
	}
	if strings.Contains(arn, "/consumer/") {
		return "", invalidArg("ResourceARN", "tags on consumers are not supported by Shoal; tag the stream")
	}
	return a.streamNameFromARN("ResourceARN", arn)
}

type tagResourceInput struct {
	resourceRef
	Tags map[string]string `json:"Tags"`
}

// tagResource is AddTagsToStream addressed by ARN.
func (a *api) tagResource(ctx context.Context, in *tagResourceInput) (empty, error) {
	name, err := a.resource(in.resourceRef)
	if err != nil {
		return empty{}, err
	}
	if in.Tags == nil {
		return empty{}, missing("Tags")
	}
	return empty{}, a.log.AddTagsToStream(ctx, shardlog.AddTagsToStreamInput{StreamName: name, Tags: in.Tags})
}

type untagResourceInput struct {
	resourceRef
	TagKeys []string `json:"TagKeys"`
}

// untagResource is RemoveTagsFromStream addressed by ARN.
func (a *api) untagResource(ctx context.Context, in *untagResourceInput) (empty, error) {
	name, err := a.resource(in.resourceRef)
	if err != nil {
		return empty{}, err
	}
	if in.TagKeys == nil {
		return empty{}, missing("TagKeys")
	}
	return empty{}, a.log.RemoveTagsFromStream(ctx, shardlog.RemoveTagsFromStreamInput{StreamName: name, TagKeys: in.TagKeys})
}

type listTagsForResourceOutput struct {
	Tags []tag `json:"Tags"`
}

// listTagsForResource lists every tag of the stream an ARN names (a
// stream has at most 50).
func (a *api) listTagsForResource(ctx context.Context, in *resourceRef) (*listTagsForResourceOutput, error) {
	name, err := a.resource(*in)
	if err != nil {
		return nil, err
	}
	out := &listTagsForResourceOutput{Tags: []tag{}}
	start := ""
	for {
		page, err := a.log.ListTagsForStream(ctx, shardlog.ListTagsForStreamInput{StreamName: name, ExclusiveStartTagKey: start, Limit: 50})
		if err != nil {
			return nil, err
		}
		tags, more := page.Tags, page.HasMoreTags
		for _, t := range tags {
			out.Tags = append(out.Tags, tag{Key: t.Key, Value: t.Value})
		}
		if !more || len(tags) == 0 {
			return out, nil
		}
		start = tags[len(tags)-1].Key
	}
}
