package kinesis

import "context"

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
	return empty{}, a.log.AddTagsToStream(ctx, name, in.Tags)
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
	return empty{}, a.log.RemoveTagsFromStream(ctx, name, in.TagKeys)
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
	tags, more, err := a.log.ListTagsForStream(ctx, name, optional(in.ExclusiveStartTagKey), optional(in.Limit))
	if err != nil {
		return nil, err
	}
	out := &listTagsOutput{Tags: make([]tag, len(tags)), HasMoreTags: more}
	for i, t := range tags {
		out.Tags[i] = tag{Key: t.Key, Value: t.Value}
	}
	return out, nil
}
