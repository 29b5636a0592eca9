package firehose_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/stretchr/testify/require"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/server/firehose"
	"github.com/shoal-dev/shoal/shardlog"
)

// liveness bounds how long an operation that must not wait for another
// stream's stop may take: a generous deadline so that a blocked call
// fails the test instead of hanging it, not a timing assertion.
const liveness = 10 * time.Second

// slowRuntime is a runtime whose graceful stop takes until release is
// closed, and whose puts can be held at a gate; a put creates the backing
// stream if it is missing, as delivery.Stream does on its first put.
type slowRuntime struct {
	cfg      delivery.Config
	stopping chan struct{} // closed when Run sees its context end
	release  chan struct{} // Run returns when closed
	entered  chan struct{} // a put reached the gate (buffered)
	gate     chan struct{} // nil: puts do not wait
	putErr   error
}

func newSlowRuntime(cfg delivery.Config) *slowRuntime {
	return &slowRuntime{cfg: cfg, stopping: make(chan struct{}), release: make(chan struct{}), entered: make(chan struct{}, 16)}
}

func (s *slowRuntime) Run(ctx context.Context) error {
	<-ctx.Done()
	close(s.stopping)
	<-s.release
	return nil
}

func (s *slowRuntime) put(ctx context.Context) error {
	s.entered <- struct{}{}
	if s.gate != nil {
		<-s.gate
	}
	if s.putErr != nil {
		return s.putErr
	}
	l, name := s.cfg.Source.Log, s.cfg.Source.StreamName
	if _, err := l.DescribeStreamSummary(ctx, shardlog.DescribeStreamSummaryInput{StreamName: name}); errors.Is(err, shardlog.ErrResourceNotFound) {
		if err := l.CreateStream(ctx, shardlog.CreateStreamInput{StreamName: name, ShardCount: 1}); err != nil && !errors.Is(err, shardlog.ErrResourceInUse) {
			return err
		}
	}
	return nil
}

func (s *slowRuntime) PutRecord(ctx context.Context, data []byte) (string, error) {
	if err := s.put(ctx); err != nil {
		return "", err
	}
	return "rec", nil
}

func (s *slowRuntime) PutRecordBatch(ctx context.Context, records [][]byte) (*delivery.PutRecordBatchOutput, error) {
	if err := s.put(ctx); err != nil {
		return nil, err
	}
	out := &delivery.PutRecordBatchOutput{}
	for range records {
		out.RequestResponses = append(out.RequestResponses, delivery.PutRecordBatchResult{RecordID: "rec"})
	}
	return out, nil
}

// slowRuntimes builds slowRuntimes for the streams named in slow (fakes
// for the rest) and keeps them by name.
type slowRuntimes struct {
	fakes *fakes
	slow  map[string]bool
	gate  chan struct{}
	err   error

	mu  sync.Mutex
	all map[string][]*slowRuntime
}

func (s *slowRuntimes) last(name string) *slowRuntime {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.all[name]
	return rs[len(rs)-1]
}

func withSlow(s *slowRuntimes) envOption {
	return func(o *firehose.ManagerOptions) {
		o.StopTimeout = time.Hour
		firehose.SetRuntime(o, func(cfg delivery.Config) (firehose.Runtime, error) {
			if !s.slow[cfg.Name] {
				return s.fakes.build(cfg)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			r := newSlowRuntime(cfg)
			r.gate, r.putErr = s.gate, s.err
			if s.all == nil {
				s.all = map[string][]*slowRuntime{}
			}
			s.all[cfg.Name] = append(s.all[cfg.Name], r)
			return r, nil
		})
	}
}

// within runs fn and fails the test if it has not returned within
// liveness.
func within(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(liveness):
		t.Fatalf("%s blocked for %s", what, liveness)
		return nil
	}
}

