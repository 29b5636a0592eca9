package kinesis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/server/admission"
	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/shardlog"
)

// subscribeTarget is the X-Amz-Target of SubscribeToShard.
const subscribeTarget = TargetPrefix + ".SubscribeToShard"

// maxSubscribeBody bounds a SubscribeToShard request body: an ARN, a
// shard ID and a starting position.
const maxSubscribeBody = 64 << 10

// WithSubscriptionLifetime sets how long a SubscribeToShard stream lasts
// before it ends and the consumer must subscribe again. Default, and
// upper bound: 5 minutes (shardlog.SubscriptionLifetime), as in Kinesis;
// shorter lifetimes are for tests.
func WithSubscriptionLifetime(d time.Duration) Option {
	return func(c *config) { c.subscriptionLifetime = d }
}

// subscribeWriteTimeout bounds one event's write to a SubscribeToShard
// client: one that reads nothing for this long is dropped.
const subscribeWriteTimeout = 30 * time.Second

// subscribeCutGrace is how long a SubscribeToShard handler whose stream
// ended (lifetime, shutdown) may take to return before a write it is
// blocked in is cut.
const subscribeCutGrace = 2 * time.Second

// WithShutdown makes open SubscribeToShard streams end once ctx is done,
// cleanly, as at the end of their lifetime (the clients subscribe again),
// so that http.Server.Shutdown need not wait minutes for them. Streams
// started after that end at once.
func WithShutdown(ctx context.Context) Option {
	return func(c *config) { c.shutdown = ctx }
}

// Handler returns the whole Kinesis Data Streams API over log as an
// http.Handler: SubscribeToShard (POST with X-Amz-Target
// Kinesis_20131202.SubscribeToShard) streams its events in the AWS
// event-stream format, over HTTP/1.1 (chunked) or HTTP/2; every other
// request goes to the JSON 1.1 service New returns.
func Handler(log *shardlog.Log, opts ...Option) http.Handler {
	a := newAPI(log, opts)
	return &handler{api: a, svc: a.service()}
}

type handler struct {
	api *api
	svc *awsproto.Service
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && awsproto.Target(r) == subscribeTarget {
		h.api.subscribe(w, r)
		return
	}
	h.svc.ServeHTTP(w, r)
}

type startingPosition struct {
	Type           *string `json:"Type"`
	SequenceNumber *string `json:"SequenceNumber"`
	Timestamp      *epoch  `json:"Timestamp"`
}

type subscribeInput struct {
	ConsumerARN      *string           `json:"ConsumerARN"`
	ShardId          *string           `json:"ShardId"`
	StartingPosition *startingPosition `json:"StartingPosition"`
}

// subscribeEvent is the model's SubscribeToShardEvent. At the end of a
// closed shard ContinuationSequenceNumber is null and ChildShards lists
// the children: that is how the KCL and other EFO clients detect the end
// of a shard. Other events carry ContinuationSequenceNumber and no
// ChildShards.
type subscribeEvent struct {
	Records                    []record      `json:"Records"`
	ContinuationSequenceNumber *string       `json:"ContinuationSequenceNumber"`
	MillisBehindLatest         int64         `json:"MillisBehindLatest"`
	ChildShards                *[]childShard `json:"ChildShards,omitempty"`
	monitoring                 []string      // the stream's enhanced monitoring, for the metrics
}

