package firehose

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shoal-dev/shoal/delivery"
)

// Firehose's limits on names and configurations.
const (
	maxNameLength    = 64
	maxPrefixLength  = 1024
	maxTags          = 50
	maxTagKeyLength  = 128
	maxTagValueLen   = 256
	minSizeInMBs     = 1
	maxSizeInMBs     = 128
	maxIntervalSecs  = 900
	defaultSizeInMBs = 5
	defaultInterval  = 300
	maxListLimit     = 10000
	defaultListLimit = 10
)

// The delivery stream types.
const (
	typeDirectPut     = "DirectPut"
	typeKinesisSource = "KinesisStreamAsSource"
)

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

// checkName validates a delivery stream name: 1-64 characters of
// [a-zA-Z0-9_.-].
func checkName(field string, p *string) (string, error) {
	if p == nil || *p == "" {
		return "", invalidArg(field, "is required (1-%d characters of [a-zA-Z0-9_.-])", maxNameLength)
	}
	name := *p
	if len(name) > maxNameLength {
		return "", invalidArg(field, "%q is %d characters long; the limit is %d", truncate(name, 80), len(name), maxNameLength)
	}
	if !namePattern.MatchString(name) {
		return "", invalidArg(field, "%q has characters outside [a-zA-Z0-9_.-]", truncate(name, 80))
	}
	return name, nil
}

// bucketFromARN parses arn:PARTITION:s3:::BUCKET.
func bucketFromARN(field, arn string) (string, error) {
	const form = "arn:aws:s3:::BUCKET"
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "s3" || parts[3] != "" || parts[4] != "" {
		return "", invalidArg(field, "%q is not a bucket ARN (%s)", truncate(arn, 256), form)
	}
	bucket := parts[5]
	if !bucketPattern.MatchString(bucket) || strings.Contains(bucket, "..") {
		return "", invalidArg(field, "%q is not a bucket name (3-63 characters of [a-z0-9.-], starting and ending with a letter or digit)", truncate(bucket, 80))
	}
	return bucket, nil
}

var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// kinesisStreamFromARN parses arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME.
func kinesisStreamFromARN(field, arn string) (string, error) {
	const form = "arn:aws:kinesis:REGION:ACCOUNT:stream/NAME"
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "kinesis" || parts[3] == "" || parts[4] == "" {
		return "", invalidArg(field, "%q is not a Kinesis stream ARN (%s)", truncate(arn, 256), form)
	}
	name, ok := strings.CutPrefix(parts[5], "stream/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", invalidArg(field, "%q is not a Kinesis stream ARN (%s)", truncate(arn, 256), form)
	}
	return name, nil
}

// checkBuffering validates BufferingHints (both members or neither; size
// 1-128 MiB, interval 0-900 s) and returns them with the defaults filled
// in.
func checkBuffering(field string, h *bufferingHints) (size, interval int32, err error) {
	if h == nil || (h.SizeInMBs == nil && h.IntervalInSeconds == nil) {
		return defaultSizeInMBs, defaultInterval, nil
	}
	if h.SizeInMBs == nil || h.IntervalInSeconds == nil {
		return 0, 0, invalidArg(field, "SizeInMBs and IntervalInSeconds go together: set both or neither")
	}
	if s := *h.SizeInMBs; s < minSizeInMBs || s > maxSizeInMBs {
		return 0, 0, invalidArg(field+".SizeInMBs", "%d is out of range: %d-%d MiB", s, minSizeInMBs, maxSizeInMBs)
	}
	if i := *h.IntervalInSeconds; i < 0 || i > maxIntervalSecs {
		return 0, 0, invalidArg(field+".IntervalInSeconds", "%d is out of range: 0-%d seconds", i, maxIntervalSecs)
	}
	return *h.SizeInMBs, *h.IntervalInSeconds, nil
}

