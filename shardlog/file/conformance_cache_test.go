package file_test

import (
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
	"github.com/stretchr/testify/require"
)

// The suite again with a cache of one open file: every shard but the one
// in use is closed and reopened between calls, so reads, tailing, seals,
// resharding and retention all go through closing and reopening.
func TestConformanceOneOpenFile(t *testing.T) {
	shardlogtest.Run(t, func(t *testing.T) shardlog.Engine {
		e, err := file.Open(t.TempDir(), file.WithSegmentSize(64<<10), file.WithMaxOpenFiles(1))
		require.NoError(t, err)
		return e
	})
}
