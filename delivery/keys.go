package delivery

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shoal-dev/shoal/shardlog"
)

// Limits of key layouts, as Firehose's.
const (
	// MaxPrefixLength is the longest Prefix or ErrorOutputPrefix, in
	// characters, before evaluation (Firehose's API limit).
	MaxPrefixLength = 1024
	// MaxEvaluatedPrefixLength is the longest evaluated prefix, in
	// characters.
	MaxEvaluatedPrefixLength = 512
	// MaxKeyLength is the longest object key, in bytes (S3's limit).
	MaxKeyLength = 1024
	// randomStringLength is the length of !{firehose:random-string}.
	randomStringLength = 11
)

// KeyLayout is how object keys are named: Firehose's Prefix and
// ErrorOutputPrefix, with Firehose's rules.
//
// An object's key is
//
//	<evaluated Prefix><DeliveryStream>-<Version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<id><extension>
//
// where every time is the UTC ApproximateArrivalTimestamp of the object's
// oldest record (all uses in one key share that instant), and <id> stands
// in for Firehose's random string: 32 hexadecimal digits of a SHA-256
// over the batch's content start (source stream, shard ID and First
// sequence number, Batch.KeySeed). A retried delivery of a batch that
// starts at the same First therefore gets the same key and replaces the
// object it wrote before, even if the retry covers more records: this is
// how a retry never leaves a second copy in an object store. Keys of
// different shards or source streams differ.
//
// The Prefix may hold expressions:
//
//   - !{timestamp:<pattern>}: the oldest record's arrival time formatted
//     with a Java DateTimeFormatter pattern. Supported: the letters y
//     (yyyy, yy, y), M (MM, M, MMM, MMMM as English month names), d (dd,
//     d), H (HH, H), m (mm, m), s (ss, s) and S (S to SSSSSSSSS, the
//     fraction of the second); text in single quotes is literal, and a
//     doubled single quote is a quote; digits and / - _ . = and space
//     stand for themselves. Any other letter or character is an error
//     naming it.
//   - !{firehose:random-string}: 11 characters of [a-z0-9], different for
//     each use in a key but derived from the batch's content start (and
//     the use's index), so a retry repeats the key.
//   - !{firehose:error-output-type}: only in ErrorOutputPrefix; the
//     OutputType (processing-failed, delivery-failed,
//     format-conversion-failed).
//
// Dynamic partitioning (!{partitionKeyFromQuery:…},
// !{partitionKeyFromLambda:…}) is not supported; any other !{…}, or a
// "!{" that does not start a whole expression, is an error.
//
// An empty Prefix means the UTC yyyy/MM/dd/HH/ of the oldest arrival; a
// Prefix (or ErrorOutputPrefix) with no timestamp expression gets
// !{timestamp:yyyy/MM/dd/HH/} appended. If Prefix has expressions,
// ErrorOutputPrefix is required and must contain
// !{firehose:error-output-type}; with an empty ErrorOutputPrefix, error
// objects go under <Prefix><error-output-type>/yyyy/MM/dd/HH/. A prefix
// may be MaxPrefixLength characters long and may evaluate to at most
// MaxEvaluatedPrefixLength characters; a whole key may be MaxKeyLength
// bytes. Every violation is a *shardlog.ArgumentError naming Prefix or
// ErrorOutputPrefix.
type KeyLayout struct {
	// Prefix is put before every object's name (Firehose's Prefix).
	Prefix string
	// ErrorOutputPrefix is put before every error-output object's name
	// (Firehose's ErrorOutputPrefix).
	ErrorOutputPrefix string
}

// Validate checks the prefixes against Firehose's rules; the evaluated
// length is checked when a key is made (ObjectKey, ErrorKey).
func (k KeyLayout) Validate() error {
	_, _, err := k.parse()
	return err
}

// ObjectKey names the object of batch b (ext: the format's and the
// compression's extensions, e.g. ".json.gz"). The name depends only on
// the batch's delivery stream, version (zero: 1), source, shard, First and
// oldest arrival, so a retry of the same batch gets the same key.
func (k KeyLayout) ObjectKey(b *Batch, ext string) (string, error) {
	if b == nil {
		return "", &shardlog.ArgumentError{Field: "Batch", Reason: "must not be nil"}
	}
	prefix, _, err := k.parse()
	if err != nil {
		return "", err
	}
	seed := b.KeySeed()
	t := b.OldestArrival().UTC()
	p, err := prefix.eval("Prefix", t, seed, "")
	if err != nil {
		return "", err
	}
	return objectKey("Prefix", p, b.DeliveryStream, b.Version, t, seed, ext)
}

