// Package pgarchive is a placeholder so that server/firehose compiles on
// its branch before the PostgreSQL archive is merged. The integrator
// deletes this file at merge.
package pgarchive

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shoal-dev/shoal/delivery"
)

// Options configures the archive (placeholder).
type Options struct{ Table string }

// Archive is the PostgreSQL archive (placeholder).
type Archive struct{}

// New returns the archive over pool (placeholder).
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Archive, error) {
	return &Archive{}, nil
}

// Deliver implements delivery.Destination (placeholder).
func (a *Archive) Deliver(ctx context.Context, b *delivery.Batch) error {
	return errors.New("pgarchive: not built yet")
}
