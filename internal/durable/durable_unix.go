//go:build unix

package durable

import (
	"errors"
	"os"
	"syscall"
)

// SyncDir fsyncs an open directory.
func SyncDir(d *os.File) error { return d.Sync() }

// Lock takes an exclusive flock(2) of f. With wait it blocks until it has
// it; without, it returns ErrLocked if another open file holds it.
// Unlock releases it (and closes f); so does the kernel when the process
// dies.
func Lock(f *os.File, wait bool) error {
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return ErrLocked
		case err != syscall.EINTR:
			return err
		}
	}
}

// Unlock releases the flock(2) of f, then closes f. Closing alone is not
// enough: a child process forked by another goroutine shares the open file
// until it execs, and would keep the lock a moment past the close, so
// that the next Lock of the directory by this process fails with
// ErrLocked. LOCK_UN releases the lock for every holder of the open file.
func Unlock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