// ErrorKey names an error-output object of the given type whose oldest
// record arrived at oldest; seed makes the key's random parts and its id
// repeatable (use the failed batch's KeySeed, so that a retry replaces
// the error object it wrote before). Error objects of different types
// from the same seed get different keys even when ErrorOutputPrefix does
// not hold the type.
func (k KeyLayout) ErrorKey(deliveryStream string, version int, outputType OutputType, oldest time.Time, seed string, ext string) (string, error) {
	if err := checkOutputType(outputType); err != nil {
		return "", err
	}
	_, errPrefix, err := k.parse()
	if err != nil {
		return "", err
	}
	seed = seed + "\x00" + string(outputType)
	t := oldest.UTC()
	p, err := errPrefix.eval("ErrorOutputPrefix", t, seed, outputType)
	if err != nil {
		return "", err
	}
	return objectKey("ErrorOutputPrefix", p, deliveryStream, version, t, seed, ext)
}

// KeySeed is the batch's content start, from which its object key's id
// and random strings derive: "<source stream>/<shard ID>/<First>".
func (b *Batch) KeySeed() string {
	return b.Source + "/" + b.Shard.ShardID + "/" + b.First.String()
}

// objectKey appends the object name to the evaluated prefix p and checks
// the key's length.
func objectKey(field, p, deliveryStream string, version int, t time.Time, seed, ext string) (string, error) {
	if err := checkDeliveryStreamName(deliveryStream); err != nil {
		return "", err
	}
	if version == 0 {
		version = 1
	}
	if version < 0 {
		return "", &shardlog.ArgumentError{Field: "DeliveryStreamVersion", Reason: fmt.Sprintf("%d is negative; versions start at 1", version)}
	}
	sum := sha256.Sum256([]byte("id\x00" + seed))
	var sb strings.Builder
	sb.Grow(len(p) + len(deliveryStream) + 64 + len(ext))
	sb.WriteString(p)
	sb.WriteString(deliveryStream)
	sb.WriteByte('-')
	sb.WriteString(strconv.Itoa(version))
	sb.WriteByte('-')
	sb.WriteString(t.Format("2006-01-02-15-04-05"))
	sb.WriteByte('-')
	sb.WriteString(hex.EncodeToString(sum[:16]))
	sb.WriteString(ext)
	key := sb.String()
	if len(key) > MaxKeyLength {
		return "", &shardlog.ArgumentError{Field: field, Reason: fmt.Sprintf("the object key would be %d bytes; the limit is %d", len(key), MaxKeyLength)}
	}
	return key, nil
}

// checkDeliveryStreamName applies Firehose's name rule: 1-64 characters
// of [a-zA-Z0-9_.-] (which also keeps keys safe as file paths).
func checkDeliveryStreamName(name string) error {
	if name == "" || len(name) > 64 {
		return &shardlog.ArgumentError{Field: "DeliveryStreamName", Reason: fmt.Sprintf("length %d is not within 1-64", len(name))}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isNameAlnum(c) && c != '_' && c != '.' && c != '-' {
			return &shardlog.ArgumentError{Field: "DeliveryStreamName", Reason: fmt.Sprintf("%q has %q; allowed are [a-zA-Z0-9_.-]", name, c)}
		}
	}
	return nil
}

func checkOutputType(t OutputType) error {
	if t == "" || len(t) > 64 {
		return &shardlog.ArgumentError{Field: "OutputType", Reason: fmt.Sprintf("length %d is not within 1-64", len(t))}
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !isNameAlnum(c) && c != '-' && c != '_' {
			return &shardlog.ArgumentError{Field: "OutputType", Reason: fmt.Sprintf("%q has %q; allowed are [a-zA-Z0-9_-]", t, c)}
		}
	}
	return nil
}

func isNameAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// parse parses and checks both prefixes, returning them with the default
// timestamp appended where Firehose appends it.
func (k KeyLayout) parse() (prefix, errPrefix keyTemplate, err error) {
	prefix, err = parseTemplate("Prefix", k.Prefix, false)
	if err != nil {
		return nil, nil, err
	}
	errPrefix, err = parseTemplate("ErrorOutputPrefix", k.ErrorOutputPrefix, true)
	if err != nil {
		return nil, nil, err
	}
	if prefix.has(partExpression) {
		if k.ErrorOutputPrefix == "" {
			return nil, nil, &shardlog.ArgumentError{Field: "ErrorOutputPrefix", Reason: "is required when Prefix has expressions"}
		}
		if !errPrefix.has(partErrorOutputType) {
			return nil, nil, &shardlog.ArgumentError{Field: "ErrorOutputPrefix", Reason: "must contain !{firehose:error-output-type} when Prefix has expressions"}
		}
	}
	if k.ErrorOutputPrefix == "" {
		// <Prefix><error-output-type>/yyyy/MM/dd/HH/ (Prefix has no
		// expressions here).
		errPrefix = keyTemplate{
			{kind: partLiteral, text: k.Prefix},
			{kind: partErrorOutputType},
			{kind: partLiteral, text: "/"},
		}
	}
	if !prefix.has(partTimestamp) {
		prefix = append(prefix, defaultTimestamp())
	}
	if !errPrefix.has(partTimestamp) {
		errPrefix = append(errPrefix, defaultTimestamp())
	}
	return prefix, errPrefix, nil
}

