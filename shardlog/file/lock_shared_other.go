//go:build !unix

package file

import "os"

// lockDirShared is a no-op where flock is not available.
func lockDirShared(dir string) (*os.File, error) { return nil, nil }
