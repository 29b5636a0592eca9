package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// head is what Append knows of a stream before writing.
type head struct {
	version uint64
	// seq is the sequence number of the stream's latest retained event:
	// the expected sequence number of the conditional append. It is zero
	// when the log holds none (a new stream, or one whose events expired
	// and whose version comes from a snapshot).
	seq     shardlog.SequenceNumber
	last    header // the latest retained event's header, when seq is set
	arrival time.Time
}

// head reads the stream's latest event, or, when all its events are past
// retention, the version its snapshot or archive knows.
func (s *Store) head(ctx context.Context, streamID string) (head, error) {
	lk, err := s.log.LastKey(ctx, shardlog.LastKeyInput{StreamName: s.stream, PartitionKey: streamID})
	if err != nil {
		return head{}, fmt.Errorf("eventstore: read the version of %q: %w", streamID, err)
	}
	r, ok := lk.Record, lk.Found
	if ok {
		h, _, err := parseEnvelope(r.Data, s.reg)
		if err != nil {
			return head{}, fmt.Errorf("eventstore: stream %q at %s: %w", streamID, r.SequenceNumber, err)
		}
		hd := head{version: h.version, seq: r.SequenceNumber, last: h, arrival: r.ApproximateArrivalTimestamp}
		s.heads.put(streamID, hd)
		return hd, nil
	}
	s.heads.drop(streamID)
	v, err := s.retiredVersion(ctx, streamID)
	return head{version: v}, err
}

// retiredVersion returns the version a stream reached beyond what the log
// retains: the higher of its snapshot's and its archive's last version,
// 0 when neither knows the stream. The archive is read to its end for the
// key, so an archive should index records by partition key.
func (s *Store) retiredVersion(ctx context.Context, streamID string) (uint64, error) {
	v, err := s.snapshotVersion(ctx, streamID)
	if err != nil || s.archive == nil {
		return v, err
	}
	for r, err := range s.archive.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: s.stream, PartitionKey: streamID}) {
		if err != nil {
			return 0, fmt.Errorf("eventstore: archive read of %q: %w", streamID, err)
		}
		h, _, err := parseEnvelope(r.Data, s.reg)
		if err != nil {
			return 0, fmt.Errorf("eventstore: archived record %s of %q: %w", r.SequenceNumber, streamID, err)
		}
		v = max(v, h.version)
	}
	return v, nil
}

// replays reports whether batch is the stream's latest append, stored
// already, and returns that append's result.
func (hd head) replays(streamID string, batch []proposed) (AppendResult, bool) {
	if hd.seq.IsZero() {
		return AppendResult{}, false
	}
	n := uint64(len(batch))
	last := batch[n-1].h
	if hd.last.id != last.id || hd.version < n {
		return AppendResult{}, false
	}
	// The latest append's count: a single event carries no batch tail.
	if max(hd.last.batchCount, 1) != n || (n > 1 && hd.last.batchFirst != batch[0].h.id) {
		return AppendResult{}, false
	}
	first := shardlog.MakeSequenceNumber(hd.seq.Position()-(n-1), hd.seq.ShardIndex())
	shard := hd.seq.ShardID()
	return AppendResult{
		StreamID:     streamID,
		FirstVersion: hd.version - n + 1,
		LastVersion:  hd.version,
		First:        Position{shard, first},
		Last:         Position{shard, hd.seq},
		RecordedAt:   hd.arrival,
		Deduplicated: true,
	}, true
}
