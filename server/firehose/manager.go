package firehose

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/internal/durable"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
)

// DefaultStreamLimit is the number of delivery streams an account may
// have, as Firehose's default quota.
const DefaultStreamLimit = 50

// DefaultStopTimeout bounds how long a delivery stream's graceful stop
// (delivering what it buffered) is waited for on delete or Close.
const DefaultStopTimeout = 30 * time.Second

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	// Dir holds the Manager's state: streams.json (the configurations),
	// log/ (the file engine of DirectPut streams' backing streams),
	// checkpoints/ and, for the default object stores, objects/BUCKET/.
	// Required.
	Dir string
	// Kinesis is the Log whose streams KinesisStreamAsSource delivery
	// streams read; nil: such streams are refused.
	Kinesis *shardlog.Log
	// Region and Account scope delivery stream ARNs (zero: us-east-1 and
	// 000000000000).
	Region, Account string
	// StreamLimit is the number of delivery streams allowed (zero:
	// DefaultStreamLimit; negative: unlimited).
	StreamLimit int
	// Objects returns the object store of an S3 bucket; nil: a filesystem
	// store in Dir/objects/BUCKET.
	Objects func(ctx context.Context, bucket string) (delivery.ObjectStore, error)
	// Archive returns the PostgreSQL archive destination of a Redshift
	// destination: a connection string and a table, and what to close
	// when the stream stops; nil: PostgresArchive.
	Archive func(ctx context.Context, dsn, table string) (delivery.Destination, io.Closer, error)
	// ArchiveDSN is the PostgreSQL connection string of a Redshift
	// destination whose ClusterJDBCURL is empty; empty: such a
	// destination is refused.
	ArchiveDSN string
	// Metrics receives every delivery stream's metrics; nil: none.
	Metrics delivery.Recorder
	// StopTimeout bounds a stream's graceful stop (zero:
	// DefaultStopTimeout).
	StopTimeout time.Duration
	// Now is the clock of timestamps and of the delivery streams (nil:
	// time.Now).
	Now func() time.Time
	// Logger; nil: slog.Default().
	Logger *slog.Logger

	// newRuntime makes a stream's runtime (nil: delivery.New); tests
	// replace it.
	newRuntime func(delivery.Config) (runtime, error)
}

// runtime is what the Manager needs of a delivery.Stream.
type runtime interface {
	Run(ctx context.Context) error
	PutRecord(ctx context.Context, data []byte) (string, error)
	PutRecordBatch(ctx context.Context, records [][]byte) (*delivery.PutRecordBatchOutput, error)
}

// Manager keeps the delivery streams: their configurations, persisted in
// Dir/streams.json and restored by OpenManager, and their runtimes. It is
// safe for concurrent use.
type Manager struct {
	opts    ManagerOptions
	log     *shardlog.Log // DirectPut backing streams
	cps     *projection.FileStore
	logger  *slog.Logger
	runCtx  context.Context // parent of the runtimes' contexts
	stopAll context.CancelFunc

	mu       sync.Mutex
	streams  map[string]*entry
	deleting map[string]bool // names whose deletion is cleaning up
	closed   bool
}

// entry is one delivery stream: its configuration and runtime.
type entry struct {
	cfg      *streamConfig
	rt       runtime
	cancel   context.CancelFunc
	done     chan struct{}
	closers  []io.Closer
	runErr   error // what Run returned, if it did with an error (Manager.mu)
	startErr error // why the runtime could not start after a restart
	// busy is "creating" or "updating" while a create or an
	// UpdateDestination opens the destination or waits for the old
	// runtime to stop without Manager.mu (Manager.mu).
	busy string
	// puts is read-locked by puts in flight; a delete write-locks it
	// before it removes the backing stream, so that no put can recreate
	// it. It is shared by the entries that replace one another on
	// UpdateDestination.
	puts *sync.RWMutex
}

// streamsFile is the document of streams.json.
type streamsFile struct {
	Streams []*streamConfig `json:"streams"`
}

