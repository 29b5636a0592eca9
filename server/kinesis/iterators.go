package kinesis

import (
	"context"
	"errors"

	"github.com/shoal-dev/shoal/server/admission"
	"github.com/shoal-dev/shoal/shardlog"
)

type getShardIteratorInput struct {
	streamRef
	ShardId                *string `json:"ShardId"`
	ShardIteratorType      *string `json:"ShardIteratorType"`
	StartingSequenceNumber *string `json:"StartingSequenceNumber"`
	Timestamp              *epoch  `json:"Timestamp"`
}

type getShardIteratorOutput struct {
	ShardIterator string `json:"ShardIterator"`
}

func (a *api) getShardIterator(ctx context.Context, in *getShardIteratorInput) (*getShardIteratorOutput, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	id, err := required("ShardId", in.ShardId)
	if err != nil {
		return nil, err
	}
	typ, err := required("ShardIteratorType", in.ShardIteratorType)
	if err != nil {
		return nil, err
	}
	q := shardlog.GetShardIteratorInput{
		StreamName: name, ShardID: id, ShardIteratorType: shardlog.IteratorType(typ), Timestamp: timeOf(in.Timestamp),
	}
	if s := optional(in.StartingSequenceNumber); s != "" {
		if q.StartingSequenceNumber, err = shardlog.ParseSequenceNumber("StartingSequenceNumber", s); err != nil {
			return nil, err
		}
	}
	it, err := a.log.GetShardIterator(ctx, q)
	if err != nil {
		return nil, err
	}
	return &getShardIteratorOutput{ShardIterator: it.ShardIterator}, nil
}

type getRecordsInput struct {
	ShardIterator *string `json:"ShardIterator"`
	Limit         *int    `json:"Limit"`
	StreamARN     *string `json:"StreamARN"` // routing only; the iterator names the stream
}

type record struct {
	SequenceNumber              string `json:"SequenceNumber"`
	ApproximateArrivalTimestamp epoch  `json:"ApproximateArrivalTimestamp"`
	Data                        []byte `json:"Data"`
	PartitionKey                string `json:"PartitionKey"`
	EncryptionType              string `json:"EncryptionType,omitempty"` // KMS if stored encrypted; omitted otherwise
}

type childShard struct {
	ShardId      string       `json:"ShardId"`
	ParentShards []string     `json:"ParentShards"`
	HashKeyRange hashKeyRange `json:"HashKeyRange"`
}

type getRecordsOutput struct {
	Records            []record     `json:"Records"`
	NextShardIterator  *string      `json:"NextShardIterator"` // null at the end of a closed shard
	MillisBehindLatest int64        `json:"MillisBehindLatest"`
	ChildShards        []childShard `json:"ChildShards,omitempty"` // only at the end of a closed shard
}

func (a *api) getRecords(ctx context.Context, in *getRecordsInput) (*getRecordsOutput, error) {
	it, err := required("ShardIterator", in.ShardIterator)
	if err != nil {
		return nil, err
	}
	if in.Limit != nil && *in.Limit == 0 {
		return nil, invalidArg("Limit", "0 is outside 1-%d", shardlog.MaxGetRecordsLimit)
	}
	// The records read count against the bytes in flight of admission
	// control: reserve their bound before reading them, then what the
	// response needs once their size is known.
	if err := admission.Reserve(ctx, shardlog.MaxGetRecordsBytes); err != nil {
		return nil, err
	}
	res, err := a.log.GetRecords(ctx, shardlog.GetRecordsInput{ShardIterator: it, Limit: optional(in.Limit)})
	if err != nil {
		if errors.Is(err, shardlog.ErrProvisionedThroughputExceeded) {
			a.cfg.recorder.ReadThrottled("")
		}
		return nil, err
	}
	sum, err := a.summary(ctx, res.StreamName)
	if err != nil {
		return nil, err
	}
	open, err := a.openerFor(sum)
	if err != nil {
		return nil, err
	}
	out := &getRecordsOutput{Records: make([]record, len(res.Records)), MillisBehindLatest: res.MillisBehindLatest}
	bytes, stored := 0, 0
	for i, r := range res.Records {
		if out.Records[i], err = open.record(r); err != nil {
			return nil, err
		}
		bytes += len(out.Records[i].Data) + len(r.PartitionKey)
		stored += len(r.Data) + len(r.PartitionKey)
	}
	if err := reserveResponse(ctx, stored, bytes, len(res.Records)); err != nil {
		return nil, err
	}
	a.outgoing(res.StreamName, sum.EnhancedMonitoring, res.ShardID, len(res.Records), bytes, res.MillisBehindLatest)
	if res.NextShardIterator != "" {
		out.NextShardIterator = &res.NextShardIterator
	}
	for _, c := range res.ChildShards {
		out.ChildShards = append(out.ChildShards, childShard{ShardId: c.ShardID, ParentShards: c.ParentShards, HashKeyRange: wireRange(c.HashKeyRange)})
	}
	return out, nil
}

// recordOverhead bounds the encoded size of a record's fields other than
// its data and key (sequence number, timestamp, names, punctuation).
const recordOverhead = 256

// reserveResponse trues the admission reservation of a GetRecords call up
// to what it holds: the records read (stored bytes), their opened copies
// if the stream is encrypted, and the encoded response (base64 data)
// twice, as encoding/json builds it in a buffer of its own before
// returning a copy; the part of the MaxGetRecordsBytes reserved up front
// that is not needed is given back. The iterator is not spent, so a
// refusal loses nothing.
func reserveResponse(ctx context.Context, stored, wire, n int) error {
	encoded := int64(wire+2)/3*4 + int64(n)*recordOverhead
	need := int64(stored) + 2*encoded
	if wire != stored {
		need += int64(wire)
	}
	if extra := need - shardlog.MaxGetRecordsBytes; extra > 0 {
		return admission.Reserve(ctx, extra)
	}
	admission.Release(ctx, shardlog.MaxGetRecordsBytes-need)
	return nil
}
