package firehose

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// TargetPrefix is the X-Amz-Target prefix of Amazon Data Firehose.
const TargetPrefix = "Firehose_20150804"

// SigningName is the service name of Firehose's SigV4 credential scope
// (awsproto.Verifier.Service).
const SigningName = "firehose"

// Option configures the service Handler returns.
type Option func(*config)

type config struct {
	logger *slog.Logger
}

// WithLogger sets the logger of internal failures. Default, and when l is
// nil: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// api holds what the operations share.
type api struct {
	m   *Manager
	cfg config
}

// Handler returns the Firehose service over m: the JSON 1.1 (and CBOR
// 1.1) operations CreateDeliveryStream, DeleteDeliveryStream,
// DescribeDeliveryStream, ListDeliveryStreams, UpdateDestination,
// PutRecord, PutRecordBatch, Start/StopDeliveryStreamEncryption and
// Tag/Untag/ListTagsForDeliveryStream.
func Handler(m *Manager, opts ...Option) *awsproto.Service {
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	a := &api{m: m, cfg: cfg}
	return &awsproto.Service{
		TargetPrefix: TargetPrefix,
		Logger:       cfg.logger,
		Operations: map[string]awsproto.Handler{
			"CreateDeliveryStream":          handle(a.createStream),
			"DeleteDeliveryStream":          handle(a.deleteStream),
			"DescribeDeliveryStream":        handle(a.describeStream),
			"ListDeliveryStreams":           handle(a.listStreams),
			"UpdateDestination":             handle(a.updateDestination),
			"PutRecord":                     handle(a.putRecord),
			"PutRecordBatch":                handle(a.putRecordBatch),
			"StartDeliveryStreamEncryption": handle(a.startEncryption),
			"StopDeliveryStreamEncryption":  handle(a.stopEncryption),
			"TagDeliveryStream":             handle(a.tagStream),
			"UntagDeliveryStream":           handle(a.untagStream),
			"ListTagsForDeliveryStream":     handle(a.listTags),
		},
	}
}

// handle adapts an operation to awsproto.Handler, mapping its error to a
// Firehose exception.
func handle[I, O any](fn func(ctx context.Context, in *I) (O, error)) awsproto.Handler {
	return awsproto.Handle(fn, wireError)
}

// empty is the output of operations that return nothing.
type empty struct{}

// dataPlane are the operations Firehose throttles with
// ServiceUnavailableException.
var dataPlane = map[string]bool{"PutRecord": true, "PutRecordBatch": true}

// ThrottleType returns the exception Firehose answers a request with when
// the server is over capacity: ServiceUnavailableException for PutRecord
// and PutRecordBatch, LimitExceededException for the rest. It suits
// admission.WithThrottleType for requests to this service.
func ThrottleType(r *http.Request) string {
	prefix, op, _ := strings.Cut(awsproto.Target(r), ".")
	if prefix == TargetPrefix && dataPlane[op] {
		return errServiceUnavailable
	}
	return errLimitExceeded
}
