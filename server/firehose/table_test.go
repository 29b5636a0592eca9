package firehose_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/stretchr/testify/require"
)

// TestRedshiftTableName: DataTableName follows the PostgreSQL archive's
// rules at the API, naming the field and the limit: an unquoted name is
// folded to lower case, as Redshift and PostgreSQL do; a table name
// longer than 48 bytes is refused (the archive derives its index and
// error table names from it).
func TestRedshiftTableName(t *testing.T) {
	calls := &archiveCalls{}
	e := newEnv(t, withArchive(calls, ""))
	create := func(name, table string) error {
		cfg := redshiftConfig("jdbc:postgresql://h:5432/db")
		cfg.CopyCommand.DataTableName = aws.String(table)
		_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(name), RedshiftDestinationConfiguration: cfg})
		return err
	}
	require.NoError(t, create("upper", "Analytics.MyEvents"))
	require.Equal(t, []string{"analytics.myevents"}, calls.table)
	require.Equal(t, "analytics.myevents", aws.ToString(e.describe(t, "upper").Destinations[0].RedshiftDestinationDescription.CopyCommand.DataTableName))

	msg := requireAPIError(t, create("long", strings.Repeat("t", 49)), "InvalidArgumentException")
	require.Contains(t, msg, "DataTableName")
	require.Contains(t, msg, "48")
	require.NoError(t, create("long", strings.Repeat("t", 48)))
	msg = requireAPIError(t, create("schema", strings.Repeat("s", 64)+".t"), "InvalidArgumentException")
	require.Contains(t, msg, "DataTableName")
	require.Contains(t, msg, "63")
}
