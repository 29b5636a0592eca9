package aggregatetest_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/aggregate"
	"github.com/shoal-dev/shoal/aggregate/aggregatetest"
	"github.com/stretchr/testify/require"
)

// fakeTB records what a scenario reports instead of failing the test.
// Fatalf and FailNow end the scenario's goroutine with runtime.Goexit, as
// testing.T's do; whatever fakeTB does not override goes to the real test.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	fatal    string
	fatalled bool
	failed   bool
	helpers  int
}

func (f *fakeTB) Helper() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.helpers++
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
	f.failed = true
}

func (f *fakeTB) Error(args ...any) { f.Errorf("%s", fmt.Sprint(args...)) }

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal, f.fatalled, f.failed = fmt.Sprintf(format, args...), true, true
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *fakeTB) Fail() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
}

func (f *fakeTB) FailNow() {
	f.Fail()
	runtime.Goexit()
}

func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// report is what a scenario run against a fakeTB reported.
type report struct {
	errs     []string
	fatal    string
	fatalled bool
	failed   bool
	helpers  int
	finished bool // the scenario returned (no Fatalf)
}

// check runs fn with a fakeTB in its own goroutine and returns its report.
func check(t *testing.T, fn func(tb testing.TB)) report {
	t.Helper()
	f := &fakeTB{TB: t}
	finished := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
		finished = true
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return report{errs: f.errs, fatal: f.fatal, fatalled: f.fatalled, failed: f.failed, helpers: f.helpers, finished: finished}
}

func requirePassed(t *testing.T, r report) {
	t.Helper()
	require.False(t, r.failed, "errors: %q, fatal: %q", r.errs, r.fatal)
	require.True(t, r.finished)
	require.Empty(t, r.errs)
	require.False(t, r.fatalled)
}

// deposit is a command Account does not have as a method.
func deposit(amount int) func(*Account) error {
	return func(a *Account) error {
		if amount <= 0 {
			return fmt.Errorf("deposit %d: %w", amount, errNotPositive)
		}
		a.Record(Deposited{Amount: amount})
		return nil
	}
}

var errNotPositive = errors.New("amount must be positive")

// Closed has no Apply in Accounts.
type Closed struct{}

func TestThenPasses(t *testing.T) {
	var got *Account
	r := check(t, func(tb testing.TB) {
		got = aggregatetest.Given(Accounts, Opened{"ann"}, Deposited{100}).
			When(func(a *Account) error { return a.Withdraw(30) }).
			Then(tb, Withdrawn{30})
	})
	requirePassed(t, r)
	require.Positive(t, r.helpers, "failures point at the caller's line")
	require.Equal(t, 70, got.Balance, "Then returns the aggregate after the command")
	require.Equal(t, "aggregatetest", got.ID())
	require.Equal(t, uint64(3), got.Version())
	require.Equal(t, uint64(2), got.StoredVersion(), "the given events are history; the new one is pending")
	require.Equal(t, []any{Withdrawn{30}}, got.Pending())

	// Several events, in order.
	r = check(t, func(tb testing.TB) {
		got = aggregatetest.Given(Accounts, Opened{"ann"}).
			When(func(a *Account) error {
				if err := deposit(5)(a); err != nil {
					return err
				}
				if err := deposit(7)(a); err != nil {
					return err
				}
				return a.Withdraw(12)
			}).
			Then(tb, Deposited{5}, Deposited{7}, Withdrawn{12})
	})
	requirePassed(t, r)
	require.Zero(t, got.Balance)

	// No given events: a new aggregate at version 0.
	start := uint64(99)
	r = check(t, func(tb testing.TB) {
		got = aggregatetest.Given(Accounts).WithID("acc-9").
			When(func(a *Account) error {
				start = a.Version()
				a.Record(Opened{"bo"})
				return nil
			}).
			Then(tb, Opened{"bo"})
	})
	requirePassed(t, r)
	require.Zero(t, start)
	require.Equal(t, "acc-9", got.ID())

	// A command that records nothing, and Then with no events.
	r = check(t, func(tb testing.TB) {
		aggregatetest.Given(Accounts, Opened{"ann"}).
			When(func(*Account) error { return nil }).
			Then(tb)
	})
	requirePassed(t, r)
}

