package eventstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/eventstore"
	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func TestAppendExpectedVersion(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		s := e.store()
		ctx := e.ctx
		const id = "acct-1"

		v, err := s.Version(ctx, id)
		require.NoError(t, err)
		require.Zero(t, v)
		ok, err := s.Exists(ctx, id)
		require.NoError(t, err)
		require.False(t, ok)

		// StreamExists and Exact(n>0) refuse a stream with no events.
		_, err = s.Append(ctx, id, eventstore.StreamExists, deposited{Amount: 1})
		requireWrongVersion(t, err, id, eventstore.StreamExists, 0)
		_, err = s.Append(ctx, id, eventstore.Exact(1), deposited{Amount: 1})
		requireWrongVersion(t, err, id, eventstore.Exact(1), 0)
		require.Zero(t, e.rawCount(id))

		res, err := s.Append(ctx, id, eventstore.NoStream, opened{Owner: "ann", Limit: 10})
		require.NoError(t, err)
		require.Equal(t, id, res.StreamID)
		require.Equal(t, uint64(1), res.FirstVersion)
		require.Equal(t, uint64(1), res.LastVersion)
		require.Equal(t, res.First, res.Last)
		require.False(t, res.Deduplicated)
		require.False(t, res.RecordedAt.IsZero())
		require.Equal(t, e.owner(id).ShardID, res.First.ShardID)

		// NoStream and Exact(0) are one expectation.
		require.Equal(t, eventstore.NoStream, eventstore.Exact(0))
		_, err = s.Append(ctx, id, eventstore.NoStream, deposited{Amount: 1})
		requireWrongVersion(t, err, id, eventstore.NoStream, 1)
		_, err = s.Append(ctx, id, eventstore.Exact(0), deposited{Amount: 1})
		requireWrongVersion(t, err, id, eventstore.NoStream, 1)
		_, err = s.Append(ctx, id, eventstore.Exact(2), deposited{Amount: 1})
		requireWrongVersion(t, err, id, eventstore.Exact(2), 1)
		require.Contains(t, err.Error(), `"acct-1"`)
		require.Contains(t, err.Error(), "expected version 2, actual 1")

		res, err = s.Append(ctx, id, eventstore.Exact(1), deposited{Amount: 5}, deposited{Amount: 6})
		require.NoError(t, err)
		require.Equal(t, uint64(2), res.FirstVersion)
		require.Equal(t, uint64(3), res.LastVersion)

		res, err = s.Append(ctx, id, eventstore.StreamExists, withdrawn{Amount: 2})
		require.NoError(t, err)
		require.Equal(t, uint64(4), res.FirstVersion)

		res, err = s.Append(ctx, id, eventstore.Any, withdrawn{Amount: 3})
		require.NoError(t, err)
		require.Equal(t, uint64(5), res.LastVersion)

		// Any on a new stream starts it.
		res, err = s.Append(ctx, "acct-2", eventstore.Any, opened{Owner: "bob"})
		require.NoError(t, err)
		require.Equal(t, uint64(1), res.LastVersion)

		v, err = s.Version(ctx, id)
		require.NoError(t, err)
		require.Equal(t, uint64(5), v)
		ok, err = s.Exists(ctx, id)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, 5, e.rawCount(id))
		require.Equal(t, span(1, 5), versions(mustReadAll(t, s.Read(ctx, id, 0))))

		for _, tc := range []struct {
			ev   eventstore.ExpectedVersion
			want string
		}{{eventstore.Any, "any"}, {eventstore.NoStream, "no stream"}, {eventstore.StreamExists, "stream exists"}, {eventstore.Exact(7), "7"}} {
			require.Equal(t, tc.want, tc.ev.String())
		}
		n, exact := eventstore.Exact(7).Version()
		require.True(t, exact)
		require.Equal(t, uint64(7), n)
		_, exact = eventstore.Any.Version()
		require.False(t, exact)
		_, exact = eventstore.StreamExists.Version()
		require.False(t, exact)
	})
}

