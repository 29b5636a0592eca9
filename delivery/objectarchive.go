package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
)

// ErrUnreadableFormat is wrapped by the *UnreadableObjectError an
// ObjectArchive returns for a data object whose format it cannot decode.
var ErrUnreadableFormat = errors.New("delivery: the archive cannot read objects of this format")

// UnreadableObjectError names a data object ObjectArchive cannot read
// back: only JSONLines objects are readable (a destination configured
// with another format, such as raw records or Parquet, archives for other
// readers). It wraps ErrUnreadableFormat.
type UnreadableObjectError struct {
	Key    string // the data object's key
	Format string // its format's name, from its sidecar
}

// Error implements error.
func (e *UnreadableObjectError) Error() string {
	return fmt.Sprintf("%v: object %q is in format %q (only %q is readable)", ErrUnreadableFormat, e.Key, e.Format, JSONLinesName)
}

// Unwrap returns ErrUnreadableFormat.
func (e *UnreadableObjectError) Unwrap() error { return ErrUnreadableFormat }

// ObjectLister is an ObjectStore that lists as S3's ListObjectsV2 can:
// from a key on (StartAfter), and one level of "directories" (Delimiter
// "/"). DirStore and s3store implement it; ObjectArchive uses it to
// refresh its index by listing only the index objects it has not seen,
// instead of all of a stream's.
type ObjectLister interface {
	// ListAfter yields the keys that begin with prefix and sort after
	// startAfter, in lexical order.
	ListAfter(ctx context.Context, prefix, startAfter string) iter.Seq2[string, error]
	// ListPrefixes yields, in lexical order, each distinct prefix+name+"/"
	// such that some key begins with it and name has no '/'.
	ListPrefixes(ctx context.Context, prefix string) iter.Seq2[string, error]
}

// ObjectArchive reads back what an ObjectDestination wrote to an
// ObjectStore, through its index objects (see ObjectDestination): it is
// the eventstore.ShardArchive of an object-store-only archive.
//
// It keeps every sidecar it has read in memory, with a per-partition-key
// index over them, so ReadKey opens only the data objects whose sidecar
// lists the key. Each read first refreshes the index: on an ObjectLister
// store (DirStore, s3store) one listing of the stream's shards and, per
// shard still open when last archived, one listing of the index objects
// after the last one seen; on another store one listing of all the
// stream's index objects. It then reads each sidecar not seen before, and
// each open shard's latest known sidecar again (the only one a retry can
// replace, since a delivery stream delivers a shard's batches one at a
// time and checkpoints each before the next). The memory this takes grows
// with the archive's distinct (object, partition key) pairs.
//
// Records are yielded exactly as they were stored, once each: where a
// retried batch overlaps an object written before it, records at or
// before the last one yielded are skipped.
type ObjectArchive struct {
	store  ObjectStore
	prefix string

	mu      sync.Mutex
	streams map[string]*streamIndex
}

var _ eventstore.ShardArchive = (*ObjectArchive)(nil)

// NewObjectArchive returns the archive of what an ObjectDestination with
// the same options wrote to store; only opts.IndexPrefix is used.
func NewObjectArchive(store ObjectStore, opts ObjectOptions) (*ObjectArchive, error) {
	if store == nil {
		return nil, &shardlog.ArgumentError{Field: "store", Reason: "must not be nil"}
	}
	opts = opts.withDefaults()
	if !strings.HasSuffix(opts.IndexPrefix, "/") {
		return nil, &shardlog.ArgumentError{Field: "IndexPrefix", Reason: fmt.Sprintf("%q must end with '/'", opts.IndexPrefix)}
	}
	return &ObjectArchive{store: store, prefix: opts.IndexPrefix, streams: map[string]*streamIndex{}}, nil
}

// streamIndex is the loaded index of one source stream.
type streamIndex struct {
	mu     sync.Mutex // held by a refresh and while reading the maps
	shards map[string]*shardIndex
	keys   map[string][]keyRef // partition key → the objects holding it
}

// shardIndex is the loaded sidecars of one shard.
type shardIndex struct {
	sidecars map[string]*loadedSidecar // by sidecar key
	last     string                    // the greatest sidecar key seen
}

// loadedSidecar is a sidecar read from the store.
type loadedSidecar struct {
	sidecar
	raw []byte
}

// keyRef is one object holding a partition key.
type keyRef struct {
	sc  *loadedSidecar
	key sidecarKey
}

func (a *ObjectArchive) index(stream string) *streamIndex {
	a.mu.Lock()
	defer a.mu.Unlock()
	ix := a.streams[stream]
	if ix == nil {
		ix = &streamIndex{shards: map[string]*shardIndex{}, keys: map[string][]keyRef{}}
		a.streams[stream] = ix
	}
	return ix
}

