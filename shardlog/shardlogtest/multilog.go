package shardlogtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// NewSharedEngines prepares one fresh, empty log for a test and returns an
// opener: each call opens another engine on that same log, as another
// process would. Every engine it returns must be a shardlog.SharedEngine.
// The suite closes each engine (through its Log).
type NewSharedEngines func(t *testing.T) (open func() shardlog.Engine)

// RunMultiLog runs the multi-Log group: two or three Logs, each over its
// own engine from one opener, share streams. An engine opts in by calling
// it next to Run:
//
//	func TestMultiLog(t *testing.T) {
//		shardlogtest.RunMultiLog(t, func(t *testing.T) func() shardlog.Engine {
//			first := memory.New()
//			t.Cleanup(func() { _ = first.Close() })
//			return func() shardlog.Engine { return first.Attach() }
//		})
//	}
//
// It checks that what one Log does, the others see: streams created,
// changed and deleted (within MultiLogPropagation), records put (also by
// readers waiting for them), reshards racing puts and conditional appends
// from other Logs (nothing lost, nothing twice, per-key order kept),
// conditional appends racing across Logs (one winner), a porcupine check
// of AppendKey, ReadKey and LastKey across Logs with splits and merges in
// the middle, that retention follows the stored period, and that closing
// one Log leaves the others working.
func RunMultiLog(t *testing.T, newShared NewSharedEngines) {
	groups := []struct {
		name string
		fn   func(t *testing.T, newShared NewSharedEngines)
	}{
		{"Visibility", testMultiLogVisibility},
		{"Deletion", testMultiLogDeletion},
		{"Resharding", testMultiLogResharding},
		{"Conditional", testMultiLogConditional},
		{"Linearizability", testMultiLogLinearizability},
		{"Readers", testMultiLogReaders},
		{"Retention", testMultiLogRetention},
		{"Close", testMultiLogClose},
		{"DropIncarnation", testMultiLogDropIncarnation},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.fn(t, newShared) })
	}
}

// MultiLogPropagation is how soon a change made through one Log must be
// seen by every other Log of the same engine.
const MultiLogPropagation = time.Second

// Helpers of the multi-Log group are prefixed with ml.

// mlHarness is several Logs over one shared log, sharing a fake clock.
type mlHarness struct {
	T     *testing.T
	Ctx   context.Context
	Clock *Clock
	Logs  []*shardlog.Log
	// Lag holds each Log's engine, wrapped so that the test can hold
	// back its change feed (Pause, Resume).
	Lag  []*mlLagging
	open func() shardlog.Engine
}

// mlSecret signs the iterators and tokens of every Log of a test, so that
// one Log's are good for another.
var mlSecret = []byte("shardlogtest multi-Log token secret")

// mlOpen opens n Logs, each over its own engine from one opener, with one
// fake clock, one token secret and no janitor; they are closed when the
// test ends.
func mlOpen(t *testing.T, newShared NewSharedEngines, n int) *mlHarness {
	t.Helper()
	m := &mlHarness{T: t, Ctx: t.Context(), Clock: NewClock(), open: newShared(t)}
	for range n {
		m.Logs = append(m.Logs, m.OpenLog())
	}
	return m
}

// OpenLog opens another Log over another engine from the opener; it is
// closed when the test ends.
func (m *mlHarness) OpenLog() *shardlog.Log {
	t := m.T
	t.Helper()
	e := m.open()
	se, shared := e.(shardlog.SharedEngine)
	if !shared {
		_ = e.Close()
		t.Fatalf("the opener's engine (%T) is not a shardlog.SharedEngine", e)
	}
	lag := mlLag(se)
	m.Lag = append(m.Lag, lag)
	l, err := shardlog.Open(m.Ctx, lag, shardlog.WithClock(m.Clock.Now), shardlog.WithRetentionInterval(0), shardlog.WithTokenSecret(mlSecret))
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// H returns a single-Log harness over Log i, for the helpers of the other
// groups.
func (m *mlHarness) H(i int) *Harness {
	return &Harness{T: m.T, Ctx: m.Ctx, Clock: m.Clock, Log: m.Logs[i]}
}

// mlWithin calls check until it returns nil, for at most d, and fails the
// test with check's last error if it never does.
func mlWithin(t *testing.T, d time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mlSeen waits, for at most MultiLogPropagation, until check passes.
func mlSeen(t *testing.T, what string, check func() error) {
	t.Helper()
	mlWithin(t, MultiLogPropagation, what, check)
}

// mlDescribe describes a stream; safe off the test goroutine.
func mlDescribe(ctx context.Context, l *shardlog.Log, stream string) (*shardlog.DescribeStreamOutput, error) {
	return l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: stream})
}

// mlOpenShards returns the open shards a Log describes, by ID.
func mlOpenShards(ctx context.Context, l *shardlog.Log, stream string) (map[string]shardlog.Shard, error) {
	d, err := mlDescribe(ctx, l, stream)
	if err != nil {
		return nil, err
	}
	out := map[string]shardlog.Shard{}
	for _, s := range d.Shards {
		if !s.Closed {
			out[s.ShardID] = s
		}
	}
	return out, nil
}

// mlSameOpenShards returns nil once Log b describes the same open shards
// (IDs and ranges) as Log a.
func mlSameOpenShards(ctx context.Context, a, b *shardlog.Log, stream string) error {
	want, err := mlOpenShards(ctx, a, stream)
	if err != nil {
		return err
	}
	got, err := mlOpenShards(ctx, b, stream)
	if err != nil {
		return err
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d open shards, want %d", len(got), len(want))
	}
	for id, s := range want {
		if g, ok := got[id]; !ok || g.HashKeyRange != s.HashKeyRange {
			return fmt.Errorf("open shard %s missing or with another range", id)
		}
	}
	return nil
}

// mlOwner returns the ID of the open shard that owns hash key hk as l
// describes the stream, failing the test if none does.
func mlOwner(t *testing.T, ctx context.Context, l *shardlog.Log, stream string, hk shardlog.HashKey) string {
	t.Helper()
	open, err := mlOpenShards(ctx, l, stream)
	require.NoError(t, err)
	for id, s := range open {
		if s.HashKeyRange.Contains(hk) {
			return id
		}
	}
	t.Fatalf("no open shard of %s owns hash key %s", stream, hk)
	return ""
}
