package shardlog

import (
	"context"
	"time"
)

// Engine stores streams' metadata and shards' records. Every Kinesis rule
// (validation, routing, resharding, iterators, retention, limits) lives in
// Log; an engine only keeps bytes in order and finds them again. The
// conformance suite in shardlog/shardlogtest proves an engine behaves like
// the others.
//
// An Engine is single-owner unless it is also a SharedEngine (shared.go):
// then one Log, in one process, is its only user, and the Log's view of the
// metadata is the truth. The Log never calls Append for a
// shard concurrently with Seal for the same shard from two goroutines that
// it does not itself order, but many Appends to one shard may run at once:
// the engine serializes them under the shard's single sequencer.
type Engine interface {
	// LoadStreams returns the metadata of every stream, as last saved.
	LoadStreams(ctx context.Context) ([]StreamMeta, error)
	// SaveStream atomically creates or replaces a stream's metadata: after a
	// crash, the old or the new version is loaded, never a mix.
	SaveStream(ctx context.Context, meta StreamMeta) error
	// DropStream deletes a stream's metadata and all its records.
	DropStream(ctx context.Context, name string) error
	// DropShard deletes all of one shard's records (the shard expired).
	DropShard(ctx context.Context, shard ShardRef) error

	// Append stores records at the end of the shard, with sequence numbers
	// and one arrival time assigned by the shard's Sequencer from now. The
	// batch is atomic: all records are stored, contiguous, or none. If cond
	// is not nil, the engine first checks, under the same sequencer lock,
	// that the key's latest sequence number in this shard (or, if the key
	// has no records here, cond.Inherited) equals cond.Expected, else it
	// returns a *ConflictError and stores nothing. A record that arrived
	// before cond.Horizon (it is past retention) counts as absent. It returns ErrShardSealed
	// once the shard was sealed, before any check of cond: a Log whose
	// metadata lags a reshard by another Log learns of the reshard from
	// the seal, not from a conflict judged on the parent alone. On return the records are as durable as the
	// engine's documented contract says.
	Append(ctx context.Context, shard ShardRef, now time.Time, records []Entry, cond *Condition) (first SequenceNumber, arrival time.Time, err error)
	// Seal closes the shard for appends and returns the sequence number of its
	// last record (zero if it has none). It is idempotent. Appends already
	// acknowledged are kept; later ones fail with ErrShardSealed. A seal
	// need not survive a restart: a shard is closed for good once the stream
	// metadata saying so is saved, and the Log never appends to a shard its
	// metadata calls closed.
	Seal(ctx context.Context, shard ShardRef) (last SequenceNumber, err error)

	// Read returns the shard's records with sequence numbers >= from, in
	// order: at most max records, and no more bytes (data plus partition
	// key) than maxBytes, except that a first record larger than maxBytes is
	// still returned alone.
	Read(ctx context.Context, shard ShardRef, from SequenceNumber, max, maxBytes int) ([]Record, error)
	// SeekTime returns the sequence number of the first record that arrived
	// at or after t, and false if there is none.
	SeekTime(ctx context.Context, shard ShardRef, t time.Time) (SequenceNumber, bool, error)
	// ReadKey returns the records of one partition key in this shard with
	// sequence numbers > after, in order, at most max. Its cost must be
	// proportional to the key's records, not the shard's.
	ReadKey(ctx context.Context, shard ShardRef, partitionKey string, after SequenceNumber, max int) ([]Record, error)
	// LastKey returns the key's latest record in this shard, and false if
	// the key has none here.
	LastKey(ctx context.Context, shard ShardRef, partitionKey string) (Record, bool, error)
	// Bounds describes what the shard holds now.
	Bounds(ctx context.Context, shard ShardRef) (ShardBounds, error)
	// Trim may delete records that arrived before t; it may keep some (an
	// engine that trims whole segments does). The Log never returns records
	// older than the retention period, whatever Trim kept.
	Trim(ctx context.Context, shard ShardRef, before time.Time) error
	// Notify returns a channel that is closed when the shard next gets
	// records or is sealed. Tailing readers wait on it instead of polling.
	Notify(shard ShardRef) <-chan struct{}

	// Close releases the engine's resources. The Log calls it on Close.
	// After Close, Append returns an error wrapping ErrClosed and Notify
	// returns a closed channel, so no waiter waits for ever.
	Close() error
}

// ShardRef names a shard to an engine and carries what its sequencer needs.
type ShardRef struct {
	Stream string // stream name
	// StreamID is the stream's incarnation (StreamMeta.ID). A shared engine
	// refuses, with an error wrapping ErrResourceNotFound, a ShardRef whose
	// stream was deleted or created again since; single-owner engines may
	// ignore it.
	StreamID uint64
	ID       string // shard ID, e.g. "shardId-000000000003"
	Index    uint32 // the number in the ID
	Floor    uint64 // positions assigned by this append are greater than Floor
}

