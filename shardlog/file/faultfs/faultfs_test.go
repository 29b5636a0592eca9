package faultfs_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/file/faultfs"
)

var errBoom = errors.New("boom")

func newFS(t *testing.T) (*faultfs.FS, string) {
	t.Helper()
	return faultfs.New(file.OS()), t.TempDir()
}

func open(t *testing.T, ffs *faultfs.FS, name string) file.File {
	t.Helper()
	f, err := ffs.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("OpenFile(%s): %v", name, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("ReadFile(%s): %v", name, err)
	}
	return b
}

func TestPassThrough(t *testing.T) {
	ffs, dir := newFS(t)
	if err := ffs.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "a", "b", "x.seg")
	f := open(t, ffs, name)
	if n, err := f.WriteAt([]byte("hello world"), 0); n != 11 || err != nil {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := f.ReadAt(buf, 6); err != nil || string(buf) != "world" {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 5 {
		t.Fatalf("Stat = %v, %v", fi, err)
	}
	if b, err := ffs.ReadFile(name); err != nil || string(b) != "hello" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	renamed := filepath.Join(dir, "a", "b", "y.seg")
	if err := ffs.Rename(name, renamed); err != nil {
		t.Fatal(err)
	}
	if err := ffs.SyncDir(filepath.Join(dir, "a", "b")); err != nil {
		t.Fatal(err)
	}
	ents, err := ffs.ReadDir(filepath.Join(dir, "a", "b"))
	if err != nil || len(ents) != 1 || ents[0].Name() != "y.seg" {
		t.Fatalf("ReadDir = %v, %v", ents, err)
	}
	if err := ffs.Remove(renamed); err != nil {
		t.Fatal(err)
	}
	if err := ffs.RemoveAll(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after RemoveAll: %v", err)
	}
	if ffs.Writes() != 1 || ffs.Syncs() != 1 || ffs.SyncDirs() != 1 || ffs.Renames() != 1 || ffs.Opens() != 1 {
		t.Fatalf("counters: writes=%d syncs=%d syncdirs=%d renames=%d opens=%d",
			ffs.Writes(), ffs.Syncs(), ffs.SyncDirs(), ffs.Renames(), ffs.Opens())
	}
	if ffs.Fired() != 0 || ffs.Armed() {
		t.Fatalf("Fired=%d Armed=%v, want 0 false", ffs.Fired(), ffs.Armed())
	}
}

func TestFailWriteAfter(t *testing.T) {
	for n := 0; n < 4; n++ {
		ffs, dir := newFS(t)
		name := filepath.Join(dir, "f")
		f := open(t, ffs, name)
		ffs.FailWriteAfter(n, errBoom)
		if !ffs.Armed() {
			t.Fatal("not armed")
		}
		for i := 0; i < 6; i++ {
			w, err := f.WriteAt([]byte{'a' + byte(i)}, int64(i))
			if i == n {
				if !errors.Is(err, errBoom) || w != 0 {
					t.Fatalf("n=%d: write %d = %d, %v; want 0, boom", n, i, w, err)
				}
				continue
			}
			if err != nil || w != 1 {
				t.Fatalf("n=%d: write %d = %d, %v; want success (fault fires once)", n, i, w, err)
			}
		}
		want := []byte("abcdef")
		want[n] = 0 // the failed write wrote nothing: a hole
		if got := readFile(t, name); !bytes.Equal(got, want) {
			t.Fatalf("n=%d: file = %q, want %q", n, got, want)
		}
		if ffs.Writes() != 6 || ffs.Fired() != 1 || ffs.Armed() {
			t.Fatalf("n=%d: Writes=%d Fired=%d Armed=%v", n, ffs.Writes(), ffs.Fired(), ffs.Armed())
		}
	}
}

func TestCountingIsFromNow(t *testing.T) {
	ffs, dir := newFS(t)
	f := open(t, ffs, filepath.Join(dir, "f"))
	for i := 0; i < 3; i++ {
		if _, err := f.WriteAt([]byte("x"), 0); err != nil {
			t.Fatal(err)
		}
	}
	ffs.FailWriteAfter(1, errBoom)
	if _, err := f.WriteAt([]byte("x"), 0); err != nil {
		t.Fatalf("first write after arming: %v", err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, errBoom) {
		t.Fatalf("second write after arming: %v, want boom", err)
	}
	if ffs.Writes() != 5 {
		t.Fatalf("Writes = %d, want 5", ffs.Writes())
	}
}

func TestNilErrorIsErrInjected(t *testing.T) {
	ffs, dir := newFS(t)
	f := open(t, ffs, filepath.Join(dir, "f"))
	ffs.FailWriteAfter(0, nil)
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("WriteAt: %v, want ErrInjected", err)
	}
	ffs.FailSyncAfter(0, nil)
	if err := f.Sync(); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("Sync: %v, want ErrInjected", err)
	}
}

