package pgprojection

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
)

// Writes collects one event's read-model statements for OnQueued. They
// are sent with the rest of the batch's statements in one round trip
// (pgx.Batch), inside the batch's transaction, before its checkpoint.
type Writes struct {
	q   *queue
	pos eventstore.Position
}

// Exec queues a statement. Its result is not available to the handler;
// if it fails, the batch is rolled back and the event is treated as
// failed (retried alone, then parked).
func (w *Writes) Exec(sql string, args ...any) {
	w.q.items = append(w.q.items, queued{pos: w.pos, sql: sql, args: args})
}

// queued is a statement and the event that queued it.
type queued struct {
	pos  eventstore.Position
	sql  string
	args []any
}

// queue holds a transaction's queued statements.
type queue struct{ items []queued }

type queueKey struct{}

// flush sends the queued statements in one batch; a failure is reported as
// a *projection.EventError naming the event whose statement failed.
func (q *queue) flush(ctx context.Context, tx pgx.Tx) error {
	if len(q.items) == 0 {
		return nil
	}
	items := q.items
	q.items = nil
	b := &pgx.Batch{}
	for _, it := range items {
		b.Queue(it.sql, it.args...)
	}
	br := tx.SendBatch(ctx, b)
	for _, it := range items {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return &projection.EventError{Position: it.pos, Err: err}
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("pgprojection: send queued writes: %w", err)
	}
	return nil
}

// OnQueued registers fn for events whose payload type is E, like On, but
// fn queues its read-model writes (w.Exec) instead of running them: a
// batch's writes then cost one round trip instead of one per statement.
// Writes of On handlers and OnQueued handlers keep event order: queued
// writes are sent before an On handler runs. Run the projection with the
// Store as the runner's checkpoint store: without it, fn is not called
// and the handler returns ErrNoTx.
func OnQueued[E any](p *projection.Projection, fn func(ctx context.Context, w *Writes, ev projection.Event[E]) error) {
	p.RequireTransactor()
	name := p.Name()
	projection.On(p, func(ctx context.Context, ev projection.Event[E]) error {
		q, ok := ctx.Value(queueKey{}).(*queue)
		if !ok {
			return fmt.Errorf("projection %s: %w", name, ErrNoTx)
		}
		return fn(ctx, &Writes{q: q, pos: ev.Position}, ev)
	})
}
