package kinesis

// Recorder is told about the data the API moves, for metrics with
// Kinesis's CloudWatch names (server/metrics implements it). Calls come
// from request goroutines concurrently. An empty stream name means the
// stream is unknown (a GetRecords refused before its iterator was read).
type Recorder interface {
	// Incoming counts records accepted by PutRecord and PutRecords, and
	// their bytes (data plus partition key).
	Incoming(stream string, records, bytes int)
	// Outgoing counts records returned by GetRecords and pushed by
	// SubscribeToShard, and their bytes.
	Outgoing(stream string, records, bytes int)
	// WriteThrottled and ReadThrottled count ProvisionedThroughputExceeded
	// answers (per refused record for PutRecords).
	WriteThrottled(stream string)
	ReadThrottled(stream string)
	// IteratorAge reports how far a read was behind the shard's newest
	// record (MillisBehindLatest).
	IteratorAge(stream string, ms int64)
}

// WithRecorder sends the API's data metrics to r.
func WithRecorder(r Recorder) Option { return func(c *config) { c.recorder = r } }

// nopRecorder ignores everything.
type nopRecorder struct{}

func (nopRecorder) Incoming(string, int, int) {}
func (nopRecorder) Outgoing(string, int, int) {}
func (nopRecorder) WriteThrottled(string)     {}
func (nopRecorder) ReadThrottled(string)      {}
func (nopRecorder) IteratorAge(string, int64) {}