// OpenManager opens (creating if needed) the Manager's directory, restores
// the delivery streams it keeps and starts them. A stream that cannot
// start (its destination unreachable, say) is kept and described with a
// FailureDescription; deleting it is always possible.
func OpenManager(ctx context.Context, opts ManagerOptions) (*Manager, error) {
	if opts.Dir == "" {
		return nil, errors.New("firehose: ManagerOptions.Dir is required")
	}
	opts.Region = cmp.Or(opts.Region, "us-east-1")
	opts.Account = cmp.Or(opts.Account, "000000000000")
	if opts.StreamLimit == 0 {
		opts.StreamLimit = DefaultStreamLimit
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := cmp.Or(opts.Logger, slog.Default())
	if opts.newRuntime == nil {
		opts.newRuntime = func(c delivery.Config) (runtime, error) { return delivery.New(c) }
	}
	if opts.Archive == nil {
		opts.Archive = PostgresArchive
	}
	if err := durable.EnsureDir(opts.Dir); err != nil {
		return nil, fmt.Errorf("firehose: %w", err)
	}
	var doc streamsFile
	switch b, err := os.ReadFile(filepath.Join(opts.Dir, "streams.json")); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("firehose: %w", err)
	default:
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("firehose: %s: %w", filepath.Join(opts.Dir, "streams.json"), err)
		}
	}
	eng, err := file.Open(filepath.Join(opts.Dir, "log"), file.WithSync(file.SyncAlways), file.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("firehose: %w", err)
	}
	log, err := shardlog.Open(ctx, eng, shardlog.WithLogger(logger), shardlog.WithClock(opts.Now),
		shardlog.WithARNScope(opts.Region, opts.Account))
	if err != nil {
		_ = eng.Close()
		return nil, fmt.Errorf("firehose: %w", err)
	}
	cps, err := projection.OpenFileStore(filepath.Join(opts.Dir, "checkpoints"))
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("firehose: %w", err)
	}
	runCtx, stopAll := context.WithCancel(context.WithoutCancel(ctx))
	m := &Manager{opts: opts, log: log, cps: cps, logger: logger, runCtx: runCtx, stopAll: stopAll,
		streams: map[string]*entry{}, deleting: map[string]bool{}}
	for _, cfg := range doc.Streams {
		e, err := m.start(ctx, cfg)
		if err != nil {
			logger.Error("firehose: delivery stream cannot start", "delivery_stream", cfg.Name, "err", err)
			e = &entry{cfg: cfg, startErr: err, puts: new(sync.RWMutex)}
		}
		m.streams[cfg.Name] = e
	}
	return m, nil
}

// Log is the Log of DirectPut streams' backing streams.
func (m *Manager) Log() *shardlog.Log { return m.log }

// Close stops every delivery stream gracefully (each delivers what it
// buffered, within StopTimeout), then closes the backing Log and the
// checkpoints. The configurations stay for the next OpenManager.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	entries := make([]*entry, 0, len(m.streams))
	for _, e := range m.streams {
		entries = append(entries, e)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range entries {
		wg.Go(func() { m.stop(e) })
	}
	wg.Wait()
	m.stopAll()
	return errors.Join(m.cps.Close(), m.log.Close())
}

// start builds cfg's runtime and runs it.
func (m *Manager) start(ctx context.Context, cfg *streamConfig) (*entry, error) {
	e := &entry{cfg: cfg, done: make(chan struct{}), puts: new(sync.RWMutex)}
	dc, closers, err := m.deliveryConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.closers = closers
	rt, err := m.opts.newRuntime(dc)
	if err != nil {
		closeAll(closers)
		return nil, wireError(err)
	}
	e.rt = rt
	runCtx, cancel := context.WithCancel(m.runCtx)
	e.cancel = cancel
	go func() {
		defer close(e.done)
		err := rt.Run(runCtx)
		if err != nil && !errors.Is(err, context.Canceled) {
			m.logger.Error("firehose: delivery stream stopped", "delivery_stream", cfg.Name, "err", err)
			m.mu.Lock()
			e.runErr = err
			m.mu.Unlock()
		}
	}()
	return e, nil
}

