//go:build !linux

package admission

// physicalMemory returns 0 (unknown) outside Linux: the default byte
// budget is then 4 × MinDefaultMaxBytes unless GOMEMLIMIT is set.
func physicalMemory() int64 { return 0 }
