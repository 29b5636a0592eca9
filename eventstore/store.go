package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/shoal-dev/shoal/shardlog"
)

// Store keeps event streams on one shardlog stream. It is safe for
// concurrent use; several Stores (in one process or many, on one Log) may
// share a shardlog stream, and the log's conditional append keeps their
// versions consistent.
type Store struct {
	log       *shardlog.Log
	stream    string
	reg       *Registry
	codec     Codec
	codecID   byte
	snapshots SnapshotStore
	archive   Archive
	logger    *slog.Logger
	heads     *heads
}

// Option configures Open.
type Option func(*options)

type options struct {
	reg       *Registry
	codec     Codec
	snapshots SnapshotStore
	archive   Archive
	logger    *slog.Logger
	create    *shardlog.CreateStreamInput
	heads     int
}

// WithRegistry sets the registry of event types (default: a new, empty one,
// which Registry returns).
func WithRegistry(r *Registry) Option { return func(o *options) { o.reg = r } }

// WithCodec sets the payload codec for new events (default Msgpack; nil
// keeps the default). Events
// written with the built-in codecs stay readable after a switch.
func WithCodec(c Codec) Option {
	return func(o *options) {
		if c != nil {
			o.codec = c
		}
	}
}

// WithSnapshots lets Load start from the latest snapshot and lets a
// stream whose events expired keep its version.
func WithSnapshots(s SnapshotStore) Option { return func(o *options) { o.snapshots = s } }

// WithArchive makes reads fetch events past the log's retention from a.
func WithArchive(a Archive) Option { return func(o *options) { o.archive = a } }

// WithLogger sets the logger (default slog.Default(); nil keeps it).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithHeadCache sets how many streams' latest events the store remembers
// (default DefaultHeadCacheSize; 0 turns the cache off), so that an Append
// after a Load or an Append skips reading the stream's version from the
// log. The cache is never trusted for a decision: the log's conditional
// append checks it, and a conflict or retry is decided on a fresh read.
func WithHeadCache(streams int) Option { return func(o *options) { o.heads = max(streams, 0) } }

// WithCreateIfMissing makes Open create the shardlog stream with these
// settings when it does not exist (StreamName is filled in).
func WithCreateIfMissing(in shardlog.CreateStreamInput) Option {
	return func(o *options) { o.create = &in }
}

// Open returns a store on the shardlog stream streamName, which must exist
// unless WithCreateIfMissing is given.
func Open(ctx context.Context, log *shardlog.Log, streamName string, opts ...Option) (*Store, error) {
	o := options{codec: Msgpack(), logger: slog.Default(), heads: DefaultHeadCacheSize}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if o.reg == nil {
		o.reg = NewRegistry()
	}
	_, err := log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: streamName})
	if errors.Is(err, shardlog.ErrResourceNotFound) && o.create != nil {
		in := *o.create
		in.StreamName = streamName
		if err = log.CreateStream(ctx, in); err != nil && !errors.Is(err, shardlog.ErrResourceInUse) {
			return nil, fmt.Errorf("eventstore: create stream %q: %w", streamName, err)
		}
		_, err = log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: streamName})
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: open %q: %w", streamName, err)
	}
	return &Store{
		log:       log,
		stream:    streamName,
		reg:       o.reg,
		codec:     o.codec,
		codecID:   codecID(o.codec),
		snapshots: o.snapshots,
		archive:   o.archive,
		logger:    o.logger,
		heads:     newHeads(o.heads),
	}, nil
}

// Registry returns the store's type registry.
func (s *Store) Registry() *Registry { return s.reg }

// Codec returns the store's payload codec.
func (s *Store) Codec() Codec { return s.codec }

// Log returns the shardlog log and stream name the store writes to.
func (s *Store) Log() (*shardlog.Log, string) { return s.log, s.stream }

// Snapshots returns the snapshot store, or nil.
func (s *Store) Snapshots() SnapshotStore { return s.snapshots }
