package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/internal/changefeed"
)

// Engine is a shardlog.SharedEngine on PostgreSQL. All methods are safe for
// concurrent use; any number of Engines, in any number of processes, may
// open the same schema at once.
type Engine struct {
	pool     *pgxpool.Pool
	ownPool  bool
	connCfg  *pgx.ConnConfig // of the listener's dedicated connection
	schema   string
	q        string // the schema, quoted
	channel  string // the LISTEN/NOTIFY channel of the log
	span     int64  // positions per records partition
	dropWait time.Duration
	log      *slog.Logger
	// copyInsert makes Append insert with COPY instead of a multi-row
	// INSERT (for the measurement that chose the INSERT).
	copyInsert bool

	mu      sync.Mutex
	closed  bool
	waiters map[string]chan struct{} // by waiterKey; closed and removed on wake
	parts   map[int64]bool           // records partitions known to exist

	preparing  bool           // prepareNext is creating a partition
	background sync.WaitGroup // prepareNext's goroutine

	qmu    sync.Mutex
	queues map[shardlog.ShardRef]*shardQueue // appends by shard (group commit)

	notifier *notifier // sends the wake-ups of committed appends

	feed        changefeed.Feed
	cancel      context.CancelFunc
	done        chan struct{} // closed when the listener has stopped
	listenerPID atomic.Uint32 // backend PID of the listener's connection
}

var (
	_ shardlog.Engine       = (*Engine)(nil)
	_ shardlog.SharedEngine = (*Engine)(nil)
)

// Open connects to the PostgreSQL server at url (a pgx connection string),
// creates or migrates the log's schema and returns the engine. If
// opts.Pool is set, url is not used: the engine queries through the pool
// and opens its listener connection from the pool's configuration. A pool
// opened from url has pgxpool's default size unless url sets
// pool_max_conns; many concurrent producers want more.
//
// Open fails with a *SchemaVersionError if the schema was written by a
// newer version of this package, and with an error wrapping
// shardlog.ErrInternalFailure if the server cannot be reached.
func Open(ctx context.Context, url string, opts Options) (*Engine, error) {
	opts = opts.withDefaults()
	e := &Engine{
		schema:   opts.Schema,
		q:        pgx.Identifier{opts.Schema}.Sanitize(),
		channel:  channelName(opts.Schema),
		span:     opts.PartitionSpan.Microseconds(),
		dropWait: opts.DropLockTimeout,
		log:      opts.Logger,
		waiters:  make(map[string]chan struct{}),
		parts:    make(map[int64]bool),
		queues:   make(map[shardlog.ShardRef]*shardQueue),
		done:     make(chan struct{}),
	}
	if opts.Pool != nil {
		e.pool = opts.Pool
		e.connCfg = opts.Pool.Config().ConnConfig.Copy()
	} else {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			return nil, fmt.Errorf("postgres engine: %w: parse url: %w", shardlog.ErrInvalidArgument, err)
		}
		e.connCfg = cfg.ConnConfig.Copy()
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, wrap("open pool", err)
		}
		e.pool, e.ownPool = pool, true
	}

	conn, err := pgx.ConnectConfig(ctx, e.connCfg.Copy())
	if err != nil {
		e.closePool()
		return nil, wrap("connect", err)
	}
	if err := migrate(ctx, conn, e.schema); err != nil {
		_ = conn.Close(context.Background())
		e.closePool()
		return nil, err
	}
	if err := e.startListening(ctx, conn); err != nil {
		_ = conn.Close(context.Background())
		e.closePool()
		return nil, err
	}
	if err := e.loadPartitions(ctx); err != nil {
		_ = conn.Close(context.Background())
		e.closePool()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.notifier = newNotifier(e)
	go e.listen(lctx, conn, listenerProbe)
	return e, nil
}

// channelName is the NOTIFY channel of the log in schema: at most 63 bytes,
// the longest identifier PostgreSQL keeps.
func channelName(schema string) string {
	name := "shoal_log." + schema
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(schema))
	return "shoal_log." + hex.EncodeToString(sum[:16])
}

func (e *Engine) closePool() {
	if e.ownPool {
		e.pool.Close()
	}
}

// Schema returns the PostgreSQL schema of the log.
func (e *Engine) Schema() string { return e.schema }

// isClosed reports whether Close was called.
func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// Close stops the listener, wakes every Notify waiter, closes the Changes
// channel and, if the engine opened its pool, the pool. Later calls, except
// Close, Notify and Changes, return an error wrapping shardlog.ErrClosed.
// Closing twice is not an error.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	waiters := e.waiters
	e.waiters = nil
	e.mu.Unlock()

	for _, ch := range waiters {
		close(ch)
	}
	e.cancel()
	<-e.done
	e.background.Wait()
	e.notifier.close()
	e.feed.Close()
	e.closePool()
	return nil
}
