package awsproto_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// TestServiceBodyMemory: a body of known length is read into one buffer
// of that length and decoded from it, so that serving it allocates
// little beyond the body and the decoded data, which admission control's
// accounting (the body's length) assumes.
func TestServiceBodyMemory(t *testing.T) {
	const dataLen = 6 << 20
	body := `{"StreamName":"s","PartitionKey":"k","Data":"` + base64.StdEncoding.EncodeToString(make([]byte, dataLen)) + `"}`
	var got int
	svc := &awsproto.Service{TargetPrefix: "Kinesis_20131202", Operations: map[string]awsproto.Handler{
		"PutRecord": func(_ context.Context, decode func(any) error) (any, error) {
			var in struct{ Data []byte }
			err := decode(&in)
			got = len(in.Data)
			return nil, err
		},
	}}
	serve := func() uint64 {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecord")
		w := httptest.NewRecorder()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		svc.ServeHTTP(w, r)
		runtime.ReadMemStats(&after)
		if w.Code != http.StatusOK || got != dataLen {
			t.Fatalf("status %d, decoded %d bytes: %s", w.Code, got, w.Body.String())
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	serve() // warm up
	alloc := serve()
	limit := uint64(len(body)) + dataLen + 1<<20
	t.Logf("a %d-byte body allocated %d bytes (%.2f×)", len(body), alloc, float64(alloc)/float64(len(body)))
	if alloc > limit {
		t.Fatalf("serving a %d-byte body allocated %d bytes, want at most %d (the body, its data and 1 MiB)", len(body), alloc, limit)
	}
}
