package pgprojection

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/shoal-dev/shoal/projection"
)

// Adapt exposes the handler adapter On registers, so tests can call it
// without a runner.
func Adapt[E any](name string, fn func(ctx context.Context, tx pgx.Tx, ev projection.Event[E]) error) func(ctx context.Context, ev projection.Event[E]) error {
	return adapt(name, fn)
}
