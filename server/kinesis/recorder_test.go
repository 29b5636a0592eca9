package kinesis_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/shoal-dev/shoal/server/kinesis"
	"github.com/stretchr/testify/require"
)

// tallyRecorder sums what the API reports, per stream and per shard.
type tallyRecorder struct {
	mu       sync.Mutex
	in, out  map[string]int // "stream" or "stream/shard" → records
	inBytes  map[string]int
	ageShard map[string]bool
}

func newTally() *tallyRecorder {
	return &tallyRecorder{in: map[string]int{}, out: map[string]int{}, inBytes: map[string]int{}, ageShard: map[string]bool{}}
}

func (r *tallyRecorder) Incoming(s string, n, b int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.in[s] += n
	r.inBytes[s] += b
}
func (r *tallyRecorder) Outgoing(s string, n, _ int) { r.mu.Lock(); r.out[s] += n; r.mu.Unlock() }
func (r *tallyRecorder) WriteThrottled(string)       {}
func (r *tallyRecorder) ReadThrottled(string)        {}
func (r *tallyRecorder) IteratorAge(string, int64)   {}
func (r *tallyRecorder) IncomingShard(s, sh string, n, _ int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.in[s+"/"+sh] += n
}
func (r *tallyRecorder) OutgoingShard(s, sh string, n, _ int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out[s+"/"+sh] += n
}
func (r *tallyRecorder) IteratorAgeShard(s, sh string, _ int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ageShard[s+"/"+sh] = true
}

// TestRecorder: the API reports records in and out per stream always, and
// per shard only for the metrics enhanced monitoring turned on.
func TestRecorder(t *testing.T) {
	rec := newTally()
	e := newEnv(t, false, kinesis.WithRecorder(rec))
	e.createStream(t, "s", 1)
	put := func(n int) {
		var entries []types.PutRecordsRequestEntry
		for i := range n {
			entries = append(entries, types.PutRecordsRequestEntry{Data: []byte("abcd"), PartitionKey: aws.String(fmt.Sprint("k", i))})
		}
		_, err := e.client.PutRecords(e.ctx, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
		require.NoError(t, err)
	}
	put(3)
	shard, _ := e.put(t, "s", "k", "xyz")
	_, err := e.client.EnableEnhancedMonitoring(e.ctx, &sdk.EnableEnhancedMonitoringInput{
		StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingRecords, types.MetricsNameIteratorAgeMilliseconds},
	})
	require.NoError(t, err)
	put(5)
	it, err := e.client.GetShardIterator(e.ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	require.NoError(t, err)
	got, err := e.client.GetRecords(e.ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	require.NoError(t, err)
	require.Len(t, got.Records, 9)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Equal(t, 9, rec.in["s"], "every accepted record, per stream")
	// 8 records of "abcd" keyed k0..k2 and k0..k4 (6 bytes each), one of "xyz" keyed "k".
	require.Equal(t, 8*6+4, rec.inBytes["s"], "data plus partition key")
	require.Equal(t, 5, rec.in["s/"+shard], "per shard only once IncomingRecords was on")
	require.Equal(t, 9, rec.out["s"])
	require.Zero(t, rec.out["s/"+shard], "OutgoingRecords is off")
	require.True(t, rec.ageShard["s/"+shard], "IteratorAgeMilliseconds is on")
}
