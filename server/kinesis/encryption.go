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
	"errors"
	"fmt"
	"slices"

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
//
// Which stream is encrypted under which KeyId is saved in the stream's
// metadata (shardlog.StartStreamEncryption); the keyring holds only the
// keys. If the keyring loses a stream's key, the stream never turns
// plaintext: its puts, GetRecords and SubscribeToShard fail with
// KMSNotFoundException (logged once per stream), and so does reading a
// record sealed under any KeyId the stream was ever encrypted under that
// the keyring lost. Other streams are not affected.

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

// summary returns the settings of the stream that reading and writing
// it need: its encryption and enhanced monitoring.
func (a *api) summary(ctx context.Context, name string) (*shardlog.DescribeStreamSummaryOutput, error) {
	return a.log.DescribeStreamSummary(ctx, shardlog.DescribeStreamSummaryInput{StreamName: name})
}

// sealerFor returns the sealer of the stream sum describes, or nil if it
// is not encrypted. A stream whose key is missing from the keyring is
// never written in plaintext: its puts fail with KMSNotFoundException.
func (a *api) sealerFor(sum *shardlog.DescribeStreamSummaryOutput) (*sealer, error) {
	if sum.EncryptionType != shardlog.EncryptionKMS {
		return nil, nil
	}
	master, ok := a.keys.master(sum.KeyID)
	if !ok {
		return nil, a.keyLost(sum, sum.KeyID)
	}
	return &sealer{stream: sum.StreamName, keyID: sum.KeyID, master: master, limit: sum.MaxRecordSizeInKiB << 10}, nil
}

// errKMSNotFound is the exception of a stream whose key is not in the
// keyring, as Kinesis names a missing KMS key.
const errKMSNotFound = "KMSNotFoundException"

// keyLost returns the KMSNotFoundException of a stream whose key keyID is
// missing from the keyring, and logs it at Error once per stream (and
// creation time) per process.
func (a *api) keyLost(sum *shardlog.DescribeStreamSummaryOutput, keyID string) error {
	id := sum.StreamName + "\x00" + sum.StreamCreationTimestamp.String() + "\x00" + keyID
	if _, logged := a.lostKeys.LoadOrStore(id, true); !logged {
		a.logger().Error("kinesis: the key of an encrypted stream is missing from the keyring: its puts and reads fail with KMSNotFoundException until the keyring is restored",
			"stream", sum.StreamName, "keyId", keyID)
	}
	return awsproto.Errorf(errKMSNotFound, "the key %s of stream %s is not found: the stream is encrypted under it and the keyring has lost it",
		keyID, sum.StreamARN)
}

// opener opens the sealed records of one stream as GetRecords and
// SubscribeToShard return them.
type opener struct {
	a   *api
	sum *shardlog.DescribeStreamSummaryOutput
}

// openerFor returns the opener of the stream sum describes. An encrypted
// stream whose current key is missing from the keyring is refused with
// KMSNotFoundException: its reads fail rather than pass ciphertext off as
// data.
func (a *api) openerFor(sum *shardlog.DescribeStreamSummaryOutput) (*opener, error) {
	if sum.EncryptionType == shardlog.EncryptionKMS && !a.keys.has(sum.KeyID) {
		return nil, a.keyLost(sum, sum.KeyID)
	}
	return &opener{a: a, sum: sum}, nil
}

// envelope splits a record that has the sealed format into its KeyId, salt
// and ciphertext; ok is false if data does not have the format.
func envelope(data []byte) (keyID string, salt, sealed []byte, ok bool) {
	rest, ok := bytes.CutPrefix(data, []byte(encMagic))
	if !ok || len(rest) < 1 {
		return "", nil, nil, false
	}
	n := int(rest[0])
	rest = rest[1:]
	if n == 0 || len(rest) < n+encSaltSize+encTagSize {
		return "", nil, nil, false
	}
	return string(rest[:n]), rest[n : n+encSaltSize], rest[n+encSaltSize:], true
}

// record returns r as GetRecords and SubscribeToShard return it: opened,
// with EncryptionType KMS, if it is sealed under a key of the keyring and
// authenticates; refused with KMSNotFoundException if it is sealed under a
// KeyId the stream was encrypted under that the keyring lost; else as
// stored (written before encryption started, or user data that merely
// looks sealed).
func (o *opener) record(r shardlog.Record) (record, error) {
	data, enc := r.Data, ""
	if keyID, salt, sealed, ok := envelope(r.Data); ok {
		master, found := o.a.keys.master(keyID)
		switch {
		case found:
			if plain, ok := openSealed(master, salt, sealed, encAAD(o.sum.StreamName, r.PartitionKey)); ok {
				data, enc = plain, encryptionKMS
			}
		case slices.Contains(o.sum.EncryptionKeyIDs, keyID):
			return record{}, o.a.keyLost(o.sum, keyID)
		}
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
	}, nil
}

// openSealed opens a sealed record's ciphertext under master.
func openSealed(master, salt, sealed, aad []byte) ([]byte, bool) {
	aead, err := recordAEAD(master, salt)
	if err != nil {
		return nil, false
	}
	plain, err := aead.Open(nil, zeroNonce, sealed, aad)
	if err != nil {
		return nil, false
	}
	if plain == nil {
		plain = []byte{}
	}
	return plain, true
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
// string is its own key, made on first use and saved in the keyring
// before the stream's metadata names it). Starting again, with the same
// KeyId or another, succeeds; records sealed under an earlier key stay
// readable.
func (a *api) startEncryption(ctx context.Context, in *streamEncryptionInput) (empty, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return empty{}, err
	}
	keyID, err := in.check()
	if err != nil {
		return empty{}, err
	}
	if _, err := a.summary(ctx, name); err != nil {
		return empty{}, err // no key made for a stream that does not exist
	}
	if !a.keys.has(keyID) {
		if err := a.keyLostBy(ctx, keyID); err != nil {
			return empty{}, err
		}
	}
	if err := a.keys.ensure(keyID); err != nil {
		return empty{}, err
	}
	err = a.log.StartStreamEncryption(ctx, shardlog.StartStreamEncryptionInput{StreamName: name, EncryptionType: shardlog.EncryptionKMS, KeyID: keyID})
	return empty{}, err
}

// keyLostBy returns the KMSNotFoundException of a KeyId the keyring lacks
// that a stream was ever encrypted under: its key was lost, and a new key
// of the same KeyId would not open that stream's records but would pass
// the key check, handing their sealed envelopes out as data. It looks at
// every stream, which only the first use of a KeyId pays.
func (a *api) keyLostBy(ctx context.Context, keyID string) error {
	for s, err := range a.log.ListStreamsAll(ctx) {
		if err != nil {
			return err
		}
		sum, err := a.summary(ctx, s.StreamName)
		if errors.Is(err, shardlog.ErrResourceNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if slices.Contains(sum.EncryptionKeyIDs, keyID) || sum.KeyID == keyID {
			return a.keyLost(sum, keyID)
		}
	}
	return nil
}

// stopEncryption stops encrypting the records put on the stream; records
// already sealed stay readable. Stopping a stream that is not encrypted
// succeeds.
func (a *api) stopEncryption(ctx context.Context, in *streamEncryptionInput) (empty, error) {
	name, err := a.name(in.streamRef)
	if err != nil {
		return empty{}, err
	}
	keyID, err := in.check()
	if err != nil {
		return empty{}, err
	}
	err = a.log.StopStreamEncryption(ctx, shardlog.StopStreamEncryptionInput{StreamName: name, EncryptionType: shardlog.EncryptionKMS, KeyID: keyID})
	return empty{}, err
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
