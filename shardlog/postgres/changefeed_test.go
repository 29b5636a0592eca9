package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestChangeFeedCoalesces(t *testing.T) {
	f := newChangeFeed()
	defer f.close()
	// While the reader is away (the sender holds "x"), a name pending
	// twice is sent once, in first-pending order.
	f.push("x")
	f.push("a")
	f.push("b")
	f.push("a")
	require.Equal(t, "x", <-f.out)
	require.Equal(t, "a", <-f.out)
	require.Equal(t, "b", <-f.out)
	select {
	case n := <-f.out:
		t.Fatalf("unexpected %q", n)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestChangeFeedNeverBlocksAndCollapses(t *testing.T) {
	f := newChangeFeed()
	// Nobody reads: pushes return at once, and past maxPending names the
	// feed collapses into "" (reload everything).
	for i := range 3 * maxPending {
		f.push(fmt.Sprint(i))
	}
	got := <-f.out
	if got != "" {
		// The sender may have taken the first name before the collapse.
		require.Equal(t, "0", got)
		got = <-f.out
	}
	require.Equal(t, "", got)
	f.close()
	_, open := <-f.out
	require.False(t, open, "close closes the channel")
}
