package s3store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/delivery/internal/fakes3"
	"github.com/shoal-dev/shoal/delivery/objectstoretest"
	"github.com/shoal-dev/shoal/delivery/s3store"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func TestContract(t *testing.T) {
	objectstoretest.Run(t, func(t *testing.T) delivery.ObjectStore {
		s, err := s3store.New(fakes3.New(t), fakes3.Bucket)
		require.NoError(t, err)
		return s
	})
}

// TestContractPrefixedSmallPages runs the contract with a key prefix and
// three keys per ListObjectsV2 page, so that every listing paginates.
func TestContractPrefixedSmallPages(t *testing.T) {
	objectstoretest.Run(t, func(t *testing.T) delivery.ObjectStore {
		s, err := s3store.New(fakes3.New(t), fakes3.Bucket, s3store.WithKeyPrefix("archive/"), s3store.WithPageSize(3))
		require.NoError(t, err)
		return s
	})
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	client := fakes3.New(t)
	_, err := s3store.New(nil, fakes3.Bucket)
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
	_, err = s3store.New(client, "b")
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
	_, err = s3store.New(client, fakes3.Bucket, s3store.WithPageSize(1001))
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)

	s, err := s3store.New(client, fakes3.Bucket)
	require.NoError(t, err)
	var ae *shardlog.ArgumentError
	require.ErrorAs(t, s.Put(ctx, "", []byte("x")), &ae)
	require.Equal(t, "key", ae.Field)
	require.ErrorAs(t, s.Put(ctx, strings.Repeat("k", 1025), []byte("x")), &ae)
	_, err = s.Get(ctx, "")
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)

	// A missing bucket is an error, not "not found".
	other, err := s3store.New(client, "no-such-bucket")
	require.NoError(t, err)
	_, err = other.Get(ctx, "k")
	require.Error(t, err)
	require.NotErrorIs(t, err, delivery.ErrObjectNotFound)
}