// refresh brings the stream's index up to date (only shard only, if
// not empty); ix.mu must be held.
//
// With an ObjectLister store it lists the stream's shards (one level),
// then each shard's index objects after the last sidecar seen; a shard
// whose last sidecar is its final batch (the shard closed) is not listed
// again. Other stores list all of the stream's index objects. Either way
// only sidecars not seen before are read, plus each shard's latest one,
// which a retry may have replaced.
func (a *ObjectArchive) refresh(ctx context.Context, stream string, ix *streamIndex, only string) error {
	prefix := streamIndexPrefix(a.prefix, stream)
	before := map[string]string{} // shard → its latest sidecar key before this refresh
	for id, sh := range ix.shards {
		if only == "" || id == only {
			before[id] = sh.last
		}
	}
	add := func(key string) error {
		shardID, name, ok := strings.Cut(key[len(prefix):], "/")
		if !ok || !isSidecarName(name) {
			return nil
		}
		sh := ix.shard(shardID)
		if key <= sh.last {
			return nil
		}
		if err := a.load(ctx, ix, sh, key); err != nil {
			return err // sh.last stays: the next refresh tries again
		}
		sh.last = key
		return nil
	}
	listErr := func(err error) error { return fmt.Errorf("delivery: archive of %q: %w", stream, err) }
	if lister, ok := a.store.(ObjectLister); ok {
		ids := []string{only}
		if only == "" {
			ids = ids[:0]
			for p, err := range lister.ListPrefixes(ctx, prefix) {
				if err != nil {
					return listErr(err)
				}
				ids = append(ids, strings.TrimSuffix(p[len(prefix):], "/"))
			}
		}
		for _, id := range ids {
			sh := ix.shard(id)
			if sh.final() {
				continue
			}
			sp := shardIndexPrefix(a.prefix, stream, id)
			for key, err := range lister.ListAfter(ctx, sp, max(sh.last, sp)) {
				if err != nil {
					return listErr(err)
				}
				if err := add(key); err != nil {
					return err
				}
			}
		}
	} else {
		p := prefix
		if only != "" {
			p = shardIndexPrefix(a.prefix, stream, only)
		}
		for key, err := range a.store.List(ctx, p) {
			if err != nil {
				return listErr(err)
			}
			if err := add(key); err != nil {
				return err
			}
		}
	}
	for shardID, key := range before {
		sh := ix.shards[shardID]
		if key == "" || sh.last != key || sh.final() {
			continue // a newer sidecar, or the shard's end, seals the one a retry could replace
		}
		if err := a.load(ctx, ix, sh, key); err != nil {
			return err
		}
	}
	return nil
}

// shard returns the index of a shard, adding an empty one.
func (ix *streamIndex) shard(id string) *shardIndex {
	sh := ix.shards[id]
	if sh == nil {
		sh = &shardIndex{sidecars: map[string]*loadedSidecar{}}
		ix.shards[id] = sh
	}
	return sh
}

// final reports whether the shard's latest sidecar is its last batch.
func (sh *shardIndex) final() bool {
	sc := sh.sidecars[sh.last]
	return sc != nil && sc.Final
}

// load reads the sidecar at key into sh (replacing a loaded one) and the
// key index.
func (a *ObjectArchive) load(ctx context.Context, ix *streamIndex, sh *shardIndex, key string) error {
	raw, err := a.store.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("delivery: archive index %q: %w", key, err)
	}
	old := sh.sidecars[key]
	if old != nil && bytes.Equal(old.raw, raw) {
		return nil
	}
	sc := &loadedSidecar{raw: raw}
	if err := json.Unmarshal(raw, &sc.sidecar); err != nil {
		return fmt.Errorf("delivery: archive index %q: %w", key, err)
	}
	if old != nil {
		for _, k := range old.Keys {
			ix.keys[k.Key] = slices.DeleteFunc(ix.keys[k.Key], func(r keyRef) bool { return r.sc == old })
			if len(ix.keys[k.Key]) == 0 {
				delete(ix.keys, k.Key)
			}
		}
	}
	sh.sidecars[key] = sc
	for _, k := range sc.Keys {
		ix.keys[k.Key] = append(ix.keys[k.Key], keyRef{sc: sc, key: k})
	}
	return nil
}

// ArchivedShards implements eventstore.ShardArchive from the shards'
// catalog objects, in shard ID order.
func (a *ObjectArchive) ArchivedShards(ctx context.Context, stream string) ([]shardlog.Shard, error) {
	if stream == "" {
		return nil, &shardlog.ArgumentError{Field: "StreamName", Reason: "must not be empty"}
	}
	prefix := streamIndexPrefix(a.prefix, stream)
	var out []shardlog.Shard
	for key, err := range a.store.List(ctx, prefix) {
		if err != nil {
			return nil, fmt.Errorf("delivery: archive of %q: %w", stream, err)
		}
		shardID, name, ok := strings.Cut(key[len(prefix):], "/")
		if !ok || name != catalogName {
			continue
		}
		raw, err := a.store.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("delivery: archive catalog %q: %w", key, err)
		}
		var c shardCatalog
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("delivery: archive catalog %q: %w", key, err)
		}
		if c.ShardID == "" {
			c.ShardID = shardID
		}
		out = append(out, c.shard())
	}
	slices.SortFunc(out, func(x, y shardlog.Shard) int { return strings.Compare(x.ShardID, y.ShardID) })
	return out, nil
}

