package eventstore_test

import (
	"testing"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/stretchr/testify/require"
)

// TestOptionsNil: a nil logger means the default, and a nil option is
// skipped, never a panic.
func TestOptionsNil(t *testing.T) {
	e := newEnv(t, "memory")
	s := e.store(eventstore.WithLogger(nil), nil)
	_, err := s.Append(e.ctx, "acct-1", eventstore.NoStream, opened{Owner: "ann", Limit: 10})
	require.NoError(t, err)
}

// TestRegisterNilOption: a nil TypeOption is skipped, never a panic.
func TestRegisterNilOption(t *testing.T) {
	r := eventstore.NewRegistry()
	require.NotPanics(t, func() {
		require.NoError(t, eventstore.Register[opened](r, "opened", nil, eventstore.SchemaVersion(2), nil))
	})
}
