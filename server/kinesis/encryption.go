package kinesis

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/shardlog"
)

// Stream encryption (StartStreamEncryption, StopStreamEncryption).
//
// The Data of a record put on an encrypted stream is sealed before it
// reaches the log, with AES-256-GCM under the keyring's key of the
// stream's KeyId:
//
//	"SHOALENC2" | KeyId length (1 byte) | KeyId | salt (16 bytes) | ciphertext and tag (16 bytes)
//
// Each record is sealed under its own key, HKDF-SHA256 of the KeyId's key
// and the record's random salt, with a zero nonce: no (key, nonce) pair
// is ever used twice, however many records a KeyId seals (a random
// 96-bit nonce under one key would be safe for only about 2^32 records).
//
// The additional data is the stream name (2-byte big-endian length, then
// the name) followed by the partition key, so a sealed record does not
// open on another stream or under another partition key. GetRecords and
// SubscribeToShard open every record that starts with the magic, names a
// key of the keyring and authenticates under it; any other record is
// returned as stored (written before encryption started, or user data that
// merely starts with the magic). The switch is synchronous: the stream
// stays ACTIVE and every record put after the call returns is sealed.

const (
	encMagic      = "SHOALENC2"
	encSaltSize   = 16
	encTagSize    = 16
	maxKeyIDBytes = 255  // the length byte of the format
	maxKeyIDModel = 2048 // the model's bound on KeyId

	encryptionKMS  = "KMS"
	encryptionNone = "NONE"
)

// encOverhead is how many bytes sealing adds to a record under keyID.
func encOverhead(keyID string) int {
	return len(encMagic) + 1 + len(keyID) + encSaltSize + encTagSize
}

// encAAD is the additional data of a record.
func encAAD(stream, partitionKey string) []byte {
	b := make([]byte, 0, 2+len(stream)+len(partitionKey))
	b = binary.BigEndian.AppendUint16(b, uint16(len(stream)))
	b = append(b, stream...)
	return append(b, partitionKey...)
}

// sealer seals the records of one encrypted stream.
type sealer struct {
	stream string
	keyID  string
	master []byte // the KeyId's key
	limit  int    // the stream's record size limit, in bytes
}

// recordAEAD returns the AES-256-GCM of one record's key: HKDF-SHA256 of
// master and the record's salt.
func recordAEAD(master, salt []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, master, salt, "shoal kinesis record", 32)
	if err != nil {
		return nil, err
	}
	return newAEAD(key)
}

// zeroNonce is the nonce of every record: each record key seals once.
var zeroNonce = make([]byte, 12)

func (s *sealer) seal(partitionKey string, data []byte) ([]byte, error) {
	out := make([]byte, 0, len(data)+encOverhead(s.keyID))
	out = append(out, encMagic...)
	out = append(out, byte(len(s.keyID)))
	out = append(out, s.keyID...)
	salt := make([]byte, encSaltSize)
	_, _ = rand.Read(salt) // never fails (crypto/rand)
	out = append(out, salt...)
	aead, err := recordAEAD(s.master, salt)
	if err != nil {
		return nil, err
	}
	return aead.Seal(out, zeroNonce, data, encAAD(s.stream, partitionKey)), nil
}

// checkSize returns an InvalidArgumentException naming field if the
// record, or the record once sealed, is larger than the stream allows.
func (s *sealer) checkSize(field, partitionKey string, data []byte) error {
	size := len(data) + len(partitionKey)
	if size > s.limit {
		return invalidArg(field, "record size %d bytes (data plus partition key) exceeds the limit of %d bytes", size, s.limit)
	}
	if over := encOverhead(s.keyID); size+over > s.limit {
		return invalidArg(field, "record size %d bytes (data plus partition key) exceeds the limit of %d bytes once encrypted: the stream is encrypted, which adds %d bytes to each record", size, s.limit, over)
	}
	return nil
}

// sealerFor returns the sealer of the stream, or nil if it is not
// encrypted. Streams never encrypted cost a map lookup.
func (a *api) sealerFor(ctx context.Context, name string) (*sealer, error) {
	if !a.keys.encrypted(name) {
		return nil, nil
	}
	d, err := a.log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: name})
	if err != nil {
		return nil, err
	}
	keyID := a.keys.stream(d.StreamName, d.StreamCreationTimestamp)
	if keyID == "" {
		return nil, nil // an older stream of the name was encrypted
	}
	master, ok := a.keys.master(keyID)
	if !ok {
		return nil, fmt.Errorf("kinesis: keyring has no key %q for stream %s", keyID, name)
	}
	return &sealer{stream: d.StreamName, keyID: keyID, master: master, limit: d.MaxRecordSizeKiB << 10}, nil
}

