package delivery

import (
	"fmt"
	"time"
)

// KeyLayout is how object keys are named: Firehose's Prefix and
// ErrorOutputPrefix. TODO(keys): expressions, validation, Firehose's rules.
type KeyLayout struct {
	Prefix            string
	ErrorOutputPrefix string
}

// Validate checks the prefixes against Firehose's rules.
func (k KeyLayout) Validate() error { return nil }

// ObjectKey names the object of batch b (ext: the format's and the
// compression's extensions). The name depends only on the batch's
// delivery stream, version, source, shard, First and oldest arrival, so
// a retry of the same batch gets the same key.
func (k KeyLayout) ObjectKey(b *Batch, ext string) (string, error) {
	t := b.OldestArrival().UTC()
	return fmt.Sprintf("%s%s%s-%d-%s-%s-%s%s", k.Prefix, t.Format("2006/01/02/15/"), b.DeliveryStream, b.Version, t.Format("2006-01-02-15-04-05"), b.Shard.ShardID, b.First, ext), nil
}

// ErrorKey names an error-output object of the given type whose oldest
// record arrived at oldest; seed makes the key's random parts repeatable.
func (k KeyLayout) ErrorKey(deliveryStream string, version int, outputType OutputType, oldest time.Time, seed string, ext string) (string, error) {
	t := oldest.UTC()
	return fmt.Sprintf("%s%s/%s%s-%d-%s-%s%s", k.ErrorOutputPrefix, outputType, t.Format("2006/01/02/15/"), deliveryStream, version, t.Format("2006-01-02-15-04-05"), seed, ext), nil
}
