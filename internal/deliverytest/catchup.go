// Package deliverytest helps tests run a delivery stream to the end of its
// source: RunUntilCaughtUp runs a stream until every shard is delivered
// through the last record the log holds, then stops it gracefully.
//
// It is a test helper: only _test.go files import it.
package deliverytest

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
)

// Target is how far a shard must be delivered to be caught up.
type Target struct {
	// Last is the shard's last readable record (zero: none).
	Last shardlog.SequenceNumber
	// Closed shards must also be checkpointed done.
	Closed bool
}

// Targets reads every shard of stream to its end and returns, per shard
// ID, how far a delivery stream must get to have delivered all of it.
func Targets(ctx context.Context, log *shardlog.Log, stream string) (map[string]Target, error) {
	d, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: stream})
	if err != nil {
		return nil, err
	}
	out := make(map[string]Target, len(d.Shards))
	for _, sh := range d.Shards {
		cur, err := log.NewCursor(ctx, shardlog.NewCursorInput{StreamName: stream, ShardID: sh.ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
		if err != nil {
			return nil, err
		}
		tg := Target{Closed: sh.Closed}
		for {
			b, err := cur.Next(ctx, 0)
			if err != nil {
				return nil, err
			}
			if n := len(b.Records); n > 0 {
				tg.Last = b.Records[n-1].SequenceNumber
			}
			if b.End || len(b.Records) == 0 {
				break
			}
		}
		out[sh.ShardID] = tg
	}
	return out, nil
}

// CaughtUp reports whether st shows every target reached: each shard
// checkpointed through its Last with nothing buffered, and closed ones
// done.
func CaughtUp(st delivery.Status, targets map[string]Target) bool {
	byID := make(map[string]delivery.ShardStatus, len(st.Shards))
	for _, sh := range st.Shards {
		byID[sh.ShardID] = sh
	}
	for id, tg := range targets {
		sh, ok := byID[id]
		switch {
		case tg.Closed && !(ok && sh.Done):
			return false
		case !tg.Last.IsZero() && (!ok || sh.Checkpoint.Compare(tg.Last) < 0 || sh.BufferedRecords > 0):
			return false
		}
	}
	return true
}

// RunUntilCaughtUp runs s (whose Run must not have been called) until it
// has delivered every record its source's log holds now (Targets), then
// cancels it, so that it stops gracefully, and returns Run's error. It
// fails if Run returns first or if catching up takes longer than timeout.
func RunUntilCaughtUp(ctx context.Context, s *delivery.Stream, timeout time.Duration) error {
	src := s.Config().Source
	targets, err := Targets(ctx, src.Log, src.StreamName)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !CaughtUp(s.Status(), targets) {
		select {
		case err := <-done:
			return fmt.Errorf("deliverytest: the delivery stream stopped before catching up: %v", err)
		case <-deadline.C:
			cancel()
			<-done
			return fmt.Errorf("deliverytest: the delivery stream did not catch up within %v: %+v, want %+v", timeout, s.Status().Shards, targets)
		case <-tick.C:
		}
	}
	cancel()
	return <-done
}
