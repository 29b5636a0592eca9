package aggregate_test

import (
	"testing"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/stretchr/testify/require"
)

// TestOptionsNil: a nil logger means the default, and a nil option is
// skipped, never a panic.
func TestOptionsNil(t *testing.T) {
	e := newEnv(t, engineKinds[0])
	repo := e.repo(t, aggregate.WithLogger(nil), nil)
	_, err := repo.Create(e.ctx, "c-1", func(c *Counter) error { return c.Open("ann") }, nil)
	require.NoError(t, err)
	_, err = repo.Update(e.ctx, "c-1", func(c *Counter) error { return c.Inc(0, 1, 2) }, nil)
	require.NoError(t, err)
}

// TestDefineNilOption: a nil TypeOption is skipped, never a panic.
func TestDefineNilOption(t *testing.T) {
	require.NotPanics(t, func() {
		typ := aggregate.Define[Counter]("counter", nil)
		require.Equal(t, "counter", typ.Name())
	})
}
