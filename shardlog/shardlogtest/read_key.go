package shardlogtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

func testReadKey(t *testing.T, newEngine NewEngine) {
	t.Run("returns only the key's records in order", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		want := map[string][]string{}
		for i := range 10 {
			for _, k := range []string{"a", "b", "c"} {
				d := fmt.Sprintf("%s-%d", k, i)
				if i%2 == 0 {
					h.Put(akStream, k, []byte(d))
				} else {
					_, err := h.Log.AppendKey(h.Ctx, shardlog.AppendKeyInput{StreamName: akStream, PartitionKey: k, Data: [][]byte{[]byte(d)}, Unconditional: true})
					require.NoError(t, err)
				}
				want[k] = append(want[k], d)
			}
		}
		for _, k := range []string{"a", "b", "c"} {
			got := akRead(h, k, shardlog.SequenceNumber{})
			require.Equal(t, want[k], akDatas(got))
			akRequireIncreasing(t, akSeqs(got))
			for _, r := range got {
				require.Equal(t, k, r.PartitionKey)
			}
		}
		require.Empty(t, akRead(h, "unknown", shardlog.SequenceNumber{}))
	})

	t.Run("after is exclusive", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		var all []shardlog.Record
		var others []shardlog.SequenceNumber
		for i := range 6 {
			out := akAppend(h, "k", akLast(h, "k"), akBatch(fmt.Sprintf("k%d", i), 1))
			all = append(all, shardlog.Record{SequenceNumber: out.Last, Data: fmt.Appendf(nil, "k%d-0", i)})
			others = append(others, h.Put(akStream, "other", []byte("o")).SequenceNumber)
		}
		cases := []struct {
			name  string
			after shardlog.SequenceNumber
			want  []shardlog.Record
		}{
			{"zero reads all", shardlog.SequenceNumber{}, all},
			{"after the first", all[0].SequenceNumber, all[1:]},
			{"after the third", all[2].SequenceNumber, all[3:]},
			{"after another key's record between", others[2], all[3:]},
			{"after the last", all[5].SequenceNumber, nil},
			{"after a later number", others[5].Next(), nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got := akRead(h, "k", tc.after)
				require.Equal(t, akSeqs(tc.want), akSeqs(got))
				require.Equal(t, akDatas(tc.want), akDatas(got))
			})
		}
	})

	t.Run("across a split and a merge", func(t *testing.T) {
		t.Parallel()
		for _, half := range []struct {
			name string
			r    shardlog.HashKeyRange
		}{{"key in the low half", akLowHalf}, {"key in the high half", akHighHalf}} {
			t.Run(half.name, func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 1)
				key := akKeyIn(t, "rk", half.r)
				var want []string
				step := func(tag string) shardlog.AppendKeyOutput {
					data := akBatch(tag, 3)
					want = append(want, akStrings(data)...)
					h.Put(akStream, "noise-"+tag, []byte("n"))
					return akAppend(h, key, akLast(h, key), data)
				}
				gen0 := step("gen0")
				parent, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
				require.NoError(t, err)
				require.Equal(t, gen0.ShardID, parent.ShardID)
				gen1 := step("gen1")
				require.NoError(t, akMergeChildren(h.Ctx, h.Log, akStream, parent.ShardID))
				gen2 := step("gen2")
				require.NotEqual(t, gen0.ShardID, gen1.ShardID)
				require.NotEqual(t, gen1.ShardID, gen2.ShardID)

				got := akRead(h, key, shardlog.SequenceNumber{})
				require.Equal(t, want, akDatas(got), "parents' history first, then the child's")
				akRequireIncreasing(t, akSeqs(got))
				require.Equal(t, want[4:], akDatas(akRead(h, key, gen1.First)), "after a number in the split child")
				require.Equal(t, want[2:], akDatas(akRead(h, key, gen0.SequenceNumber(1))), "after a number in the first parent")
			})
		}
	})

	t.Run("across three generations of splits", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		key := akKeyIn(t, "g3", akRange("0", akPow2(120)))
		var want []string
		var outs []shardlog.AppendKeyOutput
		for gen := range 3 {
			if gen > 0 {
				_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
				require.NoError(t, err)
			}
			data := akBatch(fmt.Sprintf("gen%d", gen), 4)
			want = append(want, akStrings(data)...)
			outs = append(outs, akAppend(h, key, akLast(h, key), data))
		}
		require.Len(t, h.AllShards(akStream), 5)
		got := akRead(h, key, shardlog.SequenceNumber{})
		require.Equal(t, want, akDatas(got))
		akRequireIncreasing(t, akSeqs(got))
		require.Equal(t, want[5:], akDatas(akRead(h, key, outs[1].First)))
		require.Equal(t, want[8:], akDatas(akRead(h, key, outs[1].Last)))
	})

	t.Run("skips expired records", func(t *testing.T) {
		t.Parallel()
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("split=%v", split), func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 1)
				const key = "k"
				old := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("old", 3))
				if split {
					_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
					require.NoError(t, err)
				}
				h.Clock.Advance(12 * time.Hour)
				mid := akAppend(h, key, old.Last, akBatch("mid", 2))
				h.Clock.Advance(12 * time.Hour)
				require.Len(t, akRead(h, key, shardlog.SequenceNumber{}), 5, "at exactly 24 hours nothing expired")
				h.Clock.Advance(time.Millisecond)
				got := akRead(h, key, shardlog.SequenceNumber{})
				require.Equal(t, akOutSeqs(mid, 2), akSeqs(got))
				require.Equal(t, []string{"mid-0", "mid-1"}, akDatas(got))
				require.Equal(t, []string{"mid-1"}, akDatas(akRead(h, key, mid.First)))
				h.Clock.Advance(12 * time.Hour)
				require.Empty(t, akRead(h, key, shardlog.SequenceNumber{}))
			})
		}
	})

	t.Run("pages past 1000 records", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name    string
			n       int
			splitAt int // split the key's shard after this many records; 0: never
		}{
			{"1000 records", 1000, 0},
			{"1001 records", 1001, 0},
			{"2500 records", 2500, 0},
			{"2500 records across a split", 2500, 1500},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := akNew(t, newEngine, 1)
				const key = "big"
				var want []string
				var seqs []shardlog.SequenceNumber
				last := shardlog.SequenceNumber{}
				for len(want) < tc.n {
					if tc.splitAt > 0 && len(want) == tc.splitAt {
						_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
						require.NoError(t, err)
					}
					n := min(shardlog.MaxPutRecordsEntries, tc.n-len(want))
					data := make([][]byte, n)
					for i := range data {
						data[i] = fmt.Appendf(nil, "r%d", len(want)+i)
					}
					out := akAppend(h, key, last, data)
					last = out.Last
					want = append(want, akStrings(data)...)
					seqs = append(seqs, akOutSeqs(out, n)...)
					// Other keys' records interleave with the key's.
					noise := make([]shardlog.PutRecordsEntry, 100)
					for i := range noise {
						noise[i] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprintf("noise-%d", i), Data: []byte("n")}
					}
					res, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: akStream, Records: noise})
					require.NoError(t, err)
					require.Zero(t, res.FailedRecordCount)
				}
				got := akRead(h, key, shardlog.SequenceNumber{})
				require.Equal(t, want, akDatas(got))
				require.Equal(t, seqs, akSeqs(got))
				for _, from := range []int{999, 1000, tc.n - 1} {
					if from >= tc.n {
						continue
					}
					require.Equal(t, want[from+1:], akDatas(akRead(h, key, seqs[from])), "after record %d", from)
				}
			})
		}
	})

	t.Run("many other keys interleaved", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		const keys = 10
		want := make([][]string, keys)
		for round := range 100 {
			entries := make([]shardlog.PutRecordsEntry, keys)
			for k := range keys {
				d := fmt.Sprintf("k%d-%d", k, round)
				entries[(k+round)%keys] = shardlog.PutRecordsEntry{PartitionKey: fmt.Sprintf("k%d", k), Data: []byte(d)}
				want[k] = append(want[k], d)
			}
			res, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: akStream, Records: entries})
			require.NoError(t, err)
			require.Zero(t, res.FailedRecordCount)
		}
		for k := range keys {
			got := akRead(h, fmt.Sprintf("k%d", k), shardlog.SequenceNumber{})
			require.Equal(t, want[k], akDatas(got))
			akRequireIncreasing(t, akSeqs(got))
		}
	})

	t.Run("early break", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		const key = "k"
		out := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("p", 500))
		out = akAppend(h, key, out.Last, akBatch("q", 500))
		out = akAppend(h, key, out.Last, akBatch("r", 200))
		_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
		require.NoError(t, err)
		akAppend(h, key, out.Last, akBatch("c", 10))
		for _, stop := range []int{1, 999, 1000, 1001, 1200, 1205} {
			t.Run(fmt.Sprint(stop), func(t *testing.T) {
				n := 0
				for r, err := range h.Log.ReadKey(h.Ctx, shardlog.ReadKeyInput{StreamName: akStream, PartitionKey: key}) {
					require.NoError(t, err)
					require.NotEmpty(t, r.Data)
					n++
					if n == stop {
						break
					}
				}
				require.Equal(t, stop, n)
			})
		}
		require.Len(t, akRead(h, key, shardlog.SequenceNumber{}), 1210, "a full read after early breaks")
	})

	t.Run("follows a split made while reading", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		const key = "k"
		out := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("p", 3))
		var got []string
		for r, err := range h.Log.ReadKey(h.Ctx, shardlog.ReadKeyInput{StreamName: akStream, PartitionKey: key}) {
			require.NoError(t, err)
			got = append(got, string(r.Data))
			if len(got) == 1 {
				_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
				require.NoError(t, err)
				akAppend(h, key, out.Last, akBatch("c", 2))
			}
		}
		require.Equal(t, []string{"p-0", "p-1", "p-2", "c-0", "c-1"}, got)
	})

	t.Run("misses nothing appended before a split made while reading", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		const key = "k"
		out := akAppend(h, key, shardlog.SequenceNumber{}, akBatch("p", 3))
		var got []string
		for r, err := range h.Log.ReadKey(h.Ctx, shardlog.ReadKeyInput{StreamName: akStream, PartitionKey: key}) {
			require.NoError(t, err)
			got = append(got, string(r.Data))
			if len(got) == 3 {
				// The reader has had the open shard's records; one more
				// lands there before a split, then one in the child.
				late := akAppend(h, key, out.Last, akBatch("late", 1))
				_, err := akSplitOwner(h.Ctx, h.Log, akStream, key)
				require.NoError(t, err)
				akAppend(h, key, late.Last, akBatch("c", 1))
			}
		}
		require.Equal(t, []string{"p-0", "p-1", "p-2", "late-0", "c-0"}, got, "no gap in the key's history")
	})

	t.Run("bad key yields an error", func(t *testing.T) {
		t.Parallel()
		h := akNew(t, newEngine, 1)
		for _, key := range []string{"", strings.Repeat("é", 257)} {
			n := 0
			var got error
			for r, err := range h.Log.ReadKey(h.Ctx, shardlog.ReadKeyInput{StreamName: akStream, PartitionKey: key}) {
				n++
				require.Zero(t, r.SequenceNumber)
				got = err
			}
			require.Equal(t, 1, n, "one yield, carrying the error")
			akRequireArg(t, got, "PartitionKey")
		}
	})

	t.Run("unknown stream yields ErrResourceNotFound", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		n := 0
		for _, err := range h.Log.ReadKey(h.Ctx, shardlog.ReadKeyInput{StreamName: "missing", PartitionKey: "k"}) {
			n++
			require.ErrorIs(t, err, shardlog.ErrResourceNotFound)
		}
		require.Equal(t, 1, n)
	})
}
