package pgprojection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
)

// ErrNoTx is returned by a handler registered with On when it runs without
// a Store transaction in its ctx: the runner's checkpoint store is not a
// pgprojection.Store.
var ErrNoTx = errors.New("pgprojection handler ran outside a pgprojection.Store transaction: use the Store as the runner's checkpoint store")

// txKey is the context key of the transaction InTx runs apply in.
type txKey struct{}

// TxFrom returns the transaction InTx passes its apply function through
// ctx, and whether there is one. Handlers write the read model through it
// so the writes commit with the checkpoint; they must not commit or roll
// it back (tx.Begin gives a savepoint).
func TxFrom(ctx context.Context) (pgx.Tx, bool) {
	tx, ok := ctx.Value(txKey{}).(pgx.Tx)
	return tx, ok && tx != nil
}

// InTx implements projection.Transactor: it begins a transaction, runs
// apply with a ctx carrying it (TxFrom), then records p as the checkpoint
// of shard in the same transaction, fenced by token as SaveCheckpoint, and
// commits. If apply, the checkpoint write (projection.ErrLeaseLost for a
// stale token) or the commit fails, nothing is committed: the read-model
// writes are rolled back with the checkpoint. apply's error is returned
// as is. With shard empty, only apply's writes are committed. Once apply
// has returned, the checkpoint write and the commit are not interrupted by
// ctx (they get commitTimeout), so InTx does not return while its commit
// is undecided, short of a lost connection.
func (s *Store) InTx(ctx context.Context, projectionName, shard string, p projection.Progress, token uint64, apply func(ctx context.Context) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgprojection: begin a transaction for %s/%s: %w", projectionName, shard, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if apply != nil {
		q := &queue{}
		actx := context.WithValue(context.WithValue(ctx, txKey{}, tx), queueKey{}, q)
		if err := apply(actx); err != nil {
			return transient(tx, err)
		}
		if err := q.flush(ctx, tx); err != nil {
			return transient(tx, err)
		}
	}
	// Once the handlers are done, the checkpoint and the commit run to
	// their end even if ctx is cancelled: a COMMIT interrupted on the wire
	// may still land, and the caller would not know it had.
	fin, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if shard != "" { // empty: no checkpoint (projection.ReplayKey)
		if err := s.save(fin, tx, projectionName, shard, p, token); err != nil {
			if errors.Is(err, projection.ErrLeaseLost) {
				return err
			}
			return fmt.Errorf("pgprojection: save checkpoint %s/%s: %w", projectionName, shard, err)
		}
	}
	if err := tx.Commit(fin); err != nil {
		return fmt.Errorf("pgprojection: commit %s/%s: %w", projectionName, shard, err)
	}
	return nil
}

// transient marks err as the store's failure, not the event's, when the
// transaction's connection is gone (projection.ErrTransient): the runner
// then retries the batch rather than parking the event it was applying.
func transient(tx pgx.Tx, err error) error {
	if tx.Conn().IsClosed() {
		return fmt.Errorf("%w: %w", projection.ErrTransient, err)
	}
	return err
}

// commitTimeout bounds the checkpoint write and commit after the handlers.
const commitTimeout = 30 * time.Second

// On registers fn with projection.On for events whose payload type is E,
// passing it the transaction of the Store's InTx, so its read-model writes
// commit atomically with the checkpoint. Run the projection with the Store
// as the runner's checkpoint store: called without a Store transaction,
// the handler returns ErrNoTx.
func On[E any](p *projection.Projection, fn func(ctx context.Context, tx pgx.Tx, ev projection.Event[E]) error) {
	p.RequireTransactor()
	projection.On(p, adapt(p.Name(), fn))
}

// OnOther is projection.Projection.OnOther for a transactional handler:
// fn gets every event no typed handler takes, with the transaction, after
// the writes earlier events queued (OnQueued) were sent.
func OnOther(p *projection.Projection, fn func(ctx context.Context, tx pgx.Tx, ev *eventstore.Event) error) {
	p.RequireTransactor()
	name := p.Name()
	p.OnOther(func(ctx context.Context, ev *eventstore.Event) error {
		tx, err := txFlushed(ctx, name)
		if err != nil {
			return err
		}
		return fn(ctx, tx, ev)
	})
}

// txFlushed returns ctx's transaction after sending the writes queued so
// far, so a handler's own writes follow them.
func txFlushed(ctx context.Context, name string) (pgx.Tx, error) {
	tx, ok := TxFrom(ctx)
	if !ok {
		return nil, fmt.Errorf("projection %s: %w", name, ErrNoTx)
	}
	if q, ok := ctx.Value(queueKey{}).(*queue); ok {
		if err := q.flush(ctx, tx); err != nil {
			return nil, err
		}
	}
	return tx, nil
}

// adapt turns a transactional handler of projection name into a plain one.
func adapt[E any](name string, fn func(ctx context.Context, tx pgx.Tx, ev projection.Event[E]) error) func(ctx context.Context, ev projection.Event[E]) error {
	return func(ctx context.Context, ev projection.Event[E]) error {
		tx, err := txFlushed(ctx, name) // earlier events' queued writes first
		if err != nil {
			return err
		}
		return fn(ctx, tx, ev)
	}
}