// TestAppendAtomic: the events of one append are contiguous in one shard,
// and a batch that the log refuses writes nothing.
func TestAppendAtomic(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withShards(4))
		s := e.store()
		ctx := e.ctx
		// Interleave appends to many streams so that the shards are busy.
		for i := range 20 {
			_, err := s.Append(ctx, fmt.Sprintf("other-%d", i), eventstore.Any, deposited{Amount: i})
			require.NoError(t, err)
		}
		evs := []any{opened{Owner: "a"}, deposited{Amount: 1}, deposited{Amount: 2}, withdrawn{Amount: 3}}
		res, err := s.Append(ctx, "acct", eventstore.NoStream, evs...)
		require.NoError(t, err)
		require.Equal(t, res.First.ShardID, res.Last.ShardID)
		require.Equal(t, res.First.SequenceNumber.ShardIndex(), res.Last.SequenceNumber.ShardIndex())
		require.Equal(t, uint64(len(evs)-1), res.Last.SequenceNumber.Position()-res.First.SequenceNumber.Position())
		got := mustReadAll(t, s.Read(ctx, "acct", 0))
		require.Len(t, got, len(evs))
		for i, ev := range got {
			require.Equal(t, res.First.ShardID, ev.Position.ShardID)
			require.Equal(t, res.First.SequenceNumber.Position()+uint64(i), ev.Position.SequenceNumber.Position())
			require.True(t, ev.RecordedAt.Equal(res.RecordedAt))
			d, err := ev.Data()
			require.NoError(t, err)
			require.Equal(t, evs[i], d)
		}
		require.Equal(t, res.First, got[0].Position)
		require.Equal(t, res.Last, got[len(got)-1].Position)

		// The third event is too big for a record: nothing is written.
		big := deposited{Amount: 1, Note: strings.Repeat("x", 1<<20)}
		_, err = s.Append(ctx, "acct", eventstore.Exact(4), deposited{Amount: 5}, withdrawn{Amount: 6}, big)
		requireArgument(t, err, "events[2]")
		require.Equal(t, 4, e.rawCount("acct"))
		v, err := s.Version(ctx, "acct")
		require.NoError(t, err)
		require.Equal(t, uint64(4), v)
	})
}

