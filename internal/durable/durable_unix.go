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
// Closing f releases it, and so does the kernel when the process dies.
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
