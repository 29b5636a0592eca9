package metrics

import (
	"strings"
	"unicode"

	"github.com/shoal-dev/shoal/delivery"
)

// firehosePrefix is Firehose's X-Amz-Target prefix.
const firehosePrefix = "Firehose_20150804"

// The Firehose metrics' names: Firehose's CloudWatch names in Prometheus
// style, labelled delivery_stream.
const (
	FirehoseIncomingRecords       = "shoal_firehose_incoming_records_total"
	FirehoseIncomingBytes         = "shoal_firehose_incoming_bytes_total"
	FirehoseIncomingPutRequests   = "shoal_firehose_incoming_put_requests_total"
	FirehoseThrottledRecords      = "shoal_firehose_throttled_records_total"
	FirehoseDataReadRecords       = "shoal_firehose_data_read_from_kinesis_stream_records_total"
	FirehoseDataReadBytes         = "shoal_firehose_data_read_from_kinesis_stream_bytes_total"
	FirehoseDeliveryRecords       = "shoal_firehose_delivery_to_s3_records_total"
	FirehoseDeliveryBytes         = "shoal_firehose_delivery_to_s3_bytes_total"
	FirehoseDeliverySuccess       = "shoal_firehose_delivery_to_s3_success_total"
	FirehoseDeliveryObjectCount   = "shoal_firehose_delivery_to_s3_object_count_total"
	FirehoseDeliveryDataFreshness = "shoal_firehose_delivery_to_s3_data_freshness_seconds"
	FirehoseProcessingDuration    = "shoal_firehose_execute_processing_duration_milliseconds"
	FirehoseProcessingSuccess     = "shoal_firehose_execute_processing_success_total"
	FirehoseSucceedProcessingRecs = "shoal_firehose_succeed_processing_records_total"
	FirehoseSucceedProcessingByte = "shoal_firehose_succeed_processing_bytes_total"
	FirehoseRetentionHoldSeconds  = "shoal_firehose_retention_hold_seconds"
)

// firehoseNames maps delivery's metrics to their Prometheus names.
var firehoseNames = map[delivery.Metric]string{
	delivery.IncomingRecords:       FirehoseIncomingRecords,
	delivery.IncomingBytes:         FirehoseIncomingBytes,
	delivery.IncomingPutRequests:   FirehoseIncomingPutRequests,
	delivery.ThrottledRecords:      FirehoseThrottledRecords,
	delivery.DataReadRecords:       FirehoseDataReadRecords,
	delivery.DataReadBytes:         FirehoseDataReadBytes,
	delivery.DeliveryRecords:       FirehoseDeliveryRecords,
	delivery.DeliveryBytes:         FirehoseDeliveryBytes,
	delivery.DeliverySuccess:       FirehoseDeliverySuccess,
	delivery.DeliveryObjectCount:   FirehoseDeliveryObjectCount,
	delivery.DeliveryDataFreshness: FirehoseDeliveryDataFreshness,
	delivery.ExecuteProcessingDur:  FirehoseProcessingDuration,
	delivery.ExecuteProcessingOK:   FirehoseProcessingSuccess,
	delivery.SucceedProcessingRecs: FirehoseSucceedProcessingRecs,
	delivery.SucceedProcessingByte: FirehoseSucceedProcessingByte,
	delivery.RetentionHoldSeconds:  FirehoseRetentionHoldSeconds,
}

// firehoseFamilies are the Firehose metrics, in the order they are
// written.
var firehoseFamilies = []family{
	{FirehoseIncomingRecords, "Records put in the delivery stream (CloudWatch IncomingRecords).", counter},
	{FirehoseIncomingBytes, "Bytes put in the delivery stream (CloudWatch IncomingBytes).", counter},
	{FirehoseIncomingPutRequests, "PutRecord and PutRecordBatch requests taken (CloudWatch IncomingPutRequests).", counter},
	{FirehoseThrottledRecords, "Records refused by throttling (CloudWatch ThrottledRecords).", counter},
	{FirehoseDataReadRecords, "Records read from the source stream (CloudWatch DataReadFromKinesisStream.Records).", counter},
	{FirehoseDataReadBytes, "Bytes read from the source stream (CloudWatch DataReadFromKinesisStream.Bytes).", counter},
	{FirehoseDeliveryRecords, "Records delivered to the destination (CloudWatch DeliveryToS3.Records).", counter},
	{FirehoseDeliveryBytes, "Bytes delivered to the destination (CloudWatch DeliveryToS3.Bytes).", counter},
	{FirehoseDeliverySuccess, "Successful deliveries (CloudWatch DeliveryToS3.Success).", counter},
	{FirehoseDeliveryObjectCount, "Objects delivered (CloudWatch DeliveryToS3.ObjectCount).", counter},
	{FirehoseDeliveryDataFreshness, "Age of the oldest record not yet delivered, in seconds (CloudWatch DeliveryToS3.DataFreshness).", gauge},
	{FirehoseProcessingDuration, "Duration of the last transform invocation in milliseconds (CloudWatch ExecuteProcessing.Duration).", gauge},
	{FirehoseProcessingSuccess, "Successful transform invocations (CloudWatch ExecuteProcessing.Success).", counter},
	{FirehoseSucceedProcessingRecs, "Records the transform processed successfully (CloudWatch SucceedProcessing.Records).", counter},
	{FirehoseSucceedProcessingByte, "Bytes the transform processed successfully (CloudWatch SucceedProcessing.Bytes).", counter},
	{FirehoseRetentionHoldSeconds, "How long the source's trimming has waited for delivery, in seconds.", gauge},
}

// FirehoseName is the Prometheus name of a Firehose metric: one of the
// Firehose* constants, or for a metric this package does not list,
// shoal_firehose_ and the name in snake case (written only if it is
// listed).
func FirehoseName(m delivery.Metric) string {
	if n, ok := firehoseNames[m]; ok {
		return n
	}
	var b strings.Builder
	b.WriteString("shoal_firehose_")
	prevLower := false
	for _, r := range string(m) {
		switch {
		case r == '.' || r == '-' || r == ' ':
			b.WriteByte('_')
			prevLower = false
		case unicode.IsUpper(r):
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			prevLower = false
		default:
			b.WriteRune(r)
			prevLower = true
		}
	}
	return b.String()
}

// Firehose returns the delivery.Recorder that keeps delivery streams'
// metrics in r, labelled delivery_stream.
func (r *Registry) Firehose() *FirehoseRecorder { return &FirehoseRecorder{r: r} }

// FirehoseRecorder is a delivery.Recorder on a Registry (see
// Registry.Firehose).
type FirehoseRecorder struct{ r *Registry }

var _ delivery.Recorder = (*FirehoseRecorder)(nil)

// Add implements delivery.Recorder: it adds v to a counter.
func (f *FirehoseRecorder) Add(deliveryStream string, m delivery.Metric, v float64) {
	f.r.Add(FirehoseName(m), Labels{DeliveryStream: deliveryStream}, v)
}

// Set implements delivery.Recorder: it sets a gauge.
func (f *FirehoseRecorder) Set(deliveryStream string, m delivery.Metric, v float64) {
	f.r.Set(FirehoseName(m), Labels{DeliveryStream: deliveryStream}, v)
}

// ForgetDeliveryStream drops every series of a deleted delivery stream.
func (f *FirehoseRecorder) ForgetDeliveryStream(deliveryStream string) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	for k := range f.r.values {
		if k.DeliveryStream == deliveryStream {
			delete(f.r.values, k)
		}
	}
}
