package shardlog

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ConsumerStatus is an enhanced fan-out consumer's state. Registration is
// synchronous in Shoal, so consumers are ACTIVE when described.
type ConsumerStatus string

// Consumer states.
const (
	ConsumerCreating ConsumerStatus = "CREATING"
	ConsumerActive   ConsumerStatus = "ACTIVE"
	ConsumerDeleting ConsumerStatus = "DELETING"
)

// Consumer is a registered enhanced fan-out consumer of a stream.
type Consumer struct {
	ConsumerName              string
	ConsumerARN               string
	ConsumerStatus            ConsumerStatus
	ConsumerCreationTimestamp time.Time
	StreamARN                 string
}

// ConsumerARN formats a consumer's ARN as AWS does; it embeds the creation
// time, so a consumer registered again under the same name gets a new ARN.
func (l *Log) ConsumerARN(streamName, consumerName string, created time.Time) string {
	return fmt.Sprintf("%s/consumer/%s:%d", l.StreamARN(streamName), consumerName, created.Unix())
}

// ParseConsumerARN splits a consumer ARN into stream name, consumer name
// and creation time (seconds).
func ParseConsumerARN(arn string) (streamName, consumerName string, created time.Time, err error) {
	bad := invalid("ConsumerARN", "%q is not a consumer ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME/consumer/NAME:EPOCH)", truncate(arn, 128))
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "kinesis" {
		return "", "", time.Time{}, bad
	}
	res := strings.Split(parts[5], "/")
	if len(res) != 4 || res[0] != "stream" || res[2] != "consumer" {
		return "", "", time.Time{}, bad
	}
	secs, perr := strconv.ParseInt(parts[6], 10, 64)
	if perr != nil {
		return "", "", time.Time{}, bad
	}
	return res[1], res[3], time.Unix(secs, 0), nil
}

func (l *Log) describeConsumer(stream string, c ConsumerMeta) Consumer {
	return Consumer{
		ConsumerName: c.Name, ConsumerARN: l.ConsumerARN(stream, c.Name, c.CreatedAt), ConsumerStatus: ConsumerActive,
		ConsumerCreationTimestamp: c.CreatedAt, StreamARN: l.StreamARN(stream),
	}
}

// RegisterStreamConsumerInput is the input of RegisterStreamConsumer.
type RegisterStreamConsumerInput struct {
	StreamName   string
	ConsumerName string
}

// RegisterStreamConsumerOutput is the result of RegisterStreamConsumer:
// the Consumer (its fields are promoted).
type RegisterStreamConsumerOutput struct {
	Consumer
}

