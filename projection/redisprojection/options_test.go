package redisprojection_test

import (
	"context"
	"testing"

	"github.com/shoal-dev/shoal/projection/redisprojection"
	"github.com/stretchr/testify/require"
)

// TestOptionsNil: a nil option is skipped, never a panic.
func TestOptionsNil(t *testing.T) {
	_, client := miniClient(t)
	s := redisprojection.New(client, nil, redisprojection.WithKeyPrefix("p"))
	_, err := s.Checkpoints(context.Background(), "proj")
	require.NoError(t, err)
}
