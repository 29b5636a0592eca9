package firehose_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/server/firehose"
	"github.com/shoal-dev/shoal/shardlog"
)

func TestCreateDescribeDirectPut(t *testing.T) {
	e := newEnv(t)
	dest := s3Config("my-bucket")
	dest.Prefix = aws.String("logs/")
	dest.ErrorOutputPrefix = aws.String("errors/")
	dest.BufferingHints = &types.BufferingHints{SizeInMBs: aws.Int32(2), IntervalInSeconds: aws.Int32(60)}
	dest.CompressionFormat = types.CompressionFormatGzip
	before := time.Now().Add(-time.Second)
	out, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName:                 aws.String("orders"),
		DeliveryStreamType:                 types.DeliveryStreamTypeDirectPut,
		ExtendedS3DestinationConfiguration: dest,
		Tags:                               []types.Tag{{Key: aws.String("team"), Value: aws.String("billing")}},
	})
	require.NoError(t, err)
	require.Equal(t, "arn:aws:firehose:us-east-1:000000000000:deliverystream/orders", aws.ToString(out.DeliveryStreamARN))

	d := e.describe(t, "orders")
	require.Equal(t, "orders", aws.ToString(d.DeliveryStreamName))
	require.Equal(t, aws.ToString(out.DeliveryStreamARN), aws.ToString(d.DeliveryStreamARN))
	require.Equal(t, types.DeliveryStreamStatusActive, d.DeliveryStreamStatus)
	require.Equal(t, types.DeliveryStreamTypeDirectPut, d.DeliveryStreamType)
	require.Equal(t, "1", aws.ToString(d.VersionId))
	require.WithinRange(t, aws.ToTime(d.CreateTimestamp), before, time.Now().Add(time.Second))
	require.False(t, aws.ToBool(d.HasMoreDestinations))
	require.Nil(t, d.FailureDescription)
	require.Len(t, d.Destinations, 1)
	dd := d.Destinations[0]
	require.Equal(t, "destinationId-000000000001", aws.ToString(dd.DestinationId))
	x := dd.ExtendedS3DestinationDescription
	require.NotNil(t, x)
	require.Equal(t, "arn:aws:s3:::my-bucket", aws.ToString(x.BucketARN))
	require.Equal(t, "logs/", aws.ToString(x.Prefix))
	require.Equal(t, "errors/", aws.ToString(x.ErrorOutputPrefix))
	require.Equal(t, int32(2), aws.ToInt32(x.BufferingHints.SizeInMBs))
	require.Equal(t, int32(60), aws.ToInt32(x.BufferingHints.IntervalInSeconds))
	require.Equal(t, types.CompressionFormatGzip, x.CompressionFormat)
	require.NotNil(t, dd.S3DestinationDescription)
	require.NotNil(t, d.DeliveryStreamEncryptionConfiguration)
	require.Equal(t, types.DeliveryStreamEncryptionStatusDisabled, d.DeliveryStreamEncryptionConfiguration.Status)

	// The runtime got the configuration: a DirectPut source on the
	// Manager's own log, not the Kinesis one.
	cfg := e.fakes.last(t, "orders").cfg
	require.Equal(t, "orders", cfg.Name)
	require.Equal(t, 1, cfg.Version)
	require.True(t, cfg.Source.DirectPut)
	require.Same(t, e.mgr.Log(), cfg.Source.Log)
	require.NotSame(t, e.kinesis, cfg.Source.Log)
	require.Equal(t, "orders", cfg.Source.StreamName)
	require.NotNil(t, cfg.Source.Checkpoints)
	require.Equal(t, delivery.BufferingHints{SizeMiB: 2, Interval: time.Minute, IntervalSet: true}, cfg.Buffering)
	require.NotNil(t, cfg.Destination)
}

func TestCreateDefaults(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("plain"),
		S3DestinationConfiguration: &types.S3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::b-1"), RoleARN: aws.String("arn:aws:iam::000000000000:role/r"),
		},
	})
	require.NoError(t, err)
	d := e.describe(t, "plain")
	s := d.Destinations[0].S3DestinationDescription
	require.NotNil(t, s)
	require.Nil(t, d.Destinations[0].ExtendedS3DestinationDescription)
	require.Equal(t, int32(5), aws.ToInt32(s.BufferingHints.SizeInMBs))
	require.Equal(t, int32(300), aws.ToInt32(s.BufferingHints.IntervalInSeconds))
	require.Equal(t, types.CompressionFormatUncompressed, s.CompressionFormat)
	require.Equal(t, delivery.BufferingHints{SizeMiB: 5, Interval: 300 * time.Second, IntervalSet: true}, e.fakes.last(t, "plain").cfg.Buffering)
}

func TestCreateKinesisSource(t *testing.T) {
	e := newEnv(t)
	arn := e.createKinesisStream(t, "clicks", 2)
	e.createFromKinesis(t, "clicks-archive", arn, "archive")
	d := e.describe(t, "clicks-archive")
	require.Equal(t, types.DeliveryStreamTypeKinesisStreamAsSource, d.DeliveryStreamType)
	require.NotNil(t, d.Source)
	require.NotNil(t, d.Source.KinesisStreamSourceDescription)
	require.Equal(t, arn, aws.ToString(d.Source.KinesisStreamSourceDescription.KinesisStreamARN))
	require.NotNil(t, d.Source.KinesisStreamSourceDescription.DeliveryStartTimestamp)
	require.Nil(t, d.DeliveryStreamEncryptionConfiguration)
	cfg := e.fakes.last(t, "clicks-archive").cfg
	require.Same(t, e.kinesis, cfg.Source.Log)
	require.Equal(t, "clicks", cfg.Source.StreamName)
	require.False(t, cfg.Source.DirectPut)
	require.False(t, cfg.Source.StartAtLatest, "reads from the trim horizon")
}

// archiveCalls records the PostgreSQL archives a Manager opened.
type archiveCalls struct {
	mu    sync.Mutex
	dsns  []string
	table []string
}

type nopDest struct{}

func (nopDest) Deliver(context.Context, *delivery.Batch) error { return nil }

func (a *archiveCalls) open(ctx context.Context, dsn, table string) (delivery.Destination, io.Closer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dsns = append(a.dsns, dsn)
	a.table = append(a.table, table)
	return nopDest{}, nil, nil
}

func withArchive(a *archiveCalls, dsn string) envOption {
	return func(o *firehose.ManagerOptions) { o.Archive = a.open; o.ArchiveDSN = dsn }
}

func redshiftConfig(jdbc string) *types.RedshiftDestinationConfiguration {
	return &types.RedshiftDestinationConfiguration{
		ClusterJDBCURL: aws.String(jdbc),
		CopyCommand:    &types.CopyCommand{DataTableName: aws.String("events_archive")},
		Username:       aws.String("loader"),
		Password:       aws.String("s3cret"),
		RoleARN:        aws.String("arn:aws:iam::000000000000:role/r"),
		S3Configuration: &types.S3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::staging"), RoleARN: aws.String("arn:aws:iam::000000000000:role/r"),
			BufferingHints: &types.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(10)},
		},
	}
}

func TestCreateRedshift(t *testing.T) {
	calls := &archiveCalls{}
	e := newEnv(t, withArchive(calls, "postgres://default@localhost/archive"))
	_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName:               aws.String("to-pg"),
		RedshiftDestinationConfiguration: redshiftConfig("jdbc:postgresql://db.example:5439/warehouse?sslmode=disable"),
	})
	require.NoError(t, err)
	_, err = e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName:               aws.String("to-default"),
		RedshiftDestinationConfiguration: redshiftConfig(""),
	})
	require.NoError(t, err)
	require.Equal(t, []string{"postgres://loader:s3cret@db.example:5439/warehouse?sslmode=disable", "postgres://default@localhost/archive"}, calls.dsns)
	require.Equal(t, []string{"events_archive", "events_archive"}, calls.table)

	d := e.describe(t, "to-pg")
	r := d.Destinations[0].RedshiftDestinationDescription
	require.NotNil(t, r)
	require.Equal(t, "jdbc:postgresql://db.example:5439/warehouse?sslmode=disable", aws.ToString(r.ClusterJDBCURL))
	require.Equal(t, "events_archive", aws.ToString(r.CopyCommand.DataTableName))
	require.Equal(t, "loader", aws.ToString(r.Username))
	require.Equal(t, "arn:aws:s3:::staging", aws.ToString(r.S3DestinationDescription.BucketARN))
	require.Equal(t, delivery.BufferingHints{SizeMiB: 1, Interval: 10 * time.Second, IntervalSet: true}, e.fakes.last(t, "to-pg").cfg.Buffering)
}

func TestListDeliveryStreams(t *testing.T) {
	e := newEnv(t)
	arn := e.createKinesisStream(t, "src", 1)
	for _, n := range []string{"d", "a", "c"} {
		e.createDirect(t, n, "bucket")
	}
	e.createFromKinesis(t, "b", arn, "bucket")

	out, err := e.client.ListDeliveryStreams(e.ctx, &sdk.ListDeliveryStreamsInput{})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c", "d"}, out.DeliveryStreamNames)
	require.False(t, aws.ToBool(out.HasMoreDeliveryStreams))

	out, err = e.client.ListDeliveryStreams(e.ctx, &sdk.ListDeliveryStreamsInput{Limit: aws.Int32(2)})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, out.DeliveryStreamNames)
	require.True(t, aws.ToBool(out.HasMoreDeliveryStreams))
	out, err = e.client.ListDeliveryStreams(e.ctx, &sdk.ListDeliveryStreamsInput{Limit: aws.Int32(2), ExclusiveStartDeliveryStreamName: aws.String("b")})
	require.NoError(t, err)
	require.Equal(t, []string{"c", "d"}, out.DeliveryStreamNames)
	require.False(t, aws.ToBool(out.HasMoreDeliveryStreams))

	out, err = e.client.ListDeliveryStreams(e.ctx, &sdk.ListDeliveryStreamsInput{DeliveryStreamType: types.DeliveryStreamTypeKinesisStreamAsSource})
	require.NoError(t, err)
	require.Equal(t, []string{"b"}, out.DeliveryStreamNames)
	out, err = e.client.ListDeliveryStreams(e.ctx, &sdk.ListDeliveryStreamsInput{DeliveryStreamType: types.DeliveryStreamTypeDirectPut, Limit: aws.Int32(1), ExclusiveStartDeliveryStreamName: aws.String("a")})
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, out.DeliveryStreamNames)
	require.True(t, aws.ToBool(out.HasMoreDeliveryStreams))

	// Delivery streams are not Kinesis streams.
	ks, err := e.kinesis.ListStreams(e.ctx, shardlog.ListStreamsInput{})
	require.NoError(t, err)
	require.Equal(t, []string{"src"}, ks.StreamNames)
}

func TestDeleteDeliveryStream(t *testing.T) {
	e := newEnv(t)
	e.createDirect(t, "gone", "bucket")
	rt := e.fakes.last(t, "gone")
	_, err := e.client.DeleteDeliveryStream(e.ctx, &sdk.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("gone"), AllowForceDelete: aws.Bool(true)})
	require.NoError(t, err)
	rt.mu.Lock()
	require.True(t, rt.stopped, "the runtime stopped")
	rt.mu.Unlock()
	_, err = e.client.DescribeDeliveryStream(e.ctx, &sdk.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("gone")})
	requireAPIError(t, err, "ResourceNotFoundException")
	// The name is free again.
	e.createDirect(t, "gone", "bucket")
}

