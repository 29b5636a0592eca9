package delivery

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/shardlog"
)

// keyArrival is the oldest record's arrival in the key tests: 2024-03-05
// 07:08:09.123456789 UTC, given in another zone to check that keys use
// UTC.
var keyArrival = time.Date(2024, 3, 5, 7, 8, 9, 123456789, time.UTC).In(time.FixedZone("UTC+5", 5*3600))

func keyBatch(source, shard string, first uint64, n int) *Batch {
	b := &Batch{
		DeliveryStream: "ds",
		Version:        1,
		Source:         source,
		Shard:          shardlog.Shard{ShardID: shard},
		First:          shardlog.MakeSequenceNumber(first, 1),
	}
	for i := range n {
		b.Records = append(b.Records, shardlog.Record{
			SequenceNumber:              shardlog.MakeSequenceNumber(first+uint64(i), 1),
			ApproximateArrivalTimestamp: keyArrival.Add(time.Duration(i) * time.Minute),
			Data:                        []byte("x"),
		})
	}
	b.Last = b.Records[n-1].SequenceNumber
	return b
}

// nameRE matches the object name after the prefix:
// ds-1-2024-03-05-07-08-09-<32 hex>.json.gz.
const nameRE = `ds-1-2024-03-05-07-08-09-[0-9a-f]{32}\.json\.gz`

// requireFieldError asserts err is a *shardlog.ArgumentError on field whose
// reason contains want.
func requireFieldError(t *testing.T, err error, field, want string) {
	t.Helper()
	require.Error(t, err)
	var ae *shardlog.ArgumentError
	require.True(t, errors.As(err, &ae), "want *shardlog.ArgumentError, got %T: %v", err, err)
	assert.True(t, errors.Is(err, shardlog.ErrInvalidArgument))
	assert.Equal(t, field, ae.Field, "field of %v", err)
	assert.Contains(t, ae.Reason, want)
}

func TestObjectKeyPrefixes(t *testing.T) {
	rnd := `[a-z0-9]{11}`
	tests := []struct {
		name   string
		prefix string
		want   string // regexp of the whole key
	}{
		{"default prefix is the UTC yyyy/MM/dd/HH/", "", `2024/03/05/07/` + nameRE},
		{"literal prefix gets the default timestamp appended", "logs/", `logs/2024/03/05/07/` + nameRE},
		{"literal prefix without slash", "logs", `logs2024/03/05/07/` + nameRE},
		{"a timestamp expression replaces the default", "year=!{timestamp:yyyy}/month=!{timestamp:MM}/", `year=2024/month=03/` + nameRE},
		{"random string only: the timestamp is appended", "r/!{firehose:random-string}/", `r/` + rnd + `/2024/03/05/07/` + nameRE},
		{"two random strings", "!{firehose:random-string}-!{firehose:random-string}/!{timestamp:yyyy}/", rnd + `-` + rnd + `/2024/` + nameRE},
		{"expression at the very end", "a/!{timestamp:HH}", `a/07` + nameRE},
		{"lone ! and { are literal", "a!b{c}/", `a!b\{c\}/2024/03/05/07/` + nameRE},
		{"! just before an expression", "a!!{timestamp:yyyy}/", `a!2024/` + nameRE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := KeyLayout{Prefix: tc.prefix, ErrorOutputPrefix: "err/!{firehose:error-output-type}/"}
			require.NoError(t, k.Validate())
			key, err := k.ObjectKey(keyBatch("orders", "shardId-000000000001", 100, 3), ".json.gz")
			require.NoError(t, err)
			assert.Regexp(t, "^"+tc.want+"$", key)
		})
	}
}

