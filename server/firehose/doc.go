// Package firehose serves the Amazon Data Firehose API (AWS JSON 1.1,
// X-Amz-Target Firehose_20150804.<Op>) over Shoal's delivery streams
// (package delivery), so that Firehose SDKs and tools can use Shoal.
//
// A Manager keeps the delivery streams: their configurations (persisted in
// its directory), their runtimes (one delivery.Stream each, running until
// deleted or until the Manager closes), the shardlog Log that backs
// DirectPut streams (separate from the Kinesis Log, so backing streams do
// not show in Kinesis's ListStreams) and the per-shard checkpoints.
// Handler answers the wire operations over a Manager.
//
// Destinations map onto Shoal's as follows:
//
//   - ExtendedS3DestinationConfiguration and S3DestinationConfiguration:
//     an object store per bucket (BucketARN arn:aws:s3:::BUCKET): by
//     default a filesystem store in the Manager's directory
//     (objects/BUCKET/), or any S3-compatible service the Manager is
//     given (ManagerOptions.Objects). Prefix and ErrorOutputPrefix follow
//     Firehose's key rules; an object holds the records' data as they were
//     sent, concatenated with no delimiter (delivery.Raw), as Firehose's.
//   - RedshiftDestinationConfiguration: the PostgreSQL archive
//     (delivery/pgarchive), since Redshift speaks PostgreSQL's protocol.
//     ClusterJDBCURL jdbc:redshift://HOST:PORT/DB or
//     jdbc:postgresql://HOST:PORT/DB with Username and Password becomes
//     the connection string postgres://USER:PASSWORD@HOST:PORT/DB, and
//     CopyCommand.DataTableName the archive table; an empty
//     ClusterJDBCURL uses ManagerOptions.ArchiveDSN. Rows go straight to
//     the table by COPY, not through an intermediate S3 object: the
//     S3Configuration is validated but only its buffering hints are used.
//
// A KinesisStreamAsSource delivery stream reads a stream of the Kinesis
// Log (KinesisStreamARN arn:aws:kinesis:REGION:ACCOUNT:stream/NAME; the
// RoleARN is ignored) from its trim horizon, where Firehose starts at
// LATEST: nothing put after CreateDeliveryStream returns can be missed.
// Data processing by Lambda, format conversion and dynamic partitioning
// are refused with InvalidArgumentException: they are not supported over
// the wire (delivery.Config.Transform is the Go equivalent).
package firehose
