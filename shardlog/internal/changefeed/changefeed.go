// Package changefeed is the change feed of shared shardlog engines
// (SharedEngine.Changes): stream names handed to one reader without ever
// blocking the engine that publishes them.
package changefeed

import "sync"

// MaxPending bounds a feed's backlog: past it, the feed forgets the names
// and sends "" (reload every stream) instead.
const MaxPending = 1024

// closedNames is the channel of a feed closed before anyone asked for it.
var closedNames = func() chan string {
	c := make(chan string)
	close(c)
	return c
}()

// Feed is one engine's change feed. Push records names in a pending set and
// never blocks; a goroutine, started by the first Channel, hands them to
// the reader one by one. A name already pending is not queued again
// (changes coalesce), and a backlog past MaxPending, or a Push of "",
// collapses into "". The zero value is ready to use.
type Feed struct {
	mu      sync.Mutex
	closed  bool
	out     chan string   // nil until Channel is first called
	wake    chan struct{} // one slot: pending has names
	done    chan struct{} // closed by Close
	exited  chan struct{} // closed when the forwarder has closed out
	pending []string
	queued  map[string]bool
	all     bool // "" is pending: the names were forgotten
}

// Channel returns the feed's channel, starting its forwarder on first use.
// It is closed by Close.
func (f *Feed) Channel() <-chan string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.out != nil {
		return f.out
	}
	if f.closed {
		return closedNames
	}
	f.out = make(chan string)
	f.wake = make(chan struct{}, 1)
	f.done = make(chan struct{})
	f.exited = make(chan struct{})
	if f.all || len(f.pending) > 0 {
		f.wake <- struct{}{}
	}
	go f.forward()
	return f.out
}

// Push records that the named stream changed; "" means any stream may
// have. It never blocks.
func (f *Feed) Push(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed || f.all || (name != "" && f.queued[name]):
		return
	case name == "" || len(f.pending) >= MaxPending:
		f.pending, f.queued, f.all = nil, nil, true
	default:
		if f.queued == nil {
			f.queued = make(map[string]bool)
		}
		f.queued[name] = true
		f.pending = append(f.pending, name)
	}
	if f.wake != nil {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// pop takes the next name to send, "" first if names were forgotten.
func (f *Feed) pop() (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.all {
		f.all = false
		return "", true
	}
	if len(f.pending) == 0 {
		return "", false
	}
	name := f.pending[0]
	f.pending = f.pending[1:]
	delete(f.queued, name)
	return name, true
}

// forward hands pending names to the reader until the feed is closed,
// then closes the channel.
func (f *Feed) forward() {
	defer close(f.exited)
	defer close(f.out)
	for {
		select {
		case <-f.done:
			return
		case <-f.wake:
		}
		for {
			name, ok := f.pop()
			if !ok {
				break
			}
			select {
			case f.out <- name:
			case <-f.done:
				return
			}
		}
	}
}

// Close stops the feed; once it returns, the channel is closed. Closing
// twice is harmless.
func (f *Feed) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	f.pending, f.queued, f.all = nil, nil, false
	started := f.out != nil
	f.mu.Unlock()
	if started {
		close(f.done)
		<-f.exited
	}
}
