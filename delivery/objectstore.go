package delivery

import (
	"context"
	"errors"
	"iter"
)

// ObjectStore is the small interface object-storage destinations write
// through: the filesystem (DirStore, the embedded default) or any
// S3-compatible service (delivery/s3store).
type ObjectStore interface {
	// Put stores body under key, replacing any object there. Readers see
	// the whole old object or the whole new one, never a part; when Put
	// returns nil the object is durable.
	Put(ctx context.Context, key string, body []byte) error
	// Get returns an object's bytes, or an error wrapping
	// ErrObjectNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// List yields the keys that begin with prefix, in lexical order.
	List(ctx context.Context, prefix string) iter.Seq2[string, error]
}

// ErrObjectNotFound is returned (wrapped) by ObjectStore.Get for a key
// with no object.
var ErrObjectNotFound = errors.New("delivery: object not found")