// TestAppendIdempotent walks every case of Append's doc comment.
func TestAppendIdempotent(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		s := e.store()
		ctx := e.ctx
		ev := func(amount int) eventstore.Proposed {
			return eventstore.NewEvent(deposited{Amount: amount}, eventstore.Metadata{})
		}
		requireSame := func(t *testing.T, orig, got eventstore.AppendResult) {
			t.Helper()
			require.True(t, got.Deduplicated)
			orig.Deduplicated = true
			require.True(t, orig.RecordedAt.Equal(got.RecordedAt), "recorded at %v, not %v", got.RecordedAt, orig.RecordedAt)
			got.RecordedAt = orig.RecordedAt
			require.Equal(t, orig, got)
		}
		version := func(id string) uint64 {
			v, err := s.Version(ctx, id)
			require.NoError(t, err)
			return v
		}

		t.Run("Exact", func(t *testing.T) {
			const id = "exact"
			a, b, c := ev(1), ev(2), ev(3)
			first, err := s.Append(ctx, id, eventstore.NoStream, a, b)
			require.NoError(t, err)
			require.False(t, first.Deduplicated)

			// A retry while it is the latest append.
			again, err := s.Append(ctx, id, eventstore.NoStream, a, b)
			require.NoError(t, err)
			requireSame(t, first, again)
			again, err = s.Append(ctx, id, eventstore.Exact(0), a, b)
			require.NoError(t, err)
			requireSame(t, first, again)
			require.Equal(t, 2, e.rawCount(id))

			second, err := s.Append(ctx, id, eventstore.Exact(2), c)
			require.NoError(t, err)
			for i := range 5 {
				_, err := s.Append(ctx, id, eventstore.Exact(uint64(3+i)), ev(10+i))
				require.NoError(t, err)
			}
			require.Equal(t, 8, e.rawCount(id))

			// However many events were appended after them.
			again, err = s.Append(ctx, id, eventstore.NoStream, a, b)
			require.NoError(t, err)
			requireSame(t, first, again)
			again, err = s.Append(ctx, id, eventstore.Exact(2), c)
			require.NoError(t, err)
			requireSame(t, second, again)

			// Events stored at n+1..n+k match positionally, whatever
			// appends they came from.
			sub, err := s.Append(ctx, id, eventstore.NoStream, a)
			require.NoError(t, err)
			require.True(t, sub.Deduplicated)
			require.Equal(t, uint64(1), sub.FirstVersion)
			require.Equal(t, uint64(1), sub.LastVersion)
			require.Equal(t, first.First, sub.First)
			require.Equal(t, first.First, sub.Last)
			sub, err = s.Append(ctx, id, eventstore.Exact(1), b)
			require.NoError(t, err)
			require.True(t, sub.Deduplicated)
			require.Equal(t, uint64(2), sub.FirstVersion)
			require.Equal(t, first.Last, sub.First)
			require.Equal(t, first.Last, sub.Last)
			sub, err = s.Append(ctx, id, eventstore.Exact(1), b, c)
			require.NoError(t, err)
			require.True(t, sub.Deduplicated)
			require.Equal(t, uint64(2), sub.FirstVersion)
			require.Equal(t, uint64(3), sub.LastVersion)
			require.Equal(t, first.Last, sub.First)
			require.Equal(t, second.Last, sub.Last)

			// Only some match, or others are there: a conflict.
			for _, tc := range []struct {
				name string
				exp  eventstore.ExpectedVersion
				evs  []any
			}{
				{"first matches, second differs", eventstore.NoStream, []any{a, ev(99)}},
				{"second matches, first differs", eventstore.NoStream, []any{ev(99), b}},
				{"matches but one more", eventstore.Exact(1), []any{b, c, ev(99)}},
				{"matches at other versions", eventstore.Exact(1), []any{a, b}},
				{"shifted by one", eventstore.Exact(0), []any{b, c}},
				{"the last one matches", eventstore.Exact(2), []any{ev(99), c}},
				{"a new event", eventstore.Exact(2), []any{ev(99)}},
				{"past the end", eventstore.Exact(7), []any{ev(99), ev(98)}},
			} {
				_, err := s.Append(ctx, id, tc.exp, tc.evs...)
				requireWrongVersion(t, err, id, tc.exp, 8)
			}
			require.Equal(t, 8, e.rawCount(id))
			require.Equal(t, uint64(8), version(id))
		})

		for _, exp := range []eventstore.ExpectedVersion{eventstore.Any, eventstore.StreamExists} {
			t.Run(exp.String(), func(t *testing.T) {
				id := "latest-" + exp.String()
				_, err := s.Append(ctx, id, eventstore.NoStream, ev(0))
				require.NoError(t, err)

				// A retry of the latest append of several events.
				a, b, c := ev(1), ev(2), ev(3)
				first, err := s.Append(ctx, id, exp, a, b, c)
				require.NoError(t, err)
				require.False(t, first.Deduplicated)
				require.Equal(t, uint64(2), first.FirstVersion)
				again, err := s.Append(ctx, id, exp, a, b, c)
				require.NoError(t, err)
				requireSame(t, first, again)
				require.Equal(t, 4, e.rawCount(id))

				// Parts of the latest append are not it: they are
				// appended again.
				n := uint64(4)
				for _, part := range [][]any{{c}, {b, c}, {a, c}, {a, b}, {a}} {
					res, err := s.Append(ctx, id, exp, part...)
					require.NoError(t, err)
					require.False(t, res.Deduplicated, "%d events", len(part))
					require.Equal(t, n+1, res.FirstVersion)
					n += uint64(len(part))
					require.Equal(t, n, res.LastVersion)
				}
				require.Equal(t, int(n), e.rawCount(id))

				// A retry of the latest single-event append.
				d := ev(4)
				single, err := s.Append(ctx, id, exp, d)
				require.NoError(t, err)
				n++
				again, err = s.Append(ctx, id, exp, d)
				require.NoError(t, err)
				requireSame(t, single, again)

				// Once another append followed, it is appended again.
				_, err = s.Append(ctx, id, exp, ev(5))
				require.NoError(t, err)
				n++
				res, err := s.Append(ctx, id, exp, d)
				require.NoError(t, err)
				require.False(t, res.Deduplicated)
				n++
				require.Equal(t, n, res.LastVersion)
				res, err = s.Append(ctx, id, exp, a, b, c)
				require.NoError(t, err)
				require.False(t, res.Deduplicated)
				require.Equal(t, n+1, res.FirstVersion)
				n += 3
				require.Equal(t, int(n), e.rawCount(id))
				require.Equal(t, n, version(id))
				// The stream holds the re-sent IDs twice.
				got := ids(mustReadAll(t, s.Read(ctx, id, 0)))
				count := 0
				for _, x := range got {
					if x == d.ID {
						count++
					}
				}
				require.Equal(t, 2, count)
			})
		}

		t.Run("Exact retry of an append made with Any", func(t *testing.T) {
			const id = "mixed"
			a, b := ev(1), ev(2)
			first, err := s.Append(ctx, id, eventstore.Any, a, b)
			require.NoError(t, err)
			again, err := s.Append(ctx, id, eventstore.NoStream, a, b)
			require.NoError(t, err)
			requireSame(t, first, again)
			again, err = s.Append(ctx, id, eventstore.StreamExists, a, b)
			require.NoError(t, err)
			requireSame(t, first, again)
			require.Equal(t, 2, e.rawCount(id))
		})

		t.Run("metadata and data do not matter, IDs do", func(t *testing.T) {
			const id = "ids"
			a := ev(1)
			first, err := s.Append(ctx, id, eventstore.NoStream, a)
			require.NoError(t, err)
			changed := eventstore.Proposed{ID: a.ID, Data: withdrawn{Amount: 7}, Metadata: eventstore.Metadata{CorrelationID: "c"}}
			again, err := s.Append(ctx, id, eventstore.NoStream, changed)
			require.NoError(t, err)
			requireSame(t, first, again)
			require.Equal(t, 1, e.rawCount(id))
		})
	})
}