// keyTemplate is a parsed prefix: literal text and expressions.
type keyTemplate []keyPart

type keyPartKind int

const (
	partLiteral keyPartKind = iota
	partTimestamp
	partRandomString
	partErrorOutputType
	// partExpression is not a kind of part: has(partExpression) asks
	// whether any part is an expression.
	partExpression
)

type keyPart struct {
	kind   keyPartKind
	text   string            // partLiteral
	layout []javaTimeElement // partTimestamp
}

func (t keyTemplate) has(kind keyPartKind) bool {
	for _, p := range t {
		if p.kind == kind || kind == partExpression && p.kind != partLiteral {
			return true
		}
	}
	return false
}

func defaultTimestamp() keyPart {
	layout, err := parseJavaTimePattern("Prefix", "yyyy/MM/dd/HH/")
	if err != nil {
		panic(err) // a constant pattern
	}
	return keyPart{kind: partTimestamp, layout: layout}
}

// parseTemplate parses a prefix given as field.
func parseTemplate(field, s string, errorPrefix bool) (keyTemplate, error) {
	if n := utf8.RuneCountInString(s); n > MaxPrefixLength {
		return nil, &shardlog.ArgumentError{Field: field, Reason: fmt.Sprintf("length %d exceeds %d characters", n, MaxPrefixLength)}
	}
	if !utf8.ValidString(s) {
		return nil, &shardlog.ArgumentError{Field: field, Reason: "is not valid UTF-8"}
	}
	var t keyTemplate
	for s != "" {
		i := strings.Index(s, "!{")
		if i < 0 {
			t = append(t, keyPart{kind: partLiteral, text: s})
			break
		}
		if i > 0 {
			t = append(t, keyPart{kind: partLiteral, text: s[:i]})
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, &shardlog.ArgumentError{Field: field, Reason: fmt.Sprintf("unterminated expression %q: \"!{\" may only start an expression !{namespace:value}", clipText(s[i:], 40))}
		}
		expr := s[i+2 : i+end]
		p, err := parseExpression(field, expr, errorPrefix)
		if err != nil {
			return nil, err
		}
		t = append(t, p)
		s = s[i+end+1:]
	}
	return t, nil
}

func parseExpression(field, expr string, errorPrefix bool) (keyPart, error) {
	bad := func(format string, args ...any) (keyPart, error) {
		return keyPart{}, &shardlog.ArgumentError{Field: field, Reason: fmt.Sprintf("expression !{%s}: ", clipText(expr, 40)) + fmt.Sprintf(format, args...)}
	}
	ns, value, ok := strings.Cut(expr, ":")
	if !ok {
		return bad("not of the form !{namespace:value}; \"!{\" may only start an expression")
	}
	switch ns {
	case "timestamp":
		if value == "" {
			return bad("empty timestamp pattern")
		}
		layout, err := parseJavaTimePattern(field, value)
		if err != nil {
			return keyPart{}, err
		}
		return keyPart{kind: partTimestamp, layout: layout}, nil
	case "firehose":
		switch value {
		case "random-string":
			return keyPart{kind: partRandomString}, nil
		case "error-output-type":
			if !errorPrefix {
				return bad("error-output-type is only valid in ErrorOutputPrefix")
			}
			return keyPart{kind: partErrorOutputType}, nil
		}
		return bad("unknown firehose value %q; want random-string or error-output-type", clipText(value, 40))
	case "partitionKeyFromQuery", "partitionKeyFromLambda":
		return bad("dynamic partitioning is not supported")
	}
	return bad("unknown namespace %q; want timestamp or firehose", clipText(ns, 40))
}

// eval evaluates the keyTemplate for a key whose oldest record arrived at t
// (UTC), with random strings derived from seed.
func (t keyTemplate) eval(field string, at time.Time, seed string, outputType OutputType) (string, error) {
	var sb strings.Builder
	random := 0
	for _, p := range t {
		switch p.kind {
		case partLiteral:
			sb.WriteString(p.text)
		case partTimestamp:
			formatJavaTime(&sb, p.layout, at)
		case partRandomString:
			sb.WriteString(randomString(seed, random))
			random++
		case partErrorOutputType:
			sb.WriteString(string(outputType))
		}
	}
	s := sb.String()
	if n := utf8.RuneCountInString(s); n > MaxEvaluatedPrefixLength {
		return "", &shardlog.ArgumentError{Field: field, Reason: fmt.Sprintf("evaluates to %d characters; the limit is %d", n, MaxEvaluatedPrefixLength)}
	}
	return s, nil
}

// randomString is use n's !{firehose:random-string} for seed: 11
// characters of [a-z0-9].
func randomString(seed string, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	h := sha256.New()
	h.Write([]byte("random-string\x00"))
	h.Write([]byte(seed))
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], uint64(n))
	h.Write(idx[:])
	sum := h.Sum(nil)
	out := make([]byte, randomStringLength)
	for i := range out {
		out[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(out)
}

// javaTimeElement is one element of a timestamp pattern: a field (letter and
// count) or literal text.
type javaTimeElement struct {
	letter byte
	count  int
	text   string // letter == 0
}

// parseJavaTimePattern parses the supported subset of Java's
// DateTimeFormatter patterns.
func parseJavaTimePattern(field, pattern string) ([]javaTimeElement, error) {
	bad := func(format string, args ...any) ([]javaTimeElement, error) {
		return nil, &shardlog.ArgumentError{Field: field, Reason: fmt.Sprintf("timestamp pattern %q: ", clipText(pattern, 40)) + fmt.Sprintf(format, args...)}
	}
	maxCount := map[byte]int{'y': 9, 'M': 4, 'd': 2, 'H': 2, 'm': 2, 's': 2, 'S': 9}
	var out []javaTimeElement
	lit := func(s string) {
		if n := len(out); n > 0 && out[n-1].letter == 0 {
			out[n-1].text += s
			return
		}
		out = append(out, javaTimeElement{text: s})
	}
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			n := 1
			for i+n < len(pattern) && pattern[i+n] == c {
				n++
			}
			m, ok := maxCount[c]
			if !ok {
				return bad("pattern letter %q is not supported; supported are y M d H m s S", c)
			}
			if n > m {
				return bad("too many pattern letters %q (%d; at most %d)", c, n, m)
			}
			out = append(out, javaTimeElement{letter: c, count: n})
			i += n
		case c == '\'':
			if i+1 < len(pattern) && pattern[i+1] == '\'' {
				lit("'")
				i += 2
				continue
			}
			var sb strings.Builder
			j := i + 1
			for {
				if j >= len(pattern) {
					return bad("unterminated quoted text at offset %d", i)
				}
				if pattern[j] == '\'' {
					if j+1 < len(pattern) && pattern[j+1] == '\'' {
						sb.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				sb.WriteByte(pattern[j])
				j++
			}
			lit(sb.String())
			i = j + 1
		case c >= '0' && c <= '9' || strings.IndexByte("/-_.= ", c) >= 0:
			lit(string(c))
			i++
		default:
			r, _ := utf8.DecodeRuneInString(pattern[i:])
			return bad("character %q is not supported outside quotes; allowed are letters, digits, / - _ . = space and '…'", r)
		}
	}
	return out, nil
}

var javaMonthNames = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// formatJavaTime appends t formatted by layout (DateTimeFormatter semantics).
func formatJavaTime(sb *strings.Builder, layout []javaTimeElement, t time.Time) {
	pad := func(v, width int) {
		s := strconv.Itoa(v)
		for i := len(s); i < width; i++ {
			sb.WriteByte('0')
		}
		sb.WriteString(s)
	}
	for _, e := range layout {
		switch e.letter {
		case 0:
			sb.WriteString(e.text)
		case 'y':
			if e.count == 2 {
				pad(t.Year()%100, 2)
			} else {
				pad(t.Year(), e.count)
			}
		case 'M':
			switch e.count {
			case 3:
				sb.WriteString(javaMonthNames[t.Month()-1][:3])
			case 4:
				sb.WriteString(javaMonthNames[t.Month()-1])
			default:
				pad(int(t.Month()), e.count)
			}
		case 'd':
			pad(t.Day(), e.count)
		case 'H':
			pad(t.Hour(), e.count)
		case 'm':
			pad(t.Minute(), e.count)
		case 's':
			pad(t.Second(), e.count)
		case 'S':
			frac := fmt.Sprintf("%09d", t.Nanosecond())
			sb.WriteString(frac[:e.count])
		}
	}
}

// truncate shortens s for error messages.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
