package shardlog

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Log is a set of streams with Kinesis Data Streams semantics over an
// Engine. It is safe for concurrent use. Open it with Open and Close it when
// done.
type Log struct {
	engine Engine
	shared SharedEngine // engine, when other Logs may share it; else nil
	// refreshMu serializes loads of shared metadata with their installs
	// (shared_log.go).
	refreshMu sync.Mutex
	// refreshReq queues names for the watcher to reload (refreshQuietly).
	refreshReq chan string
	now        func() time.Time
	logger     *slog.Logger
	tokens     tokenSigner
	region     string
	account    string
	limits     AccountLimits
	quotaMu    sync.Mutex // held by operations that grow the account's use (account_limits.go)

	mu      sync.RWMutex // guards streams and closed
	streams map[string]*stream
	closed  bool

	holdMu sync.RWMutex              // guards holds
	holds  map[string]*retentionHold // retention holds by stream name (retention_hold.go)

	cancel context.CancelFunc // stops the retention janitor
	wg     sync.WaitGroup
}

// Option configures a Log.
type Option func(*options)

type options struct {
	clock             func() time.Time
	logger            *slog.Logger
	secret            []byte
	retentionInterval time.Duration
	region, account   string
	accountLimits     AccountLimits
}

// WithClock sets the clock the Log reads for arrival times, iterator and
// token expiry, retention and throughput budgets. Tests inject a fake one.
// Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithLogger sets the structured logger. Default, and when l is nil:
// discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTokenSecret sets the key that signs shard iterators and pagination
// tokens, so that tokens stay valid across a restart. Default: a random key
// per Open (tokens issued before a restart are then refused).
func WithTokenSecret(secret []byte) Option {
	return func(o *options) { o.secret = slices.Clone(secret) }
}

// WithRetentionInterval sets how often the Log trims records past retention
// and drops expired shards in the background. Zero disables the janitor
// (call EnforceRetention yourself). Default: one minute.
func WithRetentionInterval(d time.Duration) Option {
	return func(o *options) { o.retentionInterval = d }
}

// WithARNScope sets the region and account ID used in stream and consumer
// ARNs. Default: "us-east-1" and "000000000000".
func WithARNScope(region, account string) Option {
	return func(o *options) { o.region, o.account = region, account }
}

// Open opens a Log over engine, loading every stream's metadata.
func Open(ctx context.Context, engine Engine, opts ...Option) (*Log, error) {
	o := options{
		clock:             time.Now,
		logger:            slog.New(slog.DiscardHandler),
		retentionInterval: time.Minute,
		region:            "us-east-1",
		account:           "000000000000",
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.clock == nil {
		o.clock = time.Now
	}
	if o.accountLimits.Shards < 0 || o.accountLimits.OnDemandStreams < 0 {
		return nil, fmt.Errorf("%w: account limits %+v: a limit is negative (zero means unlimited)", ErrInvalidArgument, o.accountLimits)
	}
	if len(o.secret) == 0 {
		o.secret = make([]byte, 32)
		if _, err := rand.Read(o.secret); err != nil {
			return nil, fmt.Errorf("shardlog: token secret: %w", err)
		}
	}
	metas, err := engine.LoadStreams(ctx)
	if err != nil {
		return nil, engineError(err, "load streams")
	}
	l := &Log{
		engine:  engine,
		now:     o.clock,
		logger:  o.logger,
		tokens:  tokenSigner{key: o.secret},
		region:  o.region,
		account: o.account,
		limits:  o.accountLimits,
		streams: make(map[string]*stream, len(metas)),
		holds:   map[string]*retentionHold{},
	}
	for _, m := range metas {
		// Shards the metadata calls closed need no seal from the engine:
		// the Log routes appends only to open shards.
		l.streams[m.Name] = newStream(m, o.account)
	}
	jctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	if se, ok := engine.(SharedEngine); ok {
		l.shared = se
		l.refreshReq = make(chan string, 64)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.watchShared(jctx)
		}()
	}
	if o.retentionInterval > 0 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.janitor(jctx, o.retentionInterval)
		}()
	}
	return l, nil
}

// Close stops background work and closes the engine. Calls after Close
// return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	// A copy: a DeleteStream in flight still removes its stream from the
	// map after Close has begun.
	streams := make([]*stream, 0, len(l.streams))
	for _, s := range l.streams {
		streams = append(streams, s)
	}
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	for _, s := range streams {
		s.endSubscriptions(ErrClosed)
	}
	if err := l.engine.Close(); err != nil {
		return engineError(err, "close engine")
	}
	return nil
}

