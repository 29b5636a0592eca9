package firehose

import (
	"context"
	"fmt"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/server/awsproto"
)

// putTarget resolves the DirectPut delivery stream a put addresses; the
// stream is not deleted until release is called. Puts answer Encrypted
// false whatever the stream's encryption setting: Shoal records that
// setting but does not encrypt the records, and a put must not say it did.
func (a *api) putTarget(name *string) (rt runtime, release func(), err error) {
	n, err := checkName("DeliveryStreamName", name)
	if err != nil {
		return nil, nil, err
	}
	snap, release, err := a.m.acquire(n)
	if err != nil {
		return nil, nil, err
	}
	if snap.cfg.Type != typeDirectPut {
		release()
		return nil, nil, awsproto.Errorf(errInvalidSource, "This operation is not permitted on %s because it is a %s delivery stream: it takes records from %s, not from PutRecord or PutRecordBatch", n, snap.cfg.Type, snap.cfg.SourceARN)
	}
	if snap.rt == nil {
		release()
		if snap.busy != "" {
			return nil, nil, unavailable("delivery stream %s is %s", n, snap.busy)
		}
		return nil, nil, unavailable("delivery stream %s is not running: %v", n, snap.failure)
	}
	return snap.rt, release, nil
}

// putRecord is PutRecord.
func (a *api) putRecord(ctx context.Context, in *putRecordInput) (*putRecordOutput, error) {
	if in.Record == nil || in.Record.Data == nil {
		return nil, invalidArg("Record.Data", "is required (up to %d bytes)", delivery.MaxRecordSize)
	}
	if n := len(in.Record.Data); n > delivery.MaxRecordSize {
		return nil, invalidArg("Record.Data", "is %d bytes; the limit is %d (1,000 KiB)", n, delivery.MaxRecordSize)
	}
	rt, release, err := a.putTarget(in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	defer release()
	id, err := rt.PutRecord(ctx, in.Record.Data)
	if err != nil {
		return nil, err
	}
	return &putRecordOutput{RecordId: id, Encrypted: false}, nil
}

// putRecordBatch is PutRecordBatch: 1-500 records of at most 1,000 KiB,
// 4 MiB in all. Results are in input order; a record that could not be
// taken (throttled, say) has an ErrorCode and counts in FailedPutCount.
func (a *api) putRecordBatch(ctx context.Context, in *putRecordBatchInput) (*putRecordBatchOutput, error) {
	if len(in.Records) == 0 {
		return nil, invalidArg("Records", "is required (1-%d records)", delivery.MaxBatchRecords)
	}
	if len(in.Records) > delivery.MaxBatchRecords {
		return nil, invalidArg("Records", "has %d records; the limit is %d", len(in.Records), delivery.MaxBatchRecords)
	}
	total := 0
	data := make([][]byte, len(in.Records))
	for i, r := range in.Records {
		if r == nil || r.Data == nil {
			return nil, invalidArg(fmt.Sprintf("Records[%d].Data", i), "is required (up to %d bytes)", delivery.MaxRecordSize)
		}
		if n := len(r.Data); n > delivery.MaxRecordSize {
			return nil, invalidArg(fmt.Sprintf("Records[%d].Data", i), "is %d bytes; the limit is %d (1,000 KiB)", n, delivery.MaxRecordSize)
		}
		total += len(r.Data)
		data[i] = r.Data
	}
	if total > delivery.MaxBatchBytes {
		return nil, invalidArg("Records", "hold %d bytes of data; the limit is %d (4 MiB)", total, delivery.MaxBatchBytes)
	}
	rt, release, err := a.putTarget(in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := rt.PutRecordBatch(ctx, data)
	if err != nil {
		return nil, err
	}
	if len(res.RequestResponses) != len(data) {
		return nil, fmt.Errorf("firehose: the runtime answered %d results for %d records", len(res.RequestResponses), len(data))
	}
	out := &putRecordBatchOutput{Encrypted: false, RequestResponses: make([]batchEntry, len(data))}
	for i, r := range res.RequestResponses {
		if r.ErrorCode != "" {
			out.FailedPutCount++
			out.RequestResponses[i] = batchEntry{ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage}
			continue
		}
		out.RequestResponses[i] = batchEntry{RecordId: r.RecordID}
	}
	return out, nil
}
