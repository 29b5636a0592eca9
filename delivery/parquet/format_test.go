package parquet_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/parquet"
	"github.com/shoal-dev/shoal/shardlog"
)

type order struct {
	Sequence     string    `parquet:"sequence_number"`
	PartitionKey string    `parquet:"partition_key"`
	Arrival      time.Time `parquet:"arrival,timestamp(millisecond)"`
	Customer     string    `parquet:"customer"`
	Amount       int64     `parquet:"amount"`
	Note         *string   `parquet:"note,optional"`
}

func toOrder(r shardlog.Record) (order, error) {
	var v struct {
		Customer string  `json:"customer"`
		Amount   int64   `json:"amount"`
		Note     *string `json:"note"`
	}
	if err := json.Unmarshal(r.Data, &v); err != nil {
		return order{}, err
	}
	return order{
		Sequence:     r.SequenceNumber.String(),
		PartitionKey: r.PartitionKey,
		Arrival:      r.ApproximateArrivalTimestamp,
		Customer:     v.Customer,
		Amount:       v.Amount,
		Note:         v.Note,
	}, nil
}

func orderBatch(n int) *delivery.Batch {
	b := &delivery.Batch{DeliveryStream: "ds", Source: "orders", Shard: shardlog.Shard{ShardID: "shardId-000000000000"}}
	t0 := time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC)
	for i := range n {
		note := ""
		if i%3 == 0 {
			note = fmt.Sprintf(`,"note":"n%d"`, i)
		}
		b.Records = append(b.Records, shardlog.Record{
			SequenceNumber:              shardlog.MakeSequenceNumber(uint64(i+1), 0),
			ApproximateArrivalTimestamp: t0.Add(time.Duration(i) * time.Millisecond),
			PartitionKey:                fmt.Sprintf("c%d", i%7),
			Data:                        fmt.Appendf(nil, `{"customer":"c%d","amount":%d%s}`, i%7, i*10, note),
		})
	}
	return b
}

