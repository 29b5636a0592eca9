package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-dev/shoal/internal/durable"
)

// tokenSecretSize is the size of the secret that signs shard iterators and
// NextTokens.
const tokenSecretSize = 32

// loadTokenSecret returns the secret that signs shard iterators and
// NextTokens, kept in path so that they stay valid across restarts. If
// path does not exist it makes a random secret and writes it atomically
// (mode 0600, fsync'd, its directory made 0700 where missing). A file that
// others may read, that is not a regular file or that does not hold
// exactly tokenSecretSize bytes is an error: the server does not start
// rather than sign with a secret others know or silently invalidate every
// token.
func loadTokenSecret(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newTokenSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("token secret %s: not a regular file (%s)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("token secret %s: mode %04o lets others read it; it must be 0600 (chmod 600 %s)", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	if len(b) != tokenSecretSize {
		return nil, fmt.Errorf("token secret %s: damaged: %d bytes, want %d (delete it to make a new one: shard iterators and NextTokens issued before are then refused)", path, len(b), tokenSecretSize)
	}
	return b, nil
}

func newTokenSecret(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	b := make([]byte, tokenSecretSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	if err := durable.ReplaceFile(path, path+".tmp", b, 0o600); err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	if err := durable.SyncDirPath(dir); err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	return b, nil
}
