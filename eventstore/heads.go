package eventstore

import (
	"hash/maphash"
	"sync"
)

// heads caches the latest event of streams as this Store last saw it (by
// appending or by reading a stream to its end), so that an Append after a
// Load or another Append does not read it from the log again. A stale
// entry costs one refused conditional append and a fresh read, never a
// wrong write: the log checks the sequence number, and Append decides
// conflicts and retries only on a fresh read.
type heads struct {
	seed  maphash.Seed
	limit int // entries per part; 0 turns the cache off
	parts [16]headPart
}

type headPart struct {
	mu sync.Mutex
	m  map[string]head
}

// DefaultHeadCacheSize is how many streams' latest events a Store keeps
// unless WithHeadCache says otherwise.
const DefaultHeadCacheSize = 1 << 16

func newHeads(size int) *heads {
	h := &heads{seed: maphash.MakeSeed(), limit: (size + len(heads{}.parts) - 1) / len(heads{}.parts)}
	for i := range h.parts {
		h.parts[i].m = map[string]head{}
	}
	return h
}

func (h *heads) part(id string) *headPart {
	return &h.parts[maphash.String(h.seed, id)%uint64(len(h.parts))]
}

func (h *heads) get(id string) (head, bool) {
	if h.limit == 0 {
		return head{}, false
	}
	p := h.part(id)
	p.mu.Lock()
	hd, ok := p.m[id]
	p.mu.Unlock()
	return hd, ok
}

// put remembers hd as id's latest event, unless it has none in the log.
func (h *heads) put(id string, hd head) {
	if h.limit == 0 || hd.seq.IsZero() {
		return
	}
	hd.last.meta = Metadata{} // not needed; do not hold its map
	p := h.part(id)
	p.mu.Lock()
	if old, ok := p.m[id]; ok && old.seq.Compare(hd.seq) > 0 {
		p.mu.Unlock() // a newer one is known
		return
	}
	if _, ok := p.m[id]; !ok && len(p.m) >= h.limit {
		for k := range p.m { // evict an arbitrary entry
			delete(p.m, k)
			break
		}
	}
	p.m[id] = hd
	p.mu.Unlock()
}

func (h *heads) drop(id string) {
	if h.limit == 0 {
		return
	}
	p := h.part(id)
	p.mu.Lock()
	delete(p.m, id)
	p.mu.Unlock()
}
