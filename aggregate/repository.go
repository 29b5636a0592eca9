package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
)

// Repository loads and saves aggregates of one Type in an event store.
// It is safe for concurrent use; the aggregates it returns are not.
type Repository[S any] struct {
	t       *Type[S]
	store   *eventstore.Store
	retries int
	policy  func(state *S, before, after uint64) bool
	logger  *slog.Logger
	now     func() time.Time
}

// RepositoryOption configures NewRepository.
type RepositoryOption func(*repoOptions)

type repoOptions struct {
	retries int
	every   uint64
	policy  any // func(*S, uint64, uint64) bool, checked in NewRepository
	logger  *slog.Logger
}

// WithRetries sets how many times Update re-runs a command after losing a
// race to another writer (default 3; 0 turns retries off).
func WithRetries(n int) RepositoryOption { return func(o *repoOptions) { o.retries = n } }

// WithSnapshotEvery takes a snapshot whenever a Save carries the aggregate's
// version across a multiple of n (0: never). The store needs a snapshot
// store (eventstore.WithSnapshots).
func WithSnapshotEvery(n uint64) RepositoryOption { return func(o *repoOptions) { o.every = n } }

// WithSnapshotWhen takes a snapshot after a Save that moved the aggregate from
// version before to version after when policy says so. S must be the
// repository's state type.
func WithSnapshotWhen[S any](policy func(state *S, before, after uint64) bool) RepositoryOption {
	return func(o *repoOptions) { o.policy = policy }
}

// WithLogger sets where snapshot failures are logged (default
// slog.Default()). A failed snapshot does not fail the Save: the events are
// stored, and the next snapshot covers them.
func WithLogger(l *slog.Logger) RepositoryOption {
	return func(o *repoOptions) {
		if l != nil {
			o.logger = l
		}
	}
}

// NewRepository returns a repository of aggregates of type t in store. It
// registers t's event types in the store's registry (see Apply).
func NewRepository[S any](store *eventstore.Store, t *Type[S], opts ...RepositoryOption) (*Repository[S], error) {
	o := repoOptions{retries: 3, logger: slog.Default()}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if _, err := baseOf(new(S)); err != nil {
		return nil, err
	}
	if o.retries < 0 {
		return nil, fmt.Errorf("aggregate: WithRetries(%d): must be 0 or more", o.retries)
	}
	r := &Repository[S]{t: t, store: store, retries: o.retries, logger: o.logger, now: time.Now}
	switch p := o.policy.(type) {
	case nil:
	case func(*S, uint64, uint64) bool:
		r.policy = p
	default:
		return nil, fmt.Errorf("aggregate %s: WithSnapshotWhen takes a func(*%T, before, after uint64) bool, got %T", t.name, *new(S), o.policy)
	}
	if o.every > 0 {
		n, custom := o.every, r.policy
		r.policy = func(s *S, before, after uint64) bool {
			return after/n > before/n || (custom != nil && custom(s, before, after))
		}
	}
	if r.policy != nil && store.Snapshots() == nil {
		return nil, fmt.Errorf("aggregate %s: a snapshot policy needs a store opened with eventstore.WithSnapshots", t.name)
	}
	for _, reg := range t.register {
		if err := reg(store.Registry()); err != nil {
			return nil, fmt.Errorf("aggregate %s: %w", t.name, err)
		}
	}
	return r, nil
}

// New returns a new aggregate with the given ID at version 0. Saving it
// requires that the stream does not exist yet.
func (r *Repository[S]) New(id string) (*S, error) { return r.t.New(id) }

// Load rebuilds the aggregate from its latest snapshot (if the store keeps
// them and one of this Type's snapshot schema exists) and the events after
// it. A snapshot that does not decode is logged and the events are
// replayed instead. A stream with no events returns an error wrapping
// eventstore.ErrStreamNotFound. Events past the log's retention that no
// snapshot or archive covers return an *eventstore.ExpiredError: Load never
// returns partial state.
func (r *Repository[S]) Load(ctx context.Context, id string) (*S, error) {
	return r.load(ctx, id, func(sn eventstore.Snapshot) bool {
		return sn.Type == r.t.name && sn.SchemaVersion == r.t.snapshotSchema
	})
}

