package awsproto_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkes "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// allTypes has one header of every type.
func allTypes() []awsproto.Header {
	return []awsproto.Header{
		{Name: "t", Value: true},
		{Name: "f", Value: false},
		{Name: "i8", Value: int8(-7)},
		{Name: "i16", Value: int16(-30000)},
		{Name: "i32", Value: int32(-2_000_000_000)},
		{Name: "i64", Value: int64(-9_000_000_000_000_000)},
		{Name: "bytes", Value: []byte{0, 1, 2, 0xff}},
		{Name: "empty-bytes", Value: []byte{}},
		{Name: ":event-type", Value: "SubscribeToShardEvent"},
		{Name: "empty-string", Value: ""},
		{Name: "ts", Value: time.UnixMilli(1_764_000_000_123).UTC()},
		{Name: "uuid", Value: awsproto.UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}},
	}
}

func encode(t *testing.T, headers []awsproto.Header, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := awsproto.EncodeMessage(&buf, headers, payload); err != nil {
		t.Fatalf("EncodeMessage: %v", err)
	}
	return buf.Bytes()
}

func TestEventStreamRoundTrip(t *testing.T) {
	msgs := []struct {
		headers []awsproto.Header
		payload []byte
	}{
		{allTypes(), []byte(`{"Records":[]}`)},
		{nil, nil},
		{[]awsproto.Header{{Name: "x", Value: "y"}}, nil},
		{nil, bytes.Repeat([]byte{0xa5}, 70000)},
	}
	var stream bytes.Buffer
	for _, m := range msgs {
		stream.Write(encode(t, m.headers, m.payload))
	}
	for i, m := range msgs {
		h, p, err := awsproto.ReadMessage(&stream)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(h, m.headers) {
			t.Errorf("message %d headers:\n got %#v\nwant %#v", i, h, m.headers)
		}
		if !bytes.Equal(p, m.payload) {
			t.Errorf("message %d payload: got %d bytes, want %d", i, len(p), len(m.payload))
		}
	}
	if _, _, err := awsproto.ReadMessage(&stream); err != io.EOF {
		t.Fatalf("at the end: err = %v, want io.EOF", err)
	}
}

// TestEventStreamKnownVector checks an empty message against bytes worked
// out by hand from the format and a CRC32 computed here independently.
func TestEventStreamKnownVector(t *testing.T) {
	got := encode(t, nil, nil)
	prelude := []byte{0, 0, 0, 0x10, 0, 0, 0, 0}
	want := binary.BigEndian.AppendUint32(bytes.Clone(prelude), crc32.ChecksumIEEE(prelude))
	want = binary.BigEndian.AppendUint32(want, crc32.ChecksumIEEE(want))
	if !bytes.Equal(got, want) {
		t.Fatalf("empty message:\n got %x\nwant %x", got, want)
	}
	// The vector of the AWS event-stream reference tests (aws-c-event-stream).
	if hex.EncodeToString(got) != "0000001000000000"+"05c248eb"+"7d98c8ff" {
		t.Fatalf("empty message %x differs from the reference vector", got)
	}
}

// sdkHeaders converts to the SDK's header representation.
func sdkHeaders(t *testing.T, hs []awsproto.Header) sdkes.Headers {
	t.Helper()
	var out sdkes.Headers
	for _, h := range hs {
		var v sdkes.Value
		switch x := h.Value.(type) {
		case bool:
			v = sdkes.BoolValue(x)
		case int8:
			v = sdkes.Int8Value(x)
		case int16:
			v = sdkes.Int16Value(x)
		case int32:
			v = sdkes.Int32Value(x)
		case int64:
			v = sdkes.Int64Value(x)
		case []byte:
			v = sdkes.BytesValue(x)
		case string:
			v = sdkes.StringValue(x)
		case time.Time:
			v = sdkes.TimestampValue(x)
		case awsproto.UUID:
			v = sdkes.UUIDValue(x)
		default:
			t.Fatalf("no SDK value for %T", x)
		}
		// Append, not Set: Set would merge duplicate names.
		out = append(out, sdkes.Header{Name: h.Name, Value: v})
	}
	return out
}

