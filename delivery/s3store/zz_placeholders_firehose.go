// Package s3store is a placeholder so that server/firehose compiles on its
// branch before the S3 store is merged. The integrator deletes this file
// at merge.
package s3store

import (
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shoal-dev/shoal/delivery"
)

// Store is an ObjectStore on S3 (placeholder).
type Store struct{ delivery.ObjectStore }

// New returns a store of bucket (placeholder).
func New(client *s3.Client, bucket string) *Store { return &Store{} }
