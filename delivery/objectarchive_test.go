package delivery_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// splitKey is the middle of the hash key space.
const splitKey = "170141183460469231731687303715884105728"

// newDest returns a destination and the archive over it.
func newDest(t *testing.T, s delivery.ObjectStore, opts delivery.ObjectOptions) (*delivery.ObjectDestination, *delivery.ObjectArchive) {
	t.Helper()
	d, err := delivery.NewObjectDestination(s, opts)
	require.NoError(t, err)
	a, err := delivery.NewObjectArchive(s, d.Options())
	require.NoError(t, err)
	return d, a
}

// checkArchive requires the archive to hold exactly what the log holds,
// shard by shard and key by key.
func checkArchive(t *testing.T, e *env, a *delivery.ObjectArchive, keys []string) {
	t.Helper()
	ctx := context.Background()
	var shards []shardlog.Shard // those with records: an empty shard has no batch
	for _, sh := range e.shards() {
		if len(e.records(sh.ShardID)) > 0 {
			shards = append(shards, sh)
		}
	}
	got, err := a.ArchivedShards(ctx, testStream)
	require.NoError(t, err)
	require.Equal(t, shards, got, "lineage, hash ranges and closed state as ListShards gives them")
	for _, sh := range shards {
		want := e.records(sh.ShardID)
		require.Equal(t, norm(want), norm(collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: testStream, ShardID: sh.ShardID}))), sh.ShardID)
		if len(want) > 2 {
			mid := want[len(want)/2].SequenceNumber
			require.Equal(t, norm(want[len(want)/2+1:]), norm(collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: testStream, ShardID: sh.ShardID, After: mid}))))
		}
	}
	for _, k := range keys {
		want := e.logKey(k, shardlog.SequenceNumber{})
		require.NotEmpty(t, want)
		require.Equal(t, norm(want), norm(collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: k}))), k)
		mid := want[len(want)/2].SequenceNumber
		require.Equal(t, norm(want[len(want)/2+1:]), norm(collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: k, After: mid}))), k)
	}
	require.Empty(t, collect(t, a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: "no-such-key"})))
	require.Empty(t, collect(t, a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: testStream, ShardID: "shardId-000000000099"})))
	shards, err = a.ArchivedShards(ctx, "other-stream")
	require.NoError(t, err)
	require.Empty(t, shards)
}

func TestObjectRoundTripRaw(t *testing.T) {
	eachStore(t, func(t *testing.T, s delivery.ObjectStore) {
		for _, c := range allCompressions {
			t.Run(string(c), func(t *testing.T) {
				if _, err := delivery.NewObjectDestination(s, delivery.ObjectOptions{Compression: c}); err != nil {
					t.Skipf("compression %s is not built yet: %v", c, err)
				}
				e := newEnv(t, 2)
				var pks []string
				for i := range 120 {
					pks = append(pks, fmt.Sprintf("key-%d", i%9))
				}
				e.putRaw(pks, func(i int) []byte { return fmt.Appendf(nil, `{"n":%d,"bin":"\u0000"}`+"\x00\xff", i) })
				// Each subtest its own index prefix and data prefix in the shared store.
				opts := delivery.ObjectOptions{Compression: c, Layout: delivery.KeyLayout{Prefix: "raw-" + string(c) + "/"}, IndexPrefix: "idx-" + string(c) + "/"}
				d, a := newDest(t, s, opts)
				e.deliverAll(d, 7)
				uniq := slices.Compact(slices.Sorted(slices.Values(pks)))
				checkArchive(t, e, a, uniq)

				// The data objects carry the extensions.
				objs := keys(t, s, "raw-"+string(c)+"/")
				require.NotEmpty(t, objs)
				for _, k := range objs {
					require.True(t, strings.HasSuffix(k, ".json"+c.Extension()), k)
				}
			})
		}
	})
}

