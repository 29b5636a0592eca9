//go:build !unix

package durable

import "os"

// SyncDir is a no-op where a directory cannot be fsynced.
func SyncDir(*os.File) error { return nil }

// Lock is a no-op where flock is not available: there, only one process
// at a time may use a directory.
func Lock(*os.File, bool) error { return nil }

// Unlock closes f.
func Unlock(f *os.File) error { return f.Close() }