// RegisterStreamConsumer registers an enhanced fan-out consumer: names are
// unique per stream (ErrResourceInUse) and a stream has at most
// MaxConsumersPerStream (ErrLimitExceeded).
func (l *Log) RegisterStreamConsumer(ctx context.Context, in RegisterStreamConsumerInput) (*RegisterStreamConsumerOutput, error) {
	streamName, consumerName := in.StreamName, in.ConsumerName
	s, err := l.stream(ctx, streamName)
	if err != nil {
		return nil, err
	}
	if err := validateConsumerName("ConsumerName", consumerName); err != nil {
		return nil, err
	}
	var c ConsumerMeta
	err = l.update(ctx, s, func(m *StreamMeta) error {
		for _, e := range m.Consumers {
			if e.Name == consumerName {
				return inUse("consumer %s of stream %s already exists", consumerName, streamName)
			}
		}
		if len(m.Consumers) >= MaxConsumersPerStream {
			return invalidAs(ErrLimitExceeded, "ConsumerName", "stream %s has %d consumers; the limit is %d", streamName, len(m.Consumers), MaxConsumersPerStream)
		}
		c = ConsumerMeta{Name: consumerName, CreatedAt: l.now()}
		m.Consumers = append(m.Consumers, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &RegisterStreamConsumerOutput{Consumer: l.describeConsumer(streamName, c)}, nil
}

// DeregisterStreamConsumerInput is the input of DeregisterStreamConsumer.
type DeregisterStreamConsumerInput struct {
	StreamName   string
	ConsumerName string
}

// DeregisterStreamConsumer removes a consumer; its subscriptions end.
func (l *Log) DeregisterStreamConsumer(ctx context.Context, in DeregisterStreamConsumerInput) error {
	streamName, consumerName := in.StreamName, in.ConsumerName
	s, err := l.stream(ctx, streamName)
	if err != nil {
		return err
	}
	err = l.update(ctx, s, func(m *StreamMeta) error {
		i := slices.IndexFunc(m.Consumers, func(c ConsumerMeta) bool { return c.Name == consumerName })
		if i < 0 {
			return l.consumerNotFound(streamName, consumerName)
		}
		m.Consumers = slices.Delete(m.Consumers, i, i+1)
		return nil
	})
	if err == nil {
		s.endConsumerSubscriptions(consumerName)
	}
	return err
}

// DescribeStreamConsumerInput is the input of DescribeStreamConsumer.
type DescribeStreamConsumerInput struct {
	StreamName   string
	ConsumerName string
}

// DescribeStreamConsumerOutput is the result of DescribeStreamConsumer.
type DescribeStreamConsumerOutput struct {
	ConsumerDescription Consumer
}

// DescribeStreamConsumer describes a consumer by stream and name.
func (l *Log) DescribeStreamConsumer(ctx context.Context, in DescribeStreamConsumerInput) (*DescribeStreamConsumerOutput, error) {
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.meta.Consumers {
		if c.Name == in.ConsumerName {
			return &DescribeStreamConsumerOutput{ConsumerDescription: l.describeConsumer(in.StreamName, c)}, nil
		}
	}
	return nil, l.consumerNotFound(in.StreamName, in.ConsumerName)
}

// ListStreamConsumersInput is the input of ListStreamConsumers. Give
// StreamName on every page, and NextToken after the first.
type ListStreamConsumersInput struct {
	StreamName string
	NextToken  string // from the previous page
	MaxResults int    // 1-10000; zero means 100
}

// ListStreamConsumersOutput is one page of consumers, in name order.
type ListStreamConsumersOutput struct {
	Consumers []Consumer
	NextToken string // empty on the last page
}

// ListStreamConsumers lists a stream's consumers in name order, a page at
// a time.
func (l *Log) ListStreamConsumers(ctx context.Context, in ListStreamConsumersInput) (*ListStreamConsumersOutput, error) {
	streamName, maxResults := in.StreamName, in.MaxResults
	if maxResults == 0 {
		maxResults = 100
	}
	if maxResults < 1 || maxResults > 10000 {
		return nil, invalid("MaxResults", "%d is outside 1-10000", maxResults)
	}
	after := ""
	var streamID uint64
	if in.NextToken != "" {
		t, err := l.tokens.openPage(in.NextToken, "consumers", l.now())
		if err != nil {
			return nil, err
		}
		if t.Stream != streamName {
			return nil, invalid("NextToken", "was issued for another stream")
		}
		after, streamID = t.After, t.StreamID
	}
	s, err := l.stream(ctx, streamName)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	cs := slices.Clone(s.meta.Consumers)
	id := s.meta.ID
	s.mu.RUnlock()
	if streamID != 0 && streamID != id {
		return nil, notFound("stream %s was re-created since the token was issued", streamName)
	}
	slices.SortFunc(cs, func(a, b ConsumerMeta) int { return strings.Compare(a.Name, b.Name) })
	out := &ListStreamConsumersOutput{Consumers: []Consumer{}}
	for _, c := range cs {
		if c.Name <= after {
			continue
		}
		if len(out.Consumers) == maxResults {
			out.NextToken = l.tokens.sealPage(pageToken{Kind: "consumers", Stream: streamName, StreamID: id, After: out.Consumers[len(out.Consumers)-1].ConsumerName}, l.now())
			break
		}
		out.Consumers = append(out.Consumers, l.describeConsumer(streamName, c))
	}
	return out, nil
}