func TestObjectRoundTripEvents(t *testing.T) {
	eachStore(t, func(t *testing.T, s delivery.ObjectStore) {
		e := newEnv(t, 1)
		streams := []string{"acct-1", "acct-2", "acct-3", "acct-4", "acct-5", "acct-6", "acct-7", "acct-8"}
		for round := range 3 {
			for _, id := range streams {
				_, err := e.events.Append(e.ctx, id, eventstore.Any, deposited{Amount: round})
				require.NoError(t, err)
			}
		}
		// Split: the aggregates' later events land in the children.
		require.NoError(t, e.log.SplitShard(e.ctx, shardlog.SplitShardInput{StreamName: testStream, ShardToSplit: "shardId-000000000000", NewStartingHashKey: splitKey}))
		for round := 3; round < 6; round++ {
			for _, id := range streams {
				_, err := e.events.Append(e.ctx, id, eventstore.Any, deposited{Amount: round, Note: "after split"})
				require.NoError(t, err)
			}
		}
		require.Len(t, e.shards(), 3)
		d, a := newDest(t, s, delivery.ObjectOptions{Format: delivery.JSONLines(e.events)})
		e.deliverAll(d, 5)
		checkArchive(t, e, a, streams)

		// The archived records decode to the same events, in version order.
		for _, id := range streams {
			var versions []uint64
			for r, err := range a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: id}) {
				require.NoError(t, err)
				ev, err := e.events.DecodeRecord(r)
				require.NoError(t, err)
				versions = append(versions, ev.Version)
			}
			require.Equal(t, []uint64{1, 2, 3, 4, 5, 6}, versions)
		}
	})
}

// plainStore hides a store's ObjectLister methods, so the archive takes
// its List-everything path.
type plainStore struct{ delivery.ObjectStore }

// eachStoreKind runs f on each store (fresh ones), as it is and as a
// plain ObjectStore.
func eachStoreKind(t *testing.T, f func(t *testing.T, s delivery.ObjectStore)) {
	t.Run("lister", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s delivery.ObjectStore) {
			_, ok := s.(delivery.ObjectLister)
			require.True(t, ok)
			f(t, s)
		})
	})
	t.Run("plain", func(t *testing.T) {
		eachStore(t, func(t *testing.T, s delivery.ObjectStore) { f(t, plainStore{s}) })
	})
}

func TestObjectArchiveSeesNewShards(t *testing.T) {
	eachStoreKind(t, func(t *testing.T, s delivery.ObjectStore) {
		e := newEnv(t, 2)
		var pks []string
		for i := range 60 {
			pks = append(pks, fmt.Sprintf("key-%d", i%6))
		}
		e.putRaw(pks, func(i int) []byte { return fmt.Appendf(nil, "r%d", i) })
		shards := e.shards()
		d, a := newDest(t, s, delivery.ObjectOptions{})
		// The higher shard is archived first; the archive reads it.
		for _, b := range e.batches(shards[1], 4) {
			require.NoError(t, d.Deliver(e.ctx, b))
		}
		inShard1 := func(k string) (out []shardlog.Record) {
			for _, r := range e.logKey(k, shardlog.SequenceNumber{}) {
				if r.SequenceNumber.ShardID() == shards[1].ShardID {
					out = append(out, r)
				}
			}
			return out
		}
		for i := range 6 {
			k := fmt.Sprintf("key-%d", i)
			require.Equal(t, norm(inShard1(k)), norm(collect(t, a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: k}))), k)
		}
		// Then the lower one: the same archive finds it.
		for _, b := range e.batches(shards[0], 4) {
			require.NoError(t, d.Deliver(e.ctx, b))
		}
		for i := range 6 {
			k := fmt.Sprintf("key-%d", i)
			require.Equal(t, norm(e.logKey(k, shardlog.SequenceNumber{})), norm(collect(t, a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: k}))), k)
		}
	})
}