// ReadShard implements eventstore.ShardArchive: the shard's data objects
// in the order of their First, each record after in.After and after the
// last one yielded.
func (a *ObjectArchive) ReadShard(ctx context.Context, in eventstore.ArchiveShardInput) iter.Seq2[shardlog.Record, error] {
	return func(yield func(shardlog.Record, error) bool) {
		switch {
		case in.StreamName == "":
			yield(shardlog.Record{}, &shardlog.ArgumentError{Field: "StreamName", Reason: "must not be empty"})
			return
		case in.ShardID == "":
			yield(shardlog.Record{}, &shardlog.ArgumentError{Field: "ShardID", Reason: "must not be empty"})
			return
		}
		ix := a.index(in.StreamName)
		ix.mu.Lock()
		err := a.refresh(ctx, in.StreamName, ix, in.ShardID)
		var objs []*loadedSidecar
		if sh := ix.shards[in.ShardID]; sh != nil {
			for _, sc := range sh.sidecars {
				if sc.Last.Compare(in.After) > 0 {
					objs = append(objs, sc)
				}
			}
		}
		ix.mu.Unlock()
		if err != nil {
			yield(shardlog.Record{}, err)
			return
		}
		slices.SortFunc(objs, func(x, y *loadedSidecar) int { return x.First.Compare(y.First) })
		after := in.After
		for _, sc := range objs {
			recs, err := a.open(ctx, sc)
			if err != nil {
				yield(shardlog.Record{}, err)
				return
			}
			for _, r := range recs {
				if r.SequenceNumber.Compare(after) <= 0 {
					continue
				}
				after = r.SequenceNumber
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}

// ReadKey implements eventstore.Archive: the records of in.PartitionKey
// after in.After, across all the stream's shards, in sequence number
// order. It opens only the objects whose sidecar lists the key with
// records after in.After.
func (a *ObjectArchive) ReadKey(ctx context.Context, in shardlog.ReadKeyInput) iter.Seq2[shardlog.Record, error] {
	return func(yield func(shardlog.Record, error) bool) {
		switch {
		case in.StreamName == "":
			yield(shardlog.Record{}, &shardlog.ArgumentError{Field: "StreamName", Reason: "must not be empty"})
			return
		case in.PartitionKey == "":
			yield(shardlog.Record{}, &shardlog.ArgumentError{Field: "PartitionKey", Reason: "must not be empty"})
			return
		}
		ix := a.index(in.StreamName)
		ix.mu.Lock()
		err := a.refresh(ctx, in.StreamName, ix, "")
		var refs []keyRef
		for _, r := range ix.keys[in.PartitionKey] {
			if r.key.Last.Compare(in.After) > 0 {
				refs = append(refs, r)
			}
		}
		ix.mu.Unlock()
		if err != nil {
			yield(shardlog.Record{}, err)
			return
		}
		// Open the objects in the order of the key's first record in each;
		// a buffered record can be yielded once it precedes the next
		// object's first record of the key (records of a key in a child
		// shard follow those in its parents).
		slices.SortFunc(refs, func(x, y keyRef) int { return x.key.First.Compare(y.key.First) })
		var pending []shardlog.Record
		after := in.After
		flush := func(before *shardlog.SequenceNumber) bool {
			n := 0
			for _, r := range pending {
				if before != nil && r.SequenceNumber.Compare(*before) >= 0 {
					break
				}
				n++
				if r.SequenceNumber.Compare(after) <= 0 {
					continue
				}
				after = r.SequenceNumber
				if !yield(r, nil) {
					return false
				}
			}
			pending = pending[n:]
			return true
		}
		for _, ref := range refs {
			if !flush(&ref.key.First) {
				return
			}
			recs, err := a.open(ctx, ref.sc)
			if err != nil {
				yield(shardlog.Record{}, err)
				return
			}
			for _, r := range recs {
				if r.PartitionKey == in.PartitionKey && r.SequenceNumber.Compare(after) > 0 {
					pending = append(pending, r)
				}
			}
			slices.SortStableFunc(pending, func(x, y shardlog.Record) int { return x.SequenceNumber.Compare(y.SequenceNumber) })
		}
		flush(nil)
	}
}

// open reads the records of sc's data object.
func (a *ObjectArchive) open(ctx context.Context, sc *loadedSidecar) ([]shardlog.Record, error) {
	if sc.Format != JSONLinesName {
		return nil, &UnreadableObjectError{Key: sc.DataKey, Format: sc.Format}
	}
	raw, err := a.store.Get(ctx, sc.DataKey)
	if err != nil {
		return nil, fmt.Errorf("delivery: archive object %q: %w", sc.DataKey, err)
	}
	zr, err := sc.Compression.reader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("delivery: archive object %q: %w", sc.DataKey, err)
	}
	defer zr.Close()
	recs := make([]shardlog.Record, 0, sc.Records)
	err = decodeJSONLines(zr, func(r shardlog.Record) bool {
		recs = append(recs, r)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("delivery: archive object %q: %w", sc.DataKey, err)
	}
	return recs, nil
}
