package shardlog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// tokenSigner makes shard iterators and pagination tokens opaque and
// tamper-evident: each token is base64url(payload || HMAC-SHA256(payload)[:16]).
type tokenSigner struct{ key []byte }

const macLen = 16

func (t tokenSigner) seal(payload []byte) string {
	m := hmac.New(sha256.New, t.key)
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(m.Sum(payload)[:len(payload)+macLen])
}

func (t tokenSigner) open(field, token string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) <= macLen {
		return nil, invalid(field, "not a token issued by this log")
	}
	payload, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	m := hmac.New(sha256.New, t.key)
	m.Write(payload)
	if !hmac.Equal(m.Sum(nil)[:macLen], mac) {
		return nil, invalid(field, "not a token issued by this log (signature mismatch)")
	}
	return payload, nil
}

// iteratorToken is the content of a shard iterator: read the shard from
// From (inclusive). StreamID tells a re-created stream of the same name
// from the one the iterator was issued for.
type iteratorToken struct {
	Issued   time.Time
	StreamID uint64
	From     SequenceNumber
	Stream   string
}

const iteratorVersion = 1

func (t tokenSigner) sealIterator(it iteratorToken) string {
	b := make([]byte, 0, 1+8+8+8+4+len(it.Stream))
	b = append(b, iteratorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(it.Issued.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, it.StreamID)
	b = binary.BigEndian.AppendUint64(b, it.From.pos)
	b = binary.BigEndian.AppendUint32(b, it.From.shard)
	b = append(b, it.Stream...)
	return t.seal(b)
}

// openIterator verifies a shard iterator and checks its age against now.
func (t tokenSigner) openIterator(token string, now time.Time) (iteratorToken, error) {
	if len(token) < 1 || len(token) > 512 {
		return iteratorToken{}, invalid("ShardIterator", "length %d is outside 1-512", len(token))
	}
	b, err := t.open("ShardIterator", token)
	if err != nil {
		return iteratorToken{}, err
	}
	if len(b) < 29 || b[0] != iteratorVersion {
		return iteratorToken{}, invalid("ShardIterator", "unknown iterator version")
	}
	it := iteratorToken{
		Issued:   time.Unix(0, int64(binary.BigEndian.Uint64(b[1:]))),
		StreamID: binary.BigEndian.Uint64(b[9:]),
		From:     SequenceNumber{pos: binary.BigEndian.Uint64(b[17:]), shard: binary.BigEndian.Uint32(b[25:])},
		Stream:   string(b[29:]),
	}
	if age := now.Sub(it.Issued); age > IteratorLifetime {
		return iteratorToken{}, fmt.Errorf("%w: iterator issued %d ms ago, further in the past than the tolerated delay of %d milliseconds",
			ErrExpiredIterator, age.Milliseconds(), IteratorLifetime.Milliseconds())
	}
	return it, nil
}

// pageToken is the content of a NextToken.
type pageToken struct {
	Kind        string    `json:"k"`           // "streams", "shards", "consumers"
	Stream      string    `json:"s,omitempty"` // the stream paged
	StreamID    uint64    `json:"c,omitempty"`
	After       string    `json:"a"` // exclusive start
	Filter      string    `json:"f,omitempty"`
	FilterShard string    `json:"fs,omitempty"`
	FilterTime  time.Time `json:"ft,omitzero"`
	Max         int       `json:"m,omitempty"`
	Issued      time.Time `json:"i"`
}

func (t tokenSigner) sealPage(p pageToken, now time.Time) string {
	p.Issued = now
	b, _ := json.Marshal(p) // cannot fail: plain fields
	return t.seal(b)
}

func (t tokenSigner) openPage(token, kind string, now time.Time) (pageToken, error) {
	b, err := t.open("NextToken", token)
	if err != nil {
		return pageToken{}, err
	}
	var p pageToken
	if err := json.Unmarshal(b, &p); err != nil || p.Kind != kind {
		return pageToken{}, invalid("NextToken", "not a %s token", kind)
	}
	if now.Sub(p.Issued) > NextTokenLifetime {
		return pageToken{}, fmt.Errorf("%w: NextToken issued %s ago; tokens last %s", ErrExpiredNextToken, now.Sub(p.Issued).Round(time.Second), NextTokenLifetime)
	}
	return p, nil
}