func TestTimestampPatterns(t *testing.T) {
	at := time.Date(2024, 3, 5, 7, 8, 9, 123456789, time.UTC)
	tests := []struct{ pattern, want string }{
		{"yyyy", "2024"},
		{"yy", "24"},
		{"y", "2024"},
		{"yyyyy", "02024"},
		{"MM", "03"},
		{"M", "3"},
		{"MMM", "Mar"},
		{"MMMM", "March"},
		{"dd", "05"},
		{"d", "5"},
		{"HH", "07"},
		{"H", "7"},
		{"mm", "08"},
		{"m", "8"},
		{"ss", "09"},
		{"s", "9"},
		{"SSS", "123"},
		{"S", "1"},
		{"SSSSSSSSS", "123456789"},
		{"yyyy/MM/dd/HH/", "2024/03/05/07/"},
		{"yyyy-MM-dd_HH.mm ss", "2024-03-05_07.08 09"},
		{"'year='yyyy", "year=2024"},
		{"yyyy=2", "2024=2"},
		{"''yyyy''", "'2024'"},
		{"'it''s 'yyyy", "it's 2024"},
		{"'T'HH", "T07"},
		{"'quoted: * ok'", "quoted: * ok"},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			layout, err := parseJavaTimePattern("Prefix", tc.pattern)
			require.NoError(t, err)
			var sb strings.Builder
			formatJavaTime(&sb, layout, at)
			assert.Equal(t, tc.want, sb.String())
		})
	}
	// Two-digit fields at two-digit values, and December.
	late := time.Date(1999, 12, 31, 23, 59, 58, 7_000_000, time.UTC)
	layout, err := parseJavaTimePattern("Prefix", "yy M d H m s SSS MMM")
	require.NoError(t, err)
	var sb strings.Builder
	formatJavaTime(&sb, layout, late)
	assert.Equal(t, "99 12 31 23 59 58 007 Dec", sb.String())
}

func TestTimestampsAreUTCAndShared(t *testing.T) {
	k := KeyLayout{Prefix: "!{timestamp:yyyy-MM-dd'T'HH:mm}/!{timestamp:HH}/", ErrorOutputPrefix: "e/!{firehose:error-output-type}"}
	err := k.Validate()
	requireFieldError(t, err, "Prefix", `character ':'`)

	k.Prefix = "!{timestamp:yyyy-MM-dd'T'HH'h'mm}/!{timestamp:HH.ss.SSS}/"
	b := keyBatch("orders", "shardId-000000000001", 100, 3)
	// The oldest record is the first; later records arrived later.
	key, err := k.ObjectKey(b, "")
	require.NoError(t, err)
	assert.Regexp(t, `^2024-03-05T07h08/07\.09\.123/ds-1-2024-03-05-07-08-09-[0-9a-f]{32}$`, key)
}

func TestObjectKeyIsDerivedFromContentStart(t *testing.T) {
	k := KeyLayout{Prefix: "p/!{firehose:random-string}/!{firehose:random-string}/", ErrorOutputPrefix: "e/!{firehose:error-output-type}/"}
	key := func(b *Batch) string {
		t.Helper()
		s, err := k.ObjectKey(b, ".gz")
		require.NoError(t, err)
		return s
	}
	base := key(keyBatch("orders", "shardId-000000000001", 100, 3))

	// A retry of the same batch, and a retry that covers more records
	// (different Last, same First), get the same key: the object is
	// replaced, not duplicated.
	assert.Equal(t, base, key(keyBatch("orders", "shardId-000000000001", 100, 3)))
	assert.Equal(t, base, key(keyBatch("orders", "shardId-000000000001", 100, 7)))

	// Another First, shard or source stream gets another key.
	others := map[string]string{
		"first":  key(keyBatch("orders", "shardId-000000000001", 101, 3)),
		"shard":  key(keyBatch("orders", "shardId-000000000002", 100, 3)),
		"source": key(keyBatch("payments", "shardId-000000000001", 100, 3)),
	}
	for what, other := range others {
		assert.NotEqual(t, base, other, what)
		// Both random strings change with the content start too.
		assert.NotEqual(t, strings.Split(base, "/")[1], strings.Split(other, "/")[1], what)
		assert.NotEqual(t, strings.Split(base, "/")[2], strings.Split(other, "/")[2], what)
	}

	// The two random strings of one key differ, and are 11 of [a-z0-9].
	parts := strings.Split(base, "/")
	assert.Regexp(t, `^[a-z0-9]{11}$`, parts[1])
	assert.Regexp(t, `^[a-z0-9]{11}$`, parts[2])
	assert.NotEqual(t, parts[1], parts[2])

	// The key is safe as a file path: no empty, "." or ".." element, and
	// only characters of the prefix, the stream name and [0-9a-f-].
	for _, el := range parts {
		assert.NotContains(t, []string{"", ".", ".."}, el)
	}
	assert.Regexp(t, `^[a-zA-Z0-9/._-]+$`, base)
}