// checkCompression validates CompressionFormat; absent is UNCOMPRESSED,
// as Firehose's default. Shoal writes UNCOMPRESSED, GZIP and ZSTD.
func checkCompression(field string, p *string, allowed ...delivery.Compression) (delivery.Compression, error) {
	if p == nil || *p == "" {
		return delivery.Uncompressed, nil
	}
	c, err := delivery.ParseCompression(*p)
	if err == nil && (len(allowed) == 0 || contains(allowed, c)) {
		return c, nil
	}
	names := []string{"UNCOMPRESSED", "GZIP", "ZSTD"}
	if len(allowed) > 0 {
		names = names[:0]
		for _, a := range allowed {
			names = append(names, string(a))
		}
	}
	return "", invalidArg(field, "%q is not supported: use one of %s", truncate(*p, 40), strings.Join(names, ", "))
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkProcessing refuses data processing: Lambda processors cannot run
// in Shoal's server.
func checkProcessing(field string, p *processingConfiguration) error {
	if p == nil {
		return nil
	}
	if (p.Enabled == nil || *p.Enabled) && len(p.Processors) > 0 {
		return invalidArg(field, "data processing (%s processors) is not supported over the wire; configure a Go transform (delivery.Config.Transform) instead", p.Processors[0].Type)
	}
	if p.Enabled != nil && *p.Enabled {
		return invalidArg(field, "data processing is not supported over the wire; configure a Go transform (delivery.Config.Transform) instead")
	}
	return nil
}

// checkPrefix validates a Prefix or ErrorOutputPrefix's length.
func checkPrefix(field string, p *string) (string, error) {
	if p == nil {
		return "", nil
	}
	if n := utf8.RuneCountInString(*p); n > maxPrefixLength {
		return "", invalidArg(field, "is %d characters long; the limit is %d", n, maxPrefixLength)
	}
	return *p, nil
}

// tagChar reports whether r may appear in a tag key or value:
// [\p{L}\p{Z}\p{N}_.:/=+\-@%].
func tagChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.In(r, unicode.Z) || unicode.IsNumber(r) || strings.ContainsRune("_.:/=+-@%", r)
}

// checkTag validates a tag with Firehose's rules: a key of 1-128
// characters not starting with "aws:", a value of 0-256, both of
// letters, spaces, digits and _.:/=+-@%.
func checkTag(field string, t tag) (key, value string, err error) {
	if t.Key == nil || *t.Key == "" {
		return "", "", invalidArg(field+".Key", "is required (1-%d characters)", maxTagKeyLength)
	}
	key = *t.Key
	if n := utf8.RuneCountInString(key); n > maxTagKeyLength {
		return "", "", invalidArg(field+".Key", "is %d characters long; the limit is %d", n, maxTagKeyLength)
	}
	if strings.HasPrefix(key, "aws:") {
		return "", "", invalidArg(field+".Key", "%q: the prefix aws: is reserved", truncate(key, 80))
	}
	if i := strings.IndexFunc(key, func(r rune) bool { return !tagChar(r) }); i >= 0 || !utf8.ValidString(key) {
		return "", "", invalidArg(field+".Key", "%q has characters outside letters, spaces, digits and _.:/=+-@%%", truncate(key, 80))
	}
	if t.Value != nil {
		value = *t.Value
	}
	if n := utf8.RuneCountInString(value); n > maxTagValueLen {
		return "", "", invalidArg(field+".Value", "is %d characters long; the limit is %d", n, maxTagValueLen)
	}
	if i := strings.IndexFunc(value, func(r rune) bool { return !tagChar(r) }); i >= 0 || !utf8.ValidString(value) {
		return "", "", invalidArg(field+".Value", "%q has characters outside letters, spaces, digits and _.:/=+-@%%", truncate(value, 80))
	}
	return key, value, nil
}

// truncate shortens s to n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// versionID is VersionId's text.
func versionID(v int) string { return fmt.Sprint(v) }

// The limits of a Redshift destination's DataTableName, the PostgreSQL
// archive's: its index and error table names are derived from the
// table's, within PostgreSQL's 63 bytes.
const (
	maxTableLength  = 48
	maxSchemaLength = 63
)

// tablePattern is a lower-cased DataTableName.
var tablePattern = regexp.MustCompile(`^([a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,47}$`)