func TestObjectRetryReplaces(t *testing.T) {
	eachStoreKind(t, func(t *testing.T, s delivery.ObjectStore) {
		e := newEnv(t, 1)
		var pks []string
		for i := range 15 {
			pks = append(pks, fmt.Sprintf("k%d", i%3))
		}
		e.putRaw(pks, func(i int) []byte { return fmt.Appendf(nil, "r%d", i) })
		sh := e.shards()[0]
		recs := e.records(sh.ShardID)
		d, a := newDest(t, s, delivery.ObjectOptions{})

		// The first attempt covers 0..4; the archive reads (and caches) it.
		require.NoError(t, d.Deliver(e.ctx, makeBatch(sh, recs[:5])))
		require.Equal(t, norm(recs[:5]), norm(collect(t, a.ReadShard(e.ctx, eventstore.ArchiveShardInput{StreamName: testStream, ShardID: sh.ShardID}))))
		require.Len(t, collect(t, a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: "k1"})), 2)
		first := dataKeys(t, s)
		require.Len(t, first, 1)

		// The retry starts at the same First and ends later (more records
		// were buffered after the restart), then the stream goes on.
		require.NoError(t, d.Deliver(e.ctx, makeBatch(sh, recs[:10])))
		require.Equal(t, first, dataKeys(t, s), "the retry replaced the data object")
		require.NoError(t, d.Deliver(e.ctx, makeBatch(sh, recs[10:])))
		require.Len(t, dataKeys(t, s), 2)

		// The same archive (its cache holds the first attempt's sidecar)
		// and a fresh one see each record once.
		fresh, err := delivery.NewObjectArchive(s, delivery.ObjectOptions{})
		require.NoError(t, err)
		for _, arc := range []*delivery.ObjectArchive{a, fresh} {
			require.Equal(t, norm(recs), norm(collect(t, arc.ReadShard(e.ctx, eventstore.ArchiveShardInput{StreamName: testStream, ShardID: sh.ShardID}))))
			for _, k := range []string{"k0", "k1", "k2"} {
				require.Equal(t, norm(e.logKey(k, shardlog.SequenceNumber{})), norm(collect(t, arc.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: k}))), k)
			}
		}
	})
}

func TestObjectCrashBeforeSidecar(t *testing.T) {
	eachStore(t, func(t *testing.T, s delivery.ObjectStore) {
		e := newEnv(t, 1)
		e.putRaw([]string{"a", "b", "a", "b", "a", "b", "a", "b"}, func(i int) []byte { return fmt.Appendf(nil, "r%d", i) })
		sh := e.shards()[0]
		recs := e.records(sh.ShardID)
		cs := newCounting(s)
		d, a := newDest(t, cs, delivery.ObjectOptions{})
		crash := errors.New("crash")
		cs.failPut = func(key string) error {
			if strings.HasSuffix(key, ".json") && strings.HasPrefix(key, delivery.DefaultIndexPrefix) && !strings.HasSuffix(key, "shard.json") {
				return crash
			}
			return nil
		}
		require.ErrorIs(t, d.Deliver(e.ctx, makeBatch(sh, recs[:3])), crash)
		orphan := dataKeys(t, s)
		require.Len(t, orphan, 1, "the data object was uploaded")
		require.Empty(t, collect(t, a.ReadShard(e.ctx, eventstore.ArchiveShardInput{StreamName: testStream, ShardID: sh.ShardID})), "but readers through the index do not see it")

		cs.failPut = nil
		require.NoError(t, d.Deliver(e.ctx, makeBatch(sh, recs[:6])))
		require.Equal(t, orphan, dataKeys(t, s), "the retry's upload replaced it")
		require.NoError(t, d.Deliver(e.ctx, makeBatch(sh, recs[6:])))
		require.Equal(t, norm(recs), norm(collect(t, a.ReadShard(e.ctx, eventstore.ArchiveShardInput{StreamName: testStream, ShardID: sh.ShardID}))))
		require.Equal(t, norm(e.logKey("a", shardlog.SequenceNumber{})), norm(collect(t, a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: "a"}))))
	})
}

func TestObjectReadKeyOpensOnlyItsObjects(t *testing.T) {
	eachStore(t, func(t *testing.T, s delivery.ObjectStore) {
		e := newEnv(t, 2)
		// "rare" is in records 13 and 57 only; batches of 10 records.
		var pks []string
		for i := range 100 {
			k := fmt.Sprintf("common-%d", i%4)
			if i == 13 || i == 57 {
				k = "rare"
			}
			pks = append(pks, k)
		}
		e.putRaw(pks, func(i int) []byte { return fmt.Appendf(nil, "r%d", i) })
		cs := newCounting(s)
		d, a := newDest(t, cs, delivery.ObjectOptions{})
		e.deliverAll(d, 10)
		require.Greater(t, len(dataKeys(t, s)), 8)

		want := e.logKey("rare", shardlog.SequenceNumber{})
		require.Len(t, want, 2)
		cs.dataGets()
		require.Equal(t, norm(want), norm(collect(t, a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: "rare"}))))
		opened := cs.dataGets()
		require.LessOrEqual(t, len(opened), 2, "only the objects holding the key: %v", opened)
		require.NotEmpty(t, opened)
		for k, n := range opened {
			require.Equal(t, 1, n, k)
		}

		// After the key's last record, nothing is opened.
		require.Empty(t, collect(t, a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: "rare", After: want[1].SequenceNumber})))
		require.Empty(t, cs.dataGets())
		// Nor for a key that is not archived.
		require.Empty(t, collect(t, a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: "nowhere"})))
		require.Empty(t, cs.dataGets())
	})
}

