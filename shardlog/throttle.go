package shardlog

import (
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens per second, holding at most burst.
// The read-bytes bucket may go negative: a read is admitted while it is
// positive and then charged what it returned, so reads average 2 MiB/s with
// a one-second burst, and a read larger than the burst is paid entirely
// from future budget: after a 10 MiB GetRecords reads are refused for 5 s,
// as Kinesis documents.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newBucket(rate, burst float64) bucket { return bucket{rate: rate, burst: burst, tokens: burst} }

func (b *bucket) refill(now time.Time) {
	if !b.last.IsZero() {
		if dt := now.Sub(b.last).Seconds(); dt > 0 {
			b.tokens = min(b.burst, b.tokens+dt*b.rate)
		}
	}
	b.last = now
}

// shardThrottle holds one shard's provisioned budgets.
type shardThrottle struct {
	mu         sync.Mutex
	writeBytes bucket
	writeRecs  bucket
	readBytes  bucket
	readCalls  bucket
}

func newShardThrottle() *shardThrottle {
	return &shardThrottle{
		writeBytes: newBucket(ShardWriteBytesPerSecond, ShardWriteBytesPerSecond),
		writeRecs:  newBucket(ShardWriteRecordsPerSecond, ShardWriteRecordsPerSecond),
		readBytes:  newBucket(ShardReadBytesPerSecond, ShardReadBytesPerSecond),
		readCalls:  newBucket(ShardReadCallsPerSecond, ShardReadCallsPerSecond),
	}
}

// takeWrite spends the budget of records records of size bytes in all, or
// reports false and spends nothing.
func (t *shardThrottle) takeWrite(now time.Time, records, size int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.writeBytes.refill(now)
	t.writeRecs.refill(now)
	if t.writeRecs.tokens < float64(records) || t.writeBytes.tokens < float64(size) {
		return false
	}
	t.writeRecs.tokens -= float64(records)
	t.writeBytes.tokens -= float64(size)
	return true
}

// takeRead admits one read call if the call and byte budgets allow it.
func (t *shardThrottle) takeRead(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.readCalls.refill(now)
	t.readBytes.refill(now)
	if t.readCalls.tokens < 1 || t.readBytes.tokens <= 0 {
		return false
	}
	t.readCalls.tokens--
	return true
}

// spendRead charges bytes returned by an admitted read.
func (t *shardThrottle) spendRead(size int) {
	t.mu.Lock()
	if float64(size) > t.readBytes.burst {
		t.readBytes.tokens = min(t.readBytes.tokens, 0)
	}
	t.readBytes.tokens -= float64(size)
	t.mu.Unlock()
}

// throttle returns the shard's budgets, or nil if the stream has
// provisioned limits off. Caller holds s.mu (read).
func (s *stream) throttle(shardID string) *shardThrottle {
	if !s.meta.ProvisionedLimits {
		return nil
	}
	s.throttleMu.Lock()
	defer s.throttleMu.Unlock()
	t := s.throttles[shardID]
	if t == nil {
		t = newShardThrottle()
		s.throttles[shardID] = t
	}
	return t
}