// stop stops e's runtime gracefully and releases its destination.
func (m *Manager) stop(e *entry) {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case <-e.done:
	case <-time.After(m.opts.StopTimeout):
		m.logger.Warn("firehose: delivery stream did not stop in time; what it buffered is delivered again from its checkpoint on the next start",
			"delivery_stream", e.cfg.Name, "timeout", m.opts.StopTimeout)
	}
	closeAll(e.closers)
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		_ = c.Close()
	}
}

// save persists the configurations (m.mu held).
func (m *Manager) save() error {
	doc := streamsFile{Streams: make([]*streamConfig, 0, len(m.streams))}
	for _, e := range m.streams {
		if e.busy == "creating" {
			continue // saved once it runs
		}
		doc.Streams = append(doc.Streams, e.cfg)
	}
	slices.SortFunc(doc.Streams, func(a, b *streamConfig) int { return cmp.Compare(a.Name, b.Name) })
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(m.opts.Dir, "streams.json")
	if err := durable.ReplaceFile(path, path+".tmp", b, durable.FileMode); err != nil {
		return fmt.Errorf("firehose: save %s: %w", path, err)
	}
	return durable.SyncDirPath(m.opts.Dir)
}

// arn is a delivery stream's ARN.
func (m *Manager) arn(name string) string {
	return fmt.Sprintf("arn:aws:firehose:%s:%s:deliverystream/%s", m.opts.Region, m.opts.Account, name)
}

// errClosed is the answer of a closed Manager.
var errClosed = unavailable("the server is shutting down")

// create adds and starts a delivery stream. The name is reserved (the
// stream is CREATING) while its destination opens, without m.mu, so that
// a slow destination does not hold up the other streams.
func (m *Manager) create(ctx context.Context, cfg *streamConfig) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	if _, ok := m.streams[cfg.Name]; ok || m.deleting[cfg.Name] {
		m.mu.Unlock()
		return awsproto.Errorf(errResourceInUse, "Firehose %s under accountId %s already exists", cfg.Name, m.opts.Account)
	}
	if m.opts.StreamLimit > 0 && len(m.streams) >= m.opts.StreamLimit {
		m.mu.Unlock()
		return awsproto.Errorf(errLimitExceeded, "the account has %d delivery streams, its limit", m.opts.StreamLimit)
	}
	pending := &entry{cfg: cfg, busy: "creating", puts: new(sync.RWMutex)}
	m.streams[cfg.Name] = pending
	m.mu.Unlock()

	e, err := m.start(ctx, cfg)
	m.mu.Lock()
	if err != nil {
		delete(m.streams, cfg.Name)
		m.mu.Unlock()
		return err
	}
	if m.closed {
		delete(m.streams, cfg.Name)
		m.mu.Unlock()
		m.stop(e)
		return errClosed
	}
	m.streams[cfg.Name] = e
	if err := m.save(); err != nil {
		delete(m.streams, cfg.Name)
		m.mu.Unlock()
		m.stop(e)
		return err
	}
	m.mu.Unlock()
	return nil
}

// inUse is the ResourceInUseException of a stream busy being created or
// updated.
func inUse(name, busy string) error {
	return awsproto.Errorf(errResourceInUse, "Firehose %s is %s; try again when it is done", name, busy)
}

// remove stops and deletes a delivery stream, its backing stream (for
// DirectPut) and its checkpoints. Until that is done, the name cannot be
// created again.
func (m *Manager) remove(ctx context.Context, name string) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	e, ok := m.streams[name]
	if !ok {
		m.mu.Unlock()
		return notFound(name)
	}
	if e.busy != "" {
		m.mu.Unlock()
		return inUse(name, e.busy)
	}
	delete(m.streams, name)
	if err := m.save(); err != nil {
		m.streams[name] = e
		m.mu.Unlock()
		return err
	}
	m.deleting[name] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.deleting, name)
		m.mu.Unlock()
	}()
	m.stop(e)
	// Wait for the puts in flight: none starts any more (the stream is
	// out of m.streams), and none may recreate the backing stream after
	// it is deleted.
	e.puts.Lock()
	defer e.puts.Unlock()
	if e.cfg.Type == typeDirectPut {
		err := m.log.DeleteStream(ctx, shardlog.DeleteStreamInput{StreamName: name, EnforceConsumerDeletion: true})
		if err != nil && !errors.Is(err, shardlog.ErrResourceNotFound) {
			m.logger.Warn("firehose: deleting a DirectPut stream's backing stream", "delivery_stream", name, "err", err)
		}
	}
	if err := m.cps.Reset(ctx, name); err != nil {
		m.logger.Warn("firehose: deleting a delivery stream's checkpoints", "delivery_stream", name, "err", err)
	}
	if f, ok := m.opts.Metrics.(interface{ ForgetDeliveryStream(string) }); ok {
		f.ForgetDeliveryStream(name)
	}
	return nil
}

