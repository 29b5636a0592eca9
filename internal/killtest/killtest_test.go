package killtest_test

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/killtest"
)

const envChild = "SHOAL_KILLTEST_CHILD"

// TestChild is both sides: the child prints a ready line, two
// acknowledgements and a partial line, then waits to be killed; the parent
// waits for the marks, kills it and gets the complete lines only.
func TestChild(t *testing.T) {
	if os.Getenv(envChild) == "1" {
		out := killtest.NewOut("KTFAIL")
		out.WriteString("KTREADY\n")
		out.Write([]byte("KTACK 1\nKTACK 2\n"))
		out.WriteString("KTACK 3 cut by the kill")
		select {}
	}
	killtest.SkipUnlessSIGKILL(t)
	c := killtest.Start(t, killtest.Config{Test: "TestChild", Env: []string{envChild + "=1"}, Fail: "KTFAIL", Marks: []string{"KTREADY", "KTACK "}})
	c.Await(t, "KTREADY", "READY")
	c.Await(t, "KTACK ", "an acknowledgement")
	for !slices.Contains([]byte(c.Stdout()), '3') {
		select {
		case <-c.Exited():
			t.Fatalf("child exited: %v", c.Err())
		case <-time.After(time.Millisecond):
		}
	}
	lines := c.Kill(t)
	if want := []string{"KTREADY", "KTACK 1", "KTACK 2"}; !slices.Equal(lines, want) {
		t.Fatalf("Kill returned %q, want %q", lines, want)
	}
}

// TestChildFails checks that a child's failure line is what the parent
// sees: the child fails at once, and the parent finds the line and the
// exit status.
func TestChildFails(t *testing.T) {
	if os.Getenv(envChild) == "fail" {
		killtest.NewOut("KTFAIL").Fail("broken\nin two lines")
	}
	killtest.SkipUnlessSIGKILL(t)
	c := killtest.Start(t, killtest.Config{Test: "TestChildFails", Env: []string{envChild + "=fail"}, Fail: "KTFAIL", Marks: []string{"KTREADY"}})
	<-c.Exited()
	if c.Err() == nil {
		t.Fatal("the child exited 0 after Fail")
	}
	if got, want := c.Stdout(), "KTFAIL broken | in two lines\n"; got != want {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	select {
	case <-c.Mark("KTREADY"):
		t.Fatal("a mark the child never printed is closed")
	default:
	}
}

func TestCycles(t *testing.T) {
	t.Setenv("SHOAL_KILLTEST_CYCLES", "")
	if got := killtest.Cycles("SHOAL_KILLTEST_CYCLES", 6); got != 6 {
		t.Fatalf("unset: %d, want the default 6", got)
	}
	t.Setenv("SHOAL_KILLTEST_CYCLES", "40")
	if got := killtest.Cycles("SHOAL_KILLTEST_CYCLES", 6); got != 40 {
		t.Fatalf("40: %d", got)
	}
	t.Setenv("SHOAL_KILLTEST_CYCLES", "zero")
	if got := killtest.Cycles("SHOAL_KILLTEST_CYCLES", 6); got != 6 {
		t.Fatalf("not a number: %d, want the default 6", got)
	}
}

func TestRandReplays(t *testing.T) {
	t.Setenv("SHOAL_KILLTEST_SEED", "12345")
	a, b := killtest.Rand(t, "SHOAL_KILLTEST_SEED"), killtest.Rand(t, "SHOAL_KILLTEST_SEED")
	for range 10 {
		if x, y := a.Uint64(), b.Uint64(); x != y {
			t.Fatalf("the same seed gave %d and %d", x, y)
		}
	}
}

// TestOutInt checks the child's reading of its environment: a number is
// read, anything else fails the child with a line naming the variable.
func TestOutInt(t *testing.T) {
	if os.Getenv(envChild) == "int" {
		out := killtest.NewOut("KTFAIL")
		out.WriteString(strconv.Itoa(out.Int("SHOAL_KILLTEST_N")) + "\n")
		out.Uint64("SHOAL_KILLTEST_BAD")
		out.WriteString("not reached\n")
		select {}
	}
	killtest.SkipUnlessSIGKILL(t)
	c := killtest.Start(t, killtest.Config{Test: "TestOutInt", Env: []string{envChild + "=int", "SHOAL_KILLTEST_N=42", "SHOAL_KILLTEST_BAD=x"}, Fail: "KTFAIL"})
	<-c.Exited()
	if got := c.Stdout(); !strings.HasPrefix(got, "42\nKTFAIL bad SHOAL_KILLTEST_BAD: ") || strings.Contains(got, "not reached") {
		t.Fatalf("stdout %q", got)
	}
}