func TestAppendArguments(t *testing.T) {
	e := newEnv(t, "memory")
	s := e.store()
	ctx := e.ctx

	many := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = deposited{Amount: i}
		}
		return out
	}
	res, err := s.Append(ctx, "max", eventstore.NoStream, many(shardlog.MaxPutRecordsEntries)...)
	require.NoError(t, err)
	require.Equal(t, uint64(1), res.FirstVersion)
	require.Equal(t, uint64(500), res.LastVersion)
	got := mustReadAll(t, s.Read(ctx, "max", 0))
	require.Equal(t, span(1, 500), versions(got))
	for i, ev := range got {
		d, err := eventstore.DataAs[deposited](&ev)
		require.NoError(t, err)
		require.Equal(t, i, d.Amount)
	}

	_, err = s.Append(ctx, "over", eventstore.Any, many(501)...)
	requireArgument(t, err, "events")
	_, err = s.Append(ctx, "over", eventstore.Any)
	requireArgument(t, err, "events")
	_, err = s.Append(ctx, "over", eventstore.Any, []any{}...)
	requireArgument(t, err, "events")

	// Stream IDs are partition keys: 1-256 code points.
	_, err = s.Append(ctx, "", eventstore.Any, deposited{})
	requireArgument(t, err, "streamID")
	long := strings.Repeat("é", 256) // 512 bytes, 256 code points
	_, err = s.Append(ctx, long, eventstore.NoStream, deposited{Amount: 1})
	require.NoError(t, err)
	require.Equal(t, []uint64{1}, versions(mustReadAll(t, s.Read(ctx, long, 0))))
	_, err = s.Append(ctx, long+"é", eventstore.Any, deposited{})
	requireArgument(t, err, "streamID")
	_, err = s.Append(ctx, strings.Repeat("a", 257), eventstore.Any, deposited{})
	requireArgument(t, err, "streamID")
	for _, bad := range []string{"", long + "é"} {
		_, err := s.Version(ctx, bad)
		requireArgument(t, err, "streamID")
		_, err = s.Exists(ctx, bad)
		requireArgument(t, err, "streamID")
		_, err = s.Last(ctx, bad)
		requireArgument(t, err, "streamID")
		_, err = s.Load(ctx, bad, nil)
		requireArgument(t, err, "streamID")
		_, err = readAll(t, s.Read(ctx, bad, 0))
		requireArgument(t, err, "streamID")
		_, err = readAll(t, s.ReadBackward(ctx, bad, 0))
		requireArgument(t, err, "streamID")
	}

	// One event over the record size limit (1 MiB with the key).
	big := deposited{Note: strings.Repeat("x", 1<<20)}
	_, err = s.Append(ctx, "big", eventstore.Any, big)
	requireArgument(t, err, "events[0]")
	_, err = s.Append(ctx, "big", eventstore.Any, deposited{}, deposited{}, eventstore.NewEvent(big, eventstore.Metadata{}))
	requireArgument(t, err, "events[2]")
	// Each event fits, the batch does not (5 MiB).
	nearly := deposited{Note: strings.Repeat("y", 1000<<10)}
	_, err = s.Append(ctx, "big", eventstore.Any, nearly, nearly, nearly, nearly, nearly, nearly)
	requireArgument(t, err, "events")
	require.Zero(t, e.rawCount("big"))

	// Nil data.
	_, err = s.Append(ctx, "nil", eventstore.Any, nil)
	requireArgument(t, err, "events[0]")
	_, err = s.Append(ctx, "nil", eventstore.Any, deposited{}, eventstore.Proposed{ID: uuid.New()})
	requireArgument(t, err, "events[1]")

	// Types not in the registry.
	_, err = s.Append(ctx, "unknown", eventstore.Any, deposited{}, notRegistered{X: 1})
	require.ErrorIs(t, err, eventstore.ErrUnknownEventType)
	var ue *eventstore.UnknownTypeError
	require.True(t, errors.As(err, &ue))
	require.Equal(t, "eventstore_test.notRegistered", ue.GoType)
	require.Contains(t, err.Error(), "events[1]")
	_, err = s.Append(ctx, "unknown", eventstore.Any, &deposited{}) // a pointer is another type
	require.ErrorIs(t, err, eventstore.ErrUnknownEventType)
	_, err = s.Append(ctx, "unknown", eventstore.Any, eventstore.NewEvent(notRegistered{}, eventstore.Metadata{}))
	require.ErrorIs(t, err, eventstore.ErrUnknownEventType)

	// Two events with one ID.
	p := eventstore.NewEvent(deposited{Amount: 1}, eventstore.Metadata{})
	_, err = s.Append(ctx, "dup", eventstore.Any, p, deposited{}, p)
	requireArgument(t, err, "events[2]")
	require.Contains(t, err.Error(), p.ID.String())

	for _, id := range []string{"over", "unknown", "nil", "dup"} {
		require.Zero(t, e.rawCount(id), id)
	}

	// A store on a stream that does not exist.
	_, err = eventstore.Open(ctx, e.log, "missing")
	require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
	s2, err := eventstore.Open(ctx, e.log, "created", eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 1}))
	require.NoError(t, err)
	_, err = eventstore.Open(ctx, e.log, "created", eventstore.WithCreateIfMissing(shardlog.CreateStreamInput{ShardCount: 1}))
	require.NoError(t, err)
	l, name := s2.Log()
	require.Same(t, e.log, l)
	require.Equal(t, "created", name)
	require.NotNil(t, s2.Registry())
	require.Nil(t, s2.Snapshots())
}