// loadWithout loads the aggregate from its events alone.
func (r *Repository[S]) loadWithout(ctx context.Context, id string) (*S, error) {
	return r.load(ctx, id, func(eventstore.Snapshot) bool { return false })
}

func (r *Repository[S]) load(ctx context.Context, id string, accept func(eventstore.Snapshot) bool) (*S, error) {
	return r.loadAt(ctx, id, nil, accept)
}

// loadAt loads the aggregate as it is (at nil) or as of *at.
func (r *Repository[S]) loadAt(ctx context.Context, id string, at *eventstore.Point, accept func(eventstore.Snapshot) bool) (*S, error) {
	s, err := r.t.New(id)
	if err != nil {
		return nil, err
	}
	b, _ := baseOf(s)
	var ld eventstore.Loaded
	if at != nil {
		ld, err = r.store.LoadAsOf(ctx, id, *at, accept)
	} else {
		ld, err = r.store.Load(ctx, id, accept)
	}
	if err != nil {
		return nil, err
	}
	without := func() (*S, error) {
		return r.loadAt(ctx, id, at, func(eventstore.Snapshot) bool { return false })
	}
	if sn := ld.Snapshot; sn != nil {
		if err := r.store.Codec().Unmarshal(sn.Data, s); err != nil {
			// Replay instead; the store's gap check still refuses partial
			// state if events the snapshot covered are gone.
			r.logger.WarnContext(ctx, "aggregate: ignoring a snapshot that does not decode", "aggregate", r.t.name, "id", id, "version", sn.Version, "err", err)
			return without()
		}
		b.version, b.position = sn.Version, sn.Position
	}
	for ev, err := range ld.Events {
		if errors.Is(err, eventstore.ErrCorruptSnapshot) && ld.Snapshot != nil {
			// The log contradicts the snapshot: replay without it.
			r.logger.WarnContext(ctx, "aggregate: ignoring a snapshot the log contradicts", "aggregate", r.t.name, "id", id, "err", err)
			return without()
		}
		if err != nil {
			return nil, fmt.Errorf("aggregate %s %q: %w", r.t.name, id, err)
		}
		data, err := ev.Data()
		if err != nil {
			return nil, fmt.Errorf("aggregate %s %q: %w", r.t.name, id, err)
		}
		if err := r.t.apply(s, data); err != nil {
			return nil, fmt.Errorf("aggregate %s %q at version %d: %w", r.t.name, id, ev.Version, err)
		}
		b.version, b.position = ev.Version, ev.Position
	}
	if b.version == 0 {
		return nil, fmt.Errorf("aggregate %s %q: %w", r.t.name, id, eventstore.ErrStreamNotFound)
	}
	b.loaded = b.version
	if at != nil {
		b.readOnly = &ReadOnlyError{Aggregate: r.t.name, ID: id, At: *at, Version: b.version}
	}
	return s, nil
}

// SaveOption configures Save, Update and Create.
type SaveOption func(*saveOptions)

type saveOptions struct{ md eventstore.Metadata }

// WithMetadata adds metadata (typically the command's correlation and
// causation IDs) to every event saved; metadata given to RecordWith wins
// field by field.
func WithMetadata(md eventstore.Metadata) SaveOption {
	return func(o *saveOptions) { o.md = md }
}

