package file_test

import (
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/shardlogtest"
	"github.com/stretchr/testify/require"
)

// The suite runs on every sync policy, with small segments so that rolls,
// index files and segment trimming happen in ordinary tests.
func TestConformance(t *testing.T) {
	for _, p := range []file.SyncPolicy{file.SyncAlways, file.SyncNever} {
		t.Run(p.String(), func(t *testing.T) {
			shardlogtest.Run(t, func(t *testing.T) shardlog.Engine {
				e, err := file.Open(t.TempDir(), file.WithSync(p), file.WithSegmentSize(64<<10))
				require.NoError(t, err)
				return e
			})
		})
	}
}
