package delivery

import (
	"context"

	"github.com/shoal-dev/shoal/shardlog"
)

// holder is the RetentionHolder Run registers for the source stream (see
// Config.NoRetentionHold): the log keeps every record a shard has not
// delivered yet.
type holder struct{ s *Stream }

// ArchivedThrough implements shardlog.RetentionHolder: the shard's
// delivered checkpoint, from this process's worker on it, else from the
// checkpoint store (for a finished shard, its last record).
func (h holder) ArchivedThrough(ctx context.Context, stream, shardID string) (shardlog.SequenceNumber, error) {
	s := h.s
	if stream != s.cfg.Source.StreamName {
		return shardlog.SequenceNumber{}, nil
	}
	s.mu.Lock()
	w := s.workers[shardID]
	var ending shardlog.SequenceNumber
	for _, sh := range s.shards {
		if sh.ShardID == shardID {
			ending = sh.EndingSequenceNumber
		}
	}
	s.mu.Unlock()
	if w != nil {
		return w.deliveredThrough(), nil
	}
	cps, err := s.cfg.Source.Checkpoints.Checkpoints(ctx, s.cfg.Name)
	if err != nil {
		return shardlog.SequenceNumber{}, err
	}
	p := cps[shardID]
	if p.Done && ending.Compare(p.After) > 0 {
		return ending, nil
	}
	return p.After, nil
}

var (
	_ shardlog.RetentionHolder = holder{}
	_ shardlog.RetentionHolder = (*Stream)(nil)
)

// ArchivedThrough implements shardlog.RetentionHolder: the sequence number
// of the last record of the source shard that the destination holds (the
// shard's delivered checkpoint; zero: none, or stream is not the
// source). It is what Run registers with Source.Log.HoldRetention unless
// Config.NoRetentionHold; with NoRetentionHold the caller may register the
// Stream itself, e.g. to hold the log while the stream runs only now and
// then. It reads the live progress of this process's workers, else the
// checkpoint store, so it answers also when Run is not running.
func (s *Stream) ArchivedThrough(ctx context.Context, stream, shardID string) (shardlog.SequenceNumber, error) {
	return holder{s}.ArchivedThrough(ctx, stream, shardID)
}
