// Package faultfs wraps a file.FS and injects faults into it, in the spirit
// of pebble's errorfs: fail the Nth write (optionally after writing only a
// prefix of its bytes), the Nth file sync, directory sync, rename or open.
//
// Every armed fault fires once, on the call it was armed for, and then the
// file system works normally again. That is deliberate: a durable engine
// must stay failed after a sync error (its error is sticky), and a test
// proves that by showing the engine still refuses work once the file
// system underneath has recovered; after a write error it may recover, and
// a test proves what it kept.
//
// Counting is "from now on": FailWriteAfter(n, err) lets the next n
// matching WriteAt calls through and fails the one after. A typical test
// runs a workload once to learn how many calls it makes (Writes, Syncs),
// then reruns it failing each call in turn.
//
// All methods are safe for concurrent use.
package faultfs

import (
	"errors"
	"io/fs"
	"sync"

	"github.com/shoal-dev/shoal/shardlog/file"
)

// ErrInjected is the error an armed fault returns when it was armed with a
// nil error.
var ErrInjected = errors.New("faultfs: injected fault")

// op is a kind of call a fault can be armed on.
type op int

const (
	opWrite op = iota
	opSync
	opSyncDir
	opRename
	opOpen
	numOps
)

// fault is one armed (or disarmed) fault.
type fault struct {
	armed bool
	after int   // matching calls still let through before the fault fires
	keep  int   // opWrite only: bytes written before failing; -1 writes none
	err   error // returned when the fault fires
}

// FS is a file.FS that forwards to an inner file.FS and fails calls as
// armed. The zero value is not usable; call New.
type FS struct {
	inner file.FS

	mu     sync.Mutex
	faults [numOps]fault
	counts [numOps]int
	fired  int
	filter func(path string) bool
}

var _ file.FS = (*FS)(nil)

// New returns an FS that forwards every call to inner, with no fault armed
// and no path filter.
func New(inner file.FS) *FS {
	return &FS{inner: inner}
}

// arm arms the fault for o; a negative n is treated as 0.
func (f *FS) arm(o op, n, keep int, err error) {
	if n < 0 {
		n = 0
	}
	if err == nil {
		err = ErrInjected
	}
	f.mu.Lock()
	f.faults[o] = fault{armed: true, after: n, keep: keep, err: err}
	f.mu.Unlock()
}

// FailWriteAfter arms a fault on File.WriteAt: the next n matching WriteAt
// calls succeed and the (n+1)-th fails with err (ErrInjected if err is
// nil) without writing anything. It replaces any write fault armed before.
func (f *FS) FailWriteAfter(n int, err error) { f.arm(opWrite, n, -1, err) }

// FailWriteAfterPartial is FailWriteAfter, except that the failing WriteAt
// first writes the first keep bytes of its buffer (all of them if keep is
// larger) through to the inner file, then returns the count written and
// err: a torn write. A negative keep writes nothing.
func (f *FS) FailWriteAfterPartial(n int, keep int, err error) {
	if keep < 0 {
		keep = -1
	}
	f.arm(opWrite, n, keep, err)
}

// FailSyncAfter arms a fault on File.Sync: the next n matching Sync calls
// succeed and the (n+1)-th returns err (ErrInjected if nil) without
// syncing the inner file.
func (f *FS) FailSyncAfter(n int, err error) { f.arm(opSync, n, -1, err) }

// FailSyncDirAfter arms a fault on FS.SyncDir: the next n matching SyncDir
// calls succeed and the (n+1)-th returns err (ErrInjected if nil) without
// syncing the directory.
func (f *FS) FailSyncDirAfter(n int, err error) { f.arm(opSyncDir, n, -1, err) }

// FailRenameAfter arms a fault on FS.Rename: the next n matching Rename
// calls succeed and the (n+1)-th returns err (ErrInjected if nil) without
// renaming anything.
func (f *FS) FailRenameAfter(n int, err error) { f.arm(opRename, n, -1, err) }

// FailOpenAfter arms a fault on FS.OpenFile: the next n matching OpenFile
// calls succeed and the (n+1)-th returns err (ErrInjected if nil) without
// opening (or creating) the file. ReadFile is not affected.
func (f *FS) FailOpenAfter(n int, err error) { f.arm(opOpen, n, -1, err) }

// OnlyPaths restricts faults and counters to calls whose path satisfies
// match; nil removes the restriction. The path is the name given to
// OpenFile for WriteAt and Sync on the file it returned (and for OpenFile
// itself), the directory name for SyncDir, and either name for Rename.
// Calls that do not match pass straight through and are not counted.
//
// For example, OnlyPaths(func(p string) bool { return strings.HasSuffix(p,
// ".seg") }) fails only segment files (and never fires SyncDir faults).
func (f *FS) OnlyPaths(match func(path string) bool) {
	f.mu.Lock()
	f.filter = match
	f.mu.Unlock()
}

// Reset disarms every fault, zeroes the counters (including Fired) and
// removes the path filter: the FS is as New returned it.
func (f *FS) Reset() {
	f.mu.Lock()
	f.faults = [numOps]fault{}
	f.counts = [numOps]int{}
	f.fired = 0
	f.filter = nil
	f.mu.Unlock()
}

