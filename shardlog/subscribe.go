package shardlog

import (
	"context"
	"io"
	"slices"
	"sync"
	"time"
)

// SubscriptionHeartbeat is how long Subscription.Next waits for records
// before returning an empty event, so a consumer always has a fresh
// continuation sequence number (Kinesis sends one every few seconds).
const SubscriptionHeartbeat = 5 * time.Second

// SubscribeToShardEvent is one push of a subscription.
type SubscribeToShardEvent struct {
	Records []Record
	// ContinuationSequenceNumber is the position to resubscribe after
	// (AFTER_SEQUENCE_NUMBER) to continue with no gap or repeat: the last
	// record delivered, or the position just before the start if none was.
	// It is zero only when nothing precedes the start of shard 0.
	ContinuationSequenceNumber SequenceNumber
	MillisBehindLatest         int64
	// ChildShards is set on the last event of a closed shard.
	ChildShards []ChildShard
}

// SubscribeToShardInput is the input of SubscribeToShard.
type SubscribeToShardInput struct {
	ConsumerARN      string
	ShardID          string
	StartingPosition StartingPosition
}

type subscriptionKey struct{ consumer, shard string }

type subscriptionState struct {
	started time.Time
	current *Subscription
}

// Subscription pushes a shard's records to one enhanced fan-out consumer as
// they are appended. It lasts SubscriptionLifetime; then Next returns
// io.EOF and the consumer subscribes again from the continuation number.
type Subscription struct {
	log      *Log
	s        *stream
	key      subscriptionKey
	shardID  string
	from     SequenceNumber
	deadline time.Time // on the Log's clock

	mu       sync.Mutex
	endErr   error         // set when ended by a takeover, deregistration or Close
	ended    chan struct{} // closed with endErr
	finished bool          // the last event of a closed shard was sent
}

// SubscribeToShard starts pushing a shard's records to a registered
// consumer. Another subscription of the same consumer and shard within
// ResubscribeGuard of a successful one is refused (ErrResourceInUse); a
// later one takes over, and the older one's Next returns ErrResourceInUse.
func (l *Log) SubscribeToShard(ctx context.Context, in SubscribeToShardInput) (*Subscription, error) {
	streamName, consumerName, created, err := ParseConsumerARN(in.ConsumerARN)
	if err != nil {
		return nil, err
	}
	s, err := l.stream(ctx, streamName)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	found := false
	for _, c := range s.meta.Consumers {
		if c.Name == consumerName && c.CreatedAt.Unix() == created.Unix() {
			found = true
		}
	}
	s.mu.RUnlock()
	if !found {
		return nil, l.consumerNotFound(streamName, consumerName)
	}
	from, err := l.resolve(ctx, s, in.ShardID, in.StartingPosition)
	if err != nil {
		return nil, err
	}
	now := l.now()
	key := subscriptionKey{consumerName, in.ShardID}
	sub := &Subscription{log: l, s: s, key: key, shardID: in.ShardID, from: from, deadline: now.Add(SubscriptionLifetime), ended: make(chan struct{})}

	s.mu.Lock()
	if s.deleted {
		s.mu.Unlock()
		return nil, s.notFound()
	}
	st := s.subs[key]
	if st != nil && now.Sub(st.started) < ResubscribeGuard {
		s.mu.Unlock()
		return nil, inUse("consumer %s subscribed to %s %s ago; wait %s between subscriptions", consumerName, in.ShardID, now.Sub(st.started).Round(time.Millisecond), ResubscribeGuard)
	}
	var old *Subscription
	if st != nil {
		old = st.current
	}
	s.subs[key] = &subscriptionState{started: now, current: sub}
	s.mu.Unlock()
	if old != nil {
		old.end(inUse("subscription of consumer %s to %s was taken over by a newer one", consumerName, in.ShardID))
	}
	return sub, nil
}

