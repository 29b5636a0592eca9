package firehose

import (
	"time"
)

// streamConfig is a delivery stream's configuration as the Manager keeps
// it (in streams.json) and Describe reports it.
type streamConfig struct {
	Name string `json:"name"`
	Type string `json:"type"` // typeDirectPut or typeKinesisSource
	// The Kinesis source (KinesisStreamAsSource): its ARN and stream name.
	SourceARN     string           `json:"kinesisStreamARN,omitempty"`
	SourceStream  string           `json:"kinesisStream,omitempty"`
	SourceRoleARN string           `json:"kinesisRoleARN,omitempty"`
	Version       int              `json:"version"`
	Created       time.Time        `json:"created"`
	Updated       time.Time        `json:"updated,omitzero"`
	S3            *s3Dest          `json:"s3,omitempty"`
	Redshift      *redshiftDest    `json:"redshift,omitempty"`
	Tags          []storedTag      `json:"tags,omitempty"`
	Encryption    *encryptionState `json:"encryption,omitempty"`
}

// s3Dest is an S3 destination (or a Redshift destination's S3
// configuration).
type s3Dest struct {
	Extended          bool   `json:"extended,omitempty"`
	BucketARN         string `json:"bucketARN"`
	Bucket            string `json:"bucket"`
	RoleARN           string `json:"roleARN,omitempty"`
	Prefix            string `json:"prefix,omitempty"`
	ErrorOutputPrefix string `json:"errorOutputPrefix,omitempty"`
	SizeInMBs         int32  `json:"sizeInMBs"`
	IntervalInSeconds int32  `json:"intervalInSeconds"`
	Compression       string `json:"compression"`
}

// redshiftDest is a Redshift destination, served by the PostgreSQL
// archive.
type redshiftDest struct {
	ClusterJDBCURL string `json:"clusterJDBCURL,omitempty"`
	Table          string `json:"table"`
	Columns        string `json:"columns,omitempty"`
	CopyOptions    string `json:"copyOptions,omitempty"`
	Username       string `json:"username,omitempty"`
	Password       string `json:"password,omitempty"`
	RoleARN        string `json:"roleARN,omitempty"`
	S3             s3Dest `json:"s3"`
}

type storedTag struct {
	Key   string  `json:"key"`
	Value *string `json:"value,omitempty"`
}

// encryptionState is StartDeliveryStreamEncryption's recorded setting.
type encryptionState struct {
	Status  string      `json:"status"` // ENABLED or DISABLED
	KeyType string      `json:"keyType,omitempty"`
	KeyARN  string      `json:"keyARN,omitempty"`
	Calls   []time.Time `json:"calls,omitempty"` // Start/Stop calls in the last 24 h
}

// clone returns a deep copy of c.
func (c *streamConfig) clone() *streamConfig {
	d := *c
	if c.S3 != nil {
		s := *c.S3
		d.S3 = &s
	}
	if c.Redshift != nil {
		r := *c.Redshift
		d.Redshift = &r
	}
	d.Tags = append([]storedTag(nil), c.Tags...)
	if c.Encryption != nil {
		e := *c.Encryption
		e.Calls = append([]time.Time(nil), c.Encryption.Calls...)
		d.Encryption = &e
	}
	return &d
}

// buffering is the configuration's buffering hints.
func (c *streamConfig) buffering() (size, interval int32) {
	switch {
	case c.S3 != nil:
		return c.S3.SizeInMBs, c.S3.IntervalInSeconds
	case c.Redshift != nil:
		return c.Redshift.S3.SizeInMBs, c.Redshift.S3.IntervalInSeconds
	}
	return defaultSizeInMBs, defaultInterval
}