// Entry is a record to append.
type Entry struct {
	PartitionKey string
	Data         []byte
}

// Condition is the check of a conditional append (see Engine.Append).
type Condition struct {
	PartitionKey string
	Expected     SequenceNumber // zero: the key must have no records
	Inherited    SequenceNumber // the key's latest in ancestor shards, zero if none
	Horizon      time.Time      // records that arrived before it are past retention
}

// ShardBounds describes a shard's stored records.
type ShardBounds struct {
	Count        int64          // records held (trimmed ones excluded)
	First        SequenceNumber // zero when empty
	Last         SequenceNumber // zero when empty
	FirstArrival time.Time
	LastArrival  time.Time
	Sealed       bool
	// Trimmed is the sequence number of the latest record Trim removed
	// (zero if it removed none): no record after it was removed by a
	// trim. A SharedEngine must report it, since the Logs sharing it all
	// trim and none can track the others' trims; a single-owner engine may
	// leave it zero, and the Log then tracks its own trims.
	Trimmed SequenceNumber
}

// Record is a stored record, as GetRecords returns it.
type Record struct {
	SequenceNumber              SequenceNumber
	ApproximateArrivalTimestamp time.Time
	PartitionKey                string
	Data                        []byte
}

// Size is the record's size for limits: len(Data) + len(PartitionKey).
func (r *Record) Size() int { return len(r.Data) + len(r.PartitionKey) }

// StreamMeta is a stream's persistent metadata. The Log owns its contents;
// engines store it as an opaque, atomically replaced document (JSON is fine:
// every field marshals).
type StreamMeta struct {
	// ID is random per CreateStream: it tells a stream from an earlier
	// one of the same name (iterators and tokens carry it).
	ID uint64 `json:"id"`
	// Revision counts the stored versions of the metadata: the Log sets
	// it to the stored revision plus one on every update, so a Log sharing
	// an engine installs metadata it loads only when it is newer.
	Revision       uint64     `json:"revision,omitempty"`
	Name           string     `json:"name"`
	Mode           StreamMode `json:"mode"`
	CreatedAt      time.Time  `json:"createdAt"`
	RetentionHours int        `json:"retentionHours"`
	// ExpiredBefore keeps records that had expired when retention was
	// raised expired: nothing that arrived before it is readable.
	ExpiredBefore      time.Time         `json:"expiredBefore,omitzero"`
	MaxRecordSizeKiB   int               `json:"maxRecordSizeKiB"`
	ProvisionedLimits  bool              `json:"provisionedLimits,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	Shards             []ShardMeta       `json:"shards"`
	NextShardIndex     uint32            `json:"nextShardIndex"`
	Consumers          []ConsumerMeta    `json:"consumers,omitempty"`
	ScalingEvents      []time.Time       `json:"scalingEvents,omitempty"`
	ModeChanges        []time.Time       `json:"modeChanges,omitempty"`
	EnhancedMonitoring []string          `json:"enhancedMonitoring,omitempty"`
	// EncryptionType is EncryptionKMS while records put are sealed under
	// KeyID; empty (NONE) otherwise. EncryptionKeyIDs lists every KeyId
	// the stream was ever encrypted under.
	EncryptionType   EncryptionType `json:"encryptionType,omitempty"`
	KeyID            string         `json:"keyId,omitempty"`
	EncryptionKeyIDs []string       `json:"encryptionKeyIds,omitempty"`
}

// ShardMeta is one shard's persistent metadata.
type ShardMeta struct {
	ID                    string         `json:"id"`
	Index                 uint32         `json:"index"`
	ParentShardID         string         `json:"parent,omitempty"`
	AdjacentParentShardID string         `json:"adjacentParent,omitempty"`
	HashKeyRange          HashKeyRange   `json:"hashKeyRange"`
	Floor                 uint64         `json:"floor"`
	CreatedAt             time.Time      `json:"createdAt"`
	Closed                bool           `json:"closed,omitempty"`
	ClosedAt              time.Time      `json:"closedAt,omitzero"`
	EndingSequenceNumber  SequenceNumber `json:"ending,omitzero"`
}

// ConsumerMeta is a registered enhanced fan-out consumer.
type ConsumerMeta struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// Ref returns the engine reference of the shard in stream m.
func (s *ShardMeta) Ref(m *StreamMeta) ShardRef {
	return ShardRef{Stream: m.Name, StreamID: m.ID, ID: s.ID, Index: s.Index, Floor: s.Floor}
}
