package kinesis

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/internal/durable"
	"github.com/shoal-dev/shoal/shardlog"
)

// keyringFile is the file, in the keyring directory, that holds the keys.
const keyringFile = "keyring.json"

// keyringVersion is the version of the keyring file's format.
const keyringVersion = 1

// Keyring holds the data keys of stream encryption: one AES-256 key per
// distinct KeyId string, made from crypto/rand on first use. Which stream
// is encrypted under which KeyId is in the stream's metadata, in the Log
// (shardlog.StreamMeta), not here. A keyring file written by an earlier
// version also maps streams to KeyIds: MigrateStreams moves that mapping
// into the streams' metadata once.
//
// OpenKeyring keeps it in DIR/keyring.json (mode 0600, replaced
// atomically and fsync'd on every change) and takes DIR/LOCK, so one
// process at a time uses it. A Keyring from NewMemoryKeyring lives in
// memory only: its keys are lost, and the records encrypted under them
// become unreadable ciphertext, when the process ends.
//
// Keys are never removed: a record stays readable, whatever the stream's
// encryption is now, as long as the key that sealed it is in the keyring.
// Anyone who can read the file can read the records: it is protection
// of the log's files at rest apart from the keyring, not a KMS.
type Keyring struct {
	dir  string   // "" in memory
	lock *os.File // DIR/LOCK while open

	mu   sync.RWMutex      // writers also serialize the file's replacement
	keys map[string][]byte // KeyId -> 32-byte key
	// legacy is the stream -> KeyId mapping of an earlier version's file,
	// until MigrateStreams moves it into the streams' metadata.
	legacy map[string]streamEncryption
}

// streamEncryption is the encryption of one stream in an earlier
// version's keyring file.
type streamEncryption struct {
	Created time.Time `json:"created"` // the stream's creation time
	KeyID   string    `json:"keyId"`
}

// keyringState is the keyring file.
type keyringState struct {
	Version int                         `json:"version"`
	Keys    map[string][]byte           `json:"keys"`              // base64 in JSON
	Streams map[string]streamEncryption `json:"streams,omitempty"` // by stream name: earlier versions only
}

// NewMemoryKeyring returns a keyring held in memory only.
func NewMemoryKeyring() *Keyring {
	return &Keyring{keys: map[string][]byte{}, legacy: map[string]streamEncryption{}}
}

