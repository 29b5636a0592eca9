package projection_test

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/projection/projectiontest"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	shared := projection.NewMemoryStore()
	projectiontest.RunSharedStore(t, func(*testing.T) projection.SharedStore { return shared }, 50*time.Millisecond)
}
