package file

import (
	"log/slog"
	"time"
)

// SyncPolicy says when appended records reach stable storage.
type SyncPolicy struct {
	mode     syncMode
	interval time.Duration
}

type syncMode int

const (
	syncAlways syncMode = iota
	syncInterval
	syncNever
)

var (
	// SyncAlways makes a put return only after its records are fdatasync'd.
	// Concurrent puts to a shard share one fdatasync (group commit).
	// Readers and subscribers see a record only once it is durable.
	SyncAlways = SyncPolicy{mode: syncAlways}
	// SyncNever leaves flushing to the operating system: a put returns once
	// its records are written to the file (they survive a crash of the
	// process, not of the machine). Records are visible at once.
	SyncNever = SyncPolicy{mode: syncNever}
)

// SyncInterval makes a background pass fdatasync every shard written to in
// the last d: a machine crash loses at most about d of acknowledged puts; a
// process crash loses nothing. Records are visible at once.
func SyncInterval(d time.Duration) SyncPolicy { return SyncPolicy{mode: syncInterval, interval: d} }

// String returns "always", "never" or "interval(d)".
func (p SyncPolicy) String() string {
	switch p.mode {
	case syncAlways:
		return "always"
	case syncInterval:
		return "interval(" + p.interval.String() + ")"
	}
	return "never"
}

// Option configures Open.
type Option func(*options)

type options struct {
	sync        SyncPolicy
	segmentSize int64
	fs          FS
	logger      *slog.Logger
	preallocate bool

	maxOpenFiles int // WithMaxOpenFiles
}

// WithPreallocation turns on or off preparing each next segment file ahead
// of time, zero-filled to the segment size (see prealloc.go): fdatasync is
// then cheaper, at the cost of writing each segment's space twice.
// Default: on.
func WithPreallocation(on bool) Option { return func(o *options) { o.preallocate = on } }

// WithMaxOpenFiles bounds the segment files the engine keeps open: past n,
// it closes the least recently used idle shards, which reopen on demand
// (see the package doc, "Open files"). A shard in use stays open, so the
// bound can be passed while more shards than n are busy at once. n <= 0
// means the default: half the process's soft RLIMIT_NOFILE, at least 16
// and at most 1<<20 (512 where the limit is unknown).
func WithMaxOpenFiles(n int) Option { return func(o *options) { o.maxOpenFiles = n } }

// maxOpenFiles is the limit of WithMaxOpenFiles(n).
func maxOpenFiles(n int) int64 {
	if n <= 0 {
		n = defaultMaxOpenFiles()
	}
	return int64(n)
}

// clampOpenFiles bounds a default open-file limit to [16, 1<<20].
func clampOpenFiles(n uint64) int { return int(min(max(n, 16), 1<<20)) }

// WithSync sets the durability policy. Default: SyncAlways.
func WithSync(p SyncPolicy) Option { return func(o *options) { o.sync = p } }

// WithSegmentSize sets the size at which a shard's active segment file is
// rolled (a segment holds at least one batch, so it may exceed it).
// Retention deletes whole segments. Default: 64 MiB.
func WithSegmentSize(n int64) Option { return func(o *options) { o.segmentSize = n } }

// WithFS sets the file system (tests inject faults through it); nil means
// the default, the operating system's.
func WithFS(fsys FS) Option { return func(o *options) { o.fs = fsys } }

// WithLogger sets the structured logger for recovery and background work.
// Default, and when l is nil: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }
