package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/server/metrics"
)

// TestObserveQueryTarget: a presigned request naming its operation in the
// X-Amz-Target query parameter is counted under that operation.
func TestObserveQueryTarget(t *testing.T) {
	r := metrics.New()
	h := r.Observe(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	req := httptest.NewRequest(http.MethodPost, "/?X-Amz-Target=Kinesis_20131202.ListStreams&X-Amz-Expires=60", strings.NewReader("{}"))
	h.ServeHTTP(httptest.NewRecorder(), req)
	require.Equal(t, 1.0, r.Value(metrics.Requests, metrics.Labels{Operation: "ListStreams"}))
}
