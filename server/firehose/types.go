package firehose

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// The wire shapes of the operations, as Firehose's model names them.

type bufferingHints struct {
	SizeInMBs         *int32 `json:"SizeInMBs,omitempty"`
	IntervalInSeconds *int32 `json:"IntervalInSeconds,omitempty"`
}

type processor struct {
	Type       string `json:"Type"`
	Parameters []struct {
		ParameterName  string `json:"ParameterName"`
		ParameterValue string `json:"ParameterValue"`
	} `json:"Parameters,omitempty"`
}

type processingConfiguration struct {
	Enabled    *bool       `json:"Enabled,omitempty"`
	Processors []processor `json:"Processors,omitempty"`
}

type enabledConfiguration struct {
	Enabled *bool `json:"Enabled,omitempty"`
}

type s3Configuration struct {
	BucketARN                         *string                  `json:"BucketARN"`
	RoleARN                           *string                  `json:"RoleARN"`
	Prefix                            *string                  `json:"Prefix"`
	ErrorOutputPrefix                 *string                  `json:"ErrorOutputPrefix"`
	BufferingHints                    *bufferingHints          `json:"BufferingHints"`
	CompressionFormat                 *string                  `json:"CompressionFormat"`
	ProcessingConfiguration           *processingConfiguration `json:"ProcessingConfiguration"`
	DataFormatConversionConfiguration *enabledConfiguration    `json:"DataFormatConversionConfiguration"`
	DynamicPartitioningConfiguration  *enabledConfiguration    `json:"DynamicPartitioningConfiguration"`
	S3BackupMode                      *string                  `json:"S3BackupMode"`
}

type copyCommand struct {
	DataTableName    *string `json:"DataTableName"`
	DataTableColumns *string `json:"DataTableColumns,omitempty"`
	CopyOptions      *string `json:"CopyOptions,omitempty"`
}

type redshiftConfiguration struct {
	ClusterJDBCURL          *string                  `json:"ClusterJDBCURL"`
	CopyCommand             *copyCommand             `json:"CopyCommand"`
	Username                *string                  `json:"Username"`
	Password                *string                  `json:"Password"`
	RoleARN                 *string                  `json:"RoleARN"`
	S3Configuration         *s3Configuration         `json:"S3Configuration"`
	S3Update                *s3Configuration         `json:"S3Update"` // UpdateDestination's name
	ProcessingConfiguration *processingConfiguration `json:"ProcessingConfiguration"`
}

type kinesisSourceConfiguration struct {
	KinesisStreamARN *string `json:"KinesisStreamARN"`
	RoleARN          *string `json:"RoleARN"`
}

type encryptionInput struct {
	KeyType *string `json:"KeyType"`
	KeyARN  *string `json:"KeyARN"`
}

type tag struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value,omitempty"`
}

type createInput struct {
	DeliveryStreamName                         *string                     `json:"DeliveryStreamName"`
	DeliveryStreamType                         *string                     `json:"DeliveryStreamType"`
	KinesisStreamSourceConfiguration           *kinesisSourceConfiguration `json:"KinesisStreamSourceConfiguration"`
	S3DestinationConfiguration                 *s3Configuration            `json:"S3DestinationConfiguration"`
	ExtendedS3DestinationConfiguration         *s3Configuration            `json:"ExtendedS3DestinationConfiguration"`
	RedshiftDestinationConfiguration           *redshiftConfiguration      `json:"RedshiftDestinationConfiguration"`
	DeliveryStreamEncryptionConfigurationInput *encryptionInput            `json:"DeliveryStreamEncryptionConfigurationInput"`
	Tags                                       []tag                       `json:"Tags"`
	// Destinations Shoal does not serve: present means refused.
	ElasticsearchDestinationConfiguration              *struct{} `json:"ElasticsearchDestinationConfiguration"`
	AmazonopensearchserviceDestinationConfiguration    *struct{} `json:"AmazonopensearchserviceDestinationConfiguration"`
	AmazonOpenSearchServerlessDestinationConfiguration *struct{} `json:"AmazonOpenSearchServerlessDestinationConfiguration"`
	SplunkDestinationConfiguration                     *struct{} `json:"SplunkDestinationConfiguration"`
	HttpEndpointDestinationConfiguration               *struct{} `json:"HttpEndpointDestinationConfiguration"`
	SnowflakeDestinationConfiguration                  *struct{} `json:"SnowflakeDestinationConfiguration"`
	IcebergDestinationConfiguration                    *struct{} `json:"IcebergDestinationConfiguration"`
	MSKSourceConfiguration                             *struct{} `json:"MSKSourceConfiguration"`
	DatabaseSourceConfiguration                        *struct{} `json:"DatabaseSourceConfiguration"`
}

