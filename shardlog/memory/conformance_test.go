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