func TestThenFailsWithReadableDiff(t *testing.T) {
	t.Run("other values", func(t *testing.T) {
		var got *Account
		r := check(t, func(tb testing.TB) {
			got = aggregatetest.Given(Accounts, Opened{"ann"}, Deposited{100}).
				When(func(a *Account) error { return a.Withdraw(30) }).
				Then(tb, Withdrawn{20})
		})
		require.True(t, r.failed)
		require.True(t, r.finished, "a mismatch is an error, not fatal: the aggregate is returned")
		require.NotNil(t, got)
		require.Len(t, r.errs, 1)
		msg := r.errs[0]
		for _, want := range []string{
			"the command recorded other events than expected",
			"expected: []interface {}{aggregatetest_test.Withdrawn{Amount:20}}",
			"actual  : []interface {}{aggregatetest_test.Withdrawn{Amount:30}}",
			"Diff:",
			"--- Expected",
			"+++ Actual",
			"(aggregatetest_test.Withdrawn) {",
			"-  Amount: (int) 20",
			"+  Amount: (int) 30",
		} {
			require.Contains(t, msg, want)
		}
	})

	t.Run("other types and count", func(t *testing.T) {
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}, Deposited{100}).
				When(func(a *Account) error { return a.Withdraw(30) }).
				Then(tb, Deposited{30}, Withdrawn{30})
		})
		require.True(t, r.failed)
		require.Len(t, r.errs, 1)
		for _, want := range []string{
			"-([]interface {}) (len=2) {",
			"+([]interface {}) (len=1) {",
			"- (aggregatetest_test.Deposited) {",
		} {
			require.Contains(t, r.errs[0], want)
		}
	})

	t.Run("events expected, none recorded", func(t *testing.T) {
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}).
				When(func(*Account) error { return nil }).
				Then(tb, Deposited{1})
		})
		require.True(t, r.failed)
		require.Len(t, r.errs, 1)
		require.Contains(t, r.errs[0], "actual  : []interface {}{}")
	})

	t.Run("none expected, some recorded", func(t *testing.T) {
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}).
				When(deposit(3)).
				Then(tb)
		})
		require.True(t, r.failed)
		require.Len(t, r.errs, 1)
		require.Contains(t, r.errs[0], "+  Amount: (int) 3")
	})

	t.Run("the command fails", func(t *testing.T) {
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}, Deposited{10}).
				When(func(a *Account) error { return a.Withdraw(30) }).
				Then(tb, Withdrawn{30})
		})
		require.True(t, r.fatalled)
		require.False(t, r.finished)
		require.Contains(t, r.fatal, "the command failed: insufficient funds")
		require.Contains(t, r.fatal, "aggregatetest_test.Withdrawn{Amount:30}", "the wanted events are shown")
	})
}

func TestThenErrorPassesOnErrorsIs(t *testing.T) {
	r := check(t, func(tb testing.TB) {
		aggregatetest.Given(Accounts, Opened{"ann"}, Deposited{10}).
			When(func(a *Account) error { return a.Withdraw(30) }).
			ThenError(tb, ErrInsufficient)
	})
	requirePassed(t, r)

	// A wrapped error matches its target.
	r = check(t, func(tb testing.TB) {
		aggregatetest.Given(Accounts, Opened{"ann"}).
			When(deposit(-1)).
			ThenError(tb, errNotPositive)
	})
	requirePassed(t, r)
}

