package tieredtest_test

import (
	"context"
	"testing"

	"github.com/shoal-dev/shoal/internal/archivetest"
	"github.com/shoal-dev/shoal/internal/tieredtest"
	"github.com/shoal-dev/shoal/shardlog"
)

func TestTieredReplayInMemoryArchive(t *testing.T) {
	tieredtest.RunTieredReplay(t, func(t *testing.T, log *shardlog.Log, stream string) (tieredtest.Archive, func(context.Context) error) {
		a := archivetest.New()
		return a, func(ctx context.Context) error { return a.CatchUp(ctx, log, stream) }
	})
}
