package firehose_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/server/firehose"
)

// TestBadInput: bad input on every operation is a typed Firehose error
// with a 4xx status and a message naming the field (and the limit), never
// a 500.
func TestBadInput(t *testing.T) {
	calls := &archiveCalls{}
	e := newEnv(t, withArchive(calls, ""))
	srcARN := e.createKinesisStream(t, "src", 1)
	e.createDirect(t, "direct", "bucket")
	e.createFromKinesis(t, "sourced", srcARN, "bucket")
	ctx := e.ctx
	c := e.client

	create := func(mod func(in *sdk.CreateDeliveryStreamInput)) func() error {
		return func() error {
			in := &sdk.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("new-stream"), ExtendedS3DestinationConfiguration: s3Config("bucket")}
			mod(in)
			_, err := c.CreateDeliveryStream(ctx, in)
			return err
		}
	}
	withS3 := func(mod func(d *types.ExtendedS3DestinationConfiguration)) func() error {
		return create(func(in *sdk.CreateDeliveryStreamInput) { mod(in.ExtendedS3DestinationConfiguration) })
	}
	withRedshift := func(mod func(r *types.RedshiftDestinationConfiguration)) func() error {
		return create(func(in *sdk.CreateDeliveryStreamInput) {
			in.ExtendedS3DestinationConfiguration = nil
			in.RedshiftDestinationConfiguration = redshiftConfig("jdbc:postgresql://h:5432/db")
			mod(in.RedshiftDestinationConfiguration)
		})
	}
	hints := func(size, interval *int32) func() error {
		return withS3(func(d *types.ExtendedS3DestinationConfiguration) {
			d.BufferingHints = &types.BufferingHints{SizeInMBs: size, IntervalInSeconds: interval}
		})
	}
	fromKinesis := func(arn string) func() error {
		return create(func(in *sdk.CreateDeliveryStreamInput) {
			in.DeliveryStreamType = types.DeliveryStreamTypeKinesisStreamAsSource
			in.KinesisStreamSourceConfiguration = &types.KinesisStreamSourceConfiguration{KinesisStreamARN: aws.String(arn), RoleARN: aws.String("r")}
		})
	}
	tags := func(n int) []types.Tag {
		out := make([]types.Tag, n)
		for i := range out {
			out[i] = types.Tag{Key: aws.String("k" + strings.Repeat("x", i)), Value: aws.String("v")}
		}
		return out
	}
	records := func(n, size int) []types.Record {
		out := make([]types.Record, n)
		for i := range out {
			out[i] = types.Record{Data: make([]byte, size)}
		}
		return out
	}
	putBatch := func(name string, recs []types.Record) func() error {
		return func() error {
			_, err := c.PutRecordBatch(ctx, &sdk.PutRecordBatchInput{DeliveryStreamName: aws.String(name), Records: recs})
			return err
		}
	}
	put := func(name string, data []byte) func() error {
		return func() error {
			_, err := c.PutRecord(ctx, &sdk.PutRecordInput{DeliveryStreamName: aws.String(name), Record: &types.Record{Data: data}})
			return err
		}
	}
	update := func(name, version, id string, mod func(in *sdk.UpdateDestinationInput)) func() error {
		return func() error {
			in := &sdk.UpdateDestinationInput{DeliveryStreamName: aws.String(name), CurrentDeliveryStreamVersionId: aws.String(version),
				DestinationId: aws.String(id), ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{Prefix: aws.String("x/")}}
			if mod != nil {
				mod(in)
			}
			_, err := c.UpdateDestination(ctx, in)
			return err
		}
	}
	const destID = "destinationId-000000000001"
	long := strings.Repeat("a", 65)
	ia, nf, inUse, src, conc := "InvalidArgumentException", "ResourceNotFoundException", "ResourceInUseException",
		"InvalidSourceException", "ConcurrentModificationException"

	cases := []struct {
		name string
		call func() error
		code string
		msg  []string // the message contains each
	}{
		// CreateDeliveryStream.
		{"create/empty name", create(func(in *sdk.CreateDeliveryStreamInput) { in.DeliveryStreamName = aws.String("") }), ia, []string{"DeliveryStreamName", "1-64"}},
		{"create/long name", create(func(in *sdk.CreateDeliveryStreamInput) { in.DeliveryStreamName = aws.String(long) }), ia, []string{"DeliveryStreamName", "65", "64"}},
		{"create/bad name", create(func(in *sdk.CreateDeliveryStreamInput) { in.DeliveryStreamName = aws.String("a b") }), ia, []string{"DeliveryStreamName", "[a-zA-Z0-9_.-]"}},
		{"create/duplicate", create(func(in *sdk.CreateDeliveryStreamInput) { in.DeliveryStreamName = aws.String("direct") }), inUse, []string{"direct", "already exists"}},
		{"create/no destination", create(func(in *sdk.CreateDeliveryStreamInput) { in.ExtendedS3DestinationConfiguration = nil }), ia, []string{"exactly one"}},
		{"create/two destinations", create(func(in *sdk.CreateDeliveryStreamInput) {
			in.RedshiftDestinationConfiguration = redshiftConfig("jdbc:postgresql://h:5432/db")
		}), ia, []string{"exactly one", "got 2"}},
		{"create/size without interval", hints(aws.Int32(5), nil), ia, []string{"BufferingHints", "set both or neither"}},
		{"create/interval without size", hints(nil, aws.Int32(60)), ia, []string{"BufferingHints", "set both or neither"}},
		{"create/size 0", hints(aws.Int32(0), aws.Int32(60)), ia, []string{"SizeInMBs", "1-128"}},
		{"create/size 129", hints(aws.Int32(129), aws.Int32(60)), ia, []string{"SizeInMBs", "129", "1-128"}},
		{"create/interval 901", hints(aws.Int32(5), aws.Int32(901)), ia, []string{"IntervalInSeconds", "901", "0-900"}},
		{"create/interval -1", hints(aws.Int32(5), aws.Int32(-1)), ia, []string{"IntervalInSeconds", "0-900"}},
		{"create/compression Snappy", withS3(func(d *types.ExtendedS3DestinationConfiguration) { d.CompressionFormat = types.CompressionFormatSnappy }), ia, []string{"CompressionFormat", "Snappy", "GZIP"}},
		{"create/compression ZIP", withS3(func(d *types.ExtendedS3DestinationConfiguration) { d.CompressionFormat = types.CompressionFormatZip }), ia, []string{"CompressionFormat"}},
		{"create/compression junk", withS3(func(d *types.ExtendedS3DestinationConfiguration) { d.CompressionFormat = "BROTLI" }), ia, []string{"CompressionFormat"}},
		{"create/lambda", withS3(func(d *types.ExtendedS3DestinationConfiguration) {
			d.ProcessingConfiguration = &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []types.Processor{{Type: types.ProcessorTypeLambda}}}
		}), ia, []string{"ProcessingConfiguration", "Lambda", "not supported over the wire"}},
		{"create/format conversion", withS3(func(d *types.ExtendedS3DestinationConfiguration) {
			d.DataFormatConversionConfiguration = &types.DataFormatConversionConfiguration{Enabled: aws.Bool(true)}
		}), ia, []string{"DataFormatConversionConfiguration"}},
		{"create/dynamic partitioning", withS3(func(d *types.ExtendedS3DestinationConfiguration) {
			d.DynamicPartitioningConfiguration = &types.DynamicPartitioningConfiguration{Enabled: aws.Bool(true)}
		}), ia, []string{"DynamicPartitioningConfiguration"}},
		{"create/long prefix", withS3(func(d *types.ExtendedS3DestinationConfiguration) { d.Prefix = aws.String(strings.Repeat("p", 1025)) }), ia, []string{"Prefix", "1024"}},
		{"create/empty bucket ARN", withS3(func(d *types.ExtendedS3DestinationConfiguration) { d.BucketARN = aws.String("") }), ia, []string{"BucketARN", "arn:aws:s3:::BUCKET"}},
		{"create/not a bucket ARN", withS3(func(d *types.ExtendedS3DestinationConfiguration) { d.BucketARN = aws.String("my-bucket") }), ia, []string{"BucketARN", "arn:aws:s3:::BUCKET"}},
		{"create/role as bucket", withS3(func(d *types.ExtendedS3DestinationConfiguration) {
			d.BucketARN = aws.String("arn:aws:iam::000000000000:role/r")
		}), ia, []string{"BucketARN"}},
		{"create/bad bucket name", withS3(func(d *types.ExtendedS3DestinationConfiguration) { d.BucketARN = aws.String("arn:aws:s3:::Bad_Bucket") }), ia, []string{"BucketARN", "3-63"}},
		{"create/bad type", create(func(in *sdk.CreateDeliveryStreamInput) { in.DeliveryStreamType = types.DeliveryStreamTypeMSKAsSource }), ia, []string{"DeliveryStreamType", "MSKAsSource"}},
		{"create/kinesis source missing", create(func(in *sdk.CreateDeliveryStreamInput) {
			in.DeliveryStreamType = types.DeliveryStreamTypeKinesisStreamAsSource
		}), ia, []string{"KinesisStreamARN", "required"}},
		{"create/bad kinesis ARN", fromKinesis("arn:aws:kinesis:us-east-1:000000000000:src"), ia, []string{"KinesisStreamARN", "stream/NAME"}},
		{"create/kinesis ARN of a bucket", fromKinesis("arn:aws:s3:::bucket"), ia, []string{"KinesisStreamARN"}},
		{"create/unknown kinesis stream", fromKinesis("arn:aws:kinesis:us-east-1:000000000000:stream/nope"), ia, []string{"KinesisStreamARN", "nope", "does not exist"}},
		{"create/kinesis stream of another account", fromKinesis("arn:aws:kinesis:us-east-1:111111111111:stream/src"), ia, []string{"KinesisStreamARN", "not a stream of this server"}},
		{"create/source config on DirectPut", create(func(in *sdk.CreateDeliveryStreamInput) {
			in.KinesisStreamSourceConfiguration = &types.KinesisStreamSourceConfiguration{KinesisStreamARN: aws.String(srcARN), RoleARN: aws.String("r")}
		}), ia, []string{"KinesisStreamSourceConfiguration", "KinesisStreamAsSource"}},
		{"create/encryption on kinesis source", create(func(in *sdk.CreateDeliveryStreamInput) {
			in.DeliveryStreamType = types.DeliveryStreamTypeKinesisStreamAsSource
			in.KinesisStreamSourceConfiguration = &types.KinesisStreamSourceConfiguration{KinesisStreamARN: aws.String(srcARN), RoleARN: aws.String("r")}
			in.DeliveryStreamEncryptionConfigurationInput = &types.DeliveryStreamEncryptionConfigurationInput{KeyType: types.KeyTypeAwsOwnedCmk}
		}), ia, []string{"DeliveryStreamEncryptionConfigurationInput", "DirectPut"}},
		{"create/CMK without key", create(func(in *sdk.CreateDeliveryStreamInput) {
			in.DeliveryStreamEncryptionConfigurationInput = &types.DeliveryStreamEncryptionConfigurationInput{KeyType: types.KeyTypeCustomerManagedCmk}
		}), ia, []string{"KeyARN", "required"}},
		{"create/51 tags", create(func(in *sdk.CreateDeliveryStreamInput) { in.Tags = tags(51) }), ia, []string{"Tags", "51", "50"}},
		{"create/reserved tag key", create(func(in *sdk.CreateDeliveryStreamInput) { in.Tags = []types.Tag{{Key: aws.String("aws:x")}} }), ia, []string{"Tags[0].Key", "aws:"}},
		{"create/redshift bad JDBC URL", withRedshift(func(r *types.RedshiftDestinationConfiguration) { r.ClusterJDBCURL = aws.String("mysql://h/db") }), ia, []string{"ClusterJDBCURL", "jdbc:postgresql://"}},
		{"create/redshift JDBC without database", withRedshift(func(r *types.RedshiftDestinationConfiguration) {
			r.ClusterJDBCURL = aws.String("jdbc:postgresql://h:5432")
		}), ia, []string{"ClusterJDBCURL"}},
		{"create/redshift empty URL, no default", withRedshift(func(r *types.RedshiftDestinationConfiguration) { r.ClusterJDBCURL = aws.String("") }), ia, []string{"ClusterJDBCURL", "--archive-postgres"}},
		{"create/redshift no table", withRedshift(func(r *types.RedshiftDestinationConfiguration) { r.CopyCommand.DataTableName = aws.String("") }), ia, []string{"DataTableName", "required"}},
		{"create/redshift bad table", withRedshift(func(r *types.RedshiftDestinationConfiguration) { r.CopyCommand.DataTableName = aws.String("t; drop") }), ia, []string{"DataTableName"}},
		{"create/redshift zstd", withRedshift(func(r *types.RedshiftDestinationConfiguration) { r.S3Configuration.CompressionFormat = "ZSTD" }), ia, []string{"CompressionFormat", "Redshift"}},
		{"create/redshift lambda", withRedshift(func(r *types.RedshiftDestinationConfiguration) {
			r.ProcessingConfiguration = &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []types.Processor{{Type: types.ProcessorTypeLambda}}}
		}), ia, []string{"ProcessingConfiguration", "not supported"}},

		// DeleteDeliveryStream.
		{"delete/empty name", func() error {
			_, err := c.DeleteDeliveryStream(ctx, &sdk.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("")})
			return err
		}, ia, []string{"DeliveryStreamName"}},
		{"delete/long name", func() error {
			_, err := c.DeleteDeliveryStream(ctx, &sdk.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String(long)})
			return err
		}, ia, []string{"DeliveryStreamName", "64"}},
		{"delete/unknown", func() error {
			_, err := c.DeleteDeliveryStream(ctx, &sdk.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("nope")})
			return err
		}, nf, []string{"nope"}},

		// DescribeDeliveryStream.
		{"describe/unknown", func() error {
			_, err := c.DescribeDeliveryStream(ctx, &sdk.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("nope")})
			return err
		}, nf, []string{"nope"}},
		{"describe/bad name", func() error {
			_, err := c.DescribeDeliveryStream(ctx, &sdk.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("a/b")})
			return err
		}, ia, []string{"DeliveryStreamName"}},
		{"describe/limit 0", func() error {
			_, err := c.DescribeDeliveryStream(ctx, &sdk.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), Limit: aws.Int32(0)})
			return err
		}, ia, []string{"Limit", "1-10000"}},
		{"describe/bad destination ID", func() error {
			_, err := c.DescribeDeliveryStream(ctx, &sdk.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), ExclusiveStartDestinationId: aws.String("destinationId-9")})
			return err
		}, ia, []string{"ExclusiveStartDestinationId"}},

		// ListDeliveryStreams.
		{"list/limit 0", func() error {
			_, err := c.ListDeliveryStreams(ctx, &sdk.ListDeliveryStreamsInput{Limit: aws.Int32(0)})
			return err
		}, ia, []string{"Limit", "1-10000"}},
		{"list/limit 10001", func() error {
			_, err := c.ListDeliveryStreams(ctx, &sdk.ListDeliveryStreamsInput{Limit: aws.Int32(10001)})
			return err
		}, ia, []string{"Limit", "10001"}},
		{"list/bad type", func() error {
			_, err := c.ListDeliveryStreams(ctx, &sdk.ListDeliveryStreamsInput{DeliveryStreamType: "Firehose"})
			return err
		}, ia, []string{"DeliveryStreamType"}},
		{"list/bad start", func() error {
			_, err := c.ListDeliveryStreams(ctx, &sdk.ListDeliveryStreamsInput{ExclusiveStartDeliveryStreamName: aws.String(long)})
			return err
		}, ia, []string{"ExclusiveStartDeliveryStreamName", "64"}},

		// PutRecord.
		{"put/unknown", put("nope", []byte("x")), nf, []string{"nope"}},
		{"put/bad name", put("", []byte("x")), ia, []string{"DeliveryStreamName"}},
		{"put/record over 1000 KiB", put("direct", make([]byte, delivery.MaxRecordSize+1)), ia, []string{"Record.Data", "1024001", "1024000"}},
		{"put/kinesis-sourced", put("sourced", []byte("x")), src, []string{"sourced", "KinesisStreamAsSource"}},

		// PutRecordBatch.
		{"batch/501 records", putBatch("direct", records(501, 1)), ia, []string{"Records", "501", "500"}},
		{"batch/no records", putBatch("direct", []types.Record{}), ia, []string{"Records", "1-500"}},
		{"batch/over 4 MiB", putBatch("direct", records(5, delivery.MaxRecordSize)), ia, []string{"Records", "5120000", "4194304"}},
		{"batch/record over 1000 KiB", putBatch("direct", append(records(2, 1), types.Record{Data: make([]byte, delivery.MaxRecordSize+1)})), ia, []string{"Records[2].Data", "1024000"}},
		{"batch/unknown", putBatch("nope", records(1, 1)), nf, []string{"nope"}},
		{"batch/kinesis-sourced", putBatch("sourced", records(1, 1)), src, []string{"sourced"}},

		// TagDeliveryStream.
		{"tag/51 in a call", func() error {
			_, err := c.TagDeliveryStream(ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), Tags: tags(51)})
			return err
		}, ia, []string{"Tags", "1-50"}},
		{"tag/none", func() error {
			_, err := c.TagDeliveryStream(ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), Tags: []types.Tag{}})
			return err
		}, ia, []string{"Tags", "1-50"}},
		{"tag/long key", func() error {
			_, err := c.TagDeliveryStream(ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), Tags: []types.Tag{{Key: aws.String(strings.Repeat("k", 129))}}})
			return err
		}, ia, []string{"Tags[0].Key", "128"}},
		{"tag/long value", func() error {
			_, err := c.TagDeliveryStream(ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))}}})
			return err
		}, ia, []string{"Tags[0].Value", "256"}},
		{"tag/bad character", func() error {
			_, err := c.TagDeliveryStream(ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), Tags: []types.Tag{{Key: aws.String("a#b")}}})
			return err
		}, ia, []string{"Tags[0].Key"}},
		{"tag/empty key", func() error {
			_, err := c.TagDeliveryStream(ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), Tags: []types.Tag{{Key: aws.String("")}}})
			return err
		}, ia, []string{"Tags[0].Key", "required"}},
		{"tag/unknown", func() error {
			_, err := c.TagDeliveryStream(ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("nope"), Tags: tags(1)})
			return err
		}, nf, []string{"nope"}},

		// UntagDeliveryStream.
		{"untag/no keys", func() error {
			_, err := c.UntagDeliveryStream(ctx, &sdk.UntagDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), TagKeys: []string{}})
			return err
		}, ia, []string{"TagKeys", "1-50"}},
		{"untag/51 keys", func() error {
			_, err := c.UntagDeliveryStream(ctx, &sdk.UntagDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), TagKeys: make([]string, 51)})
			return err
		}, ia, []string{"TagKeys", "51"}},
		{"untag/unknown", func() error {
			_, err := c.UntagDeliveryStream(ctx, &sdk.UntagDeliveryStreamInput{DeliveryStreamName: aws.String("nope"), TagKeys: []string{"k"}})
			return err
		}, nf, []string{"nope"}},

		// ListTagsForDeliveryStream.
		{"listtags/limit 51", func() error {
			_, err := c.ListTagsForDeliveryStream(ctx, &sdk.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), Limit: aws.Int32(51)})
			return err
		}, ia, []string{"Limit", "1-50"}},
		{"listtags/unknown", func() error {
			_, err := c.ListTagsForDeliveryStream(ctx, &sdk.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("nope")})
			return err
		}, nf, []string{"nope"}},

		// Start/StopDeliveryStreamEncryption.
		{"encrypt/kinesis-sourced", func() error {
			_, err := c.StartDeliveryStreamEncryption(ctx, &sdk.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("sourced")})
			return err
		}, ia, []string{"DirectPut"}},
		{"encrypt/AWS-owned with a key", func() error {
			_, err := c.StartDeliveryStreamEncryption(ctx, &sdk.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("direct"),
				DeliveryStreamEncryptionConfigurationInput: &types.DeliveryStreamEncryptionConfigurationInput{KeyType: types.KeyTypeAwsOwnedCmk, KeyARN: aws.String("arn:aws:kms:us-east-1:000000000000:key/k")}})
			return err
		}, ia, []string{"KeyARN", "AWS_OWNED_CMK"}},
		{"encrypt/bad key ARN", func() error {
			_, err := c.StartDeliveryStreamEncryption(ctx, &sdk.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("direct"),
				DeliveryStreamEncryptionConfigurationInput: &types.DeliveryStreamEncryptionConfigurationInput{KeyType: types.KeyTypeCustomerManagedCmk, KeyARN: aws.String("key-1")}})
			return err
		}, ia, []string{"KeyARN", "arn:aws:kms"}},
		{"encrypt/bad key type", func() error {
			_, err := c.StartDeliveryStreamEncryption(ctx, &sdk.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("direct"),
				DeliveryStreamEncryptionConfigurationInput: &types.DeliveryStreamEncryptionConfigurationInput{KeyType: "MINE"}})
			return err
		}, ia, []string{"KeyType", "MINE"}},
		{"encrypt/unknown", func() error {
			_, err := c.StartDeliveryStreamEncryption(ctx, &sdk.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("nope")})
			return err
		}, nf, []string{"nope"}},
		{"decrypt/kinesis-sourced", func() error {
			_, err := c.StopDeliveryStreamEncryption(ctx, &sdk.StopDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("sourced")})
			return err
		}, ia, []string{"DirectPut"}},
		{"decrypt/long name", func() error {
			_, err := c.StopDeliveryStreamEncryption(ctx, &sdk.StopDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String(long)})
			return err
		}, ia, []string{"DeliveryStreamName"}},

		// UpdateDestination.
		{"update/no version", update("direct", "", destID, nil), ia, []string{"CurrentDeliveryStreamVersionId", "required"}},
		{"update/bad version", update("direct", "v1", destID, nil), ia, []string{"CurrentDeliveryStreamVersionId"}},
		{"update/stale version", update("direct", "7", destID, nil), conc, []string{"7", "version 1"}},
		{"update/bad destination ID", update("direct", "1", "destinationId-000000000002", nil), ia, []string{"DestinationId"}},
		{"update/no update", update("direct", "1", destID, func(in *sdk.UpdateDestinationInput) { in.ExtendedS3DestinationUpdate = nil }), ia, []string{"exactly one"}},
		{"update/bad hints", update("direct", "1", destID, func(in *sdk.UpdateDestinationInput) {
			in.ExtendedS3DestinationUpdate.BufferingHints = &types.BufferingHints{SizeInMBs: aws.Int32(200), IntervalInSeconds: aws.Int32(1)}
		}), ia, []string{"SizeInMBs", "1-128"}},
		{"update/redshift without table", update("direct", "1", destID, func(in *sdk.UpdateDestinationInput) {
			in.ExtendedS3DestinationUpdate = nil
			in.RedshiftDestinationUpdate = &types.RedshiftDestinationUpdate{ClusterJDBCURL: aws.String("jdbc:postgresql://h:1/d")}
		}), ia, []string{"DataTableName"}},
		{"update/unknown", update("nope", "1", destID, nil), nf, []string{"nope"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := requireAPIError(t, tc.call(), tc.code)
			for _, want := range tc.msg {
				require.Contains(t, msg, want)
			}
		})
	}
	// Nothing bad was created or changed.
	out, err := c.ListDeliveryStreams(ctx, &sdk.ListDeliveryStreamsInput{})
	require.NoError(t, err)
	require.Equal(t, []string{"direct", "sourced"}, out.DeliveryStreamNames)
	require.Equal(t, "1", aws.ToString(e.describe(t, "direct").VersionId))
}

func TestLimits(t *testing.T) {
	e := newEnv(t, func(o *firehose.ManagerOptions) { o.StreamLimit = 2 })
	e.createDirect(t, "one", "bucket")
	e.createDirect(t, "two", "bucket")
	_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("three"), ExtendedS3DestinationConfiguration: s3Config("bucket")})
	require.Contains(t, requireAPIError(t, err, "LimitExceededException"), "2")

	// 50 tags in all.
	_, err = e.client.TagDeliveryStream(e.ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("one"), Tags: tagsN(30, "a")})
	require.NoError(t, err)
	_, err = e.client.TagDeliveryStream(e.ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("one"), Tags: tagsN(21, "b")})
	require.Contains(t, requireAPIError(t, err, "LimitExceededException"), "51")
	_, err = e.client.TagDeliveryStream(e.ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("one"), Tags: tagsN(20, "b")})
	require.NoError(t, err)
}

func tagsN(n int, prefix string) []types.Tag {
	out := make([]types.Tag, n)
	for i := range out {
		out[i] = types.Tag{Key: aws.String(prefix + strings.Repeat("x", i+1))}
	}
	return out
}
