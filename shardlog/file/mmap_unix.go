//go:build unix

package file

import "syscall"

// mapFile maps the first size bytes of f for reading, or returns nil when
// f is not an operating-system file or the map fails (reads then use
// pread).
func mapFile(f File, size int64) []byte {
	of, ok := f.(osFile)
	if !ok || size <= 0 || size != int64(int(size)) {
		return nil
	}
	b, err := syscall.Mmap(int(of.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	return b
}

func unmapFile(b []byte) {
	if b != nil {
		_ = syscall.Munmap(b)
	}
}