func TestParquetRoundTrip(t *testing.T) {
	for name, opts := range map[string][]parquet.Option{
		"snappy":           nil,
		"zstd":             {parquet.WithCodec(&pq.Zstd)},
		"small row groups": {parquet.WithWriterOptions(pq.PageBufferSize(1024), pq.MaxRowsPerRowGroup(100))},
	} {
		t.Run(name, func(t *testing.T) {
			f := parquet.Format(toOrder, opts...)
			assert.Equal(t, "parquet", f.Name())
			assert.Equal(t, ".parquet", f.Extension())

			b := orderBatch(1000)
			var buf bytes.Buffer
			require.NoError(t, f.Encode(&buf, b))
			assert.Equal(t, "PAR1", string(buf.Bytes()[:4]))

			rows, err := pq.Read[order](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			require.NoError(t, err)
			require.Len(t, rows, len(b.Records))
			for i, r := range b.Records {
				want, err := toOrder(r)
				require.NoError(t, err)
				assert.Equal(t, want.Sequence, rows[i].Sequence)
				assert.Equal(t, want.PartitionKey, rows[i].PartitionKey)
				assert.True(t, want.Arrival.Equal(rows[i].Arrival), "row %d arrival %v, want %v", i, rows[i].Arrival, want.Arrival)
				assert.Equal(t, want.Customer, rows[i].Customer)
				assert.Equal(t, want.Amount, rows[i].Amount)
				assert.Equal(t, want.Note, rows[i].Note)
			}

			// The schema is T's.
			file, err := pq.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			require.NoError(t, err)
			var cols []string
			for _, c := range file.Schema().Fields() {
				cols = append(cols, c.Name())
			}
			assert.ElementsMatch(t, []string{"sequence_number", "partition_key", "arrival", "customer", "amount", "note"}, cols)
		})
	}
}

func TestParquetPagesAreCompressed(t *testing.T) {
	b := orderBatch(5000)
	var plain, snappy bytes.Buffer
	require.NoError(t, parquet.Format(toOrder, parquet.WithCodec(&pq.Uncompressed)).Encode(&plain, b))
	require.NoError(t, parquet.Format(toOrder).Encode(&snappy, b))
	assert.Less(t, snappy.Len(), plain.Len(), "Snappy by default")
}

func TestParquetEmptyBatch(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, parquet.Format(toOrder).Encode(&buf, &delivery.Batch{}))
	rows, err := pq.Read[order](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	assert.Empty(t, rows)
}

func TestParquetConversionFailure(t *testing.T) {
	b := orderBatch(10)
	b.Records[3].Data = []byte("not json")
	b.Records[7].Data = []byte(`{"amount":"ten"}`)
	var buf bytes.Buffer
	err := parquet.Format(toOrder).Encode(&buf, b)
	var ce *delivery.ConversionError
	require.True(t, errors.As(err, &ce), "got %T: %v", err, err)
	require.Len(t, ce.Failures, 2)
	assert.Equal(t, 3, ce.Failures[0].Index)
	assert.Equal(t, b.Records[3].SequenceNumber, ce.Failures[0].SequenceNumber)
	assert.Equal(t, b.Records[3].PartitionKey, ce.Failures[0].PartitionKey)
	assert.Equal(t, 7, ce.Failures[1].Index)
	var syntax *json.SyntaxError
	assert.True(t, errors.As(err, &syntax), "toRow's error is wrapped")
	assert.Contains(t, err.Error(), "record 3 (sequence number "+b.Records[3].SequenceNumber.String()+")")
	assert.Zero(t, buf.Len(), "nothing is written")
}

func TestParquetCheckCompression(t *testing.T) {
	assert.NoError(t, parquet.CheckCompression(delivery.Uncompressed))
	for _, c := range []delivery.Compression{"", delivery.GZIP, delivery.ZSTD} {
		err := parquet.CheckCompression(c)
		var ae *shardlog.ArgumentError
		require.True(t, errors.As(err, &ae), "%q", c)
		assert.Equal(t, "CompressionFormat", ae.Field)
		assert.Contains(t, ae.Reason, "must be UNCOMPRESSED")
		assert.ErrorIs(t, err, shardlog.ErrInvalidArgument)
	}
	f := parquet.Format(toOrder)
	checker, ok := f.(delivery.CompressionChecker)
	require.True(t, ok, "the format is a delivery.CompressionChecker")
	assert.NoError(t, checker.CheckCompression(delivery.Uncompressed))
	assert.Error(t, checker.CheckCompression(delivery.GZIP))
}

func TestParquetBadConfiguration(t *testing.T) {
	tests := map[string]struct {
		f     delivery.Format
		field string
	}{
		"nil toRow":  {parquet.Format[order](nil), "toRow"},
		"nil codec":  {parquet.Format(toOrder, parquet.WithCodec(nil)), "Codec"},
		"not struct": {parquet.Format(func(shardlog.Record) (chan int, error) { return nil, nil }), "T"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var ae *shardlog.ArgumentError
			err := tc.f.Encode(&bytes.Buffer{}, orderBatch(1))
			require.True(t, errors.As(err, &ae), "got %T: %v", err, err)
			assert.Equal(t, tc.field, ae.Field)
			err = tc.f.(delivery.CompressionChecker).CheckCompression(delivery.Uncompressed)
			require.True(t, errors.As(err, &ae), "configuration errors show when the destination is configured")
		})
	}
}

func ExampleFormat() {
	type row struct {
		Key  string `parquet:"key"`
		Size int64  `parquet:"size"`
	}
	f := parquet.Format(func(r shardlog.Record) (row, error) {
		return row{Key: r.PartitionKey, Size: int64(len(r.Data))}, nil
	})
	fmt.Println(f.Name(), f.Extension(), parquet.CheckCompression(delivery.Uncompressed))

	var buf bytes.Buffer
	_ = f.Encode(&buf, &delivery.Batch{Records: []shardlog.Record{{PartitionKey: "a", Data: []byte("xyz")}}})
	rows, _ := pq.Read[row](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	fmt.Printf("%+v\n", rows)
	// Output:
	// parquet .parquet <nil>
	// [{Key:a Size:3}]
}

func TestParquetNilBatchIsATypedError(t *testing.T) {
	var ae *shardlog.ArgumentError
	require.ErrorAs(t, parquet.Format(toOrder).Encode(&bytes.Buffer{}, nil), &ae)
	assert.Equal(t, "Batch", ae.Field)
	require.ErrorAs(t, parquet.Format(toOrder).Encode(nil, &delivery.Batch{}), &ae)
	assert.Equal(t, "w", ae.Field)
}