func TestObjectCatalog(t *testing.T) {
	eachStore(t, func(t *testing.T, s delivery.ObjectStore) {
		e := newEnv(t, 1)
		e.putRaw([]string{"a", "b"}, func(i int) []byte { return []byte("x") })
		open := e.shards()[0]
		require.False(t, open.Closed)
		d, a := newDest(t, s, delivery.ObjectOptions{})
		require.NoError(t, d.Deliver(e.ctx, makeBatch(open, e.records(open.ShardID))))
		got, err := a.ArchivedShards(e.ctx, testStream)
		require.NoError(t, err)
		require.Equal(t, []shardlog.Shard{open}, got)

		require.NoError(t, e.log.SplitShard(e.ctx, shardlog.SplitShardInput{StreamName: testStream, ShardToSplit: open.ShardID, NewStartingHashKey: splitKey}))
		e.putRaw([]string{"a", "b", "c", "d"}, func(i int) []byte { return []byte("y") })
		// A batch seen through the shard's closed state rewrites the catalog.
		shards := e.shards()
		closed := shards[0]
		require.True(t, closed.Closed)
		empty := &delivery.Batch{DeliveryStream: "archive", Version: 1, Source: testStream, Shard: closed, First: closed.EndingSequenceNumber, Last: closed.EndingSequenceNumber}
		require.NoError(t, d.Deliver(e.ctx, empty))
		// A late retry with the old view does not reopen it.
		d2, _ := newDest(t, s, delivery.ObjectOptions{})
		require.NoError(t, d2.Deliver(e.ctx, makeBatch(open, e.records(open.ShardID))))
		e.deliverAll(d, 10)
		got, err = a.ArchivedShards(e.ctx, testStream)
		require.NoError(t, err)
		require.Equal(t, shards, got)
		require.True(t, got[0].Closed)
		require.Equal(t, closed.EndingSequenceNumber, got[0].EndingSequenceNumber)
		require.Equal(t, open.ShardID, got[1].ParentShardID)
	})
}

// rawFormat writes the records' bytes back to back: not readable back.
type rawFormat struct{}

func (rawFormat) Name() string      { return "raw" }
func (rawFormat) Extension() string { return "" }
func (rawFormat) Encode(w io.Writer, b *delivery.Batch) error {
	for _, r := range b.Records {
		if _, err := w.Write(r.Data); err != nil {
			return err
		}
	}
	return nil
}

func TestObjectUnreadableFormat(t *testing.T) {
	eachStore(t, func(t *testing.T, s delivery.ObjectStore) {
		e := newEnv(t, 1)
		e.putRaw([]string{"a", "b"}, func(i int) []byte { return []byte("x") })
		d, a := newDest(t, s, delivery.ObjectOptions{Format: rawFormat{}})
		e.deliverAll(d, 10)
		obj := dataKeys(t, s)
		require.Len(t, obj, 1)
		var ue *delivery.UnreadableObjectError
		for _, err := range a.ReadShard(e.ctx, eventstore.ArchiveShardInput{StreamName: testStream, ShardID: e.shards()[0].ShardID}) {
			require.ErrorAs(t, err, &ue)
		}
		require.NotNil(t, ue)
		require.Equal(t, obj[0], ue.Key)
		require.Equal(t, "raw", ue.Format)
		for _, err := range a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: "a"}) {
			require.ErrorIs(t, err, delivery.ErrUnreadableFormat)
			require.ErrorContains(t, err, obj[0])
		}
	})
}

