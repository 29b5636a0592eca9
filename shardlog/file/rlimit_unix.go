//go:build unix

package file

import "syscall"

// defaultMaxOpenFiles is half the soft RLIMIT_NOFILE (the rest is left to
// sockets, stream metadata and the process's other files), at least 16 and
// at most 1<<20.
func defaultMaxOpenFiles() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 512
	}
	return clampOpenFiles(uint64(r.Cur) / 2)
}