func TestFailWriteAfterPartial(t *testing.T) {
	tests := []struct {
		name string
		keep int
		want string // file content after the torn write
	}{
		{"none", 0, ""},
		{"negative", -5, ""},
		{"prefix", 3, "012"},
		{"all", 10, "0123456789"},
		{"more than all", 100, "0123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ffs, dir := newFS(t)
			name := filepath.Join(dir, "f")
			f := open(t, ffs, name)
			ffs.FailWriteAfterPartial(0, tt.keep, errBoom)
			n, err := f.WriteAt([]byte("0123456789"), 0)
			if !errors.Is(err, errBoom) {
				t.Fatalf("WriteAt err = %v, want boom", err)
			}
			if n != len(tt.want) {
				t.Fatalf("WriteAt n = %d, want %d", n, len(tt.want))
			}
			if got := string(readFile(t, name)); got != tt.want {
				t.Fatalf("file = %q, want %q", got, tt.want)
			}
			// Fired once: the next write goes through whole.
			if n, err := f.WriteAt([]byte("abc"), 20); n != 3 || err != nil {
				t.Fatalf("next WriteAt = %d, %v", n, err)
			}
		})
	}
}

func TestPartialWriteAtOffset(t *testing.T) {
	ffs, dir := newFS(t)
	name := filepath.Join(dir, "f")
	f := open(t, ffs, name)
	if _, err := f.WriteAt([]byte("head"), 0); err != nil {
		t.Fatal(err)
	}
	ffs.FailWriteAfterPartial(0, 2, errBoom)
	if n, err := f.WriteAt([]byte("tail"), 4); n != 2 || !errors.Is(err, errBoom) {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	if got := string(readFile(t, name)); got != "headta" {
		t.Fatalf("file = %q, want %q", got, "headta")
	}
}

func TestFailSyncAfter(t *testing.T) {
	ffs, dir := newFS(t)
	f := open(t, ffs, filepath.Join(dir, "f"))
	ffs.FailSyncAfter(2, errBoom)
	for i := 0; i < 5; i++ {
		err := f.Sync()
		if (i == 2) != errors.Is(err, errBoom) || (i != 2 && err != nil) {
			t.Fatalf("sync %d: %v", i, err)
		}
	}
	if ffs.Syncs() != 5 || ffs.Fired() != 1 {
		t.Fatalf("Syncs=%d Fired=%d", ffs.Syncs(), ffs.Fired())
	}
}

func TestFailSyncDirAfter(t *testing.T) {
	ffs, dir := newFS(t)
	ffs.FailSyncDirAfter(1, errBoom)
	for i := 0; i < 3; i++ {
		err := ffs.SyncDir(dir)
		if (i == 1) != errors.Is(err, errBoom) || (i != 1 && err != nil) {
			t.Fatalf("syncdir %d: %v", i, err)
		}
	}
	if ffs.SyncDirs() != 3 {
		t.Fatalf("SyncDirs = %d", ffs.SyncDirs())
	}
}

func TestFailRenameAfter(t *testing.T) {
	ffs, dir := newFS(t)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ffs.FailRenameAfter(0, errBoom)
	if err := ffs.Rename(a, b); !errors.Is(err, errBoom) {
		t.Fatalf("Rename: %v, want boom", err)
	}
	if _, err := os.Stat(a); err != nil {
		t.Fatalf("failed rename moved the file: %v", err)
	}
	if _, err := os.Stat(b); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("failed rename created the target: %v", err)
	}
	if err := ffs.Rename(a, b); err != nil {
		t.Fatalf("second Rename: %v", err)
	}
	if _, err := os.Stat(b); err != nil {
		t.Fatal(err)
	}
}

func TestFailOpenAfter(t *testing.T) {
	ffs, dir := newFS(t)
	name := filepath.Join(dir, "f")
	ffs.FailOpenAfter(0, errBoom)
	if f, err := ffs.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, errBoom) || f != nil {
		t.Fatalf("OpenFile = %v, %v; want nil, boom", f, err)
	}
	if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("failed open created the file: %v", err)
	}
	open(t, ffs, name)
	// ReadFile is not an open for the purpose of faults.
	ffs.FailOpenAfter(0, errBoom)
	if _, err := ffs.ReadFile(name); err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if ffs.Opens() != 2 || !ffs.Armed() {
		t.Fatalf("Opens=%d Armed=%v", ffs.Opens(), ffs.Armed())
	}
}

