package shardlog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
)

// The sequencer keeps wall-clock arrival times, without the monotonic
// reading time.Now carries: it compares them by the wall clock, so a
// system clock set back cannot make arrival times go backwards within a
// shard (with monotonic readings, Before would compare the monotonic
// clock, which does not step back, and let the earlier wall time through).
func TestSequencerArrivalIsWallClock(t *testing.T) {
	q := shardlog.NewSequencer(0, 0, 0, time.Time{})
	_, a := q.Next(1, time.Now(), 0)
	require.True(t, a == a.Round(0), "arrival %v carries a monotonic clock reading", a)
	_, b := q.Next(1, a.Add(-time.Hour), 0)
	require.Equal(t, a, b, "an earlier wall time repeats the previous arrival")
}
