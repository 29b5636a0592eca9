package delivery

import (
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/projection"
	"github.com/shoal-dev/shoal/shardlog"
)

// Config configures a delivery stream.
type Config struct {
	// Name is the delivery stream's name (1-64 characters of
	// [a-zA-Z0-9_.-], as Firehose's).
	Name string
	// Version is the configuration version (zero: 1); object keys carry it.
	Version int
	// Source is the shardlog stream read.
	Source Source
	// Buffering says when a shard's buffer is delivered.
	Buffering BufferingHints
	// Transform, if set, processes each buffered batch before delivery;
	// TransformRetries is how often a failed invocation is retried
	// (zero: 3; negative: never).
	Transform        Transform
	TransformRetries int
	// Destination stores the batches.
	Destination Destination
	// ErrorOutput stores failed records; nil: Destination, if it is an
	// ErrorOutput, else records that fail are logged and the stream
	// stops rather than drop them.
	ErrorOutput ErrorOutput
	// Retry is how a failing Destination is retried.
	Retry RetryPolicy
	// NoRetentionHold turns off holding the source's retention until its
	// records are delivered (see shardlog.Log.HoldRetention).
	NoRetentionHold bool
	// Metrics receives Firehose's metrics; nil: none.
	Metrics Recorder
	// Now is the clock buffering intervals and freshness are measured on
	// (nil: time.Now); its timers are the runtime's, so tests of
	// intervals run under testing/synctest.
	Now func() time.Time
	// Logger; nil: slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful stop: how long Run, once its
	// context is done, keeps delivering what is buffered (zero: 30 s).
	// What it cannot deliver in time stays undelivered and is read again
	// from the checkpoint after a restart.
	ShutdownTimeout time.Duration
	// RelistInterval is how often the source's shards are listed again
	// to find new ones (zero: 10 s); a shard's end lists at once.
	RelistInterval time.Duration
}

// Source is the shardlog stream a delivery stream reads, consumed like a
// projection: per-shard checkpoints, leases across instances, parents
// before children.
type Source struct {
	Log        *shardlog.Log
	StreamName string
	// DirectPut makes the stream a Firehose DirectPut delivery stream:
	// StreamName is its backing stream (created, with one shard and 24 h
	// retention, if missing), written by PutRecord and PutRecordBatch.
	// Without it those calls fail with ErrInvalidSource.
	DirectPut bool
	// Events, if set, is the event store over StreamName: formats that
	// understand events (JSONLines, the PostgreSQL archive's event
	// columns) decode records with it.
	Events *eventstore.Store
	// StartAtLatest starts shards without a checkpoint at their end, as
	// Firehose does (a child of a shard the stream read starts at its
	// trim horizon all the same, so a reshard loses nothing), and
	// checkpoints that position at once, so a restart goes on from it and
	// the retention hold does not keep the records skipped; by default
	// they start at the trim horizon, so an archive holds everything the
	// log still has.
	StartAtLatest bool
	// Checkpoints keeps the per-shard progress (nil: in memory, which a
	// restart forgets), under the delivery stream's Name as the
	// projection name. With Owner set it must be a projection.SharedStore,
	// and shards are shared among the instances (each named by its Owner)
	// by leases, with fencing tokens on every checkpoint write.
	Checkpoints projection.CheckpointStore
	Owner       string
	// LeaseTTL is how long a lease lasts unrenewed (zero: 10 s, minimum
	// 30 ms); leases are renewed, and shards balanced, every LeaseTTL/3.
	LeaseTTL time.Duration
}

// BufferingHints are Firehose's: a shard's buffer is delivered when it
// holds SizeMiB MiB (1-128, zero: 5) or its oldest record has waited
// Interval (0-900 s; zero with IntervalSet: deliver at once), whichever
// comes first, and on graceful stop.
type BufferingHints struct {
	SizeMiB     int
	Interval    time.Duration
	IntervalSet bool // Interval was given (zero means zero); unset: 300 s
}

// RetryPolicy is how a failing destination is retried: with backoff
// between MinBackoff and MaxBackoff (zero: 1 s and 1 min; jittered) for
// up to Duration (zero: 24 h, as Firehose's S3, which is also the
// maximum; negative: no retries), measured on the runtime's clock, then
// as OnExhausted says. The error output is retried the same way.
type RetryPolicy struct {
	Duration               time.Duration
	MinBackoff, MaxBackoff time.Duration
	OnExhausted            Exhausted
}

// Exhausted is what happens to a batch the destination refused for the
// whole retry duration.
type Exhausted int

const (
	// ToErrorOutput writes the batch's records to the error output as
	// delivery-failed, moves the checkpoint past them, and goes on.
	ToErrorOutput Exhausted = iota
	// Stop stops the delivery stream with the error; the checkpoint stays
	// before the batch, which is delivered again after a restart.
	Stop
)

// Recorder receives a delivery stream's metrics, named as Firehose's
// CloudWatch metrics (the Metric constants).
type Recorder interface {
	// Add adds v to a counter.
	Add(deliveryStream string, m Metric, v float64)
	// Set sets a gauge.
	Set(deliveryStream string, m Metric, v float64)
}

// Metric is a Firehose metric name.
type Metric string

// The metrics.
const (
	IncomingRecords       Metric = "IncomingRecords"
	IncomingBytes         Metric = "IncomingBytes"
	IncomingPutRequests   Metric = "IncomingPutRequests"
	ThrottledRecords      Metric = "ThrottledRecords"
	DataReadRecords       Metric = "DataReadFromKinesisStream.Records"
	DataReadBytes         Metric = "DataReadFromKinesisStream.Bytes"
	DeliveryRecords       Metric = "DeliveryToS3.Records"
	DeliveryBytes         Metric = "DeliveryToS3.Bytes"
	DeliverySuccess       Metric = "DeliveryToS3.Success"
	DeliveryObjectCount   Metric = "DeliveryToS3.ObjectCount"
	DeliveryDataFreshness Metric = "DeliveryToS3.DataFreshness"
	ExecuteProcessingDur  Metric = "ExecuteProcessing.Duration"
	ExecuteProcessingOK   Metric = "ExecuteProcessing.Success"
	SucceedProcessingRecs Metric = "SucceedProcessing.Records"
	SucceedProcessingByte Metric = "SucceedProcessing.Bytes"
	// RetentionHoldSeconds is how far the source's retention hold keeps
	// records past the retention period, in seconds: the lag of the
	// slowest archive (shardlog.HoldStatus.Behind; Shoal's).
	RetentionHoldSeconds Metric = "RetentionHold.Seconds"
	// ExpiredGaps counts reads that began past expired records: records
	// after a shard's checkpoint may have expired undelivered (Shoal's).
	ExpiredGaps Metric = "DataReadFromKinesisStream.ExpiredGaps"
)
