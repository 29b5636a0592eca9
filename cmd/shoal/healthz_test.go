package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

type fakeHealth []file.ShardFault

func (f fakeHealth) Health() []file.ShardFault { return f }

// /healthz answers 503 naming every shard whose writes fail, 200 else.
func TestHealthzFailingShards(t *testing.T) {
	get := func(h fakeHealth) (int, string) {
		rec := httptest.NewRecorder()
		healthz(h).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get(nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)

	code, body = get(fakeHealth{
		{Stream: "orders", Shard: "shardId-000000000001", File: "x.seg", Err: fmt.Errorf("write x.seg: %w", syscall.ENOSPC), Since: time.Now()},
		{Stream: "orders", Shard: "shardId-000000000002", Err: syscall.EIO, Since: time.Now(), Fatal: true},
	})
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "2 shard(s)")
	require.Contains(t, body, "orders/shardId-000000000001: write failed")
	require.Contains(t, body, "no space left on device")
	require.Contains(t, body, "orders/shardId-000000000002: sync failed")
}
