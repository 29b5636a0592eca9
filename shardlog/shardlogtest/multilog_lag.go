package shardlogtest

import (
	"sync"

	"github.com/shoal-dev/shoal/shardlog"
)

// mlLagging wraps a shared engine and can hold back its change feed, as a
// slow network or a busy process would: while paused, the Log over it
// hears of no other Log's change, so what it gets right it gets from the
// engine itself (seals, incarnation checks, sealed-aware key reads), not
// from the feed. On resume it receives "" (reload every stream) if it
// missed anything.
type mlLagging struct {
	shardlog.SharedEngine

	out       chan string
	done      chan struct{} // closed by Close
	closeOnce sync.Once

	mu     sync.Mutex
	paused bool
	resume chan struct{} // one slot: a resume to notice
}

// mlLag wraps e and starts forwarding its change feed.
func mlLag(e shardlog.SharedEngine) *mlLagging {
	l := &mlLagging{SharedEngine: e, out: make(chan string), done: make(chan struct{}), resume: make(chan struct{}, 1)}
	go l.forward(e.Changes())
	return l
}

// Changes returns the held-back feed.
func (l *mlLagging) Changes() <-chan string { return l.out }

// Pause holds the feed back until Resume.
func (l *mlLagging) Pause() {
	l.mu.Lock()
	l.paused = true
	l.mu.Unlock()
}

// Resume lets the feed through again.
func (l *mlLagging) Resume() {
	l.mu.Lock()
	l.paused = false
	l.mu.Unlock()
	select {
	case l.resume <- struct{}{}:
	default:
	}
}

func (l *mlLagging) isPaused() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paused
}

// Close stops the forwarding and closes the wrapped engine.
func (l *mlLagging) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.SharedEngine.Close()
}

// forward hands the wrapped feed on, or swallows it while paused.
func (l *mlLagging) forward(in <-chan string) {
	defer close(l.out)
	missed := false
	for {
		var send chan string // nil: nothing to send
		name := ""
		if missed && !l.isPaused() {
			send = l.out
		}
		select {
		case <-l.done:
			return
		case <-l.resume:
			continue
		case send <- name:
			missed = false
			continue
		case n, ok := <-in:
			if !ok {
				return
			}
			if l.isPaused() || missed {
				missed = true
				continue
			}
			name = n
		}
		select {
		case <-l.done:
			return
		case l.out <- name:
		}
	}
}