// Next blocks until records arrive, the heartbeat passes (an empty event),
// or the shard's end is reached (the event carries ChildShards). After the
// last event, and once the subscription's lifetime is over, it returns
// io.EOF. It returns ErrResourceInUse if a newer subscription took over, and
// ErrResourceNotFound if the consumer or stream went away.
func (sub *Subscription) Next(ctx context.Context) (*SubscribeToShardEvent, error) {
	heartbeat := time.NewTimer(SubscriptionHeartbeat)
	defer heartbeat.Stop()
	for {
		if err := sub.endedErr(); err != nil {
			return nil, err
		}
		if !sub.log.now().Before(sub.deadline) {
			return nil, io.EOF
		}
		r, err := sub.log.readShard(ctx, sub.s, sub.shardID, sub.from, MaxGetRecordsLimit, ShardReadBytesPerSecond, false)
		if err != nil {
			return nil, err
		}
		sub.from = r.next
		if len(r.records) > 0 || r.end {
			if r.end {
				sub.mu.Lock()
				sub.finished = true
				sub.mu.Unlock()
			}
			return sub.event(r), nil
		}
		waitCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sub.log.waitShard(waitCtx, sub.s, sub.shardID, sub.from) }()
		select {
		case err := <-done:
			cancel()
			if err != nil {
				return nil, err
			}
		case <-heartbeat.C:
			cancel()
			<-done
			return sub.event(r), nil
		case <-sub.ended:
			cancel()
			<-done
		case <-ctx.Done():
			cancel()
			<-done
			return nil, ctx.Err()
		}
	}
}

func (sub *Subscription) event(r shardRead) *SubscribeToShardEvent {
	ev := &SubscribeToShardEvent{Records: r.records, MillisBehindLatest: r.millisBehind, ChildShards: r.children}
	switch {
	case len(r.records) > 0:
		ev.ContinuationSequenceNumber = r.records[len(r.records)-1].SequenceNumber
	case r.next.pos > 0:
		ev.ContinuationSequenceNumber = MakeSequenceNumber(r.next.pos-1, indexOf(sub.shardID))
	default:
		ev.ContinuationSequenceNumber = MakeSequenceNumber(0, indexOf(sub.shardID))
	}
	if r.end && ev.ChildShards == nil {
		ev.ChildShards = []ChildShard{}
	}
	return ev
}

func indexOf(id string) uint32 { i, _ := parseShardID(id); return i }

func (sub *Subscription) endedErr() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.endErr != nil {
		return sub.endErr
	}
	if sub.finished {
		return io.EOF
	}
	return nil
}

func (sub *Subscription) end(err error) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.endErr == nil {
		sub.endErr = err
		close(sub.ended)
	}
}

// StreamName returns the name of the stream the subscription reads.
func (sub *Subscription) StreamName() string { return sub.s.name }

// ShardID returns the shard the subscription reads.
func (sub *Subscription) ShardID() string { return sub.key.shard }

// Close ends the subscription; Next then returns io.EOF.
func (sub *Subscription) Close() error {
	sub.end(io.EOF)
	sub.s.mu.Lock()
	if st := sub.s.subs[sub.key]; st != nil && st.current == sub {
		st.current = nil
	}
	sub.s.mu.Unlock()
	return nil
}

// endSubscriptions ends every subscription of the stream with err.
func (s *stream) endSubscriptions(err error) {
	s.mu.Lock()
	subs := make([]*Subscription, 0, len(s.subs))
	for _, st := range s.subs {
		if st.current != nil {
			subs = append(subs, st.current)
		}
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.end(err)
	}
}

// endGoneConsumersLocked ends the subscriptions of the consumers that the
// stream's metadata has and next lacks (deregistered, or registered again
// under the same name). Caller holds s.mu for writing.
func (s *stream) endGoneConsumersLocked(next []ConsumerMeta) {
	for _, c := range s.meta.Consumers {
		if slices.ContainsFunc(next, func(n ConsumerMeta) bool { return n.Name == c.Name && n.CreatedAt.Unix() == c.CreatedAt.Unix() }) {
			continue
		}
		for k, st := range s.subs {
			if k.consumer == c.Name {
				if st.current != nil {
					st.current.end(notFound("consumer %s was deregistered", c.Name))
				}
				delete(s.subs, k)
			}
		}
	}
}

// endConsumerSubscriptions ends the subscriptions of one consumer.
func (s *stream) endConsumerSubscriptions(consumer string) {
	s.mu.Lock()
	var subs []*Subscription
	for k, st := range s.subs {
		if k.consumer == consumer {
			if st.current != nil {
				subs = append(subs, st.current)
			}
			delete(s.subs, k)
		}
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.end(notFound("consumer %s was deregistered", consumer))
	}
}