// stream returns the named stream or ErrResourceNotFound.
func (l *Log) stream(ctx context.Context, name string) (*stream, error) {
	if err := validateStreamName("StreamName", name); err != nil {
		return nil, err
	}
	l.mu.RLock()
	closed := l.closed
	s, ok := l.streams[name]
	l.mu.RUnlock()
	switch {
	case closed:
		return nil, ErrClosed
	case ok:
		return s, nil
	case l.shared != nil:
		return l.lookupShared(ctx, name) // another Log may have created it
	}
	return nil, streamNotFound(name, l.account)
}

// horizon returns the oldest arrival time still readable in the stream:
// within its retention period, and not expired before a retention increase.
func (l *Log) horizon(m *StreamMeta) time.Time {
	h := l.now().Add(-time.Duration(m.RetentionHours) * time.Hour)
	if h.Before(m.ExpiredBefore) {
		return m.ExpiredBefore
	}
	return h
}

// StreamARN returns the ARN of a stream as AWS formats it.
func (l *Log) StreamARN(name string) string {
	return fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", l.region, l.account, name)
}

// stream is the in-memory state of one stream.
type stream struct {
	name    string
	account string // for error messages

	mu      sync.RWMutex   // guards meta, open, deleted, broken, subs, trimmedThrough
	writers sync.WaitGroup // appends in flight; Add only under mu with !deleted
	meta    StreamMeta
	open    []int // indexes into meta.Shards of open shards, by starting hash key
	deleted bool
	broken  error // set when a failed reshard left shards sealed: writes fail until reopen
	subs    map[subscriptionKey]*subscriptionState
	// trimmedThrough bounds, per shard, the records this Log's trims
	// removed: none after it (retention_hold.go). Absent: unknown.
	trimmedThrough map[string]SequenceNumber

	// openShards and onDemand mirror len(open) and meta.Mode for quota
	// checks that must not take mu (account_limits.go).
	openShards atomic.Int64
	onDemand   atomic.Bool

	throttleMu sync.Mutex // guards throttles
	throttles  map[string]*shardThrottle
}

func newStream(m StreamMeta, account string) *stream {
	s := &stream{name: m.Name, account: account, throttles: map[string]*shardThrottle{}, subs: map[subscriptionKey]*subscriptionState{}, trimmedThrough: map[string]SequenceNumber{}}
	s.setMeta(m)
	return s
}

// setMeta installs new metadata and rebuilds the routing table. The
// subscriptions of consumers it no longer has end (on a shared engine
// another Log may have deregistered them). Caller holds mu for writing (or
// owns s exclusively).
func (s *stream) setMeta(m StreamMeta) {
	s.endGoneConsumersLocked(m.Consumers)
	s.meta = m
	s.open = s.open[:0]
	for i := range m.Shards {
		if !m.Shards[i].Closed {
			s.open = append(s.open, i)
		}
	}
	slices.SortFunc(s.open, func(a, b int) int {
		return m.Shards[a].HashKeyRange.StartingHashKey.Compare(m.Shards[b].HashKeyRange.StartingHashKey)
	})
	s.openShards.Store(int64(len(s.open)))
	s.onDemand.Store(m.Mode == OnDemand)
}

// writableLocked returns why the stream takes no writes, or nil. Caller
// holds mu.
func (s *stream) writableLocked() error {
	if s.deleted {
		return s.notFound()
	}
	return s.broken
}

// route returns the open shard owning hash key h. Caller holds mu.
func (s *stream) route(h HashKey) *ShardMeta {
	i, _ := slices.BinarySearchFunc(s.open, h, func(idx int, k HashKey) int {
		r := s.meta.Shards[idx].HashKeyRange
		switch {
		case r.EndingHashKey.Compare(k) < 0:
			return -1
		case r.StartingHashKey.Compare(k) > 0:
			return 1
		}
		return 0
	})
	return &s.meta.Shards[s.open[i]]
}

// shard returns the shard with the given ID. Caller holds mu.
func (s *stream) shard(id string) (*ShardMeta, error) {
	for i := range s.meta.Shards {
		if s.meta.Shards[i].ID == id {
			return &s.meta.Shards[i], nil
		}
	}
	return nil, shardNotFound(id, s.name, s.account)
}

