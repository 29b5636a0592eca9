//go:build !unix

package filesnapshot

import "os"

// lockDir is a no-op where flock is not available: there, only one process
// at a time may save to a directory.
func lockDir(*os.File) error { return nil }

// syncDir is a no-op where a directory cannot be fsynced.
func syncDir(*os.File) error { return nil }