func TestPutRecordAndBatch(t *testing.T) {
	e := newEnv(t)
	e.createDirect(t, "in", "bucket")
	rt := e.fakes.last(t, "in")
	out, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{DeliveryStreamName: aws.String("in"), Record: &types.Record{Data: []byte("one\n")}})
	require.NoError(t, err)
	require.Equal(t, "rec-1", aws.ToString(out.RecordId))
	require.False(t, aws.ToBool(out.Encrypted))

	rt.mu.Lock()
	rt.throttle = map[int]bool{1: true}
	rt.mu.Unlock()
	bout, err := e.client.PutRecordBatch(e.ctx, &sdk.PutRecordBatchInput{DeliveryStreamName: aws.String("in"), Records: []types.Record{
		{Data: []byte("two\n")}, {Data: []byte("three\n")}, {Data: []byte("four\n")},
	}})
	require.NoError(t, err)
	require.Equal(t, int32(1), aws.ToInt32(bout.FailedPutCount))
	require.Len(t, bout.RequestResponses, 3)
	require.Equal(t, "rec-2", aws.ToString(bout.RequestResponses[0].RecordId))
	require.Equal(t, "ServiceUnavailableException", aws.ToString(bout.RequestResponses[1].ErrorCode))
	require.Equal(t, "slow down", aws.ToString(bout.RequestResponses[1].ErrorMessage))
	require.Nil(t, bout.RequestResponses[1].RecordId)
	require.Equal(t, "rec-3", aws.ToString(bout.RequestResponses[2].RecordId))
	rt.mu.Lock()
	require.Equal(t, [][]byte{[]byte("one\n"), []byte("two\n"), []byte("four\n")}, rt.records)
	rt.mu.Unlock()

	// The limits themselves are accepted: 500 records, 1,000 KiB each
	// within 4 MiB.
	recs := make([]types.Record, 500)
	for i := range recs {
		recs[i] = types.Record{Data: []byte("x")}
	}
	recs[0].Data = make([]byte, delivery.MaxRecordSize)
	rt.mu.Lock()
	rt.throttle = nil
	rt.mu.Unlock()
	bout, err = e.client.PutRecordBatch(e.ctx, &sdk.PutRecordBatchInput{DeliveryStreamName: aws.String("in"), Records: recs})
	require.NoError(t, err)
	require.Zero(t, aws.ToInt32(bout.FailedPutCount))
	require.Len(t, bout.RequestResponses, 500)
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	e.createDirect(t, "tagged", "bucket")
	_, err := e.client.TagDeliveryStream(e.ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("tagged"), Tags: []types.Tag{
		{Key: aws.String("b"), Value: aws.String("2")}, {Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("c")},
	}})
	require.NoError(t, err)
	_, err = e.client.TagDeliveryStream(e.ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("tagged"), Tags: []types.Tag{
		{Key: aws.String("a"), Value: aws.String("one")},
	}})
	require.NoError(t, err)
	out, err := e.client.ListTagsForDeliveryStream(e.ctx, &sdk.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("tagged"), Limit: aws.Int32(2)})
	require.NoError(t, err)
	require.Equal(t, []types.Tag{{Key: aws.String("a"), Value: aws.String("one")}, {Key: aws.String("b"), Value: aws.String("2")}}, out.Tags)
	require.True(t, aws.ToBool(out.HasMoreTags))
	out, err = e.client.ListTagsForDeliveryStream(e.ctx, &sdk.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("tagged"), ExclusiveStartTagKey: aws.String("b")})
	require.NoError(t, err)
	require.Equal(t, []types.Tag{{Key: aws.String("c")}}, out.Tags)
	require.False(t, aws.ToBool(out.HasMoreTags))

	_, err = e.client.UntagDeliveryStream(e.ctx, &sdk.UntagDeliveryStreamInput{DeliveryStreamName: aws.String("tagged"), TagKeys: []string{"b", "nope"}})
	require.NoError(t, err)
	out, err = e.client.ListTagsForDeliveryStream(e.ctx, &sdk.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("tagged")})
	require.NoError(t, err)
	require.Equal(t, []types.Tag{{Key: aws.String("a"), Value: aws.String("one")}, {Key: aws.String("c")}}, out.Tags)
}

func TestEncryption(t *testing.T) {
	e := newEnv(t)
	e.createDirect(t, "secret", "bucket")
	key := "arn:aws:kms:us-east-1:000000000000:key/1234abcd"
	_, err := e.client.StartDeliveryStreamEncryption(e.ctx, &sdk.StartDeliveryStreamEncryptionInput{
		DeliveryStreamName: aws.String("secret"),
		DeliveryStreamEncryptionConfigurationInput: &types.DeliveryStreamEncryptionConfigurationInput{
			KeyType: types.KeyTypeCustomerManagedCmk, KeyARN: aws.String(key),
		},
	})
	require.NoError(t, err)
	enc := e.describe(t, "secret").DeliveryStreamEncryptionConfiguration
	require.Equal(t, types.DeliveryStreamEncryptionStatusEnabled, enc.Status)
	require.Equal(t, types.KeyTypeCustomerManagedCmk, enc.KeyType)
	require.Equal(t, key, aws.ToString(enc.KeyARN))

	_, err = e.client.StopDeliveryStreamEncryption(e.ctx, &sdk.StopDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("secret")})
	require.NoError(t, err)
	enc = e.describe(t, "secret").DeliveryStreamEncryptionConfiguration
	require.Equal(t, types.DeliveryStreamEncryptionStatusDisabled, enc.Status)
	require.Nil(t, enc.KeyARN)

	// 25 Start/Stop calls per 24 hours.
	for range 23 {
		_, err = e.client.StartDeliveryStreamEncryption(e.ctx, &sdk.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("secret")})
		require.NoError(t, err)
	}
	_, err = e.client.StartDeliveryStreamEncryption(e.ctx, &sdk.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("secret")})
	requireAPIError(t, err, "LimitExceededException")
	enc = e.describe(t, "secret").DeliveryStreamEncryptionConfiguration
	require.Equal(t, types.KeyTypeAwsOwnedCmk, enc.KeyType)

	// At creation.
	dest := s3Config("bucket")
	_, err = e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName:                         aws.String("born-secret"),
		ExtendedS3DestinationConfiguration:         dest,
		DeliveryStreamEncryptionConfigurationInput: &types.DeliveryStreamEncryptionConfigurationInput{KeyType: types.KeyTypeAwsOwnedCmk},
	})
	require.NoError(t, err)
	require.Equal(t, types.DeliveryStreamEncryptionStatusEnabled, e.describe(t, "born-secret").DeliveryStreamEncryptionConfiguration.Status)
}