// children returns the shards whose parent or adjacent parent is id.
// Caller holds mu.
func (s *stream) children(id string) []ChildShard {
	var out []ChildShard
	for _, c := range s.meta.Shards {
		if c.ParentShardID == id || c.AdjacentParentShardID == id {
			parents := []string{c.ParentShardID}
			if c.AdjacentParentShardID != "" {
				parents = append(parents, c.AdjacentParentShardID)
			}
			out = append(out, ChildShard{ShardID: c.ID, ParentShards: parents, HashKeyRange: c.HashKeyRange})
		}
	}
	return out
}

// cloneMeta deep-copies stream metadata so a control operation can edit a
// copy and install it only once the engine has saved it.
func cloneMeta(m StreamMeta) StreamMeta {
	c := m
	if m.Tags != nil {
		c.Tags = make(map[string]string, len(m.Tags))
		for k, v := range m.Tags {
			c.Tags[k] = v
		}
	}
	c.Shards = slices.Clone(m.Shards)
	c.Consumers = slices.Clone(m.Consumers)
	c.ScalingEvents = slices.Clone(m.ScalingEvents)
	c.ModeChanges = slices.Clone(m.ModeChanges)
	c.EnhancedMonitoring = slices.Clone(m.EnhancedMonitoring)
	c.EncryptionKeyIDs = slices.Clone(m.EncryptionKeyIDs)
	return c
}

// sealFunc seals a shard for a metadata update: Engine.Seal on a
// single-owner engine, MetaTx.Seal on a shared one.
type sealFunc func(ctx context.Context, shard ShardRef) (SequenceNumber, error)

// update runs fn on a copy of the stream's metadata under the stream's write
// lock, saves the result and installs it.
func (l *Log) update(ctx context.Context, s *stream, fn func(m *StreamMeta) error) error {
	return l.updateTx(ctx, s, func(m *StreamMeta, _ sealFunc) error { return fn(m) })
}

// updateTx is update for a function that seals shards.
func (l *Log) updateTx(ctx context.Context, s *stream, fn func(m *StreamMeta, seal sealFunc) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return l.updateTxLocked(ctx, s, fn)
}

func (l *Log) updateLocked(ctx context.Context, s *stream, fn func(m *StreamMeta) error) error {
	return l.updateTxLocked(ctx, s, func(m *StreamMeta, _ sealFunc) error { return fn(m) })
}

// updateTxLocked is updateTx with s.mu held for writing. On a shared engine
// fn runs on the stored metadata (updateShared); on a single-owner one, on
// the Log's copy, which is the truth.
func (l *Log) updateTxLocked(ctx context.Context, s *stream, fn func(m *StreamMeta, seal sealFunc) error) error {
	if s.deleted {
		return s.notFound()
	}
	if l.shared != nil {
		return l.updateShared(ctx, s, fn)
	}
	m := cloneMeta(s.meta)
	m.Revision++
	err := fn(&m, l.engine.Seal)
	if err == nil {
		if err = l.engine.SaveStream(ctx, m); err != nil {
			err = engineError(err, "save stream %s", s.name)
		}
	}
	if err != nil {
		if sealedUnsaved(&s.meta, &m) {
			// The engine sealed shards that the saved metadata still calls
			// open: no put can reach them until the Log is reopened (a seal
			// does not outlive the engine; the saved metadata does).
			s.broken = fmt.Errorf("%w: stream %s is stuck UPDATING: a reshard sealed shards but did not complete (%v); reopen the log",
				ErrResourceInUse, s.name, err)
			l.logger.Error("shardlog: reshard failed after sealing shards", "stream", s.name, "err", err)
		}
		return err
	}
	s.setMeta(m)
	return nil
}

// sealedUnsaved reports whether next closes a shard that cur has open.
func sealedUnsaved(cur, next *StreamMeta) bool {
	open := make(map[string]bool, len(cur.Shards))
	for _, sm := range cur.Shards {
		open[sm.ID] = !sm.Closed
	}
	for _, sm := range next.Shards {
		if sm.Closed && open[sm.ID] {
			return true
		}
	}
	return false
}

// within24h keeps the events of the last 24 hours.
func within24h(events []time.Time, now time.Time) []time.Time {
	cut := now.Add(-24 * time.Hour)
	return slices.DeleteFunc(events, func(t time.Time) bool { return !t.After(cut) })
}

func shardID(index uint32) string {
	if int(index) < len(shardIDs) {
		return shardIDs[index]
	}
	return fmt.Sprintf("shardId-%012d", index)
}

// shardIDs holds the IDs of the first shards, which readers name for
// every record (SequenceNumber.ShardID).
var shardIDs = func() (ids [1024]string) {
	for i := range ids {
		ids[i] = fmt.Sprintf("shardId-%012d", i)
	}
	return ids
}()
