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
	EncryptionType string `json:"EncryptionType"` // KMS on an encrypted stream, else NONE
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
	sum, err := a.summary(ctx, name)
	if err != nil {
		return nil, err
	}
	seal, err := a.sealerFor(sum)
	if err != nil {
		return nil, err
	}
	stored, enc := data, encryptionNone
	if seal != nil {
		if err := seal.checkSize("Data", key, data); err != nil {
			return nil, err
		}
		if stored, err = seal.seal(key, data); err != nil {
			return nil, err
		}
		enc = encryptionKMS
	}
	q := shardlog.PutRecordInput{StreamName: name, PartitionKey: key, Data: stored, ExplicitHashKey: optional(in.ExplicitHashKey)}
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
	a.incoming(name, sum.EnhancedMonitoring, res.ShardID, 1, len(data)+len(key))
	return &putRecordOutput{ShardId: res.ShardID, SequenceNumber: res.SequenceNumber.String(), EncryptionType: enc}, nil
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
	EncryptionType    string             `json:"EncryptionType"` // KMS on an encrypted stream, else NONE
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
	// sizes are the user's bytes of each entry, which the metrics count.
	sizes := make([]int, len(entries))
	for i, e := range entries {
		sizes[i] = len(e.Data) + len(e.PartitionKey)
	}
	sum, err := a.summary(ctx, name)
	if err != nil {
		return nil, err
	}
	seal, err := a.sealerFor(sum)
	if err != nil {
		return nil, err
	}
	enc := encryptionNone
	if seal != nil {
		if err := sealEntries(seal, entries); err != nil {
			return nil, err
		}
		enc = encryptionKMS
	}
	res, err := a.log.PutRecords(ctx, shardlog.PutRecordsInput{StreamName: name, Records: entries})
	if err != nil {
		return nil, err
	}
	out := &putRecordsOutput{FailedRecordCount: res.FailedRecordCount, Records: make([]putRecordsResult, len(res.Records)), EncryptionType: enc}
	type tally struct{ records, bytes int }
	perShard := map[string]*tally{}
	defer func() {
		for shard, t := range perShard {
			a.incoming(name, sum.EnhancedMonitoring, shard, t.records, t.bytes)
		}
	}()
	for i, r := range res.Records {
		if r.ErrorCode == errThroughputExceeded {
			a.cfg.recorder.WriteThrottled(name)
		}
		if r.ErrorCode == "" {
			t := perShard[r.ShardID]
			if t == nil {
				t = &tally{}
				perShard[r.ShardID] = t
			}
			t.records++
			t.bytes += sizes[i]
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

// sealEntries seals the Data of every entry in place, after checking each
// record, and the request, against the stream's limits as the user's
// bytes and as the sealed bytes: sealing must not turn an accepted size
// into a refusal that names the wrong size.
func sealEntries(seal *sealer, entries []shardlog.PutRecordsEntry) error {
	requestLimit := shardlog.MaxPutRecordsRequestSize
	if seal.limit > shardlog.DefaultMaxRecordSizeKiB<<10 {
		requestLimit = shardlog.MaxGetRecordsBytes // as shardlog.PutRecords
	}
	total, sealedTotal := 0, 0
	for i, e := range entries {
		if err := seal.checkSize(fmt.Sprintf("Records.%d.Data", i), e.PartitionKey, e.Data); err != nil {
			return err
		}
		total += len(e.Data) + len(e.PartitionKey)
		sealedTotal += len(e.Data) + len(e.PartitionKey) + encOverhead(seal.keyID)
	}
	if total > requestLimit {
		return invalidArg("Records", "request size %d bytes (data plus partition keys) exceeds the limit of %d bytes", total, requestLimit)
	}
	if sealedTotal > requestLimit {
		return invalidArg("Records", "request size %d bytes (data plus partition keys) exceeds the limit of %d bytes once encrypted: the stream is encrypted, which adds %d bytes to each record", total, requestLimit, encOverhead(seal.keyID))
	}
	for i := range entries {
		sealed, err := seal.seal(entries[i].PartitionKey, entries[i].Data)
		if err != nil {
			return err
		}
		entries[i].Data = sealed
	}
	return nil
}
