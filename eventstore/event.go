package eventstore

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/shardlog"
)

// Event is a stored event. Its payload is decoded on demand by Data, so
// reading versions, IDs and metadata costs no payload decoding.
type Event struct {
	// ID is the event's unique ID (UUID v7 unless the writer chose one).
	ID uuid.UUID
	// StreamID is the aggregate ID: the shardlog partition key.
	StreamID string
	// Type is the registered type name; SchemaVersion the payload shape
	// it was written with (upcasters turn it into the current one).
	Type          string
	SchemaVersion uint32
	// Version is the event's 1-based number within its stream.
	Version  uint64
	Metadata Metadata
	// RecordedAt is when the log accepted the event (its arrival time).
	RecordedAt time.Time
	// Position is where the event sits in the log.
	Position Position

	payload    []byte
	codec      byte
	batchCount uint64 // as in the envelope: set on a batch's last event
	batchFirst uuid.UUID
	store      *Store
	data       any
	decoded    bool
}

// Data decodes the payload into the Go type registered for the event's
// type, running upcasters for an old schema version. The value is cached.
// An unregistered type returns an *UnknownTypeError; Payload still gives
// the bytes.
func (e *Event) Data() (any, error) {
	if e.decoded {
		return e.data, nil
	}
	if e.store == nil {
		return nil, fmt.Errorf("eventstore: event %s has no store to decode it", e.ID)
	}
	v, err := e.store.reg.decode(codecFor(e.codec, e.store.codec), e.Type, e.SchemaVersion, e.payload)
	if err != nil {
		return nil, fmt.Errorf("eventstore: decode %s v%d of %q: %w", e.Type, e.Version, e.StreamID, err)
	}
	e.data, e.decoded = v, true
	return v, nil
}

// Payload returns the encoded payload as stored. It aliases the record
// the log returned (with the in-memory engine, the log's own copy): do not
// modify it.
func (e *Event) Payload() []byte { return e.payload }

// DataAs decodes e's payload as a T.
func DataAs[T any](e *Event) (T, error) {
	var zero T
	v, err := e.Data()
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("eventstore: event %s v%d of %q is a %T, not a %T", e.Type, e.Version, e.StreamID, v, zero)
	}
	return t, nil
}

// Metadata travels with an event. CorrelationID and CausationID follow the
// usual convention: the correlation ID is shared by everything one request
// caused; the causation ID is the ID of the message (command or event)
// that caused this event.
type Metadata struct {
	CorrelationID string
	CausationID   string
	// Fields holds anything else (user, tenant, trace IDs).
	Fields map[string]string
}

func (m Metadata) isZero() bool {
	return m.CorrelationID == "" && m.CausationID == "" && len(m.Fields) == 0
}

// Position is an event's place in the log: its shard and sequence number.
// Sequence numbers grow within a shard and from parent to child shard.
type Position struct {
	ShardID        string
	SequenceNumber shardlog.SequenceNumber
}

// String returns "shard/sequence".
func (p Position) String() string { return p.ShardID + "/" + p.SequenceNumber.String() }

// Proposed is an event to append with a chosen ID or metadata. Append also
// takes plain values, which get a new UUID v7 and no metadata. To make a
// retry idempotent, build the Proposed events once (NewEvent) and send the
// same values again.
type Proposed struct {
	// ID is the event's ID; the zero UUID means "assign a UUID v7".
	ID       uuid.UUID
	Data     any
	Metadata Metadata
}

// NewEvent returns data as a Proposed event with a fresh UUID v7.
func NewEvent(data any, md Metadata) Proposed {
	return Proposed{ID: uuid.Must(uuid.NewV7()), Data: data, Metadata: md}
}
