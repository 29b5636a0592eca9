package postgres

import (
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
)

func TestConformance(t *testing.T) {
	pool := testPool(t)
	shardlogtest.Run(t, func(t *testing.T) shardlog.Engine {
		return openEngine(t, pool, freshSchema(t, pool))
	})
}

func TestConformanceMultiLog(t *testing.T) {
	pool := testPool(t)
	shardlogtest.RunMultiLog(t, func(t *testing.T) func() shardlog.Engine {
		schema := freshSchema(t, pool)
		return func() shardlog.Engine { return openEngine(t, pool, schema) }
	})
}