type createOutput struct {
	DeliveryStreamARN string `json:"DeliveryStreamARN"`
}

type nameInput struct {
	DeliveryStreamName *string `json:"DeliveryStreamName"`
}

type deleteInput struct {
	DeliveryStreamName *string `json:"DeliveryStreamName"`
	AllowForceDelete   *bool   `json:"AllowForceDelete"`
}

type describeInput struct {
	DeliveryStreamName          *string `json:"DeliveryStreamName"`
	Limit                       *int32  `json:"Limit"`
	ExclusiveStartDestinationId *string `json:"ExclusiveStartDestinationId"`
}

type s3Description struct {
	BucketARN               string                   `json:"BucketARN"`
	RoleARN                 string                   `json:"RoleARN"`
	Prefix                  *string                  `json:"Prefix,omitempty"`
	ErrorOutputPrefix       *string                  `json:"ErrorOutputPrefix,omitempty"`
	BufferingHints          bufferingHints           `json:"BufferingHints"`
	CompressionFormat       string                   `json:"CompressionFormat"`
	EncryptionConfiguration map[string]string        `json:"EncryptionConfiguration"`
	ProcessingConfiguration *processingConfiguration `json:"ProcessingConfiguration,omitempty"`
	S3BackupMode            string                   `json:"S3BackupMode,omitempty"`
}

type redshiftDescription struct {
	ClusterJDBCURL           string        `json:"ClusterJDBCURL"`
	CopyCommand              copyCommand   `json:"CopyCommand"`
	RoleARN                  string        `json:"RoleARN"`
	Username                 string        `json:"Username,omitempty"`
	S3DestinationDescription s3Description `json:"S3DestinationDescription"`
	S3BackupMode             string        `json:"S3BackupMode"`
}

type destinationDescription struct {
	DestinationId                    string               `json:"DestinationId"`
	S3DestinationDescription         *s3Description       `json:"S3DestinationDescription,omitempty"`
	ExtendedS3DestinationDescription *s3Description       `json:"ExtendedS3DestinationDescription,omitempty"`
	RedshiftDestinationDescription   *redshiftDescription `json:"RedshiftDestinationDescription,omitempty"`
}

type failureDescription struct {
	Type    string `json:"Type"`
	Details string `json:"Details"`
}

type encryptionDescription struct {
	KeyARN  string `json:"KeyARN,omitempty"`
	KeyType string `json:"KeyType,omitempty"`
	Status  string `json:"Status"`
}

type kinesisSourceDescription struct {
	KinesisStreamARN       string `json:"KinesisStreamARN"`
	RoleARN                string `json:"RoleARN,omitempty"`
	DeliveryStartTimestamp epoch  `json:"DeliveryStartTimestamp"`
}

type sourceDescription struct {
	KinesisStreamSourceDescription *kinesisSourceDescription `json:"KinesisStreamSourceDescription,omitempty"`
}

