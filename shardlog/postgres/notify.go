package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shoal-dev/shoal/shardlog"
)

// Notification payloads on the log's channel: "r/<stream>/<shard ID>" when
// a shard got records or was sealed, "m/<stream>" when a stream's metadata
// was stored or dropped. Stream names and shard IDs hold no '/'... and if a
// stream name did, the shard ID is still cut at the last one.
const (
	payloadRecords = "r/"
	payloadMeta    = "m/"
)

func waiterKey(stream, shardID string) string { return stream + "/" + shardID }

func recordsPayload(ref shardlog.ShardRef) string {
	return payloadRecords + waiterKey(ref.Stream, ref.ID)
}

// closedChan is what Notify returns once the engine is closed.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// startListening makes conn the listener's connection: LISTEN on the
// log's channel. Notifications sent after it returns reach the engine.
func (e *Engine) startListening(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{e.channel}.Sanitize()); err != nil {
		return wrap("listen", err)
	}
	e.listenerPID.Store(conn.PgConn().PID())
	return nil
}

// listen dispatches notifications until ctx is cancelled. When the
// connection is lost it reconnects, with backoff, and then wakes every
// Notify waiter and sends "" on Changes: what was notified while it was
// down is lost, so everyone re-checks.
func (e *Engine) listen(ctx context.Context, conn *pgx.Conn, probe time.Duration) {
	defer close(e.done)
	for {
		n, err := e.waitNotification(ctx, conn, probe)
		if err == nil {
			if n != nil {
				e.dispatch(n.Payload)
			}
			continue
		}
		_ = conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		e.log.Warn("postgres engine: listener connection lost; reconnecting", "schema", e.schema, "err", err)
		backoff := 20 * time.Millisecond
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			c, err := e.reconnectListener(ctx)
			if err == nil {
				conn = c
				break
			}
			if ctx.Err() != nil {
				return
			}
			e.log.Warn("postgres engine: listener reconnect failed", "schema", e.schema, "err", err, "retryIn", backoff)
			backoff = min(2*backoff, 5*time.Second)
		}
		e.log.Info("postgres engine: listener reconnected", "schema", e.schema)
		e.wakeAll()
		e.feed.Push("")
	}
}

// listenerProbe is how long the listener waits for a notification before
// it checks that its connection still works: a connection cut without a
// reset (a network partition) would otherwise wait for ever, deaf. A
// variable for tests.
var listenerProbe = 30 * time.Second

// waitNotification waits for the next notification, and returns nil and
// no error when, after probe without one, the connection answered a
// probe query.
func (e *Engine) waitNotification(ctx context.Context, conn *pgx.Conn, probe time.Duration) (*pgconn.Notification, error) {
	wctx, cancel := context.WithTimeout(ctx, probe)
	n, err := conn.WaitForNotification(wctx)
	cancel()
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return n, err
	}
	// A timeout leaves the connection usable: probe it.
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := conn.Exec(pctx, "SELECT 1"); err != nil {
		return nil, err
	}
	return nil, nil
}

func (e *Engine) reconnectListener(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, e.connCfg.Copy())
	if err != nil {
		return nil, err
	}
	if err := e.startListening(cctx, conn); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// dispatch handles one notification payload.
func (e *Engine) dispatch(payload string) {
	switch {
	case strings.HasPrefix(payload, payloadRecords):
		e.wake(payload[len(payloadRecords):])
	case strings.HasPrefix(payload, payloadMeta):
		name := payload[len(payloadMeta):]
		e.feed.Push(name)
		e.wakeStream(name) // a drop or reshard: tailing readers re-check
	default:
		e.log.Warn("postgres engine: unknown notification", "payload", payload)
	}
}

