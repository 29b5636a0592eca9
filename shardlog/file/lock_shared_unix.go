//go:build unix

package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// lockDirShared takes a shared lock on DIR/LOCK for a reader that writes
// nothing (Check): it excludes an Engine (and Repair), not other readers.
// It opens the file read-only and creates nothing: without a LOCK file no
// engine ever opened the directory, and it returns nil, nil.
func lockDirShared(dir string) (*os.File, error) {
	f, err := os.Open(filepath.Join(dir, "LOCK"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is open in an engine", ErrLocked, dir)
		}
		return nil, err
	}
	return f, nil
}