type streamDescription struct {
	DeliveryStreamName                    string                   `json:"DeliveryStreamName"`
	DeliveryStreamARN                     string                   `json:"DeliveryStreamARN"`
	DeliveryStreamStatus                  string                   `json:"DeliveryStreamStatus"`
	DeliveryStreamType                    string                   `json:"DeliveryStreamType"`
	VersionId                             string                   `json:"VersionId"`
	CreateTimestamp                       epoch                    `json:"CreateTimestamp"`
	LastUpdateTimestamp                   *epoch                   `json:"LastUpdateTimestamp,omitempty"`
	Destinations                          []destinationDescription `json:"Destinations"`
	HasMoreDestinations                   bool                     `json:"HasMoreDestinations"`
	Source                                *sourceDescription       `json:"Source,omitempty"`
	DeliveryStreamEncryptionConfiguration *encryptionDescription   `json:"DeliveryStreamEncryptionConfiguration,omitempty"`
	FailureDescription                    *failureDescription      `json:"FailureDescription,omitempty"`
}

type describeOutput struct {
	DeliveryStreamDescription streamDescription `json:"DeliveryStreamDescription"`
}

type listInput struct {
	Limit                            *int32  `json:"Limit"`
	DeliveryStreamType               *string `json:"DeliveryStreamType"`
	ExclusiveStartDeliveryStreamName *string `json:"ExclusiveStartDeliveryStreamName"`
}

type listOutput struct {
	DeliveryStreamNames    []string `json:"DeliveryStreamNames"`
	HasMoreDeliveryStreams bool     `json:"HasMoreDeliveryStreams"`
}

type record struct {
	Data []byte `json:"Data"`
}

type putRecordInput struct {
	DeliveryStreamName *string `json:"DeliveryStreamName"`
	Record             *record `json:"Record"`
}

type putRecordOutput struct {
	RecordId  string `json:"RecordId"`
	Encrypted bool   `json:"Encrypted"`
}

type putRecordBatchInput struct {
	DeliveryStreamName *string   `json:"DeliveryStreamName"`
	Records            []*record `json:"Records"`
}

type batchEntry struct {
	RecordId     string `json:"RecordId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type putRecordBatchOutput struct {
	FailedPutCount   int          `json:"FailedPutCount"`
	Encrypted        bool         `json:"Encrypted"`
	RequestResponses []batchEntry `json:"RequestResponses"`
}

type tagInput struct {
	DeliveryStreamName *string `json:"DeliveryStreamName"`
	Tags               []tag   `json:"Tags"`
}

type untagInput struct {
	DeliveryStreamName *string  `json:"DeliveryStreamName"`
	TagKeys            []string `json:"TagKeys"`
}

type listTagsInput struct {
	DeliveryStreamName   *string `json:"DeliveryStreamName"`
	ExclusiveStartTagKey *string `json:"ExclusiveStartTagKey"`
	Limit                *int32  `json:"Limit"`
}

type tagOut struct {
	Key   string  `json:"Key"`
	Value *string `json:"Value,omitempty"`
}

type listTagsOutput struct {
	Tags        []tagOut `json:"Tags"`
	HasMoreTags bool     `json:"HasMoreTags"`
}

type startEncryptionInput struct {
	DeliveryStreamName                         *string          `json:"DeliveryStreamName"`
	DeliveryStreamEncryptionConfigurationInput *encryptionInput `json:"DeliveryStreamEncryptionConfigurationInput"`
}

type updateInput struct {
	DeliveryStreamName             *string                `json:"DeliveryStreamName"`
	CurrentDeliveryStreamVersionId *string                `json:"CurrentDeliveryStreamVersionId"`
	DestinationId                  *string                `json:"DestinationId"`
	S3DestinationUpdate            *s3Configuration       `json:"S3DestinationUpdate"`
	ExtendedS3DestinationUpdate    *s3Configuration       `json:"ExtendedS3DestinationUpdate"`
	RedshiftDestinationUpdate      *redshiftConfiguration `json:"RedshiftDestinationUpdate"`
}

// epoch is a timestamp on the wire: seconds since the Unix epoch, with
// millisecond precision.
type epoch time.Time

// MarshalJSON encodes the time as epoch seconds with three decimals.
func (e epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', 3, 64), nil
}

// UnmarshalJSON decodes epoch seconds.
func (e *epoch) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1e11 {
		return fmt.Errorf("timestamp %.32q is not a number of epoch seconds", b)
	}
	*e = epoch(time.UnixMilli(int64(math.Round(f * 1000))))
	return nil
}
