// Package killtest is the harness the kill -9 tests share: the parent
// re-executes its own test binary as a child that runs one test function
// (selected by an environment variable the parent sets), reads the lines
// the child prints, SIGKILLs it at a moment of its choosing, and gets the
// complete lines back to verify against what it then finds on disk.
//
// The child side writes whole lines with an Out: an acknowledgement is on
// the pipe only once the thing it acknowledges returned, so a line the
// parent reads names something that must survive the kill. A child that
// finds an error prints one line with its failure prefix and exits; the
// parent fails the test with it.
//
// The knobs (Cycles, Rand, Dir) read the environment variables each test
// names, so that every kill test is soaked, replayed and inspected the
// same way.
//
// It is a test helper: only _test.go files import it.
package killtest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hung is how long Await waits for a line: far beyond any timing a kill
// test expects, so a child that takes longer is hung.
const hung = time.Minute

// SkipUnlessSIGKILL skips t where a process cannot be SIGKILLed.
func SkipUnlessSIGKILL(t testing.TB) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
}

// Cycles returns the number of kills: the positive integer in the
// environment variable env (soak runs), or def.
func Cycles(env string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(env)); err == nil && n > 0 {
		return n
	}
	return def
}

// Rand returns the parent's source of random choices (kill delays, the
// children's seeds), seeded from the environment variable env if it is
// set, else from the clock. It logs the seed and how to replay it.
func Rand(t testing.TB, env string) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(env); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (rerun with %s=%d)", seed, env, seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// Dir returns the data directory of a kill test: t.TempDir(), or, if the
// environment variable keepEnv is "1", a directory made with
// os.MkdirTemp("", pattern) that outlives the test (its path is logged).
func Dir(t testing.TB, keepEnv, pattern string) string {
	t.Helper()
	if os.Getenv(keepEnv) != "1" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("data directory %s (kept)", dir)
	return dir
}

// Out is the child's side of the pipe: it writes whole lines to stdout,
// one write per call, so lines of concurrent writers never interleave.
type Out struct {
	mu   sync.Mutex
	fail string
}

// NewOut returns an Out whose Fail lines start with failPrefix.
func NewOut(failPrefix string) *Out { return &Out{fail: failPrefix} }

// Write writes b, one or more whole lines. The child exits (status 4) if
// stdout fails: the parent is gone.
func (o *Out) Write(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := os.Stdout.Write(b); err != nil {
		os.Exit(4)
	}
}

// WriteString writes s, one or more whole lines.
func (o *Out) WriteString(s string) { o.Write([]byte(s)) }

// Fail writes one line, the failure prefix and the message (its newlines
// replaced), and exits with status 3.
func (o *Out) Fail(format string, args ...any) {
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " | ")
	o.WriteString(o.fail + " " + msg + "\n")
	os.Exit(3)
}

// Int returns the integer in the environment variable name, which the
// parent set; the child fails if it is not one.
func (o *Out) Int(name string) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		o.Fail("bad %s: %v", name, err)
	}
	return n
}

// Uint64 is Int for an unsigned 64-bit number (a seed).
func (o *Out) Uint64(name string) uint64 {
	n, err := strconv.ParseUint(os.Getenv(name), 10, 64)
	if err != nil {
		o.Fail("bad %s: %v", name, err)
	}
	return n
}

// Config describes a child.
type Config struct {
	// Test is the test function the child runs: the binary is re-executed
	// with -test.run=^Test$ -test.count=1.
	Test string
	// Env is added to the parent's environment; it tells the child that
	// it is the child, and what to do.
	Env []string
	// Args are more flags for the test binary, e.g. -test.v.
	Args []string
	// Fail is the prefix of the child's failure lines (Out.Fail). Kill and
	// FatalExit report them.
	Fail string
	// Marks are line prefixes the parent waits for: Mark(prefix) is closed
	// when the child prints the first line that starts with it.
	Marks []string
}

// Child is a running child and what it printed.
type Child struct {
	cfg    Config
	cmd    *exec.Cmd
	stderr bytes.Buffer // read only once the child exited

	mu      sync.Mutex
	stdout  []byte
	scanned int // stdout[:scanned] was scanned for marks
	marks   map[string]chan struct{}

	readDone, exited chan struct{}
	waitErr          error
}

