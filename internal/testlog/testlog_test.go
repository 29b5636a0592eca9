package testlog_test

import (
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/internal/testlog"
)

func TestBufferConcurrent(t *testing.T) {
	var b testlog.Buffer
	log := b.Logger(slog.LevelInfo)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				log.Info("hello", "g", i)
				log.Debug("not kept")
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if got := b.Lines(); got != 400 {
		t.Fatalf("Lines() = %d, want 400", got)
	}
	if strings.Contains(b.String(), "not kept") {
		t.Fatal("a record below the level was written")
	}
}
