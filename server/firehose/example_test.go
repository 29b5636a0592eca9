package firehose_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/shoal-dev/shoal/server/firehose"
)

// Serve the Firehose API over a Manager and create a DirectPut delivery
// stream to the filesystem store with the AWS SDK.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "firehose-example")
	defer os.RemoveAll(dir)
	mgr, err := firehose.OpenManager(ctx, firehose.ManagerOptions{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer mgr.Close()
	srv := httptest.NewServer(firehose.Handler(mgr))
	defer srv.Close()

	client := sdk.New(sdk.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	out, err := client.CreateDeliveryStream(ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("orders"),
		ExtendedS3DestinationConfiguration: &types.ExtendedS3DestinationConfiguration{
			BucketARN:      aws.String("arn:aws:s3:::archive"), // objects under DIR/objects/archive/
			RoleARN:        aws.String("arn:aws:iam::000000000000:role/firehose"),
			BufferingHints: &types.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(60)},
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(aws.ToString(out.DeliveryStreamARN))
	list, err := client.ListDeliveryStreams(ctx, &sdk.ListDeliveryStreamsInput{})
	if err != nil {
		panic(err)
	}
	fmt.Println(list.DeliveryStreamNames)
	// Output:
	// arn:aws:firehose:us-east-1:000000000000:deliverystream/orders
	// [orders]
}