// openRecord returns the plaintext of a sealed record of stream, and
// true; or false if data is not a record the keyring can open.
func (a *api) openRecord(stream, partitionKey string, data []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(encMagic))
	if !ok || len(rest) < 1 {
		return nil, false
	}
	n := int(rest[0])
	rest = rest[1:]
	if n == 0 || len(rest) < n+encSaltSize+encTagSize {
		return nil, false
	}
	master, ok := a.keys.master(string(rest[:n]))
	if !ok {
		return nil, false
	}
	salt, sealed := rest[n:n+encSaltSize], rest[n+encSaltSize:]
	aead, err := recordAEAD(master, salt)
	if err != nil {
		return nil, false
	}
	plain, err := aead.Open(nil, zeroNonce, sealed, encAAD(stream, partitionKey))
	if err != nil {
		return nil, false
	}
	if plain == nil {
		plain = []byte{}
	}
	return plain, true
}

// wireRecord is a record of the Log as GetRecords and SubscribeToShard
// return it: opened if it is sealed, with EncryptionType KMS.
func (a *api) wireRecord(stream string, r shardlog.Record) record {
	data, enc := r.Data, ""
	if plain, ok := a.openRecord(stream, r.PartitionKey, r.Data); ok {
		data, enc = plain, encryptionKMS
	}
	if data == nil {
		data = []byte{}
	}
	return record{
		SequenceNumber:              r.SequenceNumber.String(),
		ApproximateArrivalTimestamp: epoch(r.ApproximateArrivalTimestamp),
		Data:                        data,
		PartitionKey:                r.PartitionKey,
		EncryptionType:              enc,
	}
}

// encryptionOf returns the EncryptionType and KeyId DescribeStream and
// DescribeStreamSummary report.
func (a *api) encryptionOf(d *shardlog.StreamDescription) (string, string) {
	if keyID := a.keys.stream(d.StreamName, d.StreamCreationTimestamp); keyID != "" {
		return encryptionKMS, keyID
	}
	return encryptionNone, ""
}

type streamEncryptionInput struct {
	streamRef
	EncryptionType *string `json:"EncryptionType"`
	KeyId          *string `json:"KeyId"`
}

// check validates EncryptionType and KeyId and returns the KeyId.
func (in *streamEncryptionInput) check() (string, error) {
	typ, err := required("EncryptionType", in.EncryptionType)
	if err != nil {
		return "", err
	}
	keyID, err := required("KeyId", in.KeyId)
	if err != nil {
		return "", err
	}
	if typ != encryptionKMS {
		return "", invalidArg("EncryptionType", "%q is not supported: the only valid value is KMS", truncate(typ, 64))
	}
	switch {
	case keyID == "":
		return "", awsproto.Errorf(errValidation, "1 validation error detected: Value '' at 'KeyId' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(keyID) > maxKeyIDModel:
		return "", awsproto.Errorf(errValidation, "1 validation error detected: Value at 'KeyId' failed to satisfy constraint: Member must have length less than or equal to %d", maxKeyIDModel)
	case len(keyID) > maxKeyIDBytes:
		return "", invalidArg("KeyId", "%d bytes is longer than the %d Shoal supports", len(keyID), maxKeyIDBytes)
	}
	return keyID, nil
}

// startEncryption encrypts the records put on the stream from now on
// under KeyId (a key ID, key ARN, alias/NAME or alias ARN: each distinct
// string is its own key, made on first use). Starting again, with the
// same KeyId or another, succeeds; records sealed under an earlier key
// stay readable.
func (a *api) startEncryption(ctx context.Context, in *streamEncryptionInput) (empty, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return empty{}, err
	}
	keyID, err := in.check()
	if err != nil {
		return empty{}, err
	}
	d, err := a.log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: name})
	if err != nil {
		return empty{}, err
	}
	if d.StreamStatus != shardlog.StatusActive {
		return empty{}, awsproto.Errorf(errResourceInUse, "stream %s is %s, not ACTIVE", name, d.StreamStatus)
	}
	return empty{}, a.keys.start(d.StreamName, d.StreamCreationTimestamp, keyID)
}

// stopEncryption stops encrypting the records put on the stream; records
// already sealed stay readable. Stopping a stream that is not encrypted
// succeeds.
func (a *api) stopEncryption(ctx context.Context, in *streamEncryptionInput) (empty, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return empty{}, err
	}
	if _, err := in.check(); err != nil {
		return empty{}, err
	}
	d, err := a.log.DescribeStream(ctx, shardlog.DescribeStreamInput{StreamName: name})
	if err != nil {
		return empty{}, err
	}
	if d.StreamStatus != shardlog.StatusActive {
		return empty{}, awsproto.Errorf(errResourceInUse, "stream %s is %s, not ACTIVE", name, d.StreamStatus)
	}
	return empty{}, a.keys.stop(d.StreamName, d.StreamCreationTimestamp)
}

// newAEAD returns AES-256-GCM under key.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("key of %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