func TestObjectErrorOutput(t *testing.T) {
	eachStore(t, func(t *testing.T, s delivery.ObjectStore) {
		for _, c := range allCompressions {
			t.Run(string(c), func(t *testing.T) {
				layout := delivery.KeyLayout{Prefix: "data/", ErrorOutputPrefix: "errors-" + string(c) + "/!{firehose:error-output-type}/"}
				d, err := delivery.NewObjectDestination(s, delivery.ObjectOptions{Layout: layout, Compression: c, DeliveryStream: "archive", Version: 3})
				if err != nil {
					t.Skipf("compression %s is not built yet: %v", c, err)
				}
				ctx := context.Background()
				failed := []delivery.FailedRecord{
					{AttemptsMade: 4, ArrivalTimestamp: t0.Add(time.Second), ErrorCode: "Lambda.FunctionError", ErrorMessage: "boom", RawData: []byte("one\x00"), Source: testStream, ShardID: "shardId-000000000000", SequenceNumber: shardlog.MakeSequenceNumber(10, 0), PartitionKey: "k1"},
					{AttemptsMade: 4, ArrivalTimestamp: t0, ErrorCode: "Lambda.FunctionError", ErrorMessage: "boom", RawData: []byte("two"), Source: testStream, ShardID: "shardId-000000000000", SequenceNumber: shardlog.MakeSequenceNumber(11, 0), PartitionKey: "k2"},
				}
				require.NoError(t, d.DeliverFailed(ctx, delivery.ProcessingFailed, failed))
				objs := keys(t, s, "errors-"+string(c)+"/")
				require.Len(t, objs, 1)
				require.Contains(t, objs[0], string(delivery.ProcessingFailed))
				require.Contains(t, objs[0], "2030/01/02/03/", "named from the oldest record's arrival")
				require.True(t, strings.HasSuffix(objs[0], c.Extension()))
				raw, err := s.Get(ctx, objs[0])
				require.NoError(t, err)
				lines := strings.Split(strings.TrimSuffix(string(decompress(t, c, raw)), "\n"), "\n")
				require.Len(t, lines, 2)
				for i, l := range lines {
					var m map[string]any
					require.NoError(t, json.Unmarshal([]byte(l), &m))
					for _, f := range []string{"attemptsMade", "errorCode", "errorMessage", "rawData", "sourceStream", "shardId", "sequenceNumber", "partitionKey"} {
						require.Contains(t, m, f)
					}
					require.EqualValues(t, 4, m["attemptsMade"])
					require.Equal(t, "boom", m["errorMessage"])
					require.Equal(t, base64.StdEncoding.EncodeToString(failed[i].RawData), m["rawData"])
					require.Equal(t, failed[i].SequenceNumber.String(), m["sequenceNumber"])
					require.Equal(t, failed[i].PartitionKey, m["partitionKey"])
				}
				// Writing the same records again replaces the object.
				require.NoError(t, d.DeliverFailed(ctx, delivery.ProcessingFailed, failed))
				require.Len(t, keys(t, s, "errors-"+string(c)+"/"), 1)
				// Other records, another object; none, nothing.
				require.NoError(t, d.DeliverFailed(ctx, delivery.DeliveryFailed, failed[:1]))
				require.Len(t, keys(t, s, "errors-"+string(c)+"/"), 2)
				require.NoError(t, d.DeliverFailed(ctx, delivery.DeliveryFailed, nil))
				require.Len(t, keys(t, s, "errors-"+string(c)+"/"), 2)
			})
		}
	})
}

