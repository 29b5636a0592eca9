package delivery

import (
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// State is a delivery stream's state, as Describe reports it.
type State string

// The states.
const (
	// Active: created, or running.
	Active State = "ACTIVE"
	// Stopped: Run returned (Status.Err says why, if not a graceful stop).
	Stopped State = "STOPPED"
)

// Status is a delivery stream's progress, as this process knows it.
type Status struct {
	Name    string
	Version int
	Source  string
	// DirectPut is set for a stream fed by PutRecord and PutRecordBatch.
	DirectPut bool
	State     State
	// CreatedAt is when New returned the stream; StartedAt when Run
	// started (zero: not yet), both on Config.Now.
	CreatedAt, StartedAt time.Time
	// Running is whether Run is running.
	Running bool
	// Err is the error Run stopped with (nil: running, or a graceful stop).
	Err error
	// Shards are the source's shards as last listed (by Run), with the
	// checkpoints last read and, for shards this process works on, the
	// live progress; in shard ID order.
	Shards []ShardStatus
	// DataFreshness is the age of the oldest record read but not yet
	// delivered (zero: none), measured on Config.Now.
	DataFreshness time.Duration
	// ExpiredGaps counts reads that began past expired records.
	ExpiredGaps int64
	// Delivered counts the records and batches delivered since New.
	DeliveredRecords, DeliveredBatches int64
	// FailedRecords counts the records written to the error output.
	FailedRecords int64
	// RetentionHold is the source stream's retention hold as the log last
	// computed it (shardlog.Log.RetentionHold; zero: nothing is kept past
	// the retention period). Its Behind is the RetentionHold.Seconds
	// metric, which the runtime sets whenever it updates DataFreshness.
	// The hold is the stream's, over every holder (other delivery
	// streams' included).
	RetentionHold shardlog.HoldStatus
}

// ShardStatus is a source shard's progress.
type ShardStatus struct {
	ShardID string
	// Checkpoint is the sequence number of the last record delivered
	// (zero: none); Done is set once the shard is closed and delivered.
	Checkpoint shardlog.SequenceNumber
	Done       bool
	// Running is whether a worker of this process reads the shard;
	// Leased whether it holds the shard's lease (with Source.Owner).
	Running, Leased bool
	// BufferedRecords and BufferedBytes are what the worker holds
	// undelivered.
	BufferedRecords, BufferedBytes int
}
