// Package durable has the file-system steps the file-backed stores share
// to make a write survive a crash: write and fsync a file, fsync a
// directory after a rename or removal, and lock a directory against a
// second process. What it creates is private to the owner: files FileMode
// (0600), directories DirMode (0700).
package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FileMode and DirMode are the modes of the files and directories the
// file-backed stores create: no one but the owner may read records,
// partition keys, snapshots or checkpoints.
const (
	FileMode os.FileMode = 0o600
	DirMode  os.FileMode = 0o700
)

// ErrLocked is returned by Lock without waiting when another open file
// holds the lock.
var ErrLocked = errors.New("locked by another process or store")

// WriteFile writes b to a new file at path (truncating a stray one) with
// mode 0600, readable by the owner only, and fsyncs it.
func WriteFile(path string, b []byte) error { return writeFile(path, b, FileMode) }

// ReplaceFile makes b the content of path atomically: it writes b to tmp
// with mode perm, fsyncs it and renames it over path, so a crash leaves
// the old content or the new, never a torn file. Fsync the directory
// afterwards to make the rename itself durable. On failure tmp is removed
// and path is untouched.
func ReplaceFile(path, tmp string, b []byte, perm os.FileMode) error {
	if err := writeFile(tmp, b, perm); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeFile writes b to path with mode perm (even if a stray file of
// another mode was there) and fsyncs it.
func writeFile(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
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

// EnsureDir creates dir (and its parents) where missing, with mode 0700
// (the owner only), and makes its entry durable in its parent; an existing
// directory keeps its mode, and an existing non-directory is an error.
func EnsureDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, DirMode); err != nil {
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
