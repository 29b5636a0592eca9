package memory

import "sync"

// maxPending bounds a change feed's backlog: past it, the feed forgets the
// names and sends "" (reload every stream) instead.
const maxPending = 1024

// closedNames is the Changes channel of a handle closed before anyone asked
// for its feed.
var closedNames = func() chan string {
	c := make(chan string)
	close(c)
	return c
}()

// feed is one handle's change feed. Publishers push names into a pending
// set, which never blocks; a goroutine, started by the first Changes,
// hands them to the reader one by one. A name already pending is not
// queued again (changes coalesce), and a backlog past maxPending collapses
// into "".
type feed struct {
	mu      sync.Mutex
	closed  bool
	out     chan string   // nil until Changes is first called
	wake    chan struct{} // one slot: pending has names
	done    chan struct{} // closed by close
	exited  chan struct{} // closed when the forwarder has closed out
	pending []string
	queued  map[string]bool
	all     bool // "" is pending: the names were forgotten
}

// channel returns the feed's channel, starting its forwarder on first use.
func (f *feed) channel() <-chan string {
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

// push records that the stream changed. It never blocks.
func (f *feed) push(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed || f.all || f.queued[name]:
		return
	case len(f.pending) >= maxPending:
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
func (f *feed) pop() (string, bool) {
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
func (f *feed) forward() {
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

// close stops the feed; once it returns, the channel is closed.
func (f *feed) close() {
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
