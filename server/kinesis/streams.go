package kinesis

import (
	"context"

	"github.com/shoal-dev/shoal/shardlog"
)

// streamModeDetails is the model's StreamModeDetails.
type streamModeDetails struct {
	StreamMode *string `json:"StreamMode"`
}

// mode returns the mode d names; field names d in errors.
func (d *streamModeDetails) mode(field string) (shardlog.StreamMode, error) {
	m, err := required(field+".StreamMode", d.StreamMode)
	return shardlog.StreamMode(m), err
}

// modeDetails is StreamModeDetails in output.
type modeDetails struct {
	StreamMode shardlog.StreamMode `json:"StreamMode"`
}

type createStreamInput struct {
	StreamName         *string            `json:"StreamName"`
	ShardCount         *int               `json:"ShardCount"`
	StreamModeDetails  *streamModeDetails `json:"StreamModeDetails"`
	Tags               map[string]string  `json:"Tags"`
	MaxRecordSizeInKiB *int               `json:"MaxRecordSizeInKiB"`
}

func (a *api) createStream(ctx context.Context, in *createStreamInput) (empty, error) {
	name, err := required("StreamName", in.StreamName)
	if err != nil {
		return empty{}, err
	}
	var mode shardlog.StreamMode
	if in.StreamModeDetails != nil {
		if mode, err = in.StreamModeDetails.mode("StreamModeDetails"); err != nil {
			return empty{}, err
		}
		if mode != shardlog.Provisioned && mode != shardlog.OnDemand {
			return empty{}, invalidArg("StreamModeDetails.StreamMode", "%q is not PROVISIONED or ON_DEMAND", truncate(string(mode), 64))
		}
	}
	if mode != shardlog.OnDemand && in.ShardCount == nil {
		return empty{}, invalidArg("ShardCount", "is required for a PROVISIONED stream")
	}
	return empty{}, a.log.CreateStream(ctx, shardlog.CreateStreamInput{
		StreamName:         name,
		ShardCount:         optional(in.ShardCount),
		StreamMode:         mode,
		Tags:               in.Tags,
		MaxRecordSizeInKiB: optional(in.MaxRecordSizeInKiB),
		ProvisionedLimits:  a.cfg.provisionedLimits,
	})
}

type deleteStreamInput struct {
	streamRef
	EnforceConsumerDeletion *bool `json:"EnforceConsumerDeletion"`
}

func (a *api) deleteStream(ctx context.Context, in *deleteStreamInput) (empty, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return empty{}, err
	}
	if err := a.log.DeleteStream(ctx, shardlog.DeleteStreamInput{StreamName: name, EnforceConsumerDeletion: optional(in.EnforceConsumerDeletion)}); err != nil {
		return empty{}, err
	}
	a.forget(name)
	return empty{}, nil
}

// maxDescribeShards is the most shards one DescribeStream returns.
const maxDescribeShards = 100

type describeStreamInput struct {
	streamRef
	Limit                 *int    `json:"Limit"`
	ExclusiveStartShardId *string `json:"ExclusiveStartShardId"`
}