// OpenKeyring opens the keyring kept in dir, creating dir (mode 0700) and
// an empty keyring where missing. It fails if another Keyring holds dir.
// Close releases it.
func OpenKeyring(dir string) (*Keyring, error) {
	if dir == "" {
		return nil, errors.New("kinesis: keyring: no directory")
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("kinesis: keyring: %w", err)
		}
	}
	if err := durable.EnsureDir(dir); err != nil {
		return nil, fmt.Errorf("kinesis: keyring: %w", err)
	}
	if err := durable.SyncDirPath(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("kinesis: keyring: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("kinesis: keyring: %w", err)
	}
	if err := durable.Lock(lock, false); err != nil {
		lock.Close()
		return nil, fmt.Errorf("kinesis: keyring %s: %w", dir, err)
	}
	k := NewMemoryKeyring()
	k.dir, k.lock = dir, lock
	b, err := os.ReadFile(filepath.Join(dir, keyringFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return k, nil
	case err != nil:
		_ = durable.Unlock(lock)
		return nil, fmt.Errorf("kinesis: keyring: %w", err)
	}
	var st keyringState
	if err := json.Unmarshal(b, &st); err != nil {
		_ = durable.Unlock(lock)
		return nil, fmt.Errorf("kinesis: keyring %s: %w", filepath.Join(dir, keyringFile), err)
	}
	if st.Version != keyringVersion {
		_ = durable.Unlock(lock)
		return nil, fmt.Errorf("kinesis: keyring %s: version %d, want %d", filepath.Join(dir, keyringFile), st.Version, keyringVersion)
	}
	for id, key := range st.Keys {
		if len(key) != 32 {
			_ = durable.Unlock(lock)
			return nil, fmt.Errorf("kinesis: keyring %s: key %q: %d bytes, want 32", filepath.Join(dir, keyringFile), id, len(key))
		}
		k.keys[id] = key
	}
	maps.Copy(k.legacy, st.Streams)
	return k, nil
}

// Close releases the keyring's directory. The keyring must not be used
// after.
func (k *Keyring) Close() error {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lock == nil {
		return nil
	}
	err := durable.Unlock(k.lock)
	k.lock = nil
	return err
}

// master returns the key of keyID.
func (k *Keyring) master(keyID string) ([]byte, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.keys[keyID]
	return key, ok
}

// has reports whether the keyring holds the key of keyID.
func (k *Keyring) has(keyID string) bool {
	_, ok := k.master(keyID)
	return ok
}

// sameCreation compares creation times at the millisecond, the precision
// of the API's timestamps.
func sameCreation(a, b time.Time) bool { return a.UnixMilli() == b.UnixMilli() }

// ensure makes the key of keyID if the keyring has none, and saves it
// before it returns.
func (k *Keyring) ensure(keyID string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.keys[keyID]; ok {
		return nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	keys := maps.Clone(k.keys)
	keys[keyID] = key
	if err := k.saveLocked(keys, k.legacy); err != nil {
		return err
	}
	k.keys = keys
	return nil
}

// MigrateStreams moves the stream -> KeyId mapping of a keyring file
// written by an earlier version into the streams' metadata: each stream of
// log whose metadata says it is not encrypted, and that the file names
// with the same creation time, gets StartStreamEncryption with the file's
// KeyId. Then the mapping is removed from the file. Entries for streams
// the log does not have are kept. The Kinesis service calls it when it is
// made; calling it again does nothing.
func (k *Keyring) MigrateStreams(ctx context.Context, log *shardlog.Log) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.legacy) == 0 {
		return nil
	}
	left := maps.Clone(k.legacy)
	for name, e := range k.legacy {
		sum, err := log.DescribeStreamSummary(ctx, shardlog.DescribeStreamSummaryInput{StreamName: name})
		if errors.Is(err, shardlog.ErrResourceNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("kinesis: keyring: migrating the encryption of stream %s: %w", name, err)
		}
		if sameCreation(sum.StreamCreationTimestamp, e.Created) && sum.EncryptionType != shardlog.EncryptionKMS && len(sum.EncryptionKeyIDs) == 0 {
			err := log.StartStreamEncryption(ctx, shardlog.StartStreamEncryptionInput{StreamName: name, EncryptionType: shardlog.EncryptionKMS, KeyID: e.KeyID})
			if err != nil {
				return fmt.Errorf("kinesis: keyring: migrating the encryption of stream %s: %w", name, err)
			}
		}
		delete(left, name) // migrated, or the entry of an older stream of the name
	}
	if err := k.saveLocked(k.keys, left); err != nil {
		return err
	}
	k.legacy = left
	return nil
}

// saveLocked writes the keyring file durably: a temporary file (0600),
// fsync'd, renamed over the file, and the directory fsync'd.
func (k *Keyring) saveLocked(keys map[string][]byte, legacy map[string]streamEncryption) error {
	if k.dir == "" {
		return nil
	}
	if k.lock == nil {
		return errors.New("kinesis: keyring is closed")
	}
	b, err := json.MarshalIndent(keyringState{Version: keyringVersion, Keys: keys, Streams: legacy}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(k.dir, keyringFile)
	// 0600 from the start, so the keys are never readable by others.
	if err := durable.ReplaceFile(path, path+".tmp", b, 0o600); err != nil {
		return fmt.Errorf("kinesis: keyring: %w", err)
	}
	if err := durable.SyncDirPath(k.dir); err != nil {
		return fmt.Errorf("kinesis: keyring: %w", err)
	}
	return nil
}
