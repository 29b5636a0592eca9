package kinesis

import (
	"context"

	"github.com/shoal-dev/shoal/shardlog"
)

// consumer is the model's Consumer, and with StreamARN its
// ConsumerDescription.
type consumer struct {
	ConsumerName              string                  `json:"ConsumerName"`
	ConsumerARN               string                  `json:"ConsumerARN"`
	ConsumerStatus            shardlog.ConsumerStatus `json:"ConsumerStatus"`
	ConsumerCreationTimestamp epoch                   `json:"ConsumerCreationTimestamp"`
	StreamARN                 string                  `json:"StreamARN,omitempty"`
}

func wireConsumer(c shardlog.Consumer, withStream bool) consumer {
	out := consumer{
		ConsumerName: c.ConsumerName, ConsumerARN: c.ConsumerARN, ConsumerStatus: c.ConsumerStatus,
		ConsumerCreationTimestamp: epoch(c.ConsumerCreationTimestamp),
	}
	if withStream {
		out.StreamARN = c.StreamARN
	}
	return out
}

type registerConsumerInput struct {
	streamRef
	ConsumerName *string           `json:"ConsumerName"`
	Tags         map[string]string `json:"Tags"`
}

type registerConsumerOutput struct {
	Consumer consumer `json:"Consumer"`
}

func (a *api) registerConsumer(ctx context.Context, in *registerConsumerInput) (*registerConsumerOutput, error) {
	name, err := a.requireARN(in.streamRef)
	if err != nil {
		return nil, err
	}
	cname, err := required("ConsumerName", in.ConsumerName)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		return nil, invalidArg("Tags", "consumer tags are not supported")
	}
	c, err := a.log.RegisterStreamConsumer(ctx, shardlog.RegisterStreamConsumerInput{StreamName: name, ConsumerName: cname})
	if err != nil {
		return nil, err
	}
	return &registerConsumerOutput{wireConsumer(c.Consumer, false)}, nil
}

// consumerRef addresses a consumer by ConsumerARN, or by StreamARN and
// ConsumerName.
type consumerRef struct {
	streamRef
	ConsumerName *string `json:"ConsumerName"`
	ConsumerARN  *string `json:"ConsumerARN"`
}

// find returns the consumer r addresses. A consumer ARN must be the
// current one: the ARN of a consumer since deregistered and registered
// again names no consumer.
func (a *api) find(ctx context.Context, r consumerRef) (shardlog.Consumer, error) {
	if arn := optional(r.ConsumerARN); arn != "" {
		stream, cname, _, err := shardlog.ParseConsumerARN(arn)
		if err != nil {
			return shardlog.Consumer{}, err
		}
		c, err := a.log.DescribeStreamConsumer(ctx, shardlog.DescribeStreamConsumerInput{StreamName: stream, ConsumerName: cname})
		if err != nil {
			return shardlog.Consumer{}, err
		}
		if c.ConsumerDescription.ConsumerARN != arn {
			return shardlog.Consumer{}, wireError(errConsumerNotFound(arn))
		}
		return c.ConsumerDescription, nil
	}
	if optional(r.StreamARN) == "" && optional(r.StreamName) == "" {
		return shardlog.Consumer{}, invalidArg("ConsumerARN", "ConsumerARN, or StreamARN and ConsumerName, are required")
	}
	stream, err := a.name(r.streamRef)
	if err != nil {
		return shardlog.Consumer{}, err
	}
	cname, err := required("ConsumerName", r.ConsumerName)
	if err != nil {
		return shardlog.Consumer{}, err
	}
	c, err := a.log.DescribeStreamConsumer(ctx, shardlog.DescribeStreamConsumerInput{StreamName: stream, ConsumerName: cname})
	if err != nil {
		return shardlog.Consumer{}, err
	}
	return c.ConsumerDescription, nil
}

func (a *api) deregisterConsumer(ctx context.Context, in *consumerRef) (empty, error) {
	c, err := a.find(ctx, *in)
	if err != nil {
		return empty{}, err
	}
	stream, _, _, err := shardlog.ParseConsumerARN(c.ConsumerARN)
	if err != nil {
		return empty{}, err
	}
	return empty{}, a.log.DeregisterStreamConsumer(ctx, shardlog.DeregisterStreamConsumerInput{StreamName: stream, ConsumerName: c.ConsumerName})
}

type describeConsumerOutput struct {
	ConsumerDescription consumer `json:"ConsumerDescription"`
}

func (a *api) describeConsumer(ctx context.Context, in *consumerRef) (*describeConsumerOutput, error) {
	c, err := a.find(ctx, *in)
	if err != nil {
		return nil, err
	}
	return &describeConsumerOutput{wireConsumer(c, true)}, nil
}

type listConsumersInput struct {
	streamRef
	NextToken               *string `json:"NextToken"`
	MaxResults              *int    `json:"MaxResults"`
	StreamCreationTimestamp *epoch  `json:"StreamCreationTimestamp"`
}

type listConsumersOutput struct {
	Consumers []consumer `json:"Consumers"`
	NextToken string     `json:"NextToken,omitempty"`
}

// listConsumers lists a page of consumers; StreamCreationTimestamp is
// accepted and not checked (a log holds one stream of a name at a time).
func (a *api) listConsumers(ctx context.Context, in *listConsumersInput) (*listConsumersOutput, error) {
	name, err := a.requireARN(in.streamRef)
	if err != nil {
		return nil, err
	}
	if in.MaxResults != nil && *in.MaxResults == 0 {
		return nil, invalidArg("MaxResults", "0 is outside 1-10000")
	}
	page, err := a.log.ListStreamConsumers(ctx, shardlog.ListStreamConsumersInput{StreamName: name, NextToken: optional(in.NextToken), MaxResults: optional(in.MaxResults)})
	if err != nil {
		return nil, err
	}
	cs := page.Consumers
	out := &listConsumersOutput{Consumers: make([]consumer, len(cs)), NextToken: page.NextToken}
	for i, c := range cs {
		out.Consumers[i] = wireConsumer(c, false)
	}
	return out, nil
}
