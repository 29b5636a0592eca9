package projection

import (
	"sync"
	"time"
)

// RebuildProgress is reported while Rebuild runs.
type RebuildProgress struct {
	// Events applied so far.
	Events int64
	// EstimatedTotal extrapolates Events over the time span each shard
	// being read still has to cover (its MillisBehindLatest). It is an
	// estimate: shards not started yet (the children of a reshard) are not
	// in it, and it assumes events arrived at an even rate.
	EstimatedTotal int64
	// MillisBehindLatest is, per shard being read, how far its last read
	// was behind the shard's newest record.
	MillisBehindLatest map[string]int64
	Elapsed            time.Duration
	// Done is set on the last report, when a read of every shard came
	// back empty (events appended during the rebuild are included until
	// then; live runners take the rest).
	Done bool
}

// tracker turns batch reports into RebuildProgress.
type tracker struct {
	inner  Observer
	start  time.Time
	every  time.Duration
	report func(RebuildProgress)
	until  time.Time // RebuildAsOf's instant; zero for Rebuild

	mu     sync.Mutex
	events int64
	shards map[string]*shardSpan
	last   time.Time
}

// shardSpan is what the tracker knows of one shard.
type shardSpan struct {
	events      int64
	first, last time.Time // RecordedAt of the first and last events seen
	lag         int64
}

func (t *tracker) Batch(b BatchInfo) {
	t.inner.Batch(b)
	t.mu.Lock()
	defer t.mu.Unlock()
	sp := t.shards[b.Shard]
	if sp == nil {
		sp = &shardSpan{first: b.First}
		t.shards[b.Shard] = sp
	}
	sp.events += int64(b.Events)
	sp.last, sp.lag = b.Last, b.MillisBehindLatest
	if !t.until.IsZero() {
		// An as-of rebuild reads no further than until.
		sp.lag = max(0, min(sp.lag, t.until.Sub(b.Last).Milliseconds()))
	}
	t.events += int64(b.Events)
	if t.report != nil && time.Since(t.last) >= t.every {
		t.last = time.Now()
		t.report(t.snapshot(false))
	}
}

func (t *tracker) Retry(r RetryInfo)        { t.inner.Retry(r) }
func (t *tracker) Park(p string, pk Parked) { t.inner.Park(p, pk) }
func (t *tracker) Lease(c LeaseChange)      { t.inner.Lease(c) }
func (t *tracker) Gap(g GapInfo)            { t.inner.Gap(g) }

// snapshot builds a report; t.mu is held.
func (t *tracker) snapshot(done bool) RebuildProgress {
	p := RebuildProgress{Events: t.events, MillisBehindLatest: map[string]int64{}, Elapsed: time.Since(t.start), Done: done}
	var est float64
	for id, sp := range t.shards {
		covered := sp.last.Sub(sp.first).Milliseconds()
		if covered <= 0 || sp.lag <= 0 || done {
			est += float64(sp.events)
		} else {
			est += float64(sp.events) * float64(covered+sp.lag) / float64(covered)
		}
		if !done {
			p.MillisBehindLatest[id] = sp.lag
		}
	}
	p.EstimatedTotal = max(int64(est), t.events)
	return p
}

func (t *tracker) finish() {
	if t.report == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.report(t.snapshot(true))
}