// TestEventStreamSDKDecoder decodes our messages with the SDK's decoder
// and checks that the SDK's encoder produces the same bytes.
func TestEventStreamSDKDecoder(t *testing.T) {
	cases := []struct {
		name    string
		headers []awsproto.Header
		payload []byte
	}{
		{"all types", allTypes(), []byte(`{"ContinuationSequenceNumber":"1"}`)},
		{"empty", nil, nil},
		{"headers only", []awsproto.Header{{Name: ":message-type", Value: "event"}}, nil},
		{"payload only", nil, []byte("payload")},
		{"long string", []awsproto.Header{{Name: strings.Repeat("n", 255), Value: strings.Repeat("v", awsproto.MaxHeaderValueLen)}}, []byte("p")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ours := encode(t, c.headers, c.payload)
			msg, err := sdkes.NewDecoder().Decode(bytes.NewReader(ours), nil)
			if err != nil {
				t.Fatalf("SDK decode: %v", err)
			}
			if len(msg.Headers) != len(c.headers) {
				t.Fatalf("SDK decoded %d headers, want %d", len(msg.Headers), len(c.headers))
			}
			for i, h := range c.headers {
				got := msg.Headers[i]
				want := sdkHeaders(t, []awsproto.Header{h})[0]
				if got.Name != want.Name || !reflect.DeepEqual(got.Value.Get(), want.Value.Get()) {
					t.Errorf("header %d: SDK decoded %s=%#v (%T), want %s=%#v", i, got.Name, got.Value.Get(), got.Value, want.Name, want.Value.Get())
				}
			}
			if !bytes.Equal(msg.Payload, c.payload) {
				t.Errorf("SDK decoded payload %q, want %q", msg.Payload, c.payload)
			}

			var theirs bytes.Buffer
			if err := sdkes.NewEncoder().Encode(&theirs, sdkes.Message{Headers: sdkHeaders(t, c.headers), Payload: c.payload}); err != nil {
				t.Fatalf("SDK encode: %v", err)
			}
			if !bytes.Equal(ours, theirs.Bytes()) {
				t.Fatalf("encodings differ:\n ours %x\nSDK's %x", ours, theirs.Bytes())
			}
			h, p, err := awsproto.ReadMessage(&theirs)
			if err != nil {
				t.Fatalf("ReadMessage of the SDK's encoding: %v", err)
			}
			if !reflect.DeepEqual(h, c.headers) || !bytes.Equal(p, c.payload) {
				t.Fatalf("ReadMessage of the SDK's encoding: %#v %q", h, p)
			}
		})
	}
}

func TestEventStreamTamper(t *testing.T) {
	msg := encode(t, []awsproto.Header{{Name: ":event-type", Value: "SubscribeToShardEvent"}, {Name: "n", Value: int32(7)}}, []byte(`{"a":1}`))
	for i := range msg {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(msg)
			bad[i] ^= bit
			_, _, err := awsproto.ReadMessage(bytes.NewReader(bad))
			if !errors.Is(err, awsproto.ErrChecksum) {
				t.Fatalf("byte %d ^ %#x: err = %v, want ErrChecksum", i, bit, err)
			}
			if _, err := sdkes.NewDecoder().Decode(bytes.NewReader(bad), nil); err == nil {
				t.Fatalf("byte %d ^ %#x: the SDK decoder accepted the message", i, bit)
			}
		}
	}
}

func TestEventStreamTruncated(t *testing.T) {
	msg := encode(t, []awsproto.Header{{Name: "h", Value: "v"}}, []byte("payload"))
	for n := 1; n < len(msg); n++ {
		_, _, err := awsproto.ReadMessage(bytes.NewReader(msg[:n]))
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("cut at %d of %d: err = %v, want io.ErrUnexpectedEOF", n, len(msg), err)
		}
	}
	if _, _, err := awsproto.ReadMessage(bytes.NewReader(nil)); err != io.EOF {
		t.Fatalf("empty stream: err = %v, want io.EOF", err)
	}
}