// TestUpdateDestinationDoesNotBlockOthers: while UpdateDestination waits
// for a stream's graceful stop, the other streams' operations go on; the
// updating stream's other control operations are ResourceInUseException.
func TestUpdateDestinationDoesNotBlockOthers(t *testing.T) {
	s := &slowRuntimes{slow: map[string]bool{"slow": true}}
	e := newEnv(t, withSlow(s))
	s.fakes = e.fakes
	e.createDirect(t, "slow", "bucket")
	e.createDirect(t, "other", "bucket")
	old := s.last("slow")
	t.Cleanup(func() {
		select {
		case <-old.release:
		default:
			close(old.release)
		}
	})

	updated := make(chan error, 1)
	go func() {
		_, err := e.client.UpdateDestination(e.ctx, &sdk.UpdateDestinationInput{
			DeliveryStreamName: aws.String("slow"), CurrentDeliveryStreamVersionId: aws.String("1"),
			DestinationId: aws.String("destinationId-000000000001"), ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{Prefix: aws.String("v2/")},
		})
		updated <- err
	}()
	<-old.stopping

	require.NoError(t, within(t, "ListDeliveryStreams", func() error {
		_, err := e.client.ListDeliveryStreams(e.ctx, &sdk.ListDeliveryStreamsInput{})
		return err
	}))
	require.NoError(t, within(t, "PutRecord to another stream", func() error {
		_, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{DeliveryStreamName: aws.String("other"), Record: &types.Record{Data: []byte("x")}})
		return err
	}))
	require.NoError(t, within(t, "CreateDeliveryStream", func() error {
		_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("third"), ExtendedS3DestinationConfiguration: s3Config("bucket")})
		return err
	}))
	require.NoError(t, within(t, "DescribeDeliveryStream of the updating stream", func() error {
		_, err := e.client.DescribeDeliveryStream(e.ctx, &sdk.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("slow")})
		return err
	}))
	err := within(t, "TagDeliveryStream of the updating stream", func() error {
		_, err := e.client.TagDeliveryStream(e.ctx, &sdk.TagDeliveryStreamInput{DeliveryStreamName: aws.String("slow"), Tags: []types.Tag{{Key: aws.String("k")}}})
		return err
	})
	requireAPIError(t, err, "ResourceInUseException")
	err = within(t, "DeleteDeliveryStream of the updating stream", func() error {
		_, err := e.client.DeleteDeliveryStream(e.ctx, &sdk.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("slow")})
		return err
	})
	requireAPIError(t, err, "ResourceInUseException")

	close(old.release)
	require.NoError(t, <-updated)
	d := e.describe(t, "slow")
	require.Equal(t, "2", aws.ToString(d.VersionId))
	require.Equal(t, "v2/", aws.ToString(d.Destinations[0].ExtendedS3DestinationDescription.Prefix))
	require.Equal(t, 2, s.last("slow").cfg.Version)
	close(s.last("slow").release)

	// The update is persisted.
	e.restart(t)
	require.Equal(t, "2", aws.ToString(e.describe(t, "slow").VersionId))
	close(s.last("slow").release)
}

// TestCreateDoesNotBlockOthers: opening a slow destination (a PostgreSQL
// archive's connection) does not hold up the other streams' operations.
func TestCreateDoesNotBlockOthers(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e := newEnv(t, func(o *firehose.ManagerOptions) {
		o.Archive = func(ctx context.Context, dsn, table string) (delivery.Destination, io.Closer, error) {
			once.Do(func() { close(entered) })
			<-release
			return nopDest{}, nil, nil
		}
	})
	e.createDirect(t, "other", "bucket")
	created := make(chan error, 1)
	go func() {
		_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
			DeliveryStreamName: aws.String("to-pg"), RedshiftDestinationConfiguration: redshiftConfig("jdbc:postgresql://h:5432/db"),
		})
		created <- err
	}()
	<-entered
	require.NoError(t, within(t, "PutRecord to another stream", func() error {
		_, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{DeliveryStreamName: aws.String("other"), Record: &types.Record{Data: []byte("x")}})
		return err
	}))
	// The stream being created is CREATING, and its name is taken.
	d := e.describe(t, "to-pg")
	require.Equal(t, types.DeliveryStreamStatusCreating, d.DeliveryStreamStatus)
	_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("to-pg"), ExtendedS3DestinationConfiguration: s3Config("bucket")})
	requireAPIError(t, err, "ResourceInUseException")
	close(release)
	require.NoError(t, <-created)
	require.Equal(t, types.DeliveryStreamStatusActive, e.describe(t, "to-pg").DeliveryStreamStatus)
	e.restart(t)
	require.Equal(t, types.DeliveryStreamStatusActive, e.describe(t, "to-pg").DeliveryStreamStatus)
}

