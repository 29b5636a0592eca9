//go:build !unix

package file

func mapFile(f File, size int64) []byte { return nil }

func unmapFile(b []byte) {}