// subscribe answers SubscribeToShard. Bad input, an unknown consumer or
// shard, and a subscription refused by the Log are ordinary JSON errors,
// sent before the stream starts. Then it writes the initial-response and
// one SubscribeToShardEvent per push of the Log's subscription until the
// lifetime is over, the shard's end is sent, or the client goes away.
// A subscription ended by the Log (a newer one took over, the consumer or
// stream went away) ends the stream with an exception event.
func (a *api) subscribe(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sub, err := a.startSubscription(ctx, r.Body)
	if err != nil {
		a.writeError(w, err)
		return
	}
	defer sub.Close()
	// An encrypted stream whose key is lost is refused before the stream
	// starts (KMSNotFoundException).
	if err := a.readable(ctx, sub.StreamName()); err != nil {
		a.writeError(w, err)
		return
	}

	lifetime := min(a.cfg.subscriptionLifetime, shardlog.SubscriptionLifetime)
	if lifetime <= 0 {
		lifetime = shardlog.SubscriptionLifetime
	}
	streamCtx, cancel := context.WithTimeout(ctx, lifetime)
	defer cancel()
	if a.cfg.shutdown != nil {
		stop := context.AfterFunc(a.cfg.shutdown, cancel)
		defer stop()
	}
	// A subscription streams for minutes: it holds no admission slot.
	admission.Detach(ctx)

	// A client that stops reading must not hold the handler past the
	// lifetime or a shutdown: bound every write, and cut a blocked one
	// when the stream ends.
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(lifetime)
	var cutMu sync.Mutex
	returned := false
	var cutTimer *time.Timer
	stopCut := context.AfterFunc(streamCtx, func() {
		// Give the handler a moment to end the stream cleanly; cut the
		// write only if it is still blocked.
		cutMu.Lock()
		defer cutMu.Unlock()
		if !returned {
			cutTimer = time.AfterFunc(subscribeCutGrace, func() {
				cutMu.Lock()
				defer cutMu.Unlock()
				if !returned {
					_ = rc.SetWriteDeadline(time.Now())
				}
			})
		}
	})
	defer func() {
		stopCut()
		cutMu.Lock()
		returned = true
		if cutTimer != nil {
			cutTimer.Stop()
		}
		cutMu.Unlock()
	}()
	bound := func() {
		d := time.Now().Add(subscribeWriteTimeout)
		if deadline.Before(d) {
			d = deadline
		}
		_ = rc.SetWriteDeadline(d)
	}
	bound()
	ew := awsproto.NewEventWriter(w)
	if err := ew.InitialResponse([]byte("{}")); err != nil {
		return
	}
	for {
		ev, err := sub.Next(streamCtx)
		if err != nil {
			if errors.Is(err, io.EOF) || streamCtx.Err() != nil {
				return // the end of the shard or of the lifetime, or the client left
			}
			a.writeException(ew, err)
			return
		}
		wev, err := a.wireEvent(streamCtx, sub.StreamName(), ev)
		if err != nil {
			a.writeException(ew, err)
			return
		}
		bytes := 0
		for _, rec := range wev.Records {
			bytes += len(rec.Data) + len(rec.PartitionKey)
		}
		a.outgoing(sub.StreamName(), wev.monitoring, sub.ShardID(), len(ev.Records), bytes, ev.MillisBehindLatest)
		payload, err := json.Marshal(wev)
		if err != nil {
			a.writeException(ew, err)
			return
		}
		bound()
		if err := ew.Event("SubscribeToShardEvent", payload); err != nil {
			return // the client is gone
		}
	}
}

// startSubscription decodes and checks the request and subscribes.
func (a *api) startSubscription(ctx context.Context, body io.Reader) (*shardlog.Subscription, error) {
	b, err := io.ReadAll(io.LimitReader(body, maxSubscribeBody+1))
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return nil, ae // admission control's throttling or timeout
	}
	if err != nil {
		return nil, awsproto.Errorf(awsproto.Serialization, "reading the body: %v", err)
	}
	if len(b) > maxSubscribeBody {
		return nil, awsproto.Errorf(awsproto.Serialization, "the body is larger than %d bytes", maxSubscribeBody)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	var in subscribeInput
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&in); err != nil {
		return nil, awsproto.Errorf(awsproto.Serialization, "SubscribeToShard: %v", err)
	}
	if dec.More() {
		return nil, awsproto.Errorf(awsproto.Serialization, "SubscribeToShard: trailing data after the request document")
	}

	arn, err := required("ConsumerARN", in.ConsumerARN)
	if err != nil {
		return nil, err
	}
	shard, err := required("ShardId", in.ShardId)
	if err != nil {
		return nil, err
	}
	pos, err := required("StartingPosition", in.StartingPosition)
	if err != nil {
		return nil, err
	}
	typ, err := required("StartingPosition.Type", pos.Type)
	if err != nil {
		return nil, err
	}
	q := shardlog.SubscribeToShardInput{
		ConsumerARN: arn, ShardID: shard,
		StartingPosition: shardlog.StartingPosition{Type: shardlog.IteratorType(typ), Timestamp: timeOf(pos.Timestamp)},
	}
	if s := optional(pos.SequenceNumber); s != "" {
		if q.StartingPosition.SequenceNumber, err = shardlog.ParseSequenceNumber("StartingPosition.SequenceNumber", s); err != nil {
			return nil, err
		}
	}
	// The ARN must be the consumer's current one, of this log's region
	// and account; the Log checks only the names and creation time.
	if _, err := a.find(ctx, consumerRef{ConsumerARN: &arn}); err != nil {
		return nil, err
	}
	sub, err := a.log.SubscribeToShard(ctx, q)
	return sub, renameFields(err)
}

