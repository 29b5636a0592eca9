// Package durable has the file-system steps the file-backed stores share
// to make a write survive a crash: write and fsync a file, fsync a
// directory after a rename or removal, and lock a directory against a
// second process.
package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrLocked is returned by Lock without waiting when another open file
// holds the lock.
var ErrLocked = errors.New("locked by another process or store")

// WriteFile writes b to a new file at path (truncating a stray one) and
// fsyncs it.
func WriteFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return f.Close()
}

// SyncDirPath fsyncs the directory at path, making its entries (renamed,
// created and removed files) durable.
func SyncDirPath(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = SyncDir(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}

// EnsureDir creates dir (and its parents) where missing and makes its
// entry durable in its parent; an existing non-directory is an error.
func EnsureDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return SyncDirPath(filepath.Dir(dir))
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}