// Exact(n).At(p) starts the retry check after p: the right position still
// recognises a retry after later appends; a position past version n+1
// turns the retry into a conflict and writes nothing.
func TestExactAtPosition(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		s := e.store()
		first, err := s.Append(e.ctx, "k", eventstore.NoStream, deposited{Amount: 1})
		require.NoError(t, err)
		batch := []any{eventstore.NewEvent(deposited{Amount: 2}, eventstore.Metadata{}), eventstore.NewEvent(deposited{Amount: 3}, eventstore.Metadata{})}
		orig, err := s.Append(e.ctx, "k", eventstore.Exact(1).At(first.Last), batch...)
		require.NoError(t, err)
		later, err := s.Append(e.ctx, "k", eventstore.Exact(3), deposited{Amount: 4})
		require.NoError(t, err)

		again, err := s.Append(e.ctx, "k", eventstore.Exact(1).At(first.Last), batch...)
		require.NoError(t, err)
		require.True(t, again.Deduplicated)
		require.Equal(t, orig.First, again.First)
		require.Equal(t, orig.Last, again.Last)

		_, err = s.Append(e.ctx, "k", eventstore.Exact(1).At(later.Last), batch...)
		requireWrongVersion(t, err, "k", eventstore.Exact(1), 4)
		v, err := s.Version(e.ctx, "k")
		require.NoError(t, err)
		require.Equal(t, uint64(4), v, "nothing was written")
	})
}
