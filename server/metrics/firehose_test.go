package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/server/metrics"
)

func TestFirehoseRecorder(t *testing.T) {
	r := metrics.New()
	var rec delivery.Recorder = r.Firehose()
	rec.Add("orders", delivery.IncomingRecords, 3)
	rec.Add("orders", delivery.IncomingRecords, 2)
	rec.Set("orders", delivery.DeliveryDataFreshness, 1.5)
	rec.Add("clicks", delivery.DeliveryRecords, 7)
	require.Equal(t, 5.0, r.Value(metrics.FirehoseIncomingRecords, metrics.Labels{DeliveryStream: "orders"}))
	require.Equal(t, "shoal_firehose_delivery_to_s3_data_freshness_seconds", metrics.FirehoseName(delivery.DeliveryDataFreshness))
	require.Equal(t, "shoal_firehose_some_new_metric_records", metrics.FirehoseName("SomeNewMetric.Records"))

	var b strings.Builder
	require.NoError(t, r.WriteText(&b))
	text := b.String()
	require.Contains(t, text, "# TYPE shoal_firehose_incoming_records_total counter\n")
	require.Contains(t, text, `shoal_firehose_incoming_records_total{delivery_stream="orders"} 5`+"\n")
	require.Contains(t, text, "# TYPE shoal_firehose_delivery_to_s3_data_freshness_seconds gauge\n")
	require.Contains(t, text, `shoal_firehose_delivery_to_s3_data_freshness_seconds{delivery_stream="orders"} 1.5`+"\n")
	require.Contains(t, text, `shoal_firehose_delivery_to_s3_records_total{delivery_stream="clicks"} 7`+"\n")

	r.Firehose().ForgetDeliveryStream("orders")
	b.Reset()
	require.NoError(t, r.WriteText(&b))
	require.NotContains(t, b.String(), `delivery_stream="orders"`)
	require.Contains(t, b.String(), `delivery_stream="clicks"`)
}

// TestObserveFirehose: Firehose operations are counted apart from
// Kinesis's of the same name.
func TestObserveFirehose(t *testing.T) {
	r := metrics.New()
	h := r.Observe(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	for _, target := range []string{"Firehose_20150804.PutRecord", "Kinesis_20131202.PutRecord", "Firehose_20150804.PutRecord"} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", target)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	require.Equal(t, 2.0, r.Value(metrics.Requests, metrics.Labels{Operation: "Firehose.PutRecord"}))
	require.Equal(t, 1.0, r.Value(metrics.Requests, metrics.Labels{Operation: "PutRecord"}))
}