// snapshot is a delivery stream's state at one moment.
type snapshot struct {
	cfg     *streamConfig // a copy
	rt      runtime       // nil if it could not start
	failure error         // why it could not start, or why it stopped
	busy    string        // "creating" or "updating", or empty
}

// get returns a delivery stream's state.
func (m *Manager) get(name string) (snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.streams[name]
	if !ok {
		return snapshot{}, notFound(name)
	}
	return snapshot{cfg: e.cfg.clone(), rt: e.rt, failure: cmp.Or(e.startErr, e.runErr), busy: e.busy}, nil
}

// acquire is get for a put: the stream cannot be deleted until release is
// called.
func (m *Manager) acquire(name string) (snap snapshot, release func(), err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.streams[name]
	if !ok {
		return snapshot{}, nil, notFound(name)
	}
	e.puts.RLock()
	return snapshot{cfg: e.cfg.clone(), rt: e.rt, failure: cmp.Or(e.startErr, e.runErr), busy: e.busy}, e.puts.RUnlock, nil
}

// list returns the delivery streams' configurations sorted by name.
func (m *Manager) list() []*streamConfig {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*streamConfig, 0, len(m.streams))
	for _, e := range m.streams {
		out = append(out, e.cfg.clone())
	}
	slices.SortFunc(out, func(a, b *streamConfig) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// modify applies fn to a copy of a stream's configuration and persists
// the result. With restart, the runtime is replaced by one of the new
// configuration (the old one stops gracefully first); that happens
// without m.mu, the stream marked "updating" meanwhile, so that a slow
// stop or destination does not hold up the other streams.
func (m *Manager) modify(ctx context.Context, name string, restart bool, fn func(cfg *streamConfig) error) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	e, ok := m.streams[name]
	if !ok {
		m.mu.Unlock()
		return notFound(name)
	}
	if e.busy != "" {
		m.mu.Unlock()
		return inUse(name, e.busy)
	}
	cfg := e.cfg.clone()
	if err := fn(cfg); err != nil {
		m.mu.Unlock()
		return err
	}
	if !restart {
		defer m.mu.Unlock()
		old := e.cfg
		e.cfg = cfg
		if err := m.save(); err != nil {
			e.cfg = old
			return err
		}
		return nil
	}
	e.busy = "updating"
	m.mu.Unlock()

	// Check the new destination before stopping the old runtime.
	_, closers, err := m.deliveryConfig(ctx, cfg)
	if err != nil {
		m.mu.Lock()
		e.busy = ""
		m.mu.Unlock()
		return err
	}
	closeAll(closers)
	// Past this point the update finishes even if the client hangs up:
	// a cancelled context would leave the stream with no runtime.
	ctx = context.WithoutCancel(ctx)
	m.stop(e)
	ne, err := m.start(ctx, cfg)
	if err != nil {
		// The old configuration goes on.
		oe, oerr := m.start(ctx, e.cfg)
		if oerr != nil {
			oe = &entry{cfg: e.cfg, startErr: oerr}
		}
		oe.puts = e.puts
		if m.install(name, oe) {
			return err
		}
		return errClosed
	}
	ne.puts = e.puts
	if !m.install(name, ne) {
		return errClosed
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.save()
}

// install makes ne the entry of name after an update; if the Manager
// closed meanwhile, it stops ne instead and reports false.
func (m *Manager) install(name string, ne *entry) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.stop(ne)
		return false
	}
	m.streams[name] = ne
	m.mu.Unlock()
	return true
}

// Len is the number of delivery streams.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.streams)
}
