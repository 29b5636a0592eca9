package shardlog

import (
	"context"
	"slices"
)

// EncryptionType is a stream's server-side encryption, as Kinesis names it.
type EncryptionType string

// Encryption types.
const (
	// EncryptionNone: records are stored as put.
	EncryptionNone EncryptionType = "NONE"
	// EncryptionKMS: records are sealed under a key named by KeyId before
	// they are stored. The Log only records the setting: whoever calls
	// PutRecord seals the data (shardlog does no cryptography).
	EncryptionKMS EncryptionType = "KMS"
)

// MaxKeyIDLength is the longest KeyId StartStreamEncryption accepts, as in
// the Kinesis model.
const MaxKeyIDLength = 2048

// StartStreamEncryptionInput is the input of StartStreamEncryption.
type StartStreamEncryptionInput struct {
	StreamName     string
	EncryptionType EncryptionType // must be EncryptionKMS
	KeyID          string         // 1-MaxKeyIDLength characters
}

// StartStreamEncryption records that the records put on the stream from
// now on are sealed under KeyID. Starting again, with the same KeyID or
// another, replaces the key. Every KeyID a stream was ever encrypted under
// is kept in its metadata (DescribeStreamSummaryOutput.EncryptionKeyIDs),
// so a reader can tell a sealed record whose key is lost from plain data.
// The setting is saved with the stream's metadata before it returns;
// DescribeStream and DescribeStreamSummary report it.
func (l *Log) StartStreamEncryption(ctx context.Context, in StartStreamEncryptionInput) error {
	if err := checkEncryption(in.EncryptionType, in.KeyID); err != nil {
		return err
	}
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return err
	}
	return l.update(ctx, s, func(m *StreamMeta) error {
		if err := activeForUpdate(s, m); err != nil {
			return err
		}
		m.EncryptionType, m.KeyID = EncryptionKMS, in.KeyID
		if !slices.Contains(m.EncryptionKeyIDs, in.KeyID) {
			m.EncryptionKeyIDs = append(m.EncryptionKeyIDs, in.KeyID)
		}
		return nil
	})
}

// StopStreamEncryptionInput is the input of StopStreamEncryption.
type StopStreamEncryptionInput struct {
	StreamName     string
	EncryptionType EncryptionType // must be EncryptionKMS
	KeyID          string         // 1-MaxKeyIDLength characters
}

// StopStreamEncryption records that the records put on the stream from now
// on are stored as put. Records already sealed stay sealed. Stopping a
// stream that is not encrypted succeeds.
func (l *Log) StopStreamEncryption(ctx context.Context, in StopStreamEncryptionInput) error {
	if err := checkEncryption(in.EncryptionType, in.KeyID); err != nil {
		return err
	}
	s, err := l.stream(ctx, in.StreamName)
	if err != nil {
		return err
	}
	return l.update(ctx, s, func(m *StreamMeta) error {
		if err := activeForUpdate(s, m); err != nil {
			return err
		}
		m.EncryptionType, m.KeyID = "", ""
		return nil
	})
}

func checkEncryption(typ EncryptionType, keyID string) error {
	if typ != EncryptionKMS {
		return invalid("EncryptionType", "%q is not supported: the only valid value is KMS", truncate(string(typ), 64))
	}
	if len(keyID) < 1 || len(keyID) > MaxKeyIDLength {
		return invalidAs(ErrValidation, "KeyId", "length %d is outside 1-%d", len(keyID), MaxKeyIDLength)
	}
	return nil
}

// activeForUpdate refuses a settings change while a failed reshard keeps
// the stream UPDATING. Caller holds s.mu.
func activeForUpdate(s *stream, m *StreamMeta) error {
	if s.broken != nil {
		return inUse("stream %s is %s, not ACTIVE", m.Name, StatusUpdating)
	}
	return nil
}

// encryptionOf returns the EncryptionType and KeyId of m as DescribeStream
// reports them.
func encryptionOf(m *StreamMeta) (EncryptionType, string) {
	if m.EncryptionType == EncryptionKMS {
		return EncryptionKMS, m.KeyID
	}
	return EncryptionNone, ""
}
