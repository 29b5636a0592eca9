package memory

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// shard is one shard's state. Every field is guarded by mu.
//
// Records are addressed by absolute index: the n-th record ever appended to
// the shard has index n-1, whatever was trimmed since. records[0] has index
// base, and records with index below trim are dead (trimmed) but may still
// sit in the slice until the next compaction.
type shard struct {
	mu      sync.Mutex
	dropped bool // the state was removed from the engine; look it up again
	sealed  bool
	seq     *shardlog.Sequencer
	records []shardlog.Record
	base    int                     // absolute index of records[0]
	trim    int                     // absolute index of the first live record; base <= trim <= end
	trimmed shardlog.SequenceNumber // the last record Trim removed (ShardBounds.Trimmed)
	last    shardlog.SequenceNumber
	keys    map[string][]int // partition key -> ascending absolute indices
	notify  chan struct{}
	watched bool // notify was handed out since it was made
}

// newShard returns the empty state of ref's shard, sealed if told.
func newShard(ref shardlog.ShardRef, sealed bool) *shard {
	return &shard{
		sealed: sealed,
		seq:    shardlog.NewSequencer(ref.Index, ref.Floor, 0, time.Time{}),
		keys:   make(map[string][]int),
		notify: make(chan struct{}),
	}
}

// end returns the absolute index one past the last record.
func (s *shard) end() int { return s.base + len(s.records) }

// at returns the record at absolute index i.
func (s *shard) at(i int) *shardlog.Record { return &s.records[i-s.base] }

// live returns the records not trimmed.
func (s *shard) live() []shardlog.Record { return s.records[s.trim-s.base:] }

// broadcast wakes every waiter of Notify and arms a fresh channel.
// A channel nobody took from Notify is kept: appends with no waiter cost
// no allocation.
func (s *shard) broadcast() {
	if !s.watched {
		return
	}
	close(s.notify)
	s.notify = make(chan struct{})
	s.watched = false
}

// drop marks the state as removed from the engine and wakes its waiters.
// The caller holds s.mu.
func (s *shard) drop() {
	if s.dropped {
		return
	}
	s.dropped = true
	close(s.notify)
	s.records, s.keys = nil, nil
}

// keyPositions returns the live absolute indices of key's records, pruning
// the trimmed ones from the index on the way.
func (s *shard) keyPositions(key string) []int {
	p := s.keys[key]
	if len(p) == 0 {
		return nil
	}
	if p[0] < s.trim {
		i := sort.SearchInts(p, s.trim)
		if i == len(p) {
			delete(s.keys, key)
			return nil
		}
		p = p[i:]
		s.keys[key] = p
	}
	return p
}

// lastKey returns key's latest live record, or nil.
func (s *shard) lastKey(key string) *shardlog.Record {
	p := s.keyPositions(key)
	if len(p) == 0 {
		return nil
	}
	return s.at(p[len(p)-1])
}

// compact drops dead records from the slice once they are more than half of
// it, and prunes the key index alongside. It costs at most twice the number
// of records trimmed since the last compaction, so amortized constant time
// per record.
func (s *shard) compact() {
	dead := s.trim - s.base
	if dead == 0 || dead <= len(s.records)/2 {
		return
	}
	s.records = slices.Clone(s.records[dead:])
	s.base = s.trim
	for k, p := range s.keys {
		i := sort.SearchInts(p, s.trim)
		switch {
		case i == len(p):
			delete(s.keys, k)
		case i > 0:
			s.keys[k] = slices.Clone(p[i:])
		}
	}
}