// TestDeleteThenCreateSameName: while a deleted stream is still stopping,
// its name cannot be created again (the old stream's clean-up would
// delete the new stream's backing stream and checkpoints).
func TestDeleteThenCreateSameName(t *testing.T) {
	s := &slowRuntimes{slow: map[string]bool{"x": true}}
	e := newEnv(t, withSlow(s))
	s.fakes = e.fakes
	e.createDirect(t, "x", "bucket")
	old := s.last("x")
	deleted := make(chan error, 1)
	go func() {
		_, err := e.client.DeleteDeliveryStream(e.ctx, &sdk.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("x")})
		deleted <- err
	}()
	<-old.stopping
	_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: s3Config("bucket")})
	requireAPIError(t, err, "ResourceInUseException")
	close(old.release)
	require.NoError(t, <-deleted)
	e.createDirect(t, "x", "bucket")
	close(s.last("x").release)
}

// TestPutRacingDelete: a put in flight when its stream is deleted
// finishes before the backing stream is removed, so it cannot leave (or
// create) a backing stream behind that a new stream of the same name
// would deliver.
func TestPutRacingDelete(t *testing.T) {
	s := &slowRuntimes{slow: map[string]bool{"x": true}, gate: make(chan struct{})}
	e := newEnv(t, withSlow(s))
	s.fakes = e.fakes
	e.createDirect(t, "x", "bucket")
	rt := s.last("x")
	close(rt.release) // stops at once
	put := make(chan error, 1)
	go func() {
		_, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{DeliveryStreamName: aws.String("x"), Record: &types.Record{Data: []byte("x")}})
		put <- err
	}()
	<-rt.entered
	deleted := make(chan error, 1)
	go func() {
		_, err := e.client.DeleteDeliveryStream(e.ctx, &sdk.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("x")})
		deleted <- err
	}()
	<-rt.stopping
	// Give a delete that does not wait for the put time to finish first
	// (a correct one waits for the put, whatever the timing).
	select {
	case err := <-deleted:
		deleted <- err
	case <-time.After(300 * time.Millisecond):
	}
	close(s.gate)
	require.NoError(t, <-put)
	require.NoError(t, <-deleted)
	_, err := e.mgr.Log().DescribeStreamSummary(e.ctx, shardlog.DescribeStreamSummaryInput{StreamName: "x"})
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "the deleted stream's backing stream is gone")
}

// TestPutToVanishedBackingStream: a runtime error saying the backing
// stream is gone is ResourceNotFoundException, not a 500.
func TestPutToVanishedBackingStream(t *testing.T) {
	s := &slowRuntimes{slow: map[string]bool{"x": true}, err: fmt.Errorf("delivery x: put: %w", shardlog.ErrResourceNotFound)}
	e := newEnv(t, withSlow(s))
	s.fakes = e.fakes
	e.createDirect(t, "x", "bucket")
	close(s.last("x").release)
	_, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{DeliveryStreamName: aws.String("x"), Record: &types.Record{Data: []byte("x")}})
	requireAPIError(t, err, "ResourceNotFoundException")
	_, err = e.client.PutRecordBatch(e.ctx, &sdk.PutRecordBatchInput{DeliveryStreamName: aws.String("x"), Records: []types.Record{{Data: []byte("x")}}})
	requireAPIError(t, err, "ResourceNotFoundException")
}