func TestObjectKeyVersionAndStreamName(t *testing.T) {
	k := KeyLayout{}
	b := keyBatch("orders", "shardId-000000000001", 100, 1)
	b.Version = 0
	key, err := k.ObjectKey(b, "")
	require.NoError(t, err)
	assert.Contains(t, key, "/ds-1-2024", "version zero is 1")
	b.Version = 7
	key, err = k.ObjectKey(b, "")
	require.NoError(t, err)
	assert.Contains(t, key, "/ds-7-2024")
	b.Version = -1
	_, err = k.ObjectKey(b, "")
	requireFieldError(t, err, "DeliveryStreamVersion", "negative")

	b.Version = 1
	for _, name := range []string{"", "a/b", "../x", strings.Repeat("a", 65), "sp ace"} {
		b.DeliveryStream = name
		_, err := k.ObjectKey(b, "")
		requireFieldError(t, err, "DeliveryStreamName", "")
	}
	b.DeliveryStream = strings.Repeat("a", 64)
	_, err = k.ObjectKey(b, "")
	require.NoError(t, err)
}

func TestKeyLayoutErrors(t *testing.T) {
	const okErr = "e/!{firehose:error-output-type}/"
	tests := []struct {
		name, prefix, errPrefix string
		field, want             string
	}{
		{"error-output-type in Prefix", "a/!{firehose:error-output-type}/", okErr, "Prefix", "only valid in ErrorOutputPrefix"},
		{"partitionKeyFromQuery", "!{partitionKeyFromQuery:customer}/", okErr, "Prefix", "dynamic partitioning is not supported"},
		{"partitionKeyFromLambda", "!{partitionKeyFromLambda:customer}/", okErr, "Prefix", "dynamic partitioning is not supported"},
		{"partitionKeyFromQuery in the error prefix", "", "e/!{firehose:error-output-type}/!{partitionKeyFromQuery:k}", "ErrorOutputPrefix", "dynamic partitioning is not supported"},
		{"unknown namespace", "!{time:yyyy}", okErr, "Prefix", `unknown namespace "time"`},
		{"unknown firehose value", "!{firehose:uuid}", okErr, "Prefix", `unknown firehose value "uuid"`},
		{"no colon", "!{timestamp}", okErr, "Prefix", "not of the form"},
		{"empty expression", "a/!{}/", okErr, "Prefix", "not of the form"},
		{"unterminated", "a/!{timestamp:yyyy", okErr, "Prefix", "unterminated expression"},
		{"unterminated at the end", "a/!{", okErr, "Prefix", "unterminated expression"},
		{"unterminated in the error prefix", "", "e/!{firehose:error-output-type", "ErrorOutputPrefix", "unterminated expression"},
		{"nested !{", "!{timestamp:yyyy!{firehose:random-string}}", okErr, "Prefix", `character '!'`},
		{"empty pattern", "!{timestamp:}", okErr, "Prefix", "empty timestamp pattern"},
		{"unsupported letter", "!{timestamp:yyyy-EEE}", okErr, "Prefix", `pattern letter 'E' is not supported`},
		{"unsupported letter u", "!{timestamp:uuuu}", okErr, "Prefix", `pattern letter 'u' is not supported`},
		{"too many letters", "!{timestamp:ddd}", okErr, "Prefix", `too many pattern letters 'd' (3; at most 2)`},
		{"too many H", "!{timestamp:HHH}", okErr, "Prefix", `too many pattern letters 'H'`},
		{"too many S", "!{timestamp:SSSSSSSSSS}", okErr, "Prefix", `too many pattern letters 'S' (10; at most 9)`},
		{"unsupported character", "!{timestamp:yyyy*MM}", okErr, "Prefix", `character '*'`},
		{"optional section", "!{timestamp:yyyy[MM]}", okErr, "Prefix", `character '['`},
		{"unterminated quote", "!{timestamp:'abc}", okErr, "Prefix", "unterminated quoted text"},
		{"expressions need an error prefix", "!{timestamp:yyyy}/", "", "ErrorOutputPrefix", "is required when Prefix has expressions"},
		{"random string needs an error prefix", "!{firehose:random-string}/", "", "ErrorOutputPrefix", "is required when Prefix has expressions"},
		{"error prefix needs error-output-type", "!{timestamp:yyyy}/", "errors/!{timestamp:yyyy}/", "ErrorOutputPrefix", "must contain !{firehose:error-output-type}"},
		{"literal error prefix without type", "!{timestamp:yyyy}/", "errors/", "ErrorOutputPrefix", "must contain !{firehose:error-output-type}"},
		{"Prefix too long", strings.Repeat("a", MaxPrefixLength+1), "", "Prefix", "length 1025 exceeds 1024 characters"},
		{"ErrorOutputPrefix too long", "", strings.Repeat("a", MaxPrefixLength+1), "ErrorOutputPrefix", "length 1025 exceeds 1024 characters"},
		{"invalid UTF-8", "a\xff/", "", "Prefix", "not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := KeyLayout{Prefix: tc.prefix, ErrorOutputPrefix: tc.errPrefix}
			requireFieldError(t, k.Validate(), tc.field, tc.want)
			// Making a key fails the same way.
			_, err := k.ObjectKey(keyBatch("orders", "shardId-000000000001", 100, 1), "")
			requireFieldError(t, err, tc.field, tc.want)
			_, err = k.ErrorKey("ds", 1, ProcessingFailed, keyArrival, "seed", "")
			requireFieldError(t, err, tc.field, tc.want)
		})
	}
}

func TestKeyLayoutValid(t *testing.T) {
	for _, k := range []KeyLayout{
		{},
		{Prefix: "logs/"},
		{Prefix: "logs/", ErrorOutputPrefix: "errors/"},
		{Prefix: "", ErrorOutputPrefix: "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/"},
		{Prefix: "!{timestamp:yyyy}/", ErrorOutputPrefix: "e/!{firehose:error-output-type}/"},
		{Prefix: strings.Repeat("a", MaxPrefixLength), ErrorOutputPrefix: strings.Repeat("b", MaxPrefixLength)},
		{Prefix: strings.Repeat("é", MaxPrefixLength)}, // characters, not bytes
	} {
		assert.NoError(t, k.Validate(), "%+v", k)
	}
}

func TestEvaluatedPrefixLimit(t *testing.T) {
	b := keyBatch("orders", "shardId-000000000001", 100, 1)
	const ts = "2024/03/05/07/" // the appended default, 14 characters
	tests := []struct {
		name   string
		k      KeyLayout
		length int // evaluated length
	}{
		{"literal + default at 512", KeyLayout{Prefix: strings.Repeat("a", 512-len(ts))}, 512},
		{"literal + default at 513", KeyLayout{Prefix: strings.Repeat("a", 513-len(ts))}, 513},
		{"expression at 512", KeyLayout{Prefix: "!{timestamp:yyyy}" + strings.Repeat("a", 508), ErrorOutputPrefix: "e/!{firehose:error-output-type}/"}, 512},
		{"expression at 513", KeyLayout{Prefix: "!{timestamp:yyyy}" + strings.Repeat("a", 509), ErrorOutputPrefix: "e/!{firehose:error-output-type}/"}, 513},
		{"random strings at 512", KeyLayout{Prefix: strings.Repeat("!{firehose:random-string}", 30) + strings.Repeat("a", 512-330-len(ts)), ErrorOutputPrefix: "e/!{firehose:error-output-type}/"}, 512},
		{"random strings at 513", KeyLayout{Prefix: strings.Repeat("!{firehose:random-string}", 30) + strings.Repeat("a", 513-330-len(ts)), ErrorOutputPrefix: "e/!{firehose:error-output-type}/"}, 513},
		{"a long pattern expands past the limit", KeyLayout{Prefix: strings.Repeat("!{timestamp:MMMM}", 60) + "/", ErrorOutputPrefix: "e/!{firehose:error-output-type}/"}, 60*5 + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.k.Validate(), "Validate checks only the unevaluated length")
			key, err := tc.k.ObjectKey(b, ".gz")
			if tc.length <= MaxEvaluatedPrefixLength {
				require.NoError(t, err)
				assert.Len(t, strings.TrimSuffix(key, key[strings.LastIndex(key, "ds-1-"):]), tc.length)
				return
			}
			requireFieldError(t, err, "Prefix", fmt.Sprintf("evaluates to %d characters; the limit is 512", tc.length))
		})
	}

	// 512 characters of two bytes each: the prefix is within the limit,
	// but the key would pass S3's 1024 bytes.
	k := KeyLayout{Prefix: strings.Repeat("é", 512-len(ts))}
	_, err := k.ObjectKey(b, ".gz")
	requireFieldError(t, err, "Prefix", "the object key would be")
	k = KeyLayout{Prefix: strings.Repeat("é", 300)}
	key, err := k.ObjectKey(b, ".gz")
	require.NoError(t, err)
	assert.LessOrEqual(t, len(key), MaxKeyLength)
}