func TestThenErrorFailures(t *testing.T) {
	t.Run("another error", func(t *testing.T) {
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}).
				When(deposit(-1)).
				ThenError(tb, ErrInsufficient)
		})
		require.True(t, r.failed)
		require.True(t, r.finished)
		require.Len(t, r.errs, 1)
		require.Contains(t, r.errs[0], "the command failed with deposit -1: amount must be positive")
		require.Contains(t, r.errs[0], "want an error matching insufficient funds")
	})

	t.Run("the command succeeds", func(t *testing.T) {
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}, Deposited{100}).
				When(func(a *Account) error { return a.Withdraw(30) }).
				ThenError(tb, ErrInsufficient)
		})
		require.True(t, r.fatalled)
		require.False(t, r.finished)
		require.Contains(t, r.fatal, "the command succeeded")
		require.Contains(t, r.fatal, "aggregatetest_test.Withdrawn{Amount:30}", "what it recorded is shown")
		require.Contains(t, r.fatal, "want an error matching insufficient funds")
	})

	t.Run("the failed command recorded events", func(t *testing.T) {
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}, Deposited{100}).
				When(func(a *Account) error {
					a.Record(Withdrawn{Amount: 30}) // recorded before validating: a bug
					return ErrInsufficient
				}).
				ThenError(tb, ErrInsufficient)
		})
		require.True(t, r.failed)
		require.True(t, r.finished)
		require.Len(t, r.errs, 1, "the error matches; the recording is the one failure")
		require.Contains(t, r.errs[0], "the command failed but recorded")
		require.Contains(t, r.errs[0], "aggregatetest_test.Withdrawn{Amount:30}")
		require.Contains(t, r.errs[0], "a failed command must record nothing")
	})

	t.Run("another error and recorded events", func(t *testing.T) {
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}).
				When(func(a *Account) error {
					a.Record(Deposited{Amount: 1})
					return errNotPositive
				}).
				ThenError(tb, ErrInsufficient)
		})
		require.Len(t, r.errs, 2, "both failures are reported")
	})
}

func TestScenarioSetupFailures(t *testing.T) {
	t.Run("the command records an event without Apply", func(t *testing.T) {
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}).
				When(func(a *Account) error { a.Record(Closed{}); return nil }).
				Then(tb, Closed{})
		})
		require.True(t, r.fatalled)
		require.False(t, r.finished)
		require.Contains(t, r.fatal, "recording an event failed")
		require.Contains(t, r.fatal, (&aggregate.UnhandledEventError{Aggregate: "account", Event: "aggregatetest_test.Closed"}).Error())

		// ThenError checks recording too, even if the command then fails.
		r = check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}).
				When(func(a *Account) error { a.Record(Closed{}); return ErrInsufficient }).
				ThenError(tb, ErrInsufficient)
		})
		require.True(t, r.fatalled)
		require.Contains(t, r.fatal, "recording an event failed")
	})

	t.Run("a given event without Apply", func(t *testing.T) {
		ran := false
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}, Closed{}).
				When(func(*Account) error { ran = true; return nil }).
				Then(tb)
		})
		require.True(t, r.fatalled)
		require.Contains(t, r.fatal, "given: aggregate account: no Apply for event aggregatetest_test.Closed")
		require.False(t, ran)
	})

	t.Run("no When", func(t *testing.T) {
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(Accounts, Opened{"ann"}).Then(tb)
		})
		require.True(t, r.fatalled)
		require.Contains(t, r.fatal, "the scenario has no When")
	})

	t.Run("state without Base", func(t *testing.T) {
		type plain struct{ N int }
		typ := aggregate.Define[plain]("plain")
		r := check(t, func(tb testing.TB) {
			aggregatetest.Given(typ).When(func(*plain) error { return nil }).Then(tb)
		})
		require.True(t, r.fatalled)
		require.True(t, strings.HasPrefix(r.fatal, "given: "), r.fatal)
		require.Contains(t, r.fatal, "does not embed aggregate.Base")
	})
}

// Each Then or ThenError runs the scenario afresh: a scenario can be
// checked twice, and the given events are not consumed.
func TestScenarioRunsAfreshEachTime(t *testing.T) {
	s := aggregatetest.Given(Accounts, Opened{"ann"}, Deposited{50}).
		When(func(a *Account) error { return a.Withdraw(50) })
	a := s.Then(t, Withdrawn{50})
	b := s.Then(t, Withdrawn{50})
	require.NotSame(t, a, b)
	require.Zero(t, b.Balance)
}