// TestDeleteCleansUp: deleting a delivery stream removes its DirectPut
// backing stream and its checkpoints, so a new stream of the same name
// reading a Kinesis stream starts again from the trim horizon. (Needs the
// delivery runtime.)
func TestDeleteCleansUp(t *testing.T) {
	requireRuntime(t)
	synctest.Test(t, func(t *testing.T) {
		e := startEnvIn(t, t.TempDir(), false, true)
		hints := &types.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)}
		direct := s3Config("direct")
		direct.BufferingHints = hints
		_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("direct"), ExtendedS3DestinationConfiguration: direct})
		require.NoError(t, err)
		_, err = e.client.PutRecord(e.ctx, &sdk.PutRecordInput{DeliveryStreamName: aws.String("direct"), Record: &types.Record{Data: []byte("d\n")}})
		require.NoError(t, err)

		arn := e.createKinesisStream(t, "clicks", 1)
		_, err = e.kinesis.PutRecord(e.ctx, shardlog.PutRecordInput{StreamName: "clicks", PartitionKey: "k", Data: []byte("c\n")})
		require.NoError(t, err)
		createArchive := func() {
			dest := s3Config("archive")
			dest.BufferingHints = hints
			_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
				DeliveryStreamName: aws.String("arch"), DeliveryStreamType: types.DeliveryStreamTypeKinesisStreamAsSource,
				KinesisStreamSourceConfiguration:   &types.KinesisStreamSourceConfiguration{KinesisStreamARN: aws.String(arn), RoleARN: aws.String("arn:aws:iam::000000000000:role/r")},
				ExtendedS3DestinationConfiguration: dest,
			})
			require.NoError(t, err)
		}
		createArchive()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Len(t, e.objects(t, "direct"), 1)
		require.Len(t, e.objects(t, "archive"), 1)

		for _, name := range []string{"direct", "arch"} {
			_, err = e.client.DeleteDeliveryStream(e.ctx, &sdk.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String(name)})
			require.NoError(t, err)
		}
		_, err = e.mgr.Log().DescribeStreamSummary(e.ctx, shardlog.DescribeStreamSummaryInput{StreamName: "direct"})
		require.ErrorIs(t, err, shardlog.ErrResourceNotFound, "the backing stream is deleted")

		// The same name again reads clicks from the start: its old
		// checkpoints are gone. (The object it writes has the same
		// content-named key, so the first one is removed to see it.)
		require.NoError(t, os.RemoveAll(filepath.Join(e.dir, "objects", "archive")))
		createArchive()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		objs := e.objects(t, "archive")
		require.Len(t, objs, 1)
		for _, b := range objs {
			require.Equal(t, []string{"c"}, recordsIn(t, b, false))
		}
		require.NoError(t, e.mgr.Close())
	})
}

// TestStreamsFileIsPrivate: streams.json holds Redshift passwords, so it
// and its directory are the owner's only; Describe does not show the
// password.
func TestStreamsFileIsPrivate(t *testing.T) {
	e := startEnv(t, filepath.Join(t.TempDir(), "firehose"), true, withArchive(&archiveCalls{}, ""))
	_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("to-pg"), RedshiftDestinationConfiguration: redshiftConfig("jdbc:postgresql://h:5432/db"),
	})
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(e.dir, "streams.json"))
	require.NoError(t, err)
	require.Contains(t, string(b), "s3cret")
	for path, mode := range map[string]os.FileMode{filepath.Join(e.dir, "streams.json"): 0o600, e.dir: 0o700} {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, mode, fi.Mode().Perm(), path)
	}
	out, err := e.client.DescribeDeliveryStream(e.ctx, &sdk.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("to-pg")})
	require.NoError(t, err)
	raw, err := json.Marshal(out.DeliveryStreamDescription)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "s3cret")
}

