//go:build !unix

package projection

import "os"

// tryLockFile is a no-op where flock is not available: there, only one
// FileStore at a time may use a directory.
func tryLockFile(*os.File) error { return nil }

// syncDirFile is a no-op where a directory cannot be fsynced.
func syncDirFile(*os.File) error { return nil }
