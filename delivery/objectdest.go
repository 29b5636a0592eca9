package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// ObjectOptions configure an ObjectDestination, and tell an ObjectArchive
// where the destination's index is.
type ObjectOptions struct {
	// Layout names the data and error objects (Firehose's prefixes).
	Layout KeyLayout
	// Format encodes a batch; nil: JSONLines(nil). Only JSONLines
	// objects can be read back by ObjectArchive.
	Format Format
	// Compression compresses data and error objects; zero: GZIP.
	Compression Compression
	// IndexPrefix is where the sidecar and catalog objects go (zero:
	// DefaultIndexPrefix). It should not overlap Layout's prefixes, so
	// that listing data objects does not list index objects.
	IndexPrefix string
	// NoIndex writes only the data objects, as Firehose does: no sidecar
	// or catalog objects, so ObjectArchive cannot read the destination
	// back. For buckets that other tools own (the Firehose wire API).
	NoIndex bool
	// DeliveryStream and Version name error objects (DeliverFailed gets no
	// batch to take them from); zero: the failed records' source stream
	// and 1.
	DeliveryStream string
	Version        int
	// Now is the clock that names error objects whose records carry no
	// arrival time (nil: time.Now).
	Now func() time.Time
}

// withDefaults fills in the zero fields.
func (o ObjectOptions) withDefaults() ObjectOptions {
	if o.Format == nil {
		o.Format = JSONLines(nil)
	}
	if o.Compression == "" {
		o.Compression = GZIP
	}
	if o.IndexPrefix == "" {
		o.IndexPrefix = DefaultIndexPrefix
	}
	if o.Version == 0 {
		o.Version = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// ObjectDestination delivers batches to an ObjectStore as Firehose
// delivers to S3: one data object per batch, encoded by the Format and
// compressed, at Layout.ObjectKey. Beside each data object it writes a
// small sidecar index object, and per shard a catalog object, under
// IndexPrefix; ObjectArchive reads the archive back through them.
//
// For source stream S, shard H and a batch starting at sequence number
// First, Deliver writes, in this order:
//
//  1. the catalog <IndexPrefix>S/H/shard.json (the shard's parents, hash
//     key range, closed flag and ending sequence number, from b.Shard),
//     only when it differs from what this destination last wrote there;
//  2. the data object, at Layout.ObjectKey(b, Format.Extension() +
//     Compression.Extension());
//  3. the sidecar <IndexPrefix>S/H/<First>.json (First zero-padded to 39
//     digits, so that lexical order is numeric order): the data object's
//     key, First, Last, the record count, format, compression, and every
//     partition key in the object with its first and last sequence number
//     and record count.
//
// Retries replace and never duplicate. The data object's key depends only
// on the batch's delivery stream, version, shard, First and oldest
// arrival (KeyLayout.ObjectKey), and the sidecar's only on the source,
// shard and First. So a retried batch (after a crash between delivery and
// checkpoint) that starts at the same First replaces the data object and
// the sidecar of the first attempt, even when it ends at a different Last;
// readers through the index (ObjectArchive) see each record once. A data
// object uploaded before a crash whose sidecar was never written is
// invisible to those readers, and is replaced by the retry's upload, whose
// key is the same. A reader that lists data objects directly, bypassing
// the index, may briefly see such an object before the retry replaces
// it, but never two objects for one First.
//
// ObjectDestination is also an ErrorOutput: DeliverFailed writes failed
// records as JSON lines, compressed, at Layout.ErrorKey.
//
// It is safe for concurrent use by the shards of a delivery stream.
type ObjectDestination struct {
	store ObjectStore
	opts  ObjectOptions

	mu       sync.Mutex
	catalogs map[string]shardCatalog // catalog key → what was last written there
}

var (
	_ Destination = (*ObjectDestination)(nil)
	_ ErrorOutput = (*ObjectDestination)(nil)
	_ ShardCloser = (*ObjectDestination)(nil)
)

// NewObjectDestination returns a destination writing to store. It checks
// the layout, that the compression is supported, that the Format accepts
// it (when the Format is a CompressionChecker: Parquet refuses anything
// but Uncompressed, with its typed error), that IndexPrefix is empty or
// ends in '/', and that DeliveryStream (if set) is a delivery stream name
// and Version is not negative.
func NewObjectDestination(store ObjectStore, opts ObjectOptions) (*ObjectDestination, error) {
	if store == nil {
		return nil, &shardlog.ArgumentError{Field: "store", Reason: "must not be nil"}
	}
	opts = opts.withDefaults()
	if err := opts.Layout.Validate(); err != nil {
		return nil, err
	}
	if err := checkCompression(opts.Compression); err != nil {
		return nil, err
	}
	if cc, ok := opts.Format.(CompressionChecker); ok {
		if err := cc.CheckCompression(opts.Compression); err != nil {
			return nil, err
		}
	}
	if !strings.HasSuffix(opts.IndexPrefix, "/") {
		return nil, &shardlog.ArgumentError{Field: "IndexPrefix", Reason: fmt.Sprintf("%q must end with '/'", opts.IndexPrefix)}
	}
	if opts.DeliveryStream != "" {
		if err := checkDeliveryStreamName(opts.DeliveryStream); err != nil {
			return nil, err
		}
	}
	if opts.Version < 0 {
		return nil, &shardlog.ArgumentError{Field: "Version", Reason: fmt.Sprintf("%d is negative; versions start at 1", opts.Version)}
	}
	return &ObjectDestination{store: store, opts: opts, catalogs: map[string]shardCatalog{}}, nil
}

// checkCompression reports whether c can compress.
func checkCompression(c Compression) error {
	w, err := c.writer(io.Discard)
	if err != nil {
		return &shardlog.ArgumentError{Field: "Compression", Reason: err.Error()}
	}
	return w.Close()
}

// Options returns the destination's options, defaults filled in: what
// NewObjectArchive needs to read it back.
func (d *ObjectDestination) Options() ObjectOptions { return d.opts }

// Deliver implements Destination; see ObjectDestination for the objects
// it writes and why a retry does not duplicate. A batch without records
// writes only the catalog (the runtime does not deliver such batches: a
// transform that dropped every record moves the checkpoint on, and a
// shard's end is recorded by CloseShard).
//
// When the Format fails some records with a *ConversionError (Parquet's
// row conversion), Deliver writes those records to the error output
// (DeliverFailed, FormatConversionFailed, ErrorCode CodeConversionFailed
// and the Format's message) and the others to the data object, whose key
// and sidecar range stay the whole batch's; if every record failed, no
// data object is written. Any other Encode error fails the delivery.
func (d *ObjectDestination) Deliver(ctx context.Context, b *Batch) error {
	if err := checkBatch(b); err != nil {
		return err
	}
	if !d.opts.NoIndex {
		if err := d.writeCatalog(ctx, b); err != nil {
			return err
		}
	}
	if len(b.Records) == 0 {
		return nil
	}
	// The key is the whole batch's, before any record fails conversion.
	key, err := d.opts.Layout.ObjectKey(b, d.opts.Format.Extension()+d.opts.Compression.Extension())
	if err != nil {
		return err
	}
	body, b, err := d.encode(ctx, b)
	if err != nil {
		return err
	}
	if len(b.Records) == 0 {
		return nil // every record failed conversion
	}
	if err := d.store.Put(ctx, key, body); err != nil {
		return fmt.Errorf("delivery: deliver %s/%s from %s: %w", b.Source, b.Shard.ShardID, b.First, err)
	}
	if d.opts.NoIndex {
		return nil
	}
	sc, err := json.Marshal(d.sidecarOf(b, key))
	if err != nil {
		return err
	}
	scKey := sidecarKeyOf(d.opts.IndexPrefix, b.Source, b.Shard.ShardID, b.First)
	if err := d.store.Put(ctx, scKey, sc); err != nil {
		return fmt.Errorf("delivery: deliver %s/%s from %s: index: %w", b.Source, b.Shard.ShardID, b.First, err)
	}
	return nil
}

// CodeConversionFailed is the ErrorCode of records the Format could not
// convert (a *ConversionError), which ObjectDestination writes to its
// error output as FormatConversionFailed.
const CodeConversionFailed = "Format.ConversionFailed"

// encode encodes and compresses b. When the Format fails some records with
// a *ConversionError, it writes them to the destination's error output as
// FormatConversionFailed (the error object's key derives from its
// content, so a retry replaces it) and encodes the rest: the batch
// returned is b without them (First and Last unchanged), possibly empty.
func (d *ObjectDestination) encode(ctx context.Context, b *Batch) ([]byte, *Batch, error) {
	var body bytes.Buffer
	body.Grow(b.Bytes/2 + 4096)
	var failed []FailedRecord
	for {
		body.Reset()
		err := encodeCompressed(&body, d.opts.Compression, func(w io.Writer) error { return d.opts.Format.Encode(w, b) })
		var ce *ConversionError
		if err == nil || !errors.As(err, &ce) || len(ce.Failures) == 0 {
			if err != nil {
				return nil, nil, fmt.Errorf("delivery: encode %s/%s from %s: %w", b.Source, b.Shard.ShardID, b.First, err)
			}
			break
		}
		var rest *Batch
		var now time.Time
		rest, failed, err = splitConversionFailures(b, ce, failed, &now)
		if err != nil {
			return nil, nil, fmt.Errorf("delivery: encode %s/%s from %s: %w", b.Source, b.Shard.ShardID, b.First, err)
		}
		b = rest
		if len(b.Records) == 0 {
			break
		}
	}
	if len(failed) > 0 {
		if err := d.DeliverFailed(ctx, FormatConversionFailed, failed); err != nil {
			return nil, nil, err
		}
	}
	return body.Bytes(), b, nil
}

// splitConversionFailures returns b without the records ce names, and
// failed with them appended as error records. now is set on first use.
func splitConversionFailures(b *Batch, ce *ConversionError, failed []FailedRecord, now *time.Time) (*Batch, []FailedRecord, error) {
	bad := make(map[int]error, len(ce.Failures))
	for _, f := range ce.Failures {
		if f.Index < 0 || f.Index >= len(b.Records) || b.Records[f.Index].SequenceNumber != f.SequenceNumber {
			return nil, nil, fmt.Errorf("the format reported a conversion failure at record %d (sequence number %s), which is not in the batch: %w", f.Index, f.SequenceNumber, ce)
		}
		bad[f.Index] = f.Err
	}
	if now.IsZero() {
		*now = time.Now()
	}
	rest := *b
	rest.Records = make([]shardlog.Record, 0, len(b.Records)-len(bad))
	rest.Bytes = 0
	for i, r := range b.Records {
		err, isBad := bad[i]
		if !isBad {
			rest.Records = append(rest.Records, r)
			rest.Bytes += len(r.Data)
			continue
		}
		msg := "the format could not convert the record"
		if err != nil {
			msg = err.Error()
		}
		failed = append(failed, failedRecord(b, r, 1, CodeConversionFailed, msg, *now))
	}
	return &rest, failed, nil
}

// CloseShard implements ShardCloser: it records the shard's end in its
// catalog object (with NoIndex, it does nothing).
func (d *ObjectDestination) CloseShard(ctx context.Context, source string, shard shardlog.Shard) error {
	b := &Batch{Source: source, Shard: shard}
	if err := checkBatch(b); err != nil {
		return err
	}
	if d.opts.NoIndex {
		return nil
	}
	return d.writeCatalog(ctx, b)
}

// checkBatch refuses a batch the destination cannot name.
func checkBatch(b *Batch) error {
	switch {
	case b == nil:
		return &shardlog.ArgumentError{Field: "Batch", Reason: "must not be nil"}
	case b.Source == "" || strings.Contains(b.Source, "/"):
		return &shardlog.ArgumentError{Field: "Batch.Source", Reason: fmt.Sprintf("%q must be a stream name (non-empty, no '/')", b.Source)}
	case b.Shard.ShardID == "" || strings.Contains(b.Shard.ShardID, "/"):
		return &shardlog.ArgumentError{Field: "Batch.Shard.ShardID", Reason: fmt.Sprintf("%q must be a shard ID (non-empty, no '/')", b.Shard.ShardID)}
	}
	return nil
}

// encodeCompressed runs encode on a writer compressing with c into dst.
func encodeCompressed(dst io.Writer, c Compression, encode func(io.Writer) error) error {
	zw, err := c.writer(dst)
	if err != nil {
		return err
	}
	if err := encode(zw); err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
}

// sidecarOf describes b's data object, stored at key.
func (d *ObjectDestination) sidecarOf(b *Batch, key string) sidecar {
	sc := sidecar{
		DataKey:        key,
		DeliveryStream: b.DeliveryStream,
		Version:        b.Version,
		Source:         b.Source,
		ShardID:        b.Shard.ShardID,
		First:          b.First,
		Last:           b.Last,
		Records:        len(b.Records),
		Final:          b.Shard.Closed && b.Last == b.Shard.EndingSequenceNumber,
		Bytes:          b.Bytes,
		Format:         d.opts.Format.Name(),
		Compression:    d.opts.Compression,
	}
	byKey := make(map[string]int, 64)
	for i := range b.Records {
		r := &b.Records[i]
		j, ok := byKey[r.PartitionKey]
		if !ok {
			j = len(sc.Keys)
			byKey[r.PartitionKey] = j
			sc.Keys = append(sc.Keys, sidecarKey{Key: r.PartitionKey, First: r.SequenceNumber})
		}
		sc.Keys[j].Last = r.SequenceNumber
		sc.Keys[j].Count++
	}
	slices.SortFunc(sc.Keys, func(a, b sidecarKey) int { return strings.Compare(a.Key, b.Key) })
	return sc
}

// writeCatalog writes the shard's catalog object if it changed.
func (d *ObjectDestination) writeCatalog(ctx context.Context, b *Batch) error {
	key := shardIndexPrefix(d.opts.IndexPrefix, b.Source, b.Shard.ShardID) + catalogName
	d.mu.Lock()
	old, known := d.catalogs[key]
	d.mu.Unlock()
	if !known {
		// After a restart: compare with what is stored.
		raw, err := d.store.Get(ctx, key)
		switch {
		case err == nil:
			if json.Unmarshal(raw, &old) == nil {
				known = true
			}
		case !errors.Is(err, ErrObjectNotFound):
			return fmt.Errorf("delivery: read catalog of %s/%s: %w", b.Source, b.Shard.ShardID, err)
		}
	}
	next := catalogOf(b.Shard)
	if known {
		next = old.merge(next)
		if next == old {
			d.remember(key, next)
			return nil
		}
	}
	raw, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if err := d.store.Put(ctx, key, raw); err != nil {
		return fmt.Errorf("delivery: write catalog of %s/%s: %w", b.Source, b.Shard.ShardID, err)
	}
	d.remember(key, next)
	return nil
}

func (d *ObjectDestination) remember(key string, c shardCatalog) {
	d.mu.Lock()
	d.catalogs[key] = c
	d.mu.Unlock()
}

// DeliverFailed implements ErrorOutput: the records, one JSON object per
// line (Firehose's error-record fields), compressed, in one object at
// Layout.ErrorKey. The key's random part is derived from the records'
// identity (source, shard, sequence number, partition key, error code and
// data; not their attempt counts or times), so writing the same failed
// records again (a retry after a crash) replaces the object.
func (d *ObjectDestination) DeliverFailed(ctx context.Context, outputType OutputType, records []FailedRecord) error {
	if outputType == "" {
		return &shardlog.ArgumentError{Field: "outputType", Reason: "must not be empty"}
	}
	if len(records) == 0 {
		return nil
	}
	var plain bytes.Buffer
	var oldest time.Time
	for i := range records {
		line, err := json.Marshal(&records[i])
		if err != nil {
			return fmt.Errorf("delivery: encode failed record %d: %w", i, err)
		}
		plain.Write(line)
		plain.WriteByte('\n')
		if t := records[i].ArrivalTimestamp; !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	if oldest.IsZero() {
		oldest = d.opts.Now()
	}
	seed := failedSeed(outputType, records)
	stream := d.opts.DeliveryStream
	if stream == "" {
		stream = records[0].Source
	}
	key, err := d.opts.Layout.ErrorKey(stream, d.opts.Version, outputType, oldest, seed, d.opts.Compression.Extension())
	if err != nil {
		return err
	}
	var body bytes.Buffer
	if err := encodeCompressed(&body, d.opts.Compression, func(w io.Writer) error {
		_, err := w.Write(plain.Bytes())
		return err
	}); err != nil {
		return fmt.Errorf("delivery: compress failed records: %w", err)
	}
	if err := d.store.Put(ctx, key, body.Bytes()); err != nil {
		return fmt.Errorf("delivery: deliver %d failed records (%s): %w", len(records), outputType, err)
	}
	return nil
}

// failedSeed is the seed of an error object's key: a hash of what
// identifies its records, so that a retry's attempt counts and times do
// not change it. A record without a sequence number (no source position)
// is identified by everything it holds.
func failedSeed(outputType OutputType, records []FailedRecord) string {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(outputType))
	for i := range records {
		r := &records[i]
		field([]byte(r.Source))
		field([]byte(r.ShardID))
		field([]byte(r.SequenceNumber.String()))
		field([]byte(r.PartitionKey))
		field([]byte(r.ErrorCode))
		field(r.RawData)
		if r.SequenceNumber.IsZero() {
			field([]byte(r.ErrorMessage))
			field([]byte(r.ArrivalTimestamp.UTC().Format(time.RFC3339Nano)))
			field([]byte(r.AttemptEndingTimestamp.UTC().Format(time.RFC3339Nano)))
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
