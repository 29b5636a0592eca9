package delivery_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// lineKeys returns the sorted field names of a JSON line.
func lineKeys(t *testing.T, m map[string]any) []string {
	t.Helper()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// encodeLines encodes b with f and splits the lines, checking that each
// is "\n"-terminated and a JSON object.
func encodeLines(t *testing.T, f delivery.Format, b *delivery.Batch) ([]map[string]any, []byte) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, f.Encode(&buf, b))
	raw := buf.Bytes()
	require.True(t, bytes.HasSuffix(raw, []byte("\n")))
	parts := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	require.Len(t, parts, len(b.Records), "one line per record")
	var out []map[string]any
	for _, p := range parts {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(p), &m), p)
		out = append(out, m)
	}
	return out, raw
}

func decodeAll(t *testing.T, raw []byte) []shardlog.Record {
	t.Helper()
	var out []shardlog.Record
	require.NoError(t, delivery.DecodeJSONLines(bytes.NewReader(raw), func(r shardlog.Record) bool {
		out = append(out, r)
		return true
	}))
	return out
}

func TestJSONLinesRawRecords(t *testing.T) {
	keys := []string{"plain", `quote"back\slash`, "new\nline\ttab\x01", "ünïcødé 🐟", "html <&>", "line\u2028sep"}
	var recs []shardlog.Record
	for i, k := range keys {
		recs = append(recs, shardlog.Record{
			SequenceNumber:              shardlog.MakeSequenceNumber(uint64(1000+i), 3),
			ApproximateArrivalTimestamp: t0.Add(time.Duration(i) * time.Nanosecond),
			PartitionKey:                k,
			Data:                        []byte{0, byte(i), 0xff, '\n', '"'},
		})
	}
	b := makeBatch(shardlog.Shard{ShardID: "shardId-000000000003"}, recs)
	f := delivery.JSONLines(nil)
	require.Equal(t, delivery.JSONLinesName, f.Name())
	require.Equal(t, ".json", f.Extension())
	lines, raw := encodeLines(t, f, b)
	for i, m := range lines {
		require.Equal(t, []string{"approximateArrivalTimestamp", "data", "partitionKey", "sequenceNumber", "shardId"}, lineKeys(t, m))
		require.Equal(t, "shardId-000000000003", m["shardId"])
		require.Equal(t, recs[i].SequenceNumber.String(), m["sequenceNumber"], "a decimal string")
		require.Equal(t, keys[i], m["partitionKey"])
		data, err := base64.StdEncoding.DecodeString(m["data"].(string))
		require.NoError(t, err)
		require.Equal(t, recs[i].Data, data)
	}
	require.Equal(t, "2030-01-02T03:04:05.123456789Z", lines[0]["approximateArrivalTimestamp"], "RFC 3339, UTC, nanoseconds")
	require.Equal(t, "2030-01-02T03:04:05.12345679Z", lines[1]["approximateArrivalTimestamp"])

	// The decoder gives the records back exactly.
	require.Equal(t, norm(recs), norm(decodeAll(t, raw)))

	// Invalid UTF-8 in a key is replaced, as encoding/json does.
	bad := makeBatch(shardlog.Shard{ShardID: "s"}, []shardlog.Record{{SequenceNumber: shardlog.MakeSequenceNumber(1, 0), PartitionKey: "a\xffb", Data: []byte("x")}})
	lines, _ = encodeLines(t, f, bad)
	require.Equal(t, "a\ufffdb", lines[0]["partitionKey"])
}

func TestJSONLinesLongRecord(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), delivery.MaxRecordSize/16)
	recs := []shardlog.Record{
		{SequenceNumber: shardlog.MakeSequenceNumber(7, 0), ApproximateArrivalTimestamp: t0, PartitionKey: "k", Data: big},
		{SequenceNumber: shardlog.MakeSequenceNumber(8, 0), ApproximateArrivalTimestamp: t0, PartitionKey: "k", Data: []byte("small")},
	}
	var buf bytes.Buffer
	require.NoError(t, delivery.JSONLines(nil).Encode(&buf, makeBatch(shardlog.Shard{ShardID: "s"}, recs)))
	require.Equal(t, norm(recs), norm(decodeAll(t, buf.Bytes())))
}

func TestJSONLinesDecodeErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":   "nope\n",
		"bad seq":    `{"sequenceNumber":"x","approximateArrivalTimestamp":"2030-01-01T00:00:00Z","data":""}` + "\n",
		"bad time":   `{"sequenceNumber":"1","approximateArrivalTimestamp":"yesterday","data":""}` + "\n",
		"no payload": `{"sequenceNumber":"1","approximateArrivalTimestamp":"2030-01-01T00:00:00Z"}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			err := delivery.DecodeJSONLines(strings.NewReader(in), func(shardlog.Record) bool { return true })
			require.ErrorContains(t, err, "line 1")
		})
	}
}

func TestJSONLinesEvents(t *testing.T) {
	e := newEnv(t, 1)
	// A writer that knows a type the delivery stream's store does not.
	writer, err := eventstore.Open(e.ctx, e.log, testStream, eventstore.WithRegistry(newRegistry(t, true)))
	require.NoError(t, err)
	md := eventstore.Metadata{CorrelationID: "corr-1", CausationID: "cmd-9", Fields: map[string]string{"user": "ann"}}
	_, err = writer.Append(e.ctx, "acct-1", eventstore.NoStream, eventstore.NewEvent(opened{Owner: "ann"}, md), deposited{Amount: 5})
	require.NoError(t, err)
	_, err = writer.Append(e.ctx, "acct-1", eventstore.Exact(2), secret{Code: 42})
	require.NoError(t, err)
	e.putRaw([]string{"not-an-event"}, func(int) []byte { return []byte("plain bytes") })

	sh := e.shards()[0]
	recs := e.records(sh.ShardID)
	require.Len(t, recs, 4)
	b := makeBatch(sh, recs)
	lines, raw := encodeLines(t, delivery.JSONLines(e.events), b)

	ev := func(i int) eventstore.Event {
		x, err := e.events.DecodeRecord(recs[i])
		require.NoError(t, err)
		return x
	}
	common := []string{"approximateArrivalTimestamp", "partitionKey", "sequenceNumber", "shardId"}
	with := func(extra ...string) []string {
		out := append(slices.Clone(common), extra...)
		slices.Sort(out)
		return out
	}

	// An event with metadata.
	require.Equal(t, with("streamId", "version", "type", "eventId", "time", "metadata", "data", "record"), lineKeys(t, lines[0]))
	require.Equal(t, "acct-1", lines[0]["streamId"])
	require.EqualValues(t, 1, lines[0]["version"])
	require.Equal(t, "acct.opened", lines[0]["type"])
	require.Equal(t, ev(0).ID.String(), lines[0]["eventId"])
	require.Equal(t, recs[0].ApproximateArrivalTimestamp.UTC().Format("2006-01-02T15:04:05.999999999Z07:00"), lines[0]["time"])
	require.Equal(t, map[string]any{"correlationId": "corr-1", "causationId": "cmd-9", "fields": map[string]any{"user": "ann"}}, lines[0]["metadata"])
	require.Equal(t, map[string]any{"owner": "ann"}, lines[0]["data"], "the payload as JSON")
	rb, err := base64.StdEncoding.DecodeString(lines[0]["record"].(string))
	require.NoError(t, err)
	require.Equal(t, recs[0].Data, rb, "the record's exact bytes")

	// Without metadata.
	require.Equal(t, with("streamId", "version", "type", "eventId", "time", "data", "record"), lineKeys(t, lines[1]))
	require.Equal(t, map[string]any{"amount": float64(5)}, lines[1]["data"])

	// An unregistered type: its payload, base64, and no failure.
	require.Equal(t, with("streamId", "version", "type", "eventId", "time", "payload", "record"), lineKeys(t, lines[2]))
	require.Equal(t, "acct.secret", lines[2]["type"])
	pl, err := base64.StdEncoding.DecodeString(lines[2]["payload"].(string))
	require.NoError(t, err)
	x := ev(2)
	require.Equal(t, x.Payload(), pl)

	// A record that is not an event: a raw line.
	require.Equal(t, with("data"), lineKeys(t, lines[3]))
	require.Equal(t, base64.StdEncoding.EncodeToString([]byte("plain bytes")), lines[3]["data"])

	// The decoder gives back the records as stored, events included.
	require.Equal(t, norm(recs), norm(decodeAll(t, raw)))
}
