package admission

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimit returns the memory the process may use, in bytes: the
// least of the physical memory, the cgroup's limit and GOMEMLIMIT, among
// those known; 0 if none is.
func memoryLimit() int64 {
	var m int64
	lower := func(n int64) {
		if n > 0 && (m == 0 || n < m) {
			m = n
		}
	}
	lower(physicalMemory())
	lower(cgroupLimit())
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		lower(l)
	}
	return m
}

// cgroupLimit returns the memory limit of the process's cgroup (v2, else
// v1), 0 if there is none or it cannot be read.
func cgroupLimit() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n >= math.MaxInt64/2 { // v1 says "no limit" with a huge number
			return 0
		}
		return n
	}
	return 0
}
