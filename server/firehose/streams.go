package firehose

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/shardlog"
)

// destinationID is the ID of a delivery stream's one destination.
const destinationID = "destinationId-000000000001"

// createStream is CreateDeliveryStream.
func (a *api) createStream(ctx context.Context, in *createInput) (*createOutput, error) {
	name, err := checkName("DeliveryStreamName", in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	for field, set := range map[string]bool{
		"ElasticsearchDestinationConfiguration":              in.ElasticsearchDestinationConfiguration != nil,
		"AmazonopensearchserviceDestinationConfiguration":    in.AmazonopensearchserviceDestinationConfiguration != nil,
		"AmazonOpenSearchServerlessDestinationConfiguration": in.AmazonOpenSearchServerlessDestinationConfiguration != nil,
		"SplunkDestinationConfiguration":                     in.SplunkDestinationConfiguration != nil,
		"HttpEndpointDestinationConfiguration":               in.HttpEndpointDestinationConfiguration != nil,
		"SnowflakeDestinationConfiguration":                  in.SnowflakeDestinationConfiguration != nil,
		"IcebergDestinationConfiguration":                    in.IcebergDestinationConfiguration != nil,
		"MSKSourceConfiguration":                             in.MSKSourceConfiguration != nil,
		"DatabaseSourceConfiguration":                        in.DatabaseSourceConfiguration != nil,
	} {
		if set {
			return nil, invalidArg(field, "is not supported by Shoal (S3, extended S3 and Redshift destinations; DirectPut and KinesisStreamAsSource sources)")
		}
	}
	now := a.m.opts.Now()
	cfg := &streamConfig{Name: name, Type: typeDirectPut, Version: 1, Created: now}
	if in.DeliveryStreamType != nil && *in.DeliveryStreamType != "" {
		cfg.Type = *in.DeliveryStreamType
	}
	switch cfg.Type {
	case typeDirectPut:
		if in.KinesisStreamSourceConfiguration != nil {
			return nil, invalidArg("KinesisStreamSourceConfiguration", "is only for DeliveryStreamType KinesisStreamAsSource")
		}
	case typeKinesisSource:
		if err := a.kinesisSource(ctx, cfg, in.KinesisStreamSourceConfiguration); err != nil {
			return nil, err
		}
		if in.DeliveryStreamEncryptionConfigurationInput != nil {
			return nil, invalidArg("DeliveryStreamEncryptionConfigurationInput", "server-side encryption is only for DirectPut delivery streams")
		}
	default:
		return nil, invalidArg("DeliveryStreamType", "%q is not supported: use DirectPut or KinesisStreamAsSource", truncate(cfg.Type, 40))
	}
	n := 0
	for _, set := range []bool{in.S3DestinationConfiguration != nil, in.ExtendedS3DestinationConfiguration != nil, in.RedshiftDestinationConfiguration != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, invalidArg("DestinationConfiguration", "exactly one of ExtendedS3DestinationConfiguration, S3DestinationConfiguration and RedshiftDestinationConfiguration is required (got %d)", n)
	}
	switch {
	case in.ExtendedS3DestinationConfiguration != nil:
		cfg.S3, err = parseS3("ExtendedS3DestinationConfiguration", in.ExtendedS3DestinationConfiguration, true, nil)
	case in.S3DestinationConfiguration != nil:
		cfg.S3, err = parseS3("S3DestinationConfiguration", in.S3DestinationConfiguration, false, nil)
	default:
		cfg.Redshift, err = parseRedshift("RedshiftDestinationConfiguration", in.RedshiftDestinationConfiguration, nil)
	}
	if err != nil {
		return nil, err
	}
	if in.DeliveryStreamEncryptionConfigurationInput != nil {
		enc, err := parseEncryption("DeliveryStreamEncryptionConfigurationInput", in.DeliveryStreamEncryptionConfigurationInput)
		if err != nil {
			return nil, err
		}
		cfg.Encryption = enc
	}
	if len(in.Tags) > maxTags {
		return nil, invalidArg("Tags", "has %d tags; the limit is %d", len(in.Tags), maxTags)
	}
	if cfg.Tags, err = mergeTags(nil, "Tags", in.Tags); err != nil {
		return nil, err
	}
	if err := a.m.create(ctx, cfg); err != nil {
		return nil, err
	}
	return &createOutput{DeliveryStreamARN: a.m.arn(name)}, nil
}

// kinesisSource validates KinesisStreamSourceConfiguration: its stream
// must be a stream of the Kinesis Log, in this server's region and
// account.
func (a *api) kinesisSource(ctx context.Context, cfg *streamConfig, src *kinesisSourceConfiguration) error {
	const field = "KinesisStreamSourceConfiguration.KinesisStreamARN"
	if src == nil || src.KinesisStreamARN == nil || *src.KinesisStreamARN == "" {
		return invalidArg(field, "is required for DeliveryStreamType KinesisStreamAsSource")
	}
	arn := *src.KinesisStreamARN
	stream, err := kinesisStreamFromARN(field, arn)
	if err != nil {
		return err
	}
	kin := a.m.opts.Kinesis
	if kin == nil {
		return invalidArg(field, "this server has no Kinesis log to read")
	}
	if kin.StreamARN(stream) != arn {
		return invalidArg(field, "%q is not a stream of this server (its ARN would be %s)", truncate(arn, 256), kin.StreamARN(stream))
	}
	if _, err := kin.DescribeStreamSummary(ctx, shardlog.DescribeStreamSummaryInput{StreamName: stream}); err != nil {
		if errors.Is(err, shardlog.ErrResourceNotFound) {
			return invalidArg(field, "stream %s does not exist", stream)
		}
		return err
	}
	cfg.SourceARN, cfg.SourceStream = arn, stream
	if src.RoleARN != nil {
		cfg.SourceRoleARN = *src.RoleARN
	}
	return nil
}

// parseS3 validates an S3 destination configuration; with base, members
// left out keep base's values (UpdateDestination of the same type).
func parseS3(field string, c *s3Configuration, extended bool, base *s3Dest) (*s3Dest, error) {
	d := &s3Dest{Extended: extended, SizeInMBs: defaultSizeInMBs, IntervalInSeconds: defaultInterval, Compression: string(delivery.Uncompressed)}
	if base != nil {
		*d = *base
		d.Extended = extended
	}
	if c.BucketARN != nil || base == nil {
		arn := ""
		if c.BucketARN != nil {
			arn = *c.BucketARN
		}
		if arn == "" {
			return nil, invalidArg(field+".BucketARN", "is required (arn:aws:s3:::BUCKET)")
		}
		bucket, err := bucketFromARN(field+".BucketARN", arn)
		if err != nil {
			return nil, err
		}
		d.BucketARN, d.Bucket = arn, bucket
	}
	if c.RoleARN != nil {
		d.RoleARN = *c.RoleARN
	}
	var err error
	if c.Prefix != nil {
		if d.Prefix, err = checkPrefix(field+".Prefix", c.Prefix); err != nil {
			return nil, err
		}
	}
	if c.ErrorOutputPrefix != nil {
		if d.ErrorOutputPrefix, err = checkPrefix(field+".ErrorOutputPrefix", c.ErrorOutputPrefix); err != nil {
			return nil, err
		}
	}
	if c.BufferingHints != nil || base == nil {
		if d.SizeInMBs, d.IntervalInSeconds, err = checkBuffering(field+".BufferingHints", c.BufferingHints); err != nil {
			return nil, err
		}
	}
	if c.CompressionFormat != nil || base == nil {
		comp, err := checkCompression(field+".CompressionFormat", c.CompressionFormat)
		if err != nil {
			return nil, err
		}
		d.Compression = string(comp)
	}
	if err := checkProcessing(field+".ProcessingConfiguration", c.ProcessingConfiguration); err != nil {
		return nil, err
	}
	if c.DataFormatConversionConfiguration != nil && (c.DataFormatConversionConfiguration.Enabled == nil || *c.DataFormatConversionConfiguration.Enabled) {
		return nil, invalidArg(field+".DataFormatConversionConfiguration", "record format conversion is not supported over the wire (Parquet: see delivery/parquet)")
	}
	if c.DynamicPartitioningConfiguration != nil && c.DynamicPartitioningConfiguration.Enabled != nil && *c.DynamicPartitioningConfiguration.Enabled {
		return nil, invalidArg(field+".DynamicPartitioningConfiguration", "dynamic partitioning is not supported")
	}
	if c.S3BackupMode != nil && *c.S3BackupMode != "" && *c.S3BackupMode != "Disabled" {
		return nil, invalidArg(field+".S3BackupMode", "%q is not supported: only Disabled", truncate(*c.S3BackupMode, 40))
	}
	layout := delivery.KeyLayout{Prefix: d.Prefix, ErrorOutputPrefix: d.ErrorOutputPrefix}
	if err := layout.Validate(); err != nil {
		return nil, awsproto.Errorf(errInvalidArgument, "%s: %s", field, trim(err))
	}
	return d, nil
}

// parseRedshift validates a Redshift destination configuration; with
// base, members left out keep base's values.
func parseRedshift(field string, c *redshiftConfiguration, base *redshiftDest) (*redshiftDest, error) {
	d := &redshiftDest{}
	if base != nil {
		*d = *base
	}
	if c.ClusterJDBCURL != nil {
		d.ClusterJDBCURL = *c.ClusterJDBCURL
		if d.ClusterJDBCURL != "" {
			if _, err := jdbcToDSN(field+".ClusterJDBCURL", d.ClusterJDBCURL, "", ""); err != nil {
				return nil, err
			}
		}
	}
	if c.CopyCommand != nil || base == nil {
		if c.CopyCommand == nil || c.CopyCommand.DataTableName == nil || *c.CopyCommand.DataTableName == "" {
			return nil, invalidArg(field+".CopyCommand.DataTableName", "is required (the archive table)")
		}
		// Unquoted names fold to lower case, as in Redshift and
		// PostgreSQL; the archive takes lower-case names only.
		table := strings.ToLower(*c.CopyCommand.DataTableName)
		if !tablePattern.MatchString(table) {
			return nil, invalidArg(field+".CopyCommand.DataTableName", "%q is not a table name (1-%d characters of [a-zA-Z0-9_], not starting with a digit, optionally schema-qualified by a schema of 1-%d)",
				truncate(*c.CopyCommand.DataTableName, 80), maxTableLength, maxSchemaLength)
		}
		d.Table = table
		d.Columns, d.CopyOptions = "", ""
		if c.CopyCommand.DataTableColumns != nil {
			d.Columns = *c.CopyCommand.DataTableColumns
		}
		if c.CopyCommand.CopyOptions != nil {
			d.CopyOptions = *c.CopyCommand.CopyOptions
		}
	}
	if c.Username != nil {
		d.Username = *c.Username
	}
	if c.Password != nil {
		d.Password = *c.Password
	}
	if c.RoleARN != nil {
		d.RoleARN = *c.RoleARN
	}
	if err := checkProcessing(field+".ProcessingConfiguration", c.ProcessingConfiguration); err != nil {
		return nil, err
	}
	s3c, s3field := c.S3Configuration, field+".S3Configuration"
	if c.S3Update != nil {
		s3c, s3field = c.S3Update, field+".S3Update"
	}
	switch {
	case s3c != nil:
		var sb *s3Dest
		if base != nil {
			sb = &d.S3
		}
		s, err := parseS3(s3field, s3c, false, sb)
		if err != nil {
			return nil, err
		}
		if s.Compression != string(delivery.Uncompressed) && s.Compression != string(delivery.GZIP) {
			return nil, invalidArg(s3field+".CompressionFormat", "%q is not supported for Redshift: use UNCOMPRESSED or GZIP", s.Compression)
		}
		d.S3 = *s
	case base == nil:
		d.S3 = s3Dest{SizeInMBs: defaultSizeInMBs, IntervalInSeconds: defaultInterval, Compression: string(delivery.Uncompressed)}
	}
	return d, nil
}

// deleteStream is DeleteDeliveryStream. The stream stops gracefully
// (delivering what it buffered) unless AllowForceDelete is set, then it
// and, for DirectPut, its backing stream are gone.
func (a *api) deleteStream(ctx context.Context, in *deleteInput) (*empty, error) {
	name, err := checkName("DeliveryStreamName", in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	if err := a.m.remove(ctx, name); err != nil {
		return nil, err
	}
	return &empty{}, nil
}

// describeStream is DescribeDeliveryStream.
func (a *api) describeStream(ctx context.Context, in *describeInput) (*describeOutput, error) {
	name, err := checkName("DeliveryStreamName", in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	if in.Limit != nil && (*in.Limit < 1 || *in.Limit > maxListLimit) {
		return nil, invalidArg("Limit", "%d is out of range: 1-%d", *in.Limit, maxListLimit)
	}
	if id := in.ExclusiveStartDestinationId; id != nil && *id != "" && *id != destinationID {
		return nil, invalidArg("ExclusiveStartDestinationId", "%q names no destination of %s (its one destination is %s)", truncate(*id, 100), name, destinationID)
	}
	snap, err := a.m.get(name)
	if err != nil {
		return nil, err
	}
	cfg := snap.cfg
	d := streamDescription{
		DeliveryStreamName:   name,
		DeliveryStreamARN:    a.m.arn(name),
		DeliveryStreamStatus: "ACTIVE",
		DeliveryStreamType:   cfg.Type,
		VersionId:            strconv.Itoa(cfg.Version),
		CreateTimestamp:      epoch(cfg.Created),
		Destinations:         []destinationDescription{},
	}
	if snap.busy == "creating" {
		d.DeliveryStreamStatus = "CREATING"
	}
	if !cfg.Updated.IsZero() {
		u := epoch(cfg.Updated)
		d.LastUpdateTimestamp = &u
	}
	if in.ExclusiveStartDestinationId == nil || *in.ExclusiveStartDestinationId == "" {
		d.Destinations = append(d.Destinations, describeDestination(cfg))
	}
	if cfg.Type == typeKinesisSource {
		d.Source = &sourceDescription{KinesisStreamSourceDescription: &kinesisSourceDescription{
			KinesisStreamARN: cfg.SourceARN, RoleARN: cfg.SourceRoleARN, DeliveryStartTimestamp: epoch(cfg.Created),
		}}
	}
	if cfg.Type == typeDirectPut {
		enc := &encryptionDescription{Status: "DISABLED"}
		if e := cfg.Encryption; e != nil {
			enc = &encryptionDescription{Status: e.Status, KeyType: e.KeyType, KeyARN: e.KeyARN}
		}
		d.DeliveryStreamEncryptionConfiguration = enc
	}
	if snap.failure != nil {
		d.FailureDescription = &failureDescription{Type: "UNKNOWN_ERROR", Details: trim(snap.failure)}
	}
	return &describeOutput{DeliveryStreamDescription: d}, nil
}

// describeDestination is the description of cfg's destination.
func describeDestination(cfg *streamConfig) destinationDescription {
	d := destinationDescription{DestinationId: destinationID}
	switch {
	case cfg.S3 != nil:
		s := describeS3(cfg.S3)
		if cfg.S3.Extended {
			s.S3BackupMode = "Disabled"
			s.ProcessingConfiguration = &processingConfiguration{Enabled: new(false), Processors: []processor{}}
			d.ExtendedS3DestinationDescription = s
			// Firehose describes an extended destination in both shapes.
			plain := describeS3(cfg.S3)
			d.S3DestinationDescription = plain
		} else {
			d.S3DestinationDescription = s
		}
	case cfg.Redshift != nil:
		r := cfg.Redshift
		d.RedshiftDestinationDescription = &redshiftDescription{
			ClusterJDBCURL:           r.ClusterJDBCURL,
			CopyCommand:              copyCommand{DataTableName: new(r.Table), DataTableColumns: nonEmpty(r.Columns), CopyOptions: nonEmpty(r.CopyOptions)},
			RoleARN:                  r.RoleARN,
			Username:                 r.Username,
			S3DestinationDescription: *describeS3(&r.S3),
			S3BackupMode:             "Disabled",
		}
	}
	return d
}

func describeS3(s *s3Dest) *s3Description {
	return &s3Description{
		BucketARN:               s.BucketARN,
		RoleARN:                 s.RoleARN,
		Prefix:                  nonEmpty(s.Prefix),
		ErrorOutputPrefix:       nonEmpty(s.ErrorOutputPrefix),
		BufferingHints:          bufferingHints{SizeInMBs: new(s.SizeInMBs), IntervalInSeconds: new(s.IntervalInSeconds)},
		CompressionFormat:       s.Compression,
		EncryptionConfiguration: map[string]string{"NoEncryptionConfig": "NoEncryption"},
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// listStreams is ListDeliveryStreams.
func (a *api) listStreams(ctx context.Context, in *listInput) (*listOutput, error) {
	limit := int32(defaultListLimit)
	if in.Limit != nil {
		limit = *in.Limit
		if limit < 1 || limit > maxListLimit {
			return nil, invalidArg("Limit", "%d is out of range: 1-%d", limit, maxListLimit)
		}
	}
	typ := ""
	if in.DeliveryStreamType != nil {
		typ = *in.DeliveryStreamType
		if typ != "" && typ != typeDirectPut && typ != typeKinesisSource && typ != "MSKAsSource" && typ != "DatabaseAsSource" {
			return nil, invalidArg("DeliveryStreamType", "%q is not a delivery stream type (DirectPut, KinesisStreamAsSource, MSKAsSource, DatabaseAsSource)", truncate(typ, 40))
		}
	}
	start := ""
	if in.ExclusiveStartDeliveryStreamName != nil && *in.ExclusiveStartDeliveryStreamName != "" {
		var err error
		if start, err = checkName("ExclusiveStartDeliveryStreamName", in.ExclusiveStartDeliveryStreamName); err != nil {
			return nil, err
		}
	}
	out := &listOutput{DeliveryStreamNames: []string{}}
	all := a.m.list()
	i := 0
	if start != "" {
		i, _ = slices.BinarySearchFunc(all, start, func(c *streamConfig, s string) int {
			switch {
			case c.Name < s:
				return -1
			case c.Name > s:
				return 1
			}
			return 0
		})
		if i < len(all) && all[i].Name == start {
			i++
		}
	}
	for ; i < len(all); i++ {
		if typ != "" && all[i].Type != typ {
			continue
		}
		if len(out.DeliveryStreamNames) == int(limit) {
			out.HasMoreDeliveryStreams = true
			break
		}
		out.DeliveryStreamNames = append(out.DeliveryStreamNames, all[i].Name)
	}
	return out, nil
}

// updateDestination is UpdateDestination: the same destination type
// merges the given members into the configuration, another type needs
// its full configuration. The version goes up by one and the runtime
// restarts with the new configuration.
func (a *api) updateDestination(ctx context.Context, in *updateInput) (*empty, error) {
	name, err := checkName("DeliveryStreamName", in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	if in.CurrentDeliveryStreamVersionId == nil || *in.CurrentDeliveryStreamVersionId == "" {
		return nil, invalidArg("CurrentDeliveryStreamVersionId", "is required (DescribeDeliveryStream's VersionId)")
	}
	cur, err := strconv.Atoi(*in.CurrentDeliveryStreamVersionId)
	if err != nil || cur < 1 {
		return nil, invalidArg("CurrentDeliveryStreamVersionId", "%q is not a version ID (a positive number, as DescribeDeliveryStream reports)", truncate(*in.CurrentDeliveryStreamVersionId, 40))
	}
	if in.DestinationId == nil || *in.DestinationId == "" {
		return nil, invalidArg("DestinationId", "is required (%s)", destinationID)
	}
	if *in.DestinationId != destinationID {
		return nil, invalidArg("DestinationId", "%q names no destination of %s (its one destination is %s)", truncate(*in.DestinationId, 100), name, destinationID)
	}
	n := 0
	for _, set := range []bool{in.S3DestinationUpdate != nil, in.ExtendedS3DestinationUpdate != nil, in.RedshiftDestinationUpdate != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, invalidArg("DestinationUpdate", "exactly one of ExtendedS3DestinationUpdate, S3DestinationUpdate and RedshiftDestinationUpdate is required (got %d)", n)
	}
	err = a.m.modify(ctx, name, true, func(cfg *streamConfig) error {
		if cfg.Version != cur {
			return awsproto.Errorf(errConcurrentModification, "CurrentDeliveryStreamVersionId %d is stale: %s is at version %d", cur, name, cfg.Version)
		}
		switch {
		case in.ExtendedS3DestinationUpdate != nil, in.S3DestinationUpdate != nil:
			field, c, ext := "S3DestinationUpdate", in.S3DestinationUpdate, false
			if in.ExtendedS3DestinationUpdate != nil {
				field, c, ext = "ExtendedS3DestinationUpdate", in.ExtendedS3DestinationUpdate, true
			}
			s, err := parseS3(field, c, ext || (cfg.S3 != nil && cfg.S3.Extended), cfg.S3)
			if err != nil {
				return err
			}
			cfg.S3, cfg.Redshift = s, nil
		default:
			r, err := parseRedshift("RedshiftDestinationUpdate", in.RedshiftDestinationUpdate, cfg.Redshift)
			if err != nil {
				return err
			}
			cfg.S3, cfg.Redshift = nil, r
		}
		cfg.Version++
		cfg.Updated = a.m.opts.Now()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &empty{}, nil
}