// Writes returns the number of matching File.WriteAt calls since New or
// Reset, failed ones included.
func (f *FS) Writes() int { return f.count(opWrite) }

// Syncs returns the number of matching File.Sync calls since New or Reset,
// failed ones included.
func (f *FS) Syncs() int { return f.count(opSync) }

// SyncDirs returns the number of matching FS.SyncDir calls since New or
// Reset, failed ones included.
func (f *FS) SyncDirs() int { return f.count(opSyncDir) }

// Renames returns the number of matching FS.Rename calls since New or
// Reset, failed ones included.
func (f *FS) Renames() int { return f.count(opRename) }

// Opens returns the number of matching FS.OpenFile calls since New or
// Reset, failed ones included.
func (f *FS) Opens() int { return f.count(opOpen) }

// Fired returns how many faults have fired since New or Reset. A test can
// use it to check that the fault it armed was actually reached.
func (f *FS) Fired() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

// Armed reports whether any fault is armed and has not fired yet.
func (f *FS) Armed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ft := range f.faults {
		if ft.armed {
			return true
		}
	}
	return false
}

func (f *FS) count(o op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[o]
}

// check records a call of kind o on the given paths and reports whether it
// must fail: if so it returns the fault (already disarmed) and true.
func (f *FS) check(o op, paths ...string) (fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.filter != nil {
		match := false
		for _, p := range paths {
			if f.filter(p) {
				match = true
				break
			}
		}
		if !match {
			return fault{}, false
		}
	}
	f.counts[o]++
	ft := &f.faults[o]
	if !ft.armed {
		return fault{}, false
	}
	if ft.after > 0 {
		ft.after--
		return fault{}, false
	}
	fired := *ft
	*ft = fault{}
	f.fired++
	return fired, true
}

// OpenFile opens name on the inner FS, or fails if an open fault fires.
// The returned File injects write and sync faults.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (file.File, error) {
	if ft, ok := f.check(opOpen, name); ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ft.err}
	}
	inner, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, path: name, inner: inner}, nil
}

// ReadFile forwards to the inner FS; it is never failed.
func (f *FS) ReadFile(name string) ([]byte, error) { return f.inner.ReadFile(name) }

// ReadDir forwards to the inner FS; it is never failed.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) { return f.inner.ReadDir(name) }

// MkdirAll forwards to the inner FS; it is never failed.
func (f *FS) MkdirAll(name string, perm fs.FileMode) error { return f.inner.MkdirAll(name, perm) }

// Remove forwards to the inner FS; it is never failed.
func (f *FS) Remove(name string) error { return f.inner.Remove(name) }

// RemoveAll forwards to the inner FS; it is never failed.
func (f *FS) RemoveAll(name string) error { return f.inner.RemoveAll(name) }

// Rename renames on the inner FS, or fails without renaming if a rename
// fault fires.
func (f *FS) Rename(oldName, newName string) error {
	if ft, ok := f.check(opRename, oldName, newName); ok {
		return &fs.PathError{Op: "rename", Path: oldName, Err: ft.err}
	}
	return f.inner.Rename(oldName, newName)
}

// SyncDir syncs the directory on the inner FS, or fails without syncing if
// a directory sync fault fires.
func (f *FS) SyncDir(name string) error {
	if ft, ok := f.check(opSyncDir, name); ok {
		return &fs.PathError{Op: "syncdir", Path: name, Err: ft.err}
	}
	return f.inner.SyncDir(name)
}

// faultFile is a File of an FS: WriteAt and Sync may fail, the rest
// forwards to the inner file.
type faultFile struct {
	fs    *FS
	path  string
	inner file.File
}

// ReadAt forwards to the inner file; it is never failed.
func (f *faultFile) ReadAt(p []byte, off int64) (int, error) { return f.inner.ReadAt(p, off) }

// WriteAt writes through to the inner file, or, if a write fault fires,
// writes the fault's prefix (if any) and returns the fault's error.
func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	ft, ok := f.fs.check(opWrite, f.path)
	if !ok {
		return f.inner.WriteAt(p, off)
	}
	n := 0
	if ft.keep > 0 {
		k := min(ft.keep, len(p))
		var err error
		n, err = f.inner.WriteAt(p[:k], off)
		if err != nil {
			return n, err
		}
	}
	return n, &fs.PathError{Op: "write", Path: f.path, Err: ft.err}
}

// Sync syncs the inner file, or fails without syncing if a sync fault
// fires.
func (f *faultFile) Sync() error {
	if ft, ok := f.fs.check(opSync, f.path); ok {
		return &fs.PathError{Op: "sync", Path: f.path, Err: ft.err}
	}
	return f.inner.Sync()
}

// Truncate forwards to the inner file; it is never failed.
func (f *faultFile) Truncate(size int64) error { return f.inner.Truncate(size) }

// Stat forwards to the inner file; it is never failed.
func (f *faultFile) Stat() (fs.FileInfo, error) { return f.inner.Stat() }

// Close forwards to the inner file; it is never failed.
func (f *faultFile) Close() error { return f.inner.Close() }
