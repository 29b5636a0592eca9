package file

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// ShardFault describes a shard whose writes are failing: see Engine.Health.
type ShardFault struct {
	Stream string // the stream's name
	Shard  string // the shard's ID
	// File is the segment file (or, when the shard failed to open, the
	// shard's directory) the failed call was on.
	File string
	// Err is the failure; errors.Is finds its cause (syscall.ENOSPC, ...).
	Err error
	// Since is when the shard's writes started failing.
	Since time.Time
	// Fatal is set when an fdatasync failed: the shard refuses writes
	// until the engine is reopened. Otherwise the next append tries again.
	Fatal bool
}

// String describes the fault on one line.
func (f ShardFault) String() string {
	kind := "write failed (retried by the next append)"
	if f.Fatal {
		kind = "sync failed (refused until restart)"
	}
	return fmt.Sprintf("%s/%s: %s since %s: %v", f.Stream, f.Shard, kind, f.Since.UTC().Format(time.RFC3339), f.Err)
}

// Health returns the shards whose writes are failing, by stream and
// shard: a shard is listed from its first failed write or sync until an
// append to it succeeds again (a fatal fault stays until the engine is
// reopened or the shard deleted). An empty result means every shard
// written to recently is writing.
func (e *Engine) Health() []ShardFault {
	return e.faults.list()
}

// faultSet holds the shards whose writes are failing.
type faultSet struct {
	n  atomic.Int32 // len(m), read without mu by clear's fast path
	mu sync.Mutex
	m  map[shardKey]ShardFault
}

// note records a failed write or sync of shard k and logs it.
func (f *faultSet) note(l *slog.Logger, k shardKey, path string, err error, fatal bool) {
	l.Error("shardlog/file: write failed", "stream", k.stream, "shard", k.shard, "file", path, "fatal", fatal, "err", err)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[shardKey]ShardFault{}
	}
	since := time.Now()
	if old, ok := f.m[k]; ok {
		since = old.Since
	}
	f.m[k] = ShardFault{Stream: k.stream, Shard: k.shard, File: path, Err: err, Since: since, Fatal: fatal}
	f.n.Store(int32(len(f.m)))
}

// clear forgets shard k's fault: its writes work again.
func (f *faultSet) clear(k shardKey) {
	if f.n.Load() == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, k)
	f.n.Store(int32(len(f.m)))
}

// clearStream forgets the faults of a stream's shards.
func (f *faultSet) clearStream(stream string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.m {
		if k.stream == stream {
			delete(f.m, k)
		}
	}
	f.n.Store(int32(len(f.m)))
}

func (f *faultSet) list() []ShardFault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]ShardFault, 0, len(f.m))
	for _, v := range f.m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Stream != out[j].Stream {
			return out[i].Stream < out[j].Stream
		}
		return out[i].Shard < out[j].Shard
	})
	return out
}