// Save appends the events recorded on agg since it was loaded, expecting
// the stream to be at the version it was loaded at (no stream for a new
// aggregate). Another writer in between gives an error wrapping
// eventstore.ErrWrongExpectedVersion, and agg is unchanged: load it again.
// Saving the same agg again after an error that left the outcome unknown
// is idempotent. Saving with nothing recorded does nothing.
func (r *Repository[S]) Save(ctx context.Context, agg *S, opts ...SaveOption) (eventstore.AppendResult, error) {
	b, err := baseOf(agg)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if b.readOnly != nil {
		return eventstore.AppendResult{}, b.readOnly
	}
	if b.err != nil {
		return eventstore.AppendResult{}, b.err
	}
	if len(b.pending) == 0 {
		return eventstore.AppendResult{StreamID: b.id, LastVersion: b.loaded}, nil
	}
	var o saveOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	events := make([]any, len(b.pending))
	for i, p := range b.pending {
		p.Metadata = merge(p.Metadata, o.md)
		events[i] = p
	}
	res, err := r.store.Append(ctx, b.id, eventstore.Exact(b.loaded).At(b.position), events...)
	if err != nil {
		return res, fmt.Errorf("aggregate %s %q: %w", r.t.name, b.id, err)
	}
	before := b.loaded
	b.loaded, b.position, b.pending = res.LastVersion, res.Last, nil
	if r.policy != nil && r.policy(agg, before, b.loaded) {
		r.snapshot(ctx, agg, b)
	}
	return res, nil
}

// snapshot stores agg's state; a failure is logged, not returned.
func (r *Repository[S]) snapshot(ctx context.Context, agg *S, b *Base) {
	data, err := r.store.Codec().Marshal(agg)
	if err == nil {
		err = r.store.Snapshots().SaveSnapshot(ctx, eventstore.Snapshot{
			StreamID:      b.id,
			Version:       b.loaded,
			Position:      b.position,
			Type:          r.t.name,
			SchemaVersion: r.t.snapshotSchema,
			Data:          data,
			TakenAt:       r.now(),
		})
	}
	if err != nil {
		r.logger.WarnContext(ctx, "aggregate: snapshot failed", "aggregate", r.t.name, "id", b.id, "version", b.loaded, "err", err)
	}
}

// Update loads the aggregate, runs command on it and saves what it
// recorded. When another writer saved in between, it loads again and
// re-runs the command, up to the repository's retries, so a command must
// not have side effects outside the aggregate. A command error is returned
// as is and nothing is saved. A stream with no events returns an error
// wrapping eventstore.ErrStreamNotFound (use Create for new aggregates).
func (r *Repository[S]) Update(ctx context.Context, id string, command func(*S) error, opts ...SaveOption) (*S, error) {
	for attempt := 0; ; attempt++ {
		agg, err := r.Load(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := command(agg); err != nil {
			return nil, err
		}
		_, err = r.Save(ctx, agg, opts...)
		if err == nil {
			return agg, nil
		}
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) || attempt >= r.retries {
			return nil, err
		}
		// Back off a little, with jitter, so that racing writers spread:
		// 0.5-2 ms times the attempt, at most 10 times.
		d := time.Duration(min(attempt+1, 10)) * time.Duration(500+rand.IntN(1500)) * time.Microsecond
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Create runs command on a new aggregate and saves it, provided the
// stream does not exist yet (else an error wrapping
// eventstore.ErrWrongExpectedVersion).
func (r *Repository[S]) Create(ctx context.Context, id string, command func(*S) error, opts ...SaveOption) (*S, error) {
	agg, err := r.t.New(id)
	if err != nil {
		return nil, err
	}
	if err := command(agg); err != nil {
		return nil, err
	}
	if _, err := r.Save(ctx, agg, opts...); err != nil {
		return nil, err
	}
	return agg, nil
}

// merge fills the empty fields of md from defaults.
func merge(md, defaults eventstore.Metadata) eventstore.Metadata {
	if md.CorrelationID == "" {
		md.CorrelationID = defaults.CorrelationID
	}
	if md.CausationID == "" {
		md.CausationID = defaults.CausationID
	}
	if len(defaults.Fields) > 0 {
		f := make(map[string]string, len(md.Fields)+len(defaults.Fields))
		for k, v := range defaults.Fields {
			f[k] = v
		}
		for k, v := range md.Fields {
			f[k] = v
		}
		md.Fields = f
	}
	return md
}
