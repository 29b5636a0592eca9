package main

import (
	"fmt"
	"io"
	"net/http"

	"github.com/shoal-dev/shoal/shardlog/file"
)

// healthz answers 200 "ok", or, while some shard's writes are failing (a
// full disk, an I/O error), 503 with one line per failing shard.
func healthz(eng interface{ Health() []file.ShardFault }) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		faults := eng.Health()
		if len(faults) == 0 {
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "unhealthy: writes failing on %d shard(s)\n", len(faults))
		for _, f := range faults {
			_, _ = fmt.Fprintf(w, "shard %s\n", f)
		}
	})
}
