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

// ShardRecorder is a Recorder that also keeps shard-level series. The API
// feeds them for a stream's shards while enhanced monitoring
// (EnableEnhancedMonitoring) has the matching metric on: IncomingBytes or
// IncomingRecords for IncomingShard, OutgoingBytes or OutgoingRecords for
// OutgoingShard, IteratorAgeMilliseconds for IteratorAgeShard. The
// stream-level Recorder calls are made as well. Throttled calls are
// counted per stream only: a refused request names no shard.
type ShardRecorder interface {
	Recorder
	IncomingShard(stream, shard string, records, bytes int)
	OutgoingShard(stream, shard string, records, bytes int)
	IteratorAgeShard(stream, shard string, ms int64)
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

// incoming records accepted records of one shard; enabled are the
// stream's enhanced-monitoring metrics.
func (a *api) incoming(stream string, enabled []string, shard string, records, bytes int) {
	a.cfg.recorder.Incoming(stream, records, bytes)
	if sr, ok := a.cfg.recorder.(ShardRecorder); ok && shard != "" && monitored(enabled, "IncomingBytes", "IncomingRecords") {
		sr.IncomingShard(stream, shard, records, bytes)
	}
}

// outgoing records records read from one shard, and the read's lag;
// enabled are the stream's enhanced-monitoring metrics.
func (a *api) outgoing(stream string, enabled []string, shard string, records, bytes int, lag int64) {
	a.cfg.recorder.Outgoing(stream, records, bytes)
	a.cfg.recorder.IteratorAge(stream, lag)
	sr, ok := a.cfg.recorder.(ShardRecorder)
	if !ok || shard == "" {
		return
	}
	if monitored(enabled, "OutgoingBytes", "OutgoingRecords") {
		sr.OutgoingShard(stream, shard, records, bytes)
	}
	if monitored(enabled, "IteratorAgeMilliseconds") {
		sr.IteratorAgeShard(stream, shard, lag)
	}
}

// StreamForgetter is a Recorder that drops the series of a stream when it
// is deleted (server/metrics implements it). DeleteStream calls it once the
// stream is gone.
type StreamForgetter interface {
	ForgetStream(stream string)
}

// forget drops the recorder's series of a deleted stream.
func (a *api) forget(stream string) {
	if f, ok := a.cfg.recorder.(StreamForgetter); ok {
		f.ForgetStream(stream)
	}
}