// Start starts a child; it is killed, if still running, when t ends.
func Start(t testing.TB, cfg Config) *Child {
	t.Helper()
	c := &Child{cfg: cfg, marks: map[string]chan struct{}{}, readDone: make(chan struct{}), exited: make(chan struct{})}
	for _, m := range cfg.Marks {
		c.marks[m] = make(chan struct{})
	}
	args := append([]string{"-test.run=^" + cfg.Test + "$", "-test.count=1"}, cfg.Args...)
	c.cmd = exec.Command(os.Args[0], args...)
	c.cmd.Env = append(os.Environ(), cfg.Env...)
	c.cmd.Stderr = &c.stderr
	pipe, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.readDone)
		buf := make([]byte, 64<<10)
		for {
			n, err := pipe.Read(buf)
			if n > 0 {
				c.take(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		<-c.readDone // Wait closes the pipe: read it all first
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(c.Abort)
	return c
}

func (c *Child) take(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stdout = append(c.stdout, b...)
	for {
		i := bytes.IndexByte(c.stdout[c.scanned:], '\n')
		if i < 0 {
			return
		}
		line := c.stdout[c.scanned : c.scanned+i]
		c.scanned += i + 1
		for m, ch := range c.marks {
			if !bytes.HasPrefix(line, []byte(m)) {
				continue
			}
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}
}

// Mark returns the channel closed on the first line that starts with
// prefix, one of Config.Marks.
func (c *Child) Mark(prefix string) <-chan struct{} {
	ch, ok := c.marks[prefix]
	if !ok {
		panic("killtest: " + prefix + " is not one of the child's marks")
	}
	return ch
}

// Exited is closed once the child exited and its stdout was read in full.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Err is the child's exit status (exec.Cmd.Wait's error), once Exited is
// closed.
func (c *Child) Err() error { return c.waitErr }

// Stdout returns what the child printed so far.
func (c *Child) Stdout() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.stdout)
}

// Output describes the ends of the child's stdout and stderr, for a
// failure message; call it once the child exited.
func (c *Child) Output() string {
	return fmt.Sprintf("stdout tail:\n%s\nstderr:\n%s", tail(c.Stdout(), 2000), tail(c.stderr.String(), 4000))
}

// Await waits for the mark prefix, failing t if the child exits first or
// is hung (a minute); what names the line in the failure.
func (c *Child) Await(t testing.TB, prefix, what string) {
	t.Helper()
	select {
	case <-c.Mark(prefix):
	case <-c.exited:
		c.FatalExit(t, "exited before "+what)
	case <-time.After(hung):
		c.Abort()
		t.Fatalf("child did not get to %s within %v; %s", what, hung, c.Output())
	}
}

// FatalExit waits for the child to exit and fails t with why, the child's
// failure lines and the ends of its output.
func (c *Child) FatalExit(t testing.TB, why string) {
	t.Helper()
	<-c.exited
	var fails []string
	for line := range strings.Lines(c.Stdout()) {
		if c.cfg.Fail != "" && strings.HasPrefix(line, c.cfg.Fail) {
			fails = append(fails, line)
		}
	}
	t.Fatalf("child %s (%v): %s\n%s", why, c.waitErr, fails, c.Output())
}

// Abort kills the child, if it still runs, and waits for it, checking
// nothing.
func (c *Child) Abort() {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// Signal sends sig to the child.
func (c *Child) Signal(sig os.Signal) error { return c.cmd.Process.Signal(sig) }

// Kill SIGKILLs the child and returns its complete stdout lines (a
// trailing partial line was cut by the kill). It fails t if the child had
// exited already, printed a failure line, or reported a race or a panic.
func (c *Child) Kill(t testing.TB) []string {
	t.Helper()
	select {
	case <-c.exited:
		c.FatalExit(t, "exited before it was killed")
	default:
	}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	<-c.exited
	c.CheckClean(t)
	var lines []string
	rest := c.Stdout()
	for {
		line, after, ok := strings.Cut(rest, "\n")
		if !ok {
			break
		}
		if c.cfg.Fail != "" && strings.HasPrefix(line, c.cfg.Fail) {
			t.Fatalf("child: %s", line)
		}
		lines = append(lines, line)
		rest = after
	}
	return lines
}

// CheckClean fails t if the child, which exited, reported a data race or
// a panic.
func (c *Child) CheckClean(t testing.TB) {
	t.Helper()
	for _, s := range []string{c.stderr.String(), c.Stdout()} {
		if strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
			t.Fatalf("child failed:\n%s", c.Output())
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
