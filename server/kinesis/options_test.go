package kinesis_test

import (
	"testing"

	"github.com/shoal-dev/shoal/server/kinesis"
)

// TestOptionsNil: a nil logger means the default, and a nil option is
// skipped, never a panic.
func TestOptionsNil(t *testing.T) {
	e := newEnv(t, true, kinesis.WithLogger(nil), nil)
	e.createStream(t, "s", 1)
	e.put(t, "s", "k", "v")
}