type enhancedMetrics struct {
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

type streamDescription struct {
	StreamName              string                `json:"StreamName"`
	StreamARN               string                `json:"StreamARN"`
	StreamStatus            shardlog.StreamStatus `json:"StreamStatus"`
	StreamModeDetails       modeDetails           `json:"StreamModeDetails"`
	Shards                  []shard               `json:"Shards"`
	HasMoreShards           bool                  `json:"HasMoreShards"`
	RetentionPeriodHours    int                   `json:"RetentionPeriodHours"`
	StreamCreationTimestamp epoch                 `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []enhancedMetrics     `json:"EnhancedMonitoring"`
	EncryptionType          string                `json:"EncryptionType"`
	KeyId                   string                `json:"KeyId,omitempty"`
}

type describeStreamOutput struct {
	StreamDescription streamDescription `json:"StreamDescription"`
}

func (a *api) describeStream(ctx context.Context, in *describeStreamInput) (*describeStreamOutput, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	limit := maxDescribeShards
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > shardlog.MaxListShardsResults {
			return nil, invalidArg("Limit", "%d is outside 1-%d", *in.Limit, shardlog.MaxListShardsResults)
		}
		limit = min(*in.Limit, maxDescribeShards)
	}
	d, err := a.log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: name, Limit: limit, ExclusiveStartShardID: optional(in.ExclusiveStartShardId)})
	if err != nil {
		return nil, err
	}
	out := streamDescription{
		StreamName:              d.StreamName,
		StreamARN:               d.StreamARN,
		StreamStatus:            d.StreamStatus,
		StreamModeDetails:       modeDetails{d.StreamMode},
		Shards:                  []shard{},
		HasMoreShards:           d.HasMoreShards,
		RetentionPeriodHours:    d.RetentionPeriodHours,
		StreamCreationTimestamp: epoch(d.StreamCreationTimestamp),
		EnhancedMonitoring:      enhancedMonitoring(d.EnhancedMonitoring),
		EncryptionType:          string(d.EncryptionType),
		KeyId:                   d.KeyID,
	}
	for _, s := range d.Shards {
		out.Shards = append(out.Shards, wireShard(s))
	}
	return &describeStreamOutput{out}, nil
}

// describe describes a whole stream.
func (a *api) describe(ctx context.Context, name string) (*shardlog.DescribeStreamOutput, error) {
	return a.log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: name})
}

func enhancedMonitoring(metrics []string) []enhancedMetrics {
	if metrics == nil {
		metrics = []string{}
	}
	return []enhancedMetrics{{ShardLevelMetrics: metrics}}
}

type describeStreamSummaryInput struct {
	streamRef
}

type streamDescriptionSummary struct {
	StreamName              string                `json:"StreamName"`
	StreamARN               string                `json:"StreamARN"`
	StreamStatus            shardlog.StreamStatus `json:"StreamStatus"`
	StreamModeDetails       modeDetails           `json:"StreamModeDetails"`
	RetentionPeriodHours    int                   `json:"RetentionPeriodHours"`
	StreamCreationTimestamp epoch                 `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []enhancedMetrics     `json:"EnhancedMonitoring"`
	EncryptionType          string                `json:"EncryptionType"`
	KeyId                   string                `json:"KeyId,omitempty"`
	OpenShardCount          int                   `json:"OpenShardCount"`
	ConsumerCount           int                   `json:"ConsumerCount"`
	MaxRecordSizeInKiB      int                   `json:"MaxRecordSizeInKiB"`
}

type describeStreamSummaryOutput struct {
	StreamDescriptionSummary streamDescriptionSummary `json:"StreamDescriptionSummary"`
}

func (a *api) describeStreamSummary(ctx context.Context, in *describeStreamSummaryInput) (*describeStreamSummaryOutput, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	d, err := a.summary(ctx, name)
	if err != nil {
		return nil, err
	}
	return &describeStreamSummaryOutput{streamDescriptionSummary{
		StreamName:              d.StreamName,
		StreamARN:               d.StreamARN,
		StreamStatus:            d.StreamStatus,
		StreamModeDetails:       modeDetails{d.StreamMode},
		RetentionPeriodHours:    d.RetentionPeriodHours,
		StreamCreationTimestamp: epoch(d.StreamCreationTimestamp),
		EnhancedMonitoring:      enhancedMonitoring(d.EnhancedMonitoring),
		EncryptionType:          string(d.EncryptionType),
		KeyId:                   d.KeyID,
		OpenShardCount:          d.OpenShardCount,
		ConsumerCount:           d.ConsumerCount,
		MaxRecordSizeInKiB:      d.MaxRecordSizeInKiB,
	}}, nil
}

type listStreamsInput struct {
	Limit                    *int    `json:"Limit"`
	ExclusiveStartStreamName *string `json:"ExclusiveStartStreamName"`
	NextToken                *string `json:"NextToken"`
}

type streamSummary struct {
	StreamName              string                `json:"StreamName"`
	StreamARN               string                `json:"StreamARN"`
	StreamStatus            shardlog.StreamStatus `json:"StreamStatus"`
	StreamModeDetails       modeDetails           `json:"StreamModeDetails"`
	StreamCreationTimestamp epoch                 `json:"StreamCreationTimestamp"`
}

type listStreamsOutput struct {
	StreamNames     []string        `json:"StreamNames"`
	HasMoreStreams  bool            `json:"HasMoreStreams"`
	NextToken       string          `json:"NextToken,omitempty"`
	StreamSummaries []streamSummary `json:"StreamSummaries"`
}

func (a *api) listStreams(ctx context.Context, in *listStreamsInput) (*listStreamsOutput, error) {
	if in.Limit != nil && *in.Limit == 0 {
		return nil, invalidArg("Limit", "0 is outside 1-%d", shardlog.MaxListStreamsLimit)
	}
	res, err := a.log.ListStreams(ctx, shardlog.ListStreamsInput{
		Limit:                    optional(in.Limit),
		ExclusiveStartStreamName: optional(in.ExclusiveStartStreamName),
		NextToken:                optional(in.NextToken),
	})
	if err != nil {
		return nil, err
	}
	out := &listStreamsOutput{
		StreamNames:     res.StreamNames,
		HasMoreStreams:  res.HasMoreStreams,
		NextToken:       res.NextToken,
		StreamSummaries: make([]streamSummary, 0, len(res.StreamSummaries)),
	}
	if out.StreamNames == nil {
		out.StreamNames = []string{}
	}
	for _, s := range res.StreamSummaries {
		out.StreamSummaries = append(out.StreamSummaries, streamSummary{
			StreamName: s.StreamName, StreamARN: s.StreamARN, StreamStatus: s.StreamStatus,
			StreamModeDetails: modeDetails{s.StreamMode}, StreamCreationTimestamp: epoch(s.StreamCreationTimestamp),
		})
	}
	return out, nil
}

type updateStreamModeInput struct {
	streamRef
	StreamModeDetails *streamModeDetails `json:"StreamModeDetails"`
}

func (a *api) updateStreamMode(ctx context.Context, in *updateStreamModeInput) (empty, error) {
	name, err := a.requireARN(in.streamRef)
	if err != nil {
		return empty{}, err
	}
	d, err := required("StreamModeDetails", in.StreamModeDetails)
	if err != nil {
		return empty{}, err
	}
	mode, err := d.mode("StreamModeDetails")
	if err != nil {
		return empty{}, err
	}
	return empty{}, a.log.UpdateStreamMode(ctx, shardlog.UpdateStreamModeInput{StreamName: name, StreamMode: mode})
}

type updateMaxRecordSizeInput struct {
	streamRef
	MaxRecordSizeInKiB *int `json:"MaxRecordSizeInKiB"`
}

func (a *api) updateMaxRecordSize(ctx context.Context, in *updateMaxRecordSizeInput) (empty, error) {
	name, err := a.requireARN(in.streamRef)
	if err != nil {
		return empty{}, err
	}
	kib, err := required("MaxRecordSizeInKiB", in.MaxRecordSizeInKiB)
	if err != nil {
		return empty{}, err
	}
	return empty{}, a.log.UpdateMaxRecordSize(ctx, shardlog.UpdateMaxRecordSizeInput{StreamName: name, MaxRecordSizeInKiB: kib})
}