func TestErrorKey(t *testing.T) {
	name := `ds-1-2024-03-05-07-08-09-[0-9a-f]{32}\.gz`
	tests := []struct {
		name string
		k    KeyLayout
		want string
	}{
		{"no prefixes", KeyLayout{}, `processing-failed/2024/03/05/07/` + name},
		{"literal Prefix", KeyLayout{Prefix: "logs/"}, `logs/processing-failed/2024/03/05/07/` + name},
		{"literal Prefix is used literally", KeyLayout{Prefix: "a!b{c}"}, `a!b\{c\}processing-failed/2024/03/05/07/` + name},
		{"error prefix with type and timestamp", KeyLayout{Prefix: "!{timestamp:yyyy}/", ErrorOutputPrefix: "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM}/"}, `errors/processing-failed/2024/03/` + name},
		{"error prefix without timestamp gets the default", KeyLayout{Prefix: "!{timestamp:yyyy}/", ErrorOutputPrefix: "errors/!{firehose:error-output-type}/"}, `errors/processing-failed/2024/03/05/07/` + name},
		{"literal error prefix", KeyLayout{Prefix: "logs/", ErrorOutputPrefix: "errors/"}, `errors/2024/03/05/07/` + name},
		{"random string in the error prefix", KeyLayout{ErrorOutputPrefix: "e/!{firehose:random-string}/!{firehose:error-output-type}/"}, `e/[a-z0-9]{11}/processing-failed/2024/03/05/07/` + name},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.k.Validate())
			key, err := tc.k.ErrorKey("ds", 1, ProcessingFailed, keyArrival, "orders/shardId-000000000001/100", ".gz")
			require.NoError(t, err)
			assert.Regexp(t, "^"+tc.want+"$", key)

			again, err := tc.k.ErrorKey("ds", 1, ProcessingFailed, keyArrival, "orders/shardId-000000000001/100", ".gz")
			require.NoError(t, err)
			assert.Equal(t, key, again, "the same seed gives the same key")
			other, err := tc.k.ErrorKey("ds", 1, ProcessingFailed, keyArrival, "orders/shardId-000000000001/101", ".gz")
			require.NoError(t, err)
			assert.NotEqual(t, key, other, "another seed gives another key")
			conv, err := tc.k.ErrorKey("ds", 1, FormatConversionFailed, keyArrival, "orders/shardId-000000000001/100", ".gz")
			require.NoError(t, err)
			assert.NotEqual(t, key, conv, "another output type gives another key, even with no type in the prefix")
		})
	}

	k := KeyLayout{ErrorOutputPrefix: "e/!{firehose:error-output-type}/"}
	for _, typ := range []OutputType{"", "a/b", "..", OutputType(strings.Repeat("x", 65))} {
		_, err := k.ErrorKey("ds", 1, typ, keyArrival, "s", "")
		requireFieldError(t, err, "OutputType", "")
	}
	key, err := k.ErrorKey("ds", 1, DeliveryFailed, keyArrival, "s", "")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(key, "e/delivery-failed/2024/03/05/07/ds-1-"), key)
}

