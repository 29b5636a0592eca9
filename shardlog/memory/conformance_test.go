package memory_test

import (
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
)

func TestConformance(t *testing.T) {
	shardlogtest.Run(t, func(t *testing.T) shardlog.Engine { return memory.New() })
}

// TestMultiLog runs several Logs over handles of one in-memory log. The
// first Log gets the log's first handle, so closing it shows the other
// handles do not depend on it.
func TestMultiLog(t *testing.T) {
	shardlogtest.RunMultiLog(t, func(t *testing.T) func() shardlog.Engine {
		var first *memory.Engine
		return func() shardlog.Engine {
			if first == nil {
				first = memory.New()
				return first
			}
			return first.Attach()
		}
	})
}
