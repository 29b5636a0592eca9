package memory_test

import (
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/memory"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
)

func BenchmarkMemory(b *testing.B) {
	shardlogtest.Bench(b, func(testing.TB) shardlog.Engine { return memory.New() })
}
