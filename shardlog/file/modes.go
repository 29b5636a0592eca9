package file

import (
	"os"
	"path/filepath"
)

// File modes. Every file the engine writes (segments, indexes, stream.json,
// stream-id, quarantine files, LOCK) is created 0600 and every directory
// 0700: records and partition keys are readable by the owner only.

// tightenStreams makes DIR/streams 0700 if a version that created it 0755
// left it open to others: no one else can then reach the segments below
// it, whatever their own modes. It is best effort; Open calls it.
func (e *Engine) tightenStreams() {
	dir := filepath.Join(e.dir, streamsDir)
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		e.logger.Warn("shardlog/file: cannot make the streams directory private", "dir", dir, "err", err)
		return
	}
	e.logger.Info("shardlog/file: made the streams directory private (mode 0700)", "dir", dir, "was", st.Mode().Perm().String())
}
