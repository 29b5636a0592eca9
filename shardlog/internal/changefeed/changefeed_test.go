package changefeed_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog/internal/changefeed"
	"github.com/stretchr/testify/require"
)

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case n, ok := <-ch:
		require.True(t, ok, "the channel is open")
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("no name within 5 s")
		return ""
	}
}

func TestCoalesceOrderAndCollapse(t *testing.T) {
	var f changefeed.Feed
	f.Push("a")
	f.Push("b")
	f.Push("a") // already pending: coalesced
	ch := f.Channel()
	require.Equal(t, "a", recv(t, ch))
	require.Equal(t, "b", recv(t, ch))
	f.Push("a") // sent already: queued again
	require.Equal(t, "a", recv(t, ch))

	for i := range changefeed.MaxPending + 2 { // one may be in the forwarder's hands
		f.Push(fmt.Sprint("s", i)) // never blocks
	}
	// The forwarder may already hold the first name when the backlog
	// collapses; after it comes "".
	if n := recv(t, ch); n != "" {
		require.Equal(t, "s0", n)
		require.Equal(t, "", recv(t, ch), "a backlog past MaxPending collapses into a reload of everything")
	}
	f.Push("x")
	f.Push("y")
	f.Push("")
	if n := recv(t, ch); n != "" {
		require.Equal(t, "x", n, "only a name already handed to the forwarder comes before the reload")
		require.Equal(t, "", recv(t, ch), `"" swallows the pending names`)
	}
	f.Close()
	_, ok := <-ch
	require.False(t, ok, "Close closes the channel")
	f.Close()
}

func TestClosedBeforeUse(t *testing.T) {
	var f changefeed.Feed
	f.Push("a")
	f.Close()
	_, ok := <-f.Channel()
	require.False(t, ok)
}