// TestPutNeverClaimsEncryption: Shoal records a stream's encryption
// setting but does not encrypt its records, so PutRecord and
// PutRecordBatch answer Encrypted false even while it is enabled: a put
// never tells the client its data was encrypted when it was not.
func TestPutNeverClaimsEncryption(t *testing.T) {
	e := newEnv(t)
	e.createDirect(t, "x", "bucket")
	put := func() (bool, bool) {
		t.Helper()
		one, err := e.client.PutRecord(e.ctx, &sdk.PutRecordInput{DeliveryStreamName: aws.String("x"), Record: &types.Record{Data: []byte("x")}})
		require.NoError(t, err)
		batch, err := e.client.PutRecordBatch(e.ctx, &sdk.PutRecordBatchInput{DeliveryStreamName: aws.String("x"), Records: []types.Record{{Data: []byte("x")}}})
		require.NoError(t, err)
		return aws.ToBool(one.Encrypted), aws.ToBool(batch.Encrypted)
	}
	_, err := e.client.StartDeliveryStreamEncryption(e.ctx, &sdk.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("x")})
	require.NoError(t, err)
	one, batch := put()
	require.False(t, one)
	require.False(t, batch)
}

// TestUpdateOutlivesItsRequest: once UpdateDestination has stopped the
// old runtime, the client hanging up does not leave the stream without
// one (its destination opened with the request's cancelled context).
func TestUpdateOutlivesItsRequest(t *testing.T) {
	s := &slowRuntimes{slow: map[string]bool{"x": true}}
	e := startEnvIn(t, t.TempDir(), true, true, withSlow(s), func(o *firehose.ManagerOptions) {
		o.Archive = func(ctx context.Context, dsn, table string) (delivery.Destination, io.Closer, error) {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			return nopDest{}, nil, nil
		}
	})
	s.fakes = e.fakes
	_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("x"), RedshiftDestinationConfiguration: redshiftConfig("jdbc:postgresql://h:5432/db"),
	})
	require.NoError(t, err)
	old := s.last("x")
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = e.client.UpdateDestination(ctx, &sdk.UpdateDestinationInput{
			DeliveryStreamName: aws.String("x"), CurrentDeliveryStreamVersionId: aws.String("1"),
			DestinationId:             aws.String("destinationId-000000000001"),
			RedshiftDestinationUpdate: &types.RedshiftDestinationUpdate{CopyCommand: &types.CopyCommand{DataTableName: aws.String("t2")}},
		})
	}()
	<-old.stopping
	cancel()
	close(old.release)
	<-done
	d := e.describe(t, "x")
	require.Nil(t, d.FailureDescription)
	require.Equal(t, "2", aws.ToString(d.VersionId))
	require.Equal(t, "t2", aws.ToString(d.Destinations[0].RedshiftDestinationDescription.CopyCommand.DataTableName))
	close(s.last("x").release)
}

// TestFailedCreateIsNotPersisted: a stream whose create fails is not in
// streams.json, even if another stream was saved while it was being
// created.
func TestFailedCreateIsNotPersisted(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fail := true
	e := newEnv(t, func(o *firehose.ManagerOptions) {
		o.Archive = func(ctx context.Context, dsn, table string) (delivery.Destination, io.Closer, error) {
			if !fail {
				return nopDest{}, nil, nil
			}
			once.Do(func() { close(entered) })
			<-release
			return nil, nil, errors.New("connection refused")
		}
	})
	created := make(chan error, 1)
	go func() {
		_, err := e.client.CreateDeliveryStream(e.ctx, &sdk.CreateDeliveryStreamInput{
			DeliveryStreamName: aws.String("to-pg"), RedshiftDestinationConfiguration: redshiftConfig("jdbc:postgresql://h:5432/db"),
		})
		created <- err
	}()
	<-entered
	e.createDirect(t, "other", "bucket")
	close(release)
	requireAPIError(t, <-created, "InvalidArgumentException")
	fail = false
	e.restart(t)
	out, err := e.client.ListDeliveryStreams(e.ctx, &sdk.ListDeliveryStreamsInput{})
	require.NoError(t, err)
	require.Equal(t, []string{"other"}, out.DeliveryStreamNames)
}
