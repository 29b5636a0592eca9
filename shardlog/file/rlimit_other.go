//go:build !unix

package file

// defaultMaxOpenFiles is 512 where the descriptor limit is not known.
func defaultMaxOpenFiles() int { return 512 }