func TestErrorKeyEvaluatedLimit(t *testing.T) {
	const ts = "2024/03/05/07/"
	// Default error prefix: <Prefix><type>/<timestamp>.
	fixed := len("processing-failed/") + len(ts)
	k := KeyLayout{Prefix: strings.Repeat("a", 512-fixed)}
	_, err := k.ErrorKey("ds", 1, ProcessingFailed, keyArrival, "s", "")
	require.NoError(t, err)
	k = KeyLayout{Prefix: strings.Repeat("a", 513-fixed)}
	_, err = k.ErrorKey("ds", 1, ProcessingFailed, keyArrival, "s", "")
	requireFieldError(t, err, "ErrorOutputPrefix", "evaluates to 513 characters; the limit is 512")

	// A given error prefix, at and past the edge.
	fixed = len("processing-failed") + len(ts)
	k = KeyLayout{ErrorOutputPrefix: "!{firehose:error-output-type}" + strings.Repeat("b", 512-fixed)}
	_, err = k.ErrorKey("ds", 1, ProcessingFailed, keyArrival, "s", "")
	require.NoError(t, err)
	k = KeyLayout{ErrorOutputPrefix: "!{firehose:error-output-type}" + strings.Repeat("b", 513-fixed)}
	_, err = k.ErrorKey("ds", 1, ProcessingFailed, keyArrival, "s", "")
	requireFieldError(t, err, "ErrorOutputPrefix", "evaluates to 513 characters")
	// The length depends on the type: a longer type passes the limit.
	k = KeyLayout{ErrorOutputPrefix: "!{firehose:error-output-type}" + strings.Repeat("b", 512-fixed)}
	_, err = k.ErrorKey("ds", 1, FormatConversionFailed, keyArrival, "s", "")
	requireFieldError(t, err, "ErrorOutputPrefix", "evaluates to")
}

func TestKeySeed(t *testing.T) {
	b := keyBatch("orders", "shardId-000000000001", 100, 2)
	assert.Equal(t, "orders/shardId-000000000001/"+b.First.String(), b.KeySeed())
	c := keyBatch("orders", "shardId-000000000001", 100, 5)
	assert.Equal(t, b.KeySeed(), c.KeySeed(), "Last does not change the seed")
}

func TestRandomStringDistribution(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9]{11}$`)
	seen := map[string]bool{}
	for i := range 1000 {
		s := randomString("seed", i)
		require.Regexp(t, valid, s)
		require.False(t, seen[s], "repeated random string %q", s)
		seen[s] = true
	}
}

func ExampleKeyLayout_ObjectKey() {
	k := KeyLayout{
		Prefix:            "events/!{timestamp:yyyy/MM/dd}/",
		ErrorOutputPrefix: "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/",
	}
	b := &Batch{
		DeliveryStream: "orders-archive",
		Version:        1,
		Source:         "orders",
		Shard:          shardlog.Shard{ShardID: "shardId-000000000000"},
		First:          shardlog.MakeSequenceNumber(1700000000000000, 0),
		Records: []shardlog.Record{{
			ApproximateArrivalTimestamp: time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC),
			Data:                        []byte("{}\n"),
		}},
	}
	key, _ := k.ObjectKey(b, ".json.gz")
	fmt.Println(key[:len(key)-len("0123456789abcdef0123456789abcdef.json.gz")] + "…")
	errKey, _ := k.ErrorKey(b.DeliveryStream, b.Version, ProcessingFailed, b.OldestArrival(), b.KeySeed(), ".json.gz")
	fmt.Println(errKey[:strings.LastIndex(errKey, "-")+1] + "…")
	// Output:
	// events/2024/03/05/orders-archive-1-2024-03-05-07-08-09-…
	// errors/processing-failed/2024/03/05/orders-archive-1-2024-03-05-07-08-09-…
}
