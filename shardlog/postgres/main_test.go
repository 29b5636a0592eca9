package postgres

import (
	"flag"
	"os"
	"testing"
)

// TestMain lets more of the conformance suite's parallel subtests run at
// once than the default (GOMAXPROCS): they wait on the server, not on the
// CPU, mostly creating and dropping their schemas. An explicit
// -test.parallel wins.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "6")
	}
	os.Exit(m.Run())
}