func TestUpdateDestination(t *testing.T) {
	calls := &archiveCalls{}
	e := newEnv(t, withArchive(calls, ""))
	e.createDirect(t, "up", "bucket")
	first := e.fakes.last(t, "up")
	_, err := e.client.UpdateDestination(e.ctx, &sdk.UpdateDestinationInput{
		DeliveryStreamName:             aws.String("up"),
		CurrentDeliveryStreamVersionId: aws.String("1"),
		DestinationId:                  aws.String("destinationId-000000000001"),
		ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{
			Prefix:         aws.String("v2/"),
			BufferingHints: &types.BufferingHints{SizeInMBs: aws.Int32(64), IntervalInSeconds: aws.Int32(0)},
		},
	})
	require.NoError(t, err)
	d := e.describe(t, "up")
	require.Equal(t, "2", aws.ToString(d.VersionId))
	require.NotNil(t, d.LastUpdateTimestamp)
	x := d.Destinations[0].ExtendedS3DestinationDescription
	require.Equal(t, "v2/", aws.ToString(x.Prefix))
	require.Equal(t, "arn:aws:s3:::bucket", aws.ToString(x.BucketARN), "members left out are kept")
	require.Equal(t, int32(64), aws.ToInt32(x.BufferingHints.SizeInMBs))
	first.mu.Lock()
	require.True(t, first.stopped, "the old runtime stopped")
	first.mu.Unlock()
	second := e.fakes.last(t, "up")
	require.Equal(t, 2, second.cfg.Version)
	require.Equal(t, delivery.BufferingHints{SizeMiB: 64, Interval: 0, IntervalSet: true}, second.cfg.Buffering)

	// A stale version.
	_, err = e.client.UpdateDestination(e.ctx, &sdk.UpdateDestinationInput{
		DeliveryStreamName: aws.String("up"), CurrentDeliveryStreamVersionId: aws.String("1"),
		DestinationId: aws.String("destinationId-000000000001"), ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{Prefix: aws.String("x/")},
	})
	requireAPIError(t, err, "ConcurrentModificationException")

	// Another destination type needs its whole configuration.
	_, err = e.client.UpdateDestination(e.ctx, &sdk.UpdateDestinationInput{
		DeliveryStreamName: aws.String("up"), CurrentDeliveryStreamVersionId: aws.String("2"),
		DestinationId: aws.String("destinationId-000000000001"),
		RedshiftDestinationUpdate: &types.RedshiftDestinationUpdate{
			ClusterJDBCURL: aws.String("jdbc:redshift://cluster:5439/dev"),
			CopyCommand:    &types.CopyCommand{DataTableName: aws.String("t")},
			Username:       aws.String("u"), Password: aws.String("p"),
		},
	})
	require.NoError(t, err)
	d = e.describe(t, "up")
	require.Equal(t, "3", aws.ToString(d.VersionId))
	require.NotNil(t, d.Destinations[0].RedshiftDestinationDescription)
	require.Nil(t, d.Destinations[0].ExtendedS3DestinationDescription)
	require.Contains(t, calls.dsns, "postgres://u:p@cluster:5439/dev")
}

