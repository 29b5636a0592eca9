package delivery_test

import (
	"bytes"
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/shardlog"
)

func rtDirect(t *testing.T, l *shardlog.Log, dest delivery.Destination, m delivery.Recorder) *delivery.Stream {
	t.Helper()
	c := rtConfig(l, dest, 0)
	c.Source = delivery.Source{Log: l, StreamName: "direct-backing", DirectPut: true}
	c.Metrics = m
	s, err := delivery.New(c)
	require.NoError(t, err)
	return s
}

func TestDirectPutLimits(t *testing.T) {
	ctx := context.Background()
	l := rtLog(t, 0)
	defer l.Close()
	s := rtDirect(t, l, &rtDest{}, nil)

	argErr := func(t *testing.T, err error, field, reason string) {
		t.Helper()
		var ae *shardlog.ArgumentError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, field, ae.Field)
		assert.Contains(t, ae.Reason, reason)
	}

	_, err := s.PutRecordBatch(ctx, nil)
	argErr(t, err, "Records", "1-500")

	small := make([][]byte, 500)
	for i := range small {
		small[i] = []byte{byte(i)}
	}
	out, err := s.PutRecordBatch(ctx, small)
	require.NoError(t, err)
	assert.Zero(t, out.FailedPutCount)
	assert.Len(t, out.RequestResponses, 500)
	_, err = s.PutRecordBatch(ctx, append(small, []byte("x")))
	argErr(t, err, "Records", "1-500")

	// One record at 1,000 KiB, then one byte past it.
	_, err = s.PutRecordBatch(ctx, [][]byte{rtBytes(delivery.MaxRecordSize, 'a')})
	require.NoError(t, err)
	_, err = s.PutRecordBatch(ctx, [][]byte{[]byte("ok"), rtBytes(delivery.MaxRecordSize+1, 'a')})
	argErr(t, err, "Records[1].Data", "1024000")
	_, err = s.PutRecord(ctx, rtBytes(delivery.MaxRecordSize, 'a'))
	require.NoError(t, err)
	_, err = s.PutRecord(ctx, rtBytes(delivery.MaxRecordSize+1, 'a'))
	argErr(t, err, "Record.Data", "1024000")

	// A batch of exactly 4 MiB, then one byte more.
	full := [][]byte{rtBytes(delivery.MaxRecordSize, 'a'), rtBytes(delivery.MaxRecordSize, 'b'), rtBytes(delivery.MaxRecordSize, 'c'), rtBytes(delivery.MaxRecordSize, 'd'),
		rtBytes(delivery.MaxBatchBytes-4*delivery.MaxRecordSize, 'e')}
	out, err = s.PutRecordBatch(ctx, full)
	require.NoError(t, err)
	assert.Zero(t, out.FailedPutCount)
	full[4] = append(full[4], 'f')
	_, err = s.PutRecordBatch(ctx, full)
	argErr(t, err, "Records", "4194304")

	// Not a DirectPut stream.
	l2 := rtLog(t, 1)
	defer l2.Close()
	s2, err := delivery.New(rtConfig(l2, &rtDest{}, 0))
	require.NoError(t, err)
	_, err = s2.PutRecord(ctx, []byte("x"))
	assert.ErrorIs(t, err, delivery.ErrInvalidSource)
	_, err = s2.PutRecordBatch(ctx, [][]byte{[]byte("x")})
	assert.ErrorIs(t, err, delivery.ErrInvalidSource)
}

func TestDirectPutResultsInOrder(t *testing.T) {
	ctx := context.Background()
	l := rtLog(t, 0)
	defer l.Close()
	m := &rtMetrics{}
	s := rtDirect(t, l, &rtDest{}, m)
	data := rtStrings("d", 50)
	out, err := s.PutRecordBatch(ctx, data)
	require.NoError(t, err)
	require.Len(t, out.RequestResponses, 50)
	ids := map[string]bool{}
	for _, r := range out.RequestResponses {
		assert.Empty(t, r.ErrorCode)
		assert.False(t, ids[r.RecordID], "record IDs are unique")
		ids[r.RecordID] = true
	}
	id, err := s.PutRecord(ctx, []byte("single"))
	require.NoError(t, err)
	assert.False(t, ids[id])

	// The backing stream (created: one shard) holds the records in order,
	// each under the ID its result gave.
	d, err := l.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: "direct-backing"})
	require.NoError(t, err)
	require.Len(t, d.Shards, 1)
	assert.Equal(t, 24, d.RetentionPeriodHours)
	cur, err := l.NewCursor(ctx, shardlog.NewCursorInput{StreamName: "direct-backing", ShardID: d.Shards[0].ShardID, StartingPosition: shardlog.StartingPosition{Type: shardlog.TrimHorizon}})
	require.NoError(t, err)
	b, err := cur.Next(ctx, 0)
	require.NoError(t, err)
	require.Len(t, b.Records, 51)
	for i, r := range b.Records[:50] {
		assert.Equal(t, data[i], r.Data)
		assert.Equal(t, out.RequestResponses[i].RecordID, delivery.RecordID(d.Shards[0].ShardID, r.SequenceNumber))
	}
	assert.Equal(t, id, delivery.RecordID(d.Shards[0].ShardID, b.Records[50].SequenceNumber))
	assert.EqualValues(t, 51, m.count(delivery.IncomingRecords))
	assert.EqualValues(t, 2, m.count(delivery.IncomingPutRequests))
	assert.EqualValues(t, len(bytes.Join(data, nil))+len("single"), m.count(delivery.IncomingBytes))
}

func TestDirectPutThrottled(t *testing.T) {
	ctx := context.Background()
	l := rtLog(t, 0)
	defer l.Close()
	m := &rtMetrics{}
	s := rtDirect(t, l, &rtDest{}, m)
	_, err := s.PutRecord(ctx, []byte("create")) // creates the backing stream
	require.NoError(t, err)
	require.NoError(t, l.SetProvisionedLimits(ctx, shardlog.SetProvisionedLimitsInput{StreamName: "direct-backing", ProvisionedLimits: true}))
	// 400 records of 10 KiB: past a shard's 1 MiB/s write budget.
	data := make([][]byte, 400)
	for i := range data {
		data[i] = rtBytes(10*rtKiB, byte(i))
	}
	out, err := s.PutRecordBatch(ctx, data)
	require.NoError(t, err)
	require.Len(t, out.RequestResponses, 400)
	failed := 0
	for _, r := range out.RequestResponses {
		switch r.ErrorCode {
		case "":
			assert.NotEmpty(t, r.RecordID)
		case delivery.ErrorCodeServiceUnavailable:
			assert.Empty(t, r.RecordID)
			failed++
		default:
			t.Fatalf("unexpected error code %q", r.ErrorCode)
		}
	}
	assert.Positive(t, failed)
	assert.Equal(t, failed, out.FailedPutCount)
	assert.EqualValues(t, failed, m.count(delivery.ThrottledRecords))
	assert.EqualValues(t, 401-failed, m.count(delivery.IncomingRecords))
}

func TestDirectPutDelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := rtLog(t, 0)
		defer l.Close()
		dest := &rtDest{}
		s := rtDirect(t, l, dest, nil)
		stop := rtRun(t, s)
		synctest.Wait()
		_, err := s.PutRecordBatch(ctx, rtStrings("p", 10))
		require.NoError(t, err)
		time.Sleep(time.Second)
		synctest.Wait()
		require.NoError(t, stop())
		assert.Equal(t, rtStrs(rtStrings("p", 10)), dest.data())
		assert.Equal(t, "direct-backing", s.Status().Source)
		assert.True(t, s.Status().DirectPut)
	})
}