// frame builds a message around raw header bytes, with valid CRCs.
func frame(total, headersLen uint32, rest []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, total)
	b = binary.BigEndian.AppendUint32(b, headersLen)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	b = append(b, rest...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func TestEventStreamMalformed(t *testing.T) {
	okFrame := func(headers []byte, payload string) []byte {
		return frame(uint32(16+len(headers)+len(payload)), uint32(len(headers)), append(bytes.Clone(headers), payload...))
	}
	cases := []struct {
		name string
		msg  []byte
		want error
	}{
		{"unknown type", okFrame([]byte{1, 'x', 10}, ""), awsproto.ErrMalformed},
		{"empty name", okFrame([]byte{0, 7, 0, 0}, ""), awsproto.ErrMalformed},
		{"name past headers", okFrame([]byte{5, 'a', 'b'}, "cdefgh"), awsproto.ErrMalformed},
		{"value past headers", okFrame([]byte{1, 'a', 4, 0, 0}, "xy"), awsproto.ErrMalformed},
		{"string past headers", okFrame([]byte{1, 'a', 7, 0, 5, 'x'}, "yzzz"), awsproto.ErrMalformed},
		{"total below minimum", frame(15, 0, nil)[:15], awsproto.ErrMalformed},
		{"headers longer than message", frame(20, 5, []byte{1, 'a', 0, 0}), awsproto.ErrMalformed},
		{"message too large", frame(awsproto.MaxMessageLen+1, 0, nil), awsproto.ErrLimit},
		{"headers too large", frame(awsproto.MaxHeadersLen+17, awsproto.MaxHeadersLen+1, nil), awsproto.ErrLimit},
	}
	for _, c := range cases {
		_, _, err := awsproto.ReadMessage(bytes.NewReader(c.msg))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestEventStreamEncodeErrors(t *testing.T) {
	cases := []struct {
		name    string
		headers []awsproto.Header
		payload []byte
		want    error // nil: any error
	}{
		{"name too long", []awsproto.Header{{Name: strings.Repeat("n", 256), Value: true}}, nil, awsproto.ErrLimit},
		{"empty name", []awsproto.Header{{Name: "", Value: true}}, nil, awsproto.ErrMalformed},
		{"string too long", []awsproto.Header{{Name: "s", Value: strings.Repeat("v", awsproto.MaxHeaderValueLen+1)}}, nil, awsproto.ErrLimit},
		{"bytes too long", []awsproto.Header{{Name: "b", Value: make([]byte, awsproto.MaxHeaderValueLen+1)}}, nil, awsproto.ErrLimit},
		{"int", []awsproto.Header{{Name: "i", Value: 1}}, nil, nil},
		{"nil", []awsproto.Header{{Name: "i", Value: nil}}, nil, nil},
		{"headers too large", maxHeaders(1), nil, awsproto.ErrLimit},
		{"message too large", nil, make([]byte, awsproto.MaxMessageLen-15), awsproto.ErrLimit},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		err := awsproto.EncodeMessage(&buf, c.headers, c.payload)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written despite the error", c.name, buf.Len())
		}
	}
	// AppendMessage leaves dst as it was on error.
	dst := []byte("keep")
	out, err := awsproto.AppendMessage(dst, []awsproto.Header{{Name: "i", Value: 1}}, nil)
	if err == nil || string(out) != "keep" {
		t.Errorf("AppendMessage on error: %q, %v", out, err)
	}
}

// maxHeaders returns headers encoding to exactly MaxHeadersLen+extra bytes:
// four string headers "h000".."h003" of 1+4+1+2+32760 bytes each.
func maxHeaders(extra int) []awsproto.Header {
	var hs []awsproto.Header
	for i := range 4 {
		v := strings.Repeat("v", 32760)
		if i == 0 {
			v += strings.Repeat("v", extra)
		}
		hs = append(hs, awsproto.Header{Name: fmt.Sprintf("h%03d", i), Value: v})
	}
	return hs
}

func TestEventStreamLimitsAtTheEdge(t *testing.T) {
	hs := maxHeaders(0)
	msg := encode(t, hs, []byte("p"))
	if got := binary.BigEndian.Uint32(msg[4:8]); got != awsproto.MaxHeadersLen {
		t.Fatalf("headers length %d, want %d", got, awsproto.MaxHeadersLen)
	}
	if h, _, err := awsproto.ReadMessage(bytes.NewReader(msg)); err != nil || !reflect.DeepEqual(h, hs) {
		t.Fatalf("ReadMessage at the headers limit: %v", err)
	}
	if _, err := sdkes.NewDecoder().Decode(bytes.NewReader(msg), nil); err != nil {
		t.Fatalf("SDK decode at the headers limit: %v", err)
	}

	// A message of exactly MaxMessageLen bytes, headers included.
	headers := []awsproto.Header{{Name: ":event-type", Value: "SubscribeToShardEvent"}}
	headersLen := 1 + len(":event-type") + 1 + 2 + len("SubscribeToShardEvent")
	payload := bytes.Repeat([]byte{'x'}, awsproto.MaxMessageLen-16-headersLen)
	msg = encode(t, headers, payload)
	if len(msg) != awsproto.MaxMessageLen {
		t.Fatalf("message of %d bytes, want %d", len(msg), awsproto.MaxMessageLen)
	}
	if _, p, err := awsproto.ReadMessage(bytes.NewReader(msg)); err != nil || !bytes.Equal(p, payload) {
		t.Fatalf("ReadMessage at the message limit: %v", err)
	}
	if m, err := sdkes.NewDecoder().Decode(bytes.NewReader(msg), nil); err != nil || len(m.Payload) != len(payload) {
		t.Fatalf("SDK decode at the message limit: %v", err)
	}
	var buf bytes.Buffer
	if err := awsproto.EncodeMessage(&buf, headers, append(payload, 'x')); !errors.Is(err, awsproto.ErrLimit) {
		t.Fatalf("one byte past the message limit: err = %v, want ErrLimit", err)
	}
}

// flushRecorder counts flushes and checks each follows a whole message.
type flushRecorder struct {
	*httptest.ResponseRecorder
	flushes int
	partial bool
}

func (f *flushRecorder) Flush() {
	f.flushes++
	r := bytes.NewReader(f.Body.Bytes())
	for r.Len() > 0 {
		if _, _, err := awsproto.ReadMessage(r); err != nil {
			f.partial = true
		}
	}
	f.ResponseRecorder.Flush()
}

func TestEventWriter(t *testing.T) {
	rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	ew := awsproto.NewEventWriter(rec)
	if err := ew.InitialResponse([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := ew.Event("SubscribeToShardEvent", []byte(`{"Records":[]}`)); err != nil {
		t.Fatal(err)
	}
	// An encoding error writes nothing and leaves the stream usable.
	if err := ew.Event(strings.Repeat("e", awsproto.MaxHeaderValueLen+1), nil); !errors.Is(err, awsproto.ErrLimit) {
		t.Fatalf("oversized event type: err = %v", err)
	}
	if err := ew.Exception("ResourceInUseException", []byte(`{"message":"taken over"}`)); err != nil {
		t.Fatal(err)
	}
	if err := ew.Event("SubscribeToShardEvent", []byte(`{}`)); !errors.Is(err, awsproto.ErrStreamEnded) {
		t.Fatalf("event after the exception: err = %v, want ErrStreamEnded", err)
	}

	if ct := rec.Header().Get("Content-Type"); ct != awsproto.EventStreamContentType {
		t.Errorf("Content-Type %q", ct)
	}
	if rec.Code != http.StatusOK {
		t.Errorf("status %d", rec.Code)
	}
	if rec.flushes != 3 || rec.partial {
		t.Errorf("%d flushes (want 3), partial message flushed: %v", rec.flushes, rec.partial)
	}
	want := []struct {
		headers map[string]any
		payload string
	}{
		{map[string]any{":message-type": "event", ":event-type": "initial-response", ":content-type": "application/json"}, "{}"},
		{map[string]any{":message-type": "event", ":event-type": "SubscribeToShardEvent", ":content-type": "application/json"}, `{"Records":[]}`},
		{map[string]any{":message-type": "exception", ":exception-type": "ResourceInUseException", ":content-type": "application/json"}, `{"message":"taken over"}`},
	}
	body := bytes.NewReader(rec.Body.Bytes())
	for i, w := range want {
		h, p, err := awsproto.ReadMessage(body)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		got := map[string]any{}
		for _, x := range h {
			got[x.Name] = x.Value
		}
		if !reflect.DeepEqual(got, w.headers) || string(p) != w.payload {
			t.Errorf("message %d: %v %q, want %v %q", i, got, p, w.headers, w.payload)
		}
	}
	if body.Len() != 0 {
		t.Errorf("%d trailing bytes", body.Len())
	}
}

func TestEventWriterConcurrent(t *testing.T) {
	rec := httptest.NewRecorder()
	ew := awsproto.NewEventWriter(rec)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				payload := bytes.Repeat([]byte{byte('a' + g)}, 100+i)
				if err := ew.Event(fmt.Sprintf("E%d", g), payload); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	body := bytes.NewReader(rec.Body.Bytes())
	n := 0
	for {
		h, p, err := awsproto.ReadMessage(body)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		g := int(p[0] - 'a')
		if awsproto.HeaderValue(h, ":event-type") != fmt.Sprintf("E%d", g) || len(bytes.Trim(p, string(p[0]))) != 0 {
			t.Fatalf("message %d mixes writers", n)
		}
		n++
	}
	if n != writers*each {
		t.Fatalf("%d messages, want %d", n, writers*each)
	}
}

// errWriter fails every Write.
type errWriter struct{ *httptest.ResponseRecorder }

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestEventWriterStickyError(t *testing.T) {
	ew := awsproto.NewEventWriter(errWriter{httptest.NewRecorder()})
	if err := ew.Event("E", nil); err == nil || err.Error() != "connection reset" {
		t.Fatalf("first write: %v", err)
	}
	if err := ew.Event("E", nil); err == nil || err.Error() != "connection reset" {
		t.Fatalf("second write: %v", err)
	}
}

// newKinesisClient returns an SDK Kinesis client talking to srv.
func newKinesisClient(srv *httptest.Server) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET"}, nil
		})),
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	})
}

