package kinesis

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/shardlog"
)

// TargetPrefix is the X-Amz-Target prefix of Kinesis Data Streams.
const TargetPrefix = "Kinesis_20131202"

// Option configures the service New returns.
type Option func(*config)

type config struct {
	logger            *slog.Logger
	provisionedLimits bool
	// subscriptionLifetime bounds a SubscribeToShard stream (see
	// WithSubscriptionLifetime).
	subscriptionLifetime time.Duration
	// shutdown ends SubscribeToShard streams when done (see WithShutdown).
	shutdown context.Context
	recorder Recorder
	// keyring holds the keys of stream encryption (see WithKeyring).
	keyring *Keyring
}

// WithLogger sets the logger of internal failures. Default, and when l is
// nil: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithProvisionedLimits turns the per-shard read and write budgets
// (ProvisionedThroughputExceededException) of every stream created through
// the API on or off. Default: off, as Shoal has no capacity to protect.
func WithProvisionedLimits(on bool) Option { return func(c *config) { c.provisionedLimits = on } }

// WithKeyring sets the keyring of stream encryption (see OpenKeyring).
// The caller closes it after the service is done. The service migrates
// the stream settings of a keyring file of an earlier version into the
// streams' metadata when it is made (Keyring.MigrateStreams; call it
// first to see its error). Default: a keyring in
// memory (NewMemoryKeyring), whose keys, and so the records encrypted
// under them, are lost when the process ends; a server that keeps its
// log must pass one kept next to it.
func WithKeyring(k *Keyring) Option { return func(c *config) { c.keyring = k } }

// api holds what the operations share.
type api struct {
	log      *shardlog.Log
	cfg      config
	keys     *Keyring // stream encryption keys (encryption.go)
	lostKeys sync.Map // streams whose lost key was logged (encryption.go)
}

// New returns the Kinesis Data Streams service over log. Its operations
// cover the data and control planes of shardlog, and stream encryption
// (see WithKeyring), except SubscribeToShard (a streaming response: see
// Handler).
func New(log *shardlog.Log, opts ...Option) *awsproto.Service {
	return newAPI(log, opts).service()
}

// newAPI applies opts to the defaults.
func newAPI(log *shardlog.Log, opts []Option) *api {
	cfg := config{subscriptionLifetime: shardlog.SubscriptionLifetime, recorder: nopRecorder{}}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	keys := cfg.keyring
	if keys == nil {
		keys = NewMemoryKeyring()
	}
	a := &api{log: log, cfg: cfg, keys: keys}
	if err := keys.MigrateStreams(context.Background(), log); err != nil {
		a.logger().Error("kinesis: migrating the keyring's stream settings into the streams' metadata", "err", err)
	}
	return a
}

// service returns the JSON 1.1 operations of a.
func (a *api) service() *awsproto.Service {
	cfg := a.cfg
	return &awsproto.Service{
		TargetPrefix: TargetPrefix,
		Logger:       cfg.logger,
		Operations: map[string]awsproto.Handler{
			"CreateStream":                  handle(a.createStream),
			"DeleteStream":                  handle(a.deleteStream),
			"DescribeStream":                handle(a.describeStream),
			"DescribeStreamSummary":         handle(a.describeStreamSummary),
			"ListStreams":                   handle(a.listStreams),
			"UpdateStreamMode":              handle(a.updateStreamMode),
			"UpdateMaxRecordSize":           handle(a.updateMaxRecordSize),
			"IncreaseStreamRetentionPeriod": handle(a.increaseRetention),
			"DecreaseStreamRetentionPeriod": handle(a.decreaseRetention),
			"DescribeLimits":                handle(a.describeLimits),
			"ListShards":                    handle(a.listShards),
			"PutRecord":                     handle(a.putRecord),
			"PutRecords":                    handle(a.putRecords),
			"GetShardIterator":              handle(a.getShardIterator),
			"GetRecords":                    handle(a.getRecords),
			"SplitShard":                    handle(a.splitShard),
			"MergeShards":                   handle(a.mergeShards),
			"UpdateShardCount":              handle(a.updateShardCount),
			"AddTagsToStream":               handle(a.addTags),
			"RemoveTagsFromStream":          handle(a.removeTags),
			"ListTagsForStream":             handle(a.listTags),
			"TagResource":                   handle(a.tagResource),
			"UntagResource":                 handle(a.untagResource),
			"ListTagsForResource":           handle(a.listTagsForResource),
			"RegisterStreamConsumer":        handle(a.registerConsumer),
			"DeregisterStreamConsumer":      handle(a.deregisterConsumer),
			"DescribeStreamConsumer":        handle(a.describeConsumer),
			"ListStreamConsumers":           handle(a.listConsumers),
			"EnableEnhancedMonitoring":      handle(a.enableMonitoring),
			"DisableEnhancedMonitoring":     handle(a.disableMonitoring),
			"StartStreamEncryption":         handle(a.startEncryption),
			"StopStreamEncryption":          handle(a.stopEncryption),
		},
	}
}

// handle adapts an operation to awsproto.Handler, mapping its error to a
// Kinesis exception.
func handle[I, O any](fn func(ctx context.Context, in *I) (O, error)) awsproto.Handler {
	return awsproto.Handle(fn, wireError)
}

// empty is the output of operations that return nothing.
type empty struct{}
