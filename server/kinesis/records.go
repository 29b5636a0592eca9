package kinesis

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoal-dev/shoal/shardlog"
)

type putRecordInput struct {
	streamRef
	Data                      *[]byte `json:"Data"`
	PartitionKey              *string `json:"PartitionKey"`
	ExplicitHashKey           *string `json:"ExplicitHashKey"`
	SequenceNumberForOrdering *string `json:"SequenceNumberForOrdering"`
}

type putRecordOutput struct {
	ShardId        string `json:"ShardId"`
	SequenceNumber string `json:"SequenceNumber"`
}

func (a *api) putRecord(ctx context.Context, in *putRecordInput) (*putRecordOutput, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	data, err := required("Data", in.Data)
	if err != nil {
		return nil, err
	}
	key, err := required("PartitionKey", in.PartitionKey)
	if err != nil {
		return nil, err
	}
	q := shardlog.PutRecordInput{StreamName: name, PartitionKey: key, Data: data, ExplicitHashKey: optional(in.ExplicitHashKey)}
	if s := optional(in.SequenceNumberForOrdering); s != "" {
		if q.SequenceNumberForOrdering, err = shardlog.ParseSequenceNumber("SequenceNumberForOrdering", s); err != nil {
			return nil, err
		}
	}
	res, err := a.log.PutRecord(ctx, q)
	if err != nil {
		if errors.Is(err, shardlog.ErrProvisionedThroughputExceeded) {
			a.cfg.recorder.WriteThrottled(name)
		}
		return nil, err
	}
	a.cfg.recorder.Incoming(name, 1, len(data)+len(key))
	return &putRecordOutput{ShardId: res.ShardID, SequenceNumber: res.SequenceNumber.String()}, nil
}

type putRecordsEntry struct {
	Data            *[]byte `json:"Data"`
	PartitionKey    *string `json:"PartitionKey"`
	ExplicitHashKey *string `json:"ExplicitHashKey"`
}

type putRecordsInput struct {
	streamRef
	Records *[]putRecordsEntry `json:"Records"`
}

type putRecordsResult struct {
	SequenceNumber string `json:"SequenceNumber,omitempty"`
	ShardId        string `json:"ShardId,omitempty"`
	ErrorCode      string `json:"ErrorCode,omitempty"`
	ErrorMessage   string `json:"ErrorMessage,omitempty"`
}

type putRecordsOutput struct {
	FailedRecordCount int                `json:"FailedRecordCount"`
	Records           []putRecordsResult `json:"Records"`
}

// putRecords appends a batch. Entries that fail one by one (throttled, or
// an engine failure) are reported in place with ErrorCode and
// ErrorMessage, as Kinesis does; a bad entry fails the whole request.
func (a *api) putRecords(ctx context.Context, in *putRecordsInput) (*putRecordsOutput, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	recs, err := required("Records", in.Records)
	if err != nil {
		return nil, err
	}
	entries := make([]shardlog.PutRecordsEntry, len(recs))
	for i, r := range recs {
		if r.Data == nil {
			return nil, missing(fmt.Sprintf("Records.%d.Data", i))
		}
		if r.PartitionKey == nil {
			return nil, missing(fmt.Sprintf("Records.%d.PartitionKey", i))
		}
		entries[i] = shardlog.PutRecordsEntry{PartitionKey: *r.PartitionKey, Data: *r.Data, ExplicitHashKey: optional(r.ExplicitHashKey)}
	}
	res, err := a.log.PutRecords(ctx, name, entries)
	if err != nil {
		return nil, err
	}
	out := &putRecordsOutput{FailedRecordCount: res.FailedRecordCount, Records: make([]putRecordsResult, len(res.Records))}
	accepted, bytes := 0, 0
	defer func() { a.cfg.recorder.Incoming(name, accepted, bytes) }()
	for i, r := range res.Records {
		if r.ErrorCode == errThroughputExceeded {
			a.cfg.recorder.WriteThrottled(name)
		}
		if r.ErrorCode == "" {
			accepted++
			bytes += len(entries[i].Data) + len(entries[i].PartitionKey)
		}
		if r.ErrorCode != "" {
			msg := r.ErrorMessage
			if r.Err != nil {
				msg = message(r.Err)
			}
			if r.ErrorCode == shardlog.ErrorCodeInternalFailure {
				msg = "Internal Service Failure"
			}
			out.Records[i] = putRecordsResult{ErrorCode: r.ErrorCode, ErrorMessage: msg}
			continue
		}
		out.Records[i] = putRecordsResult{ShardId: r.ShardID, SequenceNumber: r.SequenceNumber.String()}
	}
	return out, nil
}
