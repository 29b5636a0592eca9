package file_test

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

// tornTail puts n records and cuts the last one short, so that opening the
// engine logs the torn tail it truncates.
func tornTail(t *testing.T, n int) (string, []rtRec) {
	dir, recs := rtSetup(t, n)
	last := rtLayout(recs)[n-1]
	active := rtSegs(t, dir, rtStream, rtShard0)[last.seg]
	rtTruncate(t, active, last.off+4)
	return dir, recs[:n-1]
}

// TestWithLoggerNil: a nil logger (and a nil option) means the default,
// never a panic when the engine logs.
func TestWithLoggerNil(t *testing.T) {
	t.Parallel()
	dir, recs := tornTail(t, 5)
	l := rtOpen(t, dir, file.WithLogger(nil), nil)
	defer rtClose(t, l)
	rtRequireAll(t, l, recs) // recovery logs the torn tail
}

// TestWithLoggerTornTail: the logger given gets the torn-tail warning.
func TestWithLoggerTornTail(t *testing.T) {
	t.Parallel()
	dir, recs := tornTail(t, 5)
	var buf bytes.Buffer
	l := rtOpen(t, dir, file.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	defer rtClose(t, l)
	rtRequireAll(t, l, recs)
	require.Contains(t, buf.String(), "truncating torn tail")
}

// TestToolOptionsNil: Check and Repair take a nil option and a nil logger
// as the defaults, as Open does.
func TestToolOptionsNil(t *testing.T) {
	t.Parallel()
	dir, _ := tornTail(t, 5)
	_, err := file.Check(dir, nil, file.WithLogger(nil), file.WithFS(nil))
	require.NoError(t, err)
	_, err = file.Repair(dir, &file.CorruptError{Path: dir}, nil, file.WithLogger(nil), file.WithFS(nil))
	require.Error(t, err) // refused (not a shard's file), without a panic
}