func TestObjectBadInput(t *testing.T) {
	ctx := context.Background()
	s, err := delivery.NewDirStore(t.TempDir())
	require.NoError(t, err)
	var ae *shardlog.ArgumentError
	_, err = delivery.NewObjectDestination(nil, delivery.ObjectOptions{})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "store", ae.Field)
	_, err = delivery.NewObjectDestination(s, delivery.ObjectOptions{IndexPrefix: "no-slash"})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "IndexPrefix", ae.Field)
	_, err = delivery.NewObjectDestination(s, delivery.ObjectOptions{Compression: "LZ4"})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "Compression", ae.Field)
	// The names of error objects are checked up front, not at the first
	// failed record (when the error output would fail for the whole
	// retry duration).
	_, err = delivery.NewObjectDestination(s, delivery.ObjectOptions{DeliveryStream: "a/b"})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "DeliveryStreamName", ae.Field)
	_, err = delivery.NewObjectDestination(s, delivery.ObjectOptions{Version: -1})
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "Version", ae.Field)
	_, err = delivery.NewObjectArchive(nil, delivery.ObjectOptions{})
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)

	d, a := newDest(t, s, delivery.ObjectOptions{})
	require.ErrorIs(t, d.Deliver(ctx, nil), shardlog.ErrInvalidArgument)
	require.ErrorAs(t, d.Deliver(ctx, &delivery.Batch{Shard: shardlog.Shard{ShardID: "s"}}), &ae)
	require.Equal(t, "Batch.Source", ae.Field)
	require.ErrorAs(t, d.Deliver(ctx, &delivery.Batch{Source: "x"}), &ae)
	require.Equal(t, "Batch.Shard.ShardID", ae.Field)
	require.ErrorAs(t, d.DeliverFailed(ctx, "", []delivery.FailedRecord{{}}), &ae)
	require.Equal(t, "outputType", ae.Field)

	for _, err := range a.ReadKey(ctx, shardlog.ReadKeyInput{StreamName: testStream}) {
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "PartitionKey", ae.Field)
	}
	for _, err := range a.ReadShard(ctx, eventstore.ArchiveShardInput{StreamName: testStream}) {
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "ShardID", ae.Field)
	}
	_, err = a.ArchivedShards(ctx, "")
	require.ErrorIs(t, err, shardlog.ErrInvalidArgument)
}

// Readers and a writer at once: every read sees a prefix of each key's
// records, in order and without repeats, and the last read sees them all.
func TestObjectArchiveConcurrentReads(t *testing.T) {
	eachStore(t, func(t *testing.T, s delivery.ObjectStore) {
		e := newEnv(t, 2)
		var pks []string
		for i := range 200 {
			pks = append(pks, fmt.Sprintf("key-%d", i%5))
		}
		e.putRaw(pks, func(i int) []byte { return fmt.Appendf(nil, "r%d", i) })
		d, a := newDest(t, s, delivery.ObjectOptions{})
		want := map[string][]rec{}
		for i := range 5 {
			k := fmt.Sprintf("key-%d", i)
			want[k] = norm(e.logKey(k, shardlog.SequenceNumber{}))
		}
		done := make(chan struct{})
		errs := make(chan error, 4)
		for g := range 4 {
			go func() {
				k := fmt.Sprintf("key-%d", g)
				for {
					select {
					case <-done:
						errs <- nil
						return
					default:
					}
					var got []shardlog.Record
					for r, err := range a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: k}) {
						if err != nil {
							errs <- err
							return
						}
						got = append(got, r)
					}
					// Shards are delivered one after the other, so a read
					// sees whole shards' worth in sequence order, each once.
					n := norm(got)
					for i := 1; i < len(n); i++ {
						if c, _ := shardlog.CompareSequenceNumbers(n[i-1].Seq, n[i].Seq); c >= 0 {
							errs <- fmt.Errorf("%s: out of order or repeated at %d", k, i)
							return
						}
					}
				}
			}()
		}
		e.deliverAll(d, 9)
		close(done)
		for range 4 {
			require.NoError(t, <-errs)
		}
		for k, w := range want {
			require.Equal(t, w, norm(collect(t, a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: k}))), k)
		}
	})
}

// A sidecar that fails to load is tried again by the next read.
func TestObjectArchiveIndexErrorRetried(t *testing.T) {
	eachStore(t, func(t *testing.T, s delivery.ObjectStore) {
		e := newEnv(t, 1)
		e.putRaw([]string{"a", "b", "a", "b", "a", "b"}, func(i int) []byte { return fmt.Appendf(nil, "r%d", i) })
		cs := newCounting(s)
		d, a := newDest(t, cs, delivery.ObjectOptions{})
		e.deliverAll(d, 2)
		down := errors.New("store down")
		cs.failGet = func(key string) error {
			if strings.HasPrefix(key, delivery.DefaultIndexPrefix) && strings.Contains(key, "/0") {
				return down
			}
			return nil
		}
		for _, err := range a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: "a"}) {
			require.ErrorIs(t, err, down)
		}
		cs.failGet = nil
		require.Equal(t, norm(e.logKey("a", shardlog.SequenceNumber{})), norm(collect(t, a.ReadKey(e.ctx, shardlog.ReadKeyInput{StreamName: testStream, PartitionKey: "a"}))))
	})
}