// positionFields renames the Log's GetShardIterator field names to those
// of SubscribeToShard's StartingPosition.
var positionFields = map[string]string{
	"ShardIteratorType":      "StartingPosition.Type",
	"StartingSequenceNumber": "StartingPosition.SequenceNumber",
	"Timestamp":              "StartingPosition.Timestamp",
}

// renameFields returns err with its field named as SubscribeToShard names it.
func renameFields(err error) error {
	var arg *shardlog.ArgumentError
	if errors.As(err, &arg) {
		if f, ok := positionFields[arg.Field]; ok {
			renamed := *arg
			renamed.Field = f
			return &renamed
		}
	}
	return err
}

// readable returns the KMSNotFoundException of an encrypted stream whose
// key the keyring lacks, or nil.
func (a *api) readable(ctx context.Context, stream string) error {
	sum, err := a.summary(ctx, stream)
	if err != nil {
		return err
	}
	_, err = a.openerFor(sum)
	return err
}

// wireEvent encodes a push of the Log on stream in the model's shape,
// with its sealed records opened, and notes the stream's monitoring.
func (a *api) wireEvent(ctx context.Context, stream string, ev *shardlog.SubscribeToShardEvent) (subscribeEvent, error) {
	sum, err := a.summary(ctx, stream)
	if err != nil {
		return subscribeEvent{}, err
	}
	open, err := a.openerFor(sum)
	if err != nil {
		return subscribeEvent{}, err
	}
	out := subscribeEvent{Records: make([]record, len(ev.Records)), MillisBehindLatest: ev.MillisBehindLatest, monitoring: sum.EnhancedMonitoring}
	for i, r := range ev.Records {
		if out.Records[i], err = open.record(r); err != nil {
			return subscribeEvent{}, err
		}
	}
	if ev.ChildShards != nil { // the end of a closed shard
		children := make([]childShard, len(ev.ChildShards))
		for i, c := range ev.ChildShards {
			children[i] = childShard{ShardId: c.ShardID, ParentShards: c.ParentShards, HashKeyRange: wireRange(c.HashKeyRange)}
		}
		out.ChildShards = &children
		return out, nil
	}
	seq := ev.ContinuationSequenceNumber.String()
	out.ContinuationSequenceNumber = &seq
	return out, nil
}

// writeError writes an error of the request as a JSON 1.1 error response.
func (a *api) writeError(w http.ResponseWriter, err error) {
	err = wireError(err)
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		a.logger().Error("kinesis: SubscribeToShard failed", "err", err)
		ae = &awsproto.Error{Status: http.StatusInternalServerError, Type: awsproto.InternalFailure, Message: "internal failure"}
	}
	awsproto.WriteError(w, ae)
}

// writeException ends a started stream with an exception event: a
// Kinesis exception the SubscribeToShardEventStream models
// (ResourceInUseException, ResourceNotFoundException, ...), else
// InternalFailureException.
func (a *api) writeException(ew *awsproto.EventWriter, err error) {
	typ, msg := "InternalFailureException", "internal failure"
	var ae *awsproto.Error
	switch {
	case errors.As(wireError(err), &ae) && ae.Status < 500:
		typ, msg = ae.Type, ae.Message
	case errors.Is(err, shardlog.ErrClosed):
		msg = "the log is closed"
	default:
		a.logger().Error("kinesis: SubscribeToShard stream failed", "err", err)
		if errors.As(wireError(err), &ae) && ae.Type == errInternalFailure {
			msg = ae.Message // damaged data: say where
		}
	}
	payload, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	_ = ew.Exception(typ, payload)
}

func (a *api) logger() *slog.Logger {
	if a.cfg.logger != nil {
		return a.cfg.logger
	}
	return slog.Default()
}