func subscribeInput() *kinesis.SubscribeToShardInput {
	return &kinesis.SubscribeToShardInput{
		ConsumerARN:      aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1700000000"),
		ShardId:          aws.String("shardId-000000000000"),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon},
	}
}

// TestEventWriterKinesisSDK serves SubscribeToShard with an EventWriter
// and reads it with aws-sdk-go-v2's Kinesis client.
func TestEventWriterKinesisSDK(t *testing.T) {
	data := []byte("hello, shoal")
	event1 := fmt.Sprintf(`{"Records":[{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898",`+
		`"ApproximateArrivalTimestamp":1764000000.123,"Data":%q,"PartitionKey":"pk","EncryptionType":"NONE"}],`+
		`"ContinuationSequenceNumber":"49590338271490256608559692538361571095921575989136588898","MillisBehindLatest":0}`,
		base64.StdEncoding.EncodeToString(data))
	event2 := `{"Records":[],"ContinuationSequenceNumber":"49590338271490256608559692538361571095921575989136588899","MillisBehindLatest":5,` +
		`"ChildShards":[{"ShardId":"shardId-000000000001","ParentShards":["shardId-000000000000"],` +
		`"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"}}]}`
	var target string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target = r.Header.Get("X-Amz-Target")
		ew := awsproto.NewEventWriter(w)
		for _, err := range []error{
			ew.InitialResponse([]byte("{}")),
			ew.Event("SubscribeToShardEvent", []byte(event1)),
			ew.Event("SubscribeToShardEvent", []byte(event2)),
			ew.Exception("ResourceInUseException", []byte(`{"message":"another subscription took over"}`)),
		} {
			if err != nil {
				t.Error(err)
			}
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := newKinesisClient(srv).SubscribeToShard(ctx, subscribeInput())
	if err != nil {
		t.Fatalf("SubscribeToShard: %v", err)
	}
	if target != "Kinesis_20131202.SubscribeToShard" {
		t.Errorf("X-Amz-Target %q", target)
	}
	stream := out.GetStream()
	defer stream.Close()
	var got []types.SubscribeToShardEvent
	for ev := range stream.Events() {
		v, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !ok {
			t.Fatalf("event of type %T", ev)
		}
		got = append(got, v.Value)
	}
	if len(got) != 2 {
		t.Fatalf("%d events, want 2", len(got))
	}
	e := got[0]
	if len(e.Records) != 1 || !bytes.Equal(e.Records[0].Data, data) || aws.ToString(e.Records[0].PartitionKey) != "pk" ||
		!e.Records[0].ApproximateArrivalTimestamp.Equal(time.UnixMilli(1_764_000_000_123)) ||
		e.Records[0].EncryptionType != types.EncryptionTypeNone ||
		aws.ToString(e.ContinuationSequenceNumber) != "49590338271490256608559692538361571095921575989136588898" ||
		aws.ToInt64(e.MillisBehindLatest) != 0 {
		t.Errorf("first event: %+v", e)
	}
	e = got[1]
	if len(e.Records) != 0 || aws.ToInt64(e.MillisBehindLatest) != 5 || len(e.ChildShards) != 1 ||
		aws.ToString(e.ChildShards[0].ShardId) != "shardId-000000000001" ||
		aws.ToString(e.ChildShards[0].HashKeyRange.EndingHashKey) != "340282366920938463463374607431768211455" {
		t.Errorf("second event: %+v", e)
	}
	var inUse *types.ResourceInUseException
	if err := stream.Err(); !errors.As(err, &inUse) || inUse.ErrorMessage() != "another subscription took over" {
		t.Fatalf("stream error %v (%T), want ResourceInUseException", err, err)
	}
}

// TestKinesisSDKRequiresInitialResponse documents that aws-sdk-go-v2 fails
// SubscribeToShard when the first message is not the initial-response.
func TestKinesisSDKRequiresInitialResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = awsproto.NewEventWriter(w).Event("SubscribeToShardEvent", []byte(`{"Records":[],"ContinuationSequenceNumber":"1","MillisBehindLatest":0}`))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := newKinesisClient(srv).SubscribeToShard(ctx, subscribeInput())
	if err == nil {
		out.GetStream().Close()
		t.Fatal("SubscribeToShard succeeded without an initial-response")
	}
	if !strings.Contains(err.Error(), "initial-response") {
		t.Fatalf("error %v does not mention initial-response", err)
	}
}