func TestPersistenceAcrossRestart(t *testing.T) {
	calls := &archiveCalls{}
	e := newEnv(t, withArchive(calls, ""))
	arn := e.createKinesisStream(t, "src", 1)
	e.createDirect(t, "direct", "bucket")
	e.createFromKinesis(t, "from-kinesis", arn, "bucket")
	_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("to-pg"), RedshiftDestinationConfiguration: redshiftConfig("jdbc:postgresql://h:5432/db"),
	})
	require.NoError(t, err)
	_, err = e.client.TagDeliveryStream(e.ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	require.NoError(t, err)
	_, err = e.client.StartDeliveryStreamEncryption(e.ctx, &sdk.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("direct")})
	require.NoError(t, err)
	_, err = e.client.UpdateDestination(e.ctx, &sdk.UpdateDestinationInput{
		DeliveryStreamName: aws.String("direct"), CurrentDeliveryStreamVersionId: aws.String("1"),
		DestinationId: aws.String("destinationId-000000000001"), ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{Prefix: aws.String("p/")},
	})
	require.NoError(t, err)
	names := []string{"direct", "from-kinesis", "to-pg"}
	before := map[string]*types.DeliveryStreamDescription{}
	for _, n := range names {
		before[n] = e.describe(t, n)
	}
	oldRuntime := e.fakes.last(t, "direct")

	e.restart(t)
	oldRuntime.mu.Lock()
	require.True(t, oldRuntime.stopped, "Close stopped the runtimes")
	oldRuntime.mu.Unlock()
	out, err := e.client.ListDeliveryStreams(e.ctx, &sdk.ListDeliveryStreamsInput{})
	require.NoError(t, err)
	require.Equal(t, names, out.DeliveryStreamNames)
	for _, n := range names {
		require.Equal(t, before[n], e.describe(t, n), n)
		require.Len(t, e.fakes.all[n], map[string]int{"direct": 3, "from-kinesis": 2, "to-pg": 2}[n], "%s restarted", n)
	}
	require.Equal(t, 2, e.fakes.last(t, "direct").cfg.Version)
	tags, err := e.client.ListTagsForDeliveryStream(e.ctx, &sdk.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("direct")})
	require.NoError(t, err)
	require.Equal(t, []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}, tags.Tags)
	// A deletion is remembered too.
	_, err = e.client.DeleteDeliveryStream(e.ctx, &sdk.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("to-pg")})
	require.NoError(t, err)
	e.restart(t)
	out, err = e.client.ListDeliveryStreams(e.ctx, &sdk.ListDeliveryStreamsInput{})
	require.NoError(t, err)
	require.Equal(t, []string{"direct", "from-kinesis"}, out.DeliveryStreamNames)
}

// TestRestoreFailure: a stream whose destination cannot be opened after a
// restart is kept and described with a FailureDescription; its puts are
// ServiceUnavailableException; UpdateDestination and delete still work.
func TestRestoreFailure(t *testing.T) {
	calls := &archiveCalls{}
	e := newEnv(t, withArchive(calls, ""))
	_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("to-pg"), RedshiftDestinationConfiguration: redshiftConfig("jdbc:postgresql://h:5432/db"),
	})
	require.NoError(t, err)
	e.opts.Archive = func(context.Context, string, string) (delivery.Destination, io.Closer, error) {
		return nil, nil, errors.New("connection refused")
	}
	e.restart(t)
	d := e.describe(t, "to-pg")
	require.Equal(t, types.DeliveryStreamStatusActive, d.DeliveryStreamStatus)
	require.NotNil(t, d.FailureDescription)
	require.Contains(t, aws.ToString(d.FailureDescription.Details), "connection refused")
	_, err = e.client.PutRecord(e.ctx, &sdk.PutRecordInput{DeliveryStreamName: aws.String("to-pg"), Record: &types.Record{Data: []byte("x")}})
	require.Contains(t, requireAPIError(t, err, "ServiceUnavailableException"), "not running")

	// A new destination brings it back.
	_, err = e.client.UpdateDestination(e.ctx, &sdk.UpdateDestinationInput{
		DeliveryStreamName: aws.String("to-pg"), CurrentDeliveryStreamVersionId: aws.String("1"), DestinationId: aws.String("destinationId-000000000001"),
		ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{BucketARN: aws.String("arn:aws:s3:::bucket")},
	})
	require.NoError(t, err)
	d = e.describe(t, "to-pg")
	require.Nil(t, d.FailureDescription)
	require.NotNil(t, d.Destinations[0].ExtendedS3DestinationDescription)
	_, err = e.client.PutRecord(e.ctx, &sdk.PutRecordInput{DeliveryStreamName: aws.String("to-pg"), Record: &types.Record{Data: []byte("x")}})
	require.NoError(t, err)
	_, err = e.client.DeleteDeliveryStream(e.ctx, &sdk.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("to-pg")})
	require.NoError(t, err)
}
