package pgtest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/internal/pgtest"
)

// skipRecorder records a skip instead of ending the test.
type skipRecorder struct {
	testing.TB
	skipped string
}

func (r *skipRecorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...) }

// TestSkipNamesEnv checks that without a server the test is skipped, with
// a message that names the variable to set.
func TestSkipNamesEnv(t *testing.T) {
	t.Setenv(pgtest.Env, "")
	r := &skipRecorder{TB: t}
	pgtest.URL(r)
	if !strings.HasPrefix(r.skipped, "SHOAL_TEST_POSTGRES is not set") {
		t.Fatalf("skipped with %q, want a message naming SHOAL_TEST_POSTGRES", r.skipped)
	}

	t.Run("skips", func(t *testing.T) {
		t.Setenv(pgtest.Env, "")
		defer func() {
			if !t.Skipped() {
				t.Error("Pool did not skip")
			}
		}()
		pgtest.Pool(t)
	})
}

func TestUniqueName(t *testing.T) {
	a, b := pgtest.UniqueName("shoal_t_"), pgtest.UniqueName("shoal_t_")
	if a == b || !strings.HasPrefix(a, "shoal_t_") || len(a) != len("shoal_t_")+12 {
		t.Fatalf("UniqueName: %q and %q", a, b)
	}
}

// TestPool runs against the server when SHOAL_TEST_POSTGRES names one: a
// table made under a unique name is dropped when the test ends.
func TestPool(t *testing.T) {
	pool := pgtest.Pool(t)
	name := pgtest.UniqueName("shoal_pgtest_")
	t.Run("create", func(t *testing.T) {
		pgtest.DropTables(t, pool, name)
		if _, err := pool.Exec(t.Context(), "CREATE TABLE "+name+" (n int)"); err != nil {
			t.Fatal(err)
		}
	})
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE tablename = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("table %s is still there after its test ended", name)
	}
}
