//go:build unix

package projection

import (
	"errors"
	"os"
	"syscall"
)

// tryLockFile takes an exclusive flock(2) of f without waiting, failing if
// another open file holds it. Closing f releases it, and so does the
// kernel when the process dies.
func tryLockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errors.New("the directory is in use by another FileStore (" + f.Name() + " is locked)")
		case err != syscall.EINTR:
			return err
		}
	}
}

// syncDirFile makes the directory's entries (renamed and removed files)
// durable.
func syncDirFile(d *os.File) error { return d.Sync() }