func TestOnlyPaths(t *testing.T) {
	ffs, dir := newFS(t)
	ffs.OnlyPaths(func(p string) bool { return strings.HasSuffix(p, ".seg") })
	seg, idx := filepath.Join(dir, "1.seg"), filepath.Join(dir, "1.idx")
	fs1, fi := open(t, ffs, seg), open(t, ffs, idx)

	ffs.FailWriteAfter(1, errBoom)
	ffs.FailSyncAfter(0, errBoom)
	ffs.FailSyncDirAfter(0, errBoom)
	for i := 0; i < 5; i++ {
		if _, err := fi.WriteAt([]byte("i"), int64(i)); err != nil {
			t.Fatalf("idx write %d: %v", i, err)
		}
		if err := fi.Sync(); err != nil {
			t.Fatalf("idx sync %d: %v", i, err)
		}
	}
	if err := ffs.SyncDir(dir); err != nil {
		t.Fatalf("SyncDir does not match *.seg, must pass: %v", err)
	}
	if _, err := fs1.WriteAt([]byte("s"), 0); err != nil {
		t.Fatalf("seg write 0: %v", err)
	}
	if _, err := fs1.WriteAt([]byte("s"), 1); !errors.Is(err, errBoom) {
		t.Fatalf("seg write 1: %v, want boom", err)
	}
	if err := fs1.Sync(); !errors.Is(err, errBoom) {
		t.Fatalf("seg sync: %v, want boom", err)
	}
	if ffs.Writes() != 2 || ffs.Syncs() != 1 || ffs.SyncDirs() != 0 || ffs.Opens() != 1 {
		t.Fatalf("counters count matching calls only: writes=%d syncs=%d syncdirs=%d opens=%d",
			ffs.Writes(), ffs.Syncs(), ffs.SyncDirs(), ffs.Opens())
	}

	// Rename matches on either name.
	tmp := filepath.Join(dir, "2.tmp")
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ffs.FailRenameAfter(0, errBoom)
	if err := ffs.Rename(tmp, filepath.Join(dir, "2.tmp2")); err != nil {
		t.Fatalf("non-matching rename: %v", err)
	}
	if err := ffs.Rename(filepath.Join(dir, "2.tmp2"), filepath.Join(dir, "2.seg")); !errors.Is(err, errBoom) {
		t.Fatalf("rename to .seg: %v, want boom", err)
	}

	// nil removes the filter.
	ffs.OnlyPaths(nil)
	ffs.FailWriteAfter(0, errBoom)
	if _, err := fi.WriteAt([]byte("i"), 0); !errors.Is(err, errBoom) {
		t.Fatalf("idx write without filter: %v, want boom", err)
	}
}

func TestRearmReplaces(t *testing.T) {
	ffs, dir := newFS(t)
	f := open(t, ffs, filepath.Join(dir, "f"))
	ffs.FailWriteAfter(0, errBoom)
	ffs.FailWriteAfter(2, errBoom)
	for i := 0; i < 3; i++ {
		_, err := f.WriteAt([]byte("x"), 0)
		if (i == 2) != (err != nil) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

func TestReset(t *testing.T) {
	ffs, dir := newFS(t)
	f := open(t, ffs, filepath.Join(dir, "f.idx"))
	ffs.OnlyPaths(func(string) bool { return false })
	ffs.FailWriteAfter(0, errBoom)
	ffs.FailSyncAfter(0, errBoom)
	ffs.FailSyncDirAfter(0, errBoom)
	ffs.FailRenameAfter(0, errBoom)
	ffs.FailOpenAfter(0, errBoom)
	ffs.Reset()
	if ffs.Armed() {
		t.Fatal("armed after Reset")
	}
	// Nothing fails, and every call counts again (filter gone).
	if _, err := f.WriteAt([]byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := ffs.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if ffs.Writes() != 1 || ffs.Syncs() != 1 || ffs.SyncDirs() != 1 || ffs.Fired() != 0 {
		t.Fatalf("after Reset: writes=%d syncs=%d syncdirs=%d fired=%d",
			ffs.Writes(), ffs.Syncs(), ffs.SyncDirs(), ffs.Fired())
	}
	ffs.Reset()
	if ffs.Writes() != 0 || ffs.Syncs() != 0 || ffs.SyncDirs() != 0 {
		t.Fatal("Reset did not zero the counters")
	}
}

func TestResetRemovesFilter(t *testing.T) {
	ffs, dir := newFS(t)
	f := open(t, ffs, filepath.Join(dir, "f.idx"))
	ffs.OnlyPaths(func(p string) bool { return strings.HasSuffix(p, ".seg") })
	ffs.Reset()
	ffs.FailWriteAfter(0, errBoom)
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, errBoom) {
		t.Fatalf("WriteAt after Reset: %v, want boom (filter removed)", err)
	}
}

// TestConcurrent: many goroutines write at once; exactly one write fails
// and every call is counted. Run with -race.
func TestConcurrent(t *testing.T) {
	ffs, dir := newFS(t)
	const goroutines, perG = 8, 100
	ffs.FailWriteAfter(37, errBoom)
	ffs.FailSyncAfter(11, errBoom)
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		wfails, sfails int
	)
	for g := 0; g < goroutines; g++ {
		f := open(t, ffs, filepath.Join(dir, string(rune('a'+g))))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				_, werr := f.WriteAt([]byte{byte(i)}, int64(i))
				serr := f.Sync()
				mu.Lock()
				if werr != nil {
					wfails++
				}
				if serr != nil {
					sfails++
				}
				mu.Unlock()
				_ = ffs.Writes()
				_ = ffs.Armed()
			}
		}()
	}
	wg.Wait()
	if wfails != 1 || sfails != 1 {
		t.Fatalf("write failures %d, sync failures %d; want 1, 1", wfails, sfails)
	}
	if ffs.Writes() != goroutines*perG || ffs.Syncs() != goroutines*perG || ffs.Fired() != 2 {
		t.Fatalf("Writes=%d Syncs=%d Fired=%d", ffs.Writes(), ffs.Syncs(), ffs.Fired())
	}
}
