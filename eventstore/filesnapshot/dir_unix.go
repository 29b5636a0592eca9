//go:build unix

package filesnapshot

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive flock(2) of an open directory. It blocks until
// it has it; closing the directory releases it, and so does the kernel
// when the process dies.
func lockDir(d *os.File) error {
	for {
		err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

// syncDir makes the directory's entries (renamed files) durable.
func syncDir(d *os.File) error { return d.Sync() }