// wake closes the channel of the waiters of key, if any.
func (e *Engine) wake(key string) {
	e.mu.Lock()
	ch := e.waiters[key]
	delete(e.waiters, key)
	e.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// wakeStream wakes the waiters of every shard of the stream.
func (e *Engine) wakeStream(stream string) {
	prefix := stream + "/"
	e.mu.Lock()
	var woken []chan struct{}
	for k, ch := range e.waiters {
		if strings.HasPrefix(k, prefix) && !strings.Contains(k[len(prefix):], "/") {
			woken = append(woken, ch)
			delete(e.waiters, k)
		}
	}
	e.mu.Unlock()
	for _, ch := range woken {
		close(ch)
	}
}

// wakeAll wakes every waiter.
func (e *Engine) wakeAll() {
	e.mu.Lock()
	all := e.waiters
	if !e.closed {
		e.waiters = make(map[string]chan struct{})
	}
	e.mu.Unlock()
	if all == nil {
		return
	}
	for _, ch := range all {
		close(ch)
	}
}

// notifyRecheck bounds how long a Notify channel stays open: it is closed
// after that long even if no notification came, so that a reader re-checks
// the shard. An engine that dies between an append's COMMIT and the NOTIFY
// it sends afterwards leaves its appends unannounced; readers find them
// then. A variable for tests.
var notifyRecheck = time.Second

// Notify returns a channel closed when the shard next gets records or is
// sealed, by this engine or by any other on the same log (through
// LISTEN/NOTIFY), and also when the listener reconnected (a wake-up may
// have been missed, so the waiter re-checks), when the stream was dropped,
// and at the latest after notifyRecheck (one second), so that a reader
// re-checks even if a notification was lost. After Close it returns a
// closed channel.
func (e *Engine) Notify(ref shardlog.ShardRef) <-chan struct{} {
	key := waiterKey(ref.Stream, ref.ID)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return closedChan
	}
	ch := e.waiters[key]
	if ch == nil {
		ch = make(chan struct{})
		e.waiters[key] = ch
		time.AfterFunc(notifyRecheck, func() { e.wakeChan(key, ch) })
	}
	return ch
}

// wakeChan closes ch if it is still the channel of the waiters of key.
func (e *Engine) wakeChan(key string, ch chan struct{}) {
	e.mu.Lock()
	mine := e.waiters[key] == ch
	if mine {
		delete(e.waiters, key)
	}
	e.mu.Unlock()
	if mine {
		close(ch)
	}
}

// notifier sends the wake-ups of committed appends, after their COMMIT
// and outside their transaction: PostgreSQL serializes the commits of
// transactions that notify, under one lock for the whole server held
// through the commit's WAL flush, so a NOTIFY inside the append would
// queue every append of the server behind each other's flush (and hold
// the shard's row lock meanwhile). A NOTIFY on its own writes nothing to
// wait for, so it holds that lock briefly. The wake-ups are coalesced:
// every shard that got records since the last send is named once in the
// next, one statement for all of them.
type notifier struct {
	e       *Engine
	mu      sync.Mutex
	pending []string
	queued  map[string]bool
	signal  chan struct{}
	quit    chan struct{}
	stopped chan struct{}
}

func newNotifier(e *Engine) *notifier {
	n := &notifier{
		e:       e,
		queued:  make(map[string]bool),
		signal:  make(chan struct{}, 1),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go n.run()
	return n
}

// notifyLater queues the payload for the next send.
func (e *Engine) notifyLater(payload string) {
	n := e.notifier
	n.mu.Lock()
	if !n.queued[payload] {
		n.queued[payload] = true
		n.pending = append(n.pending, payload)
	}
	n.mu.Unlock()
	select {
	case n.signal <- struct{}{}:
	default:
	}
}

func (n *notifier) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.pending
	n.pending = nil
	clear(n.queued)
	return p
}

func (n *notifier) run() {
	defer close(n.stopped)
	for {
		select {
		case <-n.signal:
		case <-n.quit:
			n.send(n.take()) // what is queued at Close
			return
		}
		n.send(n.take())
	}
}

// send notifies the payloads in one statement. A failure is logged:
// readers in other processes re-check within notifyRecheck anyway.
func (n *notifier) send(payloads []string) {
	if len(payloads) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := n.e.pool.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, n.e.channel, payloads); err != nil {
		n.e.log.Warn("postgres engine: NOTIFY after commit failed; other processes' readers re-check within a second",
			"schema", n.e.schema, "shards", len(payloads), "err", err)
	}
}

func (n *notifier) close() {
	close(n.quit)
	<-n.stopped
}

// Changes returns the engine's change feed (shardlog.SharedEngine): the
// name of a stream whose metadata any engine on the log stored or dropped,
// and "" after the listener reconnected or the reader fell far behind. It
// is closed by Close.
func (e *Engine) Changes() <-chan string { return e.feed.Channel() }
