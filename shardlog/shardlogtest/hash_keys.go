package shardlogtest

import (
	"crypto/md5"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/stretchr/testify/require"
)

// streamsMaxHash returns 2^128-1.
func streamsMaxHash() *big.Int { return new(big.Int).Sub(streamsTwo128(), big.NewInt(1)) }

// streamsMD5 returns MD5(utf8(key)) read as an unsigned big-endian integer.
func streamsMD5(key string) *big.Int {
	sum := md5.Sum([]byte(key))
	return new(big.Int).SetBytes(sum[:])
}

func testHashKeys(t *testing.T, newEngine NewEngine) {
	t.Run("HashPartitionKeyIsMD5BigEndian", func(t *testing.T) {
		t.Parallel()
		keys := []string{
			"a", "b", "partition-key", "0", "user-42", "order/2026/01",
			"é", "日本語のキー", "🙂🙃", "ünïcödé-κλειδί", "\x00", strings.Repeat("x", 256), strings.Repeat("é", 256),
		}
		for _, k := range keys {
			got := shardlog.HashPartitionKey(k)
			require.Equal(t, streamsMD5(k).String(), got.String(), "key %q", k)
		}
		// A known vector: MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
		want, _ := new(big.Int).SetString("0cc175b9c0f1b6a831c399e269772661", 16)
		require.Equal(t, want.String(), shardlog.HashPartitionKey("a").String())
	})

	t.Run("EvenRanges", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{1, 2, 3, 4, 5, 7, 10, 16, 1000} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", n)
				shards := h.AllShards("s")
				require.Len(t, shards, n)
				width := new(big.Int).Div(streamsTwo128(), big.NewInt(int64(n)))
				for i, s := range shards {
					require.Equal(t, fmt.Sprintf("shardId-%012d", i), s.ShardID)
					start := new(big.Int).Mul(width, big.NewInt(int64(i)))
					end := new(big.Int).Sub(new(big.Int).Add(start, width), big.NewInt(1))
					if i == n-1 {
						end = streamsMaxHash()
					}
					require.Equal(t, start.String(), s.HashKeyRange.StartingHashKey.String(), "shard %d start", i)
					require.Equal(t, end.String(), s.HashKeyRange.EndingHashKey.String(), "shard %d end", i)
				}
				streamsRequireTiling(t, shards)
			})
		}
	})

	t.Run("PutRoutesByHash", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 7)
		shards := h.AllShards("s")
		owner := func(hash *big.Int) string {
			for _, s := range shards {
				if streamsBig(t, s.HashKeyRange.StartingHashKey).Cmp(hash) <= 0 && hash.Cmp(streamsBig(t, s.HashKeyRange.EndingHashKey)) <= 0 {
					return s.ShardID
				}
			}
			t.Fatalf("no shard owns %s", hash)
			return ""
		}
		rng := rand.New(rand.NewPCG(7, 11))
		alphabet := []rune("abcXYZ019-_/:éü日本🙂")
		keys := make([]string, 200)
		entries := make([]shardlog.PutRecordsEntry, len(keys))
		used := map[string]bool{}
		for i := range keys {
			r := make([]rune, 1+rng.IntN(40))
			for j := range r {
				r[j] = alphabet[rng.IntN(len(alphabet))]
			}
			keys[i] = string(r)
			entries[i] = shardlog.PutRecordsEntry{PartitionKey: keys[i], Data: []byte{byte(i)}}
		}
		for i, k := range keys {
			want := owner(streamsMD5(k))
			out := h.Put("s", k, []byte{byte(i)})
			require.Equal(t, want, out.ShardID, "key %q", k)
			used[want] = true
		}
		require.Len(t, used, 7, "200 random keys reach every one of 7 shards")
		res, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: entries})
		require.NoError(t, err)
		require.Zero(t, res.FailedRecordCount)
		for i, r := range res.Records {
			require.Equal(t, owner(streamsMD5(keys[i])), r.ShardID, "PutRecords key %q", keys[i])
		}
		// Each record is stored in the shard it was routed to.
		for _, s := range shards {
			for _, r := range h.ReadShard("s", s.ShardID) {
				require.Equal(t, s.ShardID, owner(streamsMD5(r.PartitionKey)))
			}
		}
	})

	t.Run("ExplicitHashKey", func(t *testing.T) {
		t.Parallel()
		h := NewHarness(t, newEngine)
		h.CreateStream("s", 4)
		shards := h.AllShards("s")
		startOf := func(i int) *big.Int { return streamsBig(t, shards[i].HashKeyRange.StartingHashKey) }
		one := big.NewInt(1)
		// "k" hashes to some shard; an explicit key of another shard wins.
		cases := []struct {
			explicit string
			want     int
		}{
			{"0", 0},
			{"1", 0},
			{new(big.Int).Sub(startOf(1), one).String(), 0},
			{startOf(1).String(), 1},
			{startOf(2).String(), 2},
			{new(big.Int).Add(startOf(3), one).String(), 3},
			{streamsMaxHash().String(), 3},
			{"340282366920938463463374607431768211455", 3},
		}
		for _, c := range cases {
			for _, key := range []string{"k", "other", "日本"} {
				out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: key, Data: []byte("d"), ExplicitHashKey: c.explicit})
				require.NoError(t, err, c.explicit)
				require.Equal(t, shards[c.want].ShardID, out.ShardID, "explicit %s key %q", c.explicit, key)
			}
			res, err := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: []shardlog.PutRecordsEntry{{PartitionKey: "k", Data: []byte("d"), ExplicitHashKey: c.explicit}}})
			require.NoError(t, err)
			require.Equal(t, shards[c.want].ShardID, res.Records[0].ShardID, "PutRecords explicit %s", c.explicit)
		}

		// Empty means unset: the partition key's MD5 routes.
		for _, key := range []string{"k", "other", "日本"} {
			out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: key, Data: []byte("d"), ExplicitHashKey: ""})
			require.NoError(t, err)
			require.Equal(t, shardlog.HashPartitionKey(key).String(), streamsMD5(key).String())
			for _, s := range shards {
				if s.HashKeyRange.Contains(shardlog.HashPartitionKey(key)) {
					require.Equal(t, s.ShardID, out.ShardID)
				}
			}
		}

		for _, bad := range []string{
			"340282366920938463463374607431768211456", // 2^128
			"999999999999999999999999999999999999999",
			"1000000000000000000000000000000000000000", // 40 digits
			"-1", "01", "00", "abc", " 1", "1 ", "+1", "1.0", "1e3", "0x10", "١",
		} {
			_, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: "k", Data: []byte("d"), ExplicitHashKey: bad})
			streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "ExplicitHashKey")
			_, err = h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: []shardlog.PutRecordsEntry{
				{PartitionKey: "k", Data: []byte("d")},
				{PartitionKey: "k", Data: []byte("d"), ExplicitHashKey: bad},
			}})
			streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "Records.1.ExplicitHashKey")
		}
	})

	t.Run("PartitionKeyLength", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name, key string
			ok        bool
		}{
			{"1", "k", true},
			{"1MultiByte", "é", true},
			{"256ASCII", strings.Repeat("k", 256), true},
			{"256TwoByte", strings.Repeat("é", 256), true},
			{"256ThreeByte", strings.Repeat("日", 256), true},
			{"256FourByte", strings.Repeat("🙂", 256), true},
			{"empty", "", false},
			{"257ASCII", strings.Repeat("k", 257), false},
			{"257TwoByte", strings.Repeat("é", 257), false},
			{"257FourByte", strings.Repeat("🙂", 257), false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				h := NewHarness(t, newEngine)
				h.CreateStream("s", 1)
				out, err := h.Log.PutRecord(h.Ctx, shardlog.PutRecordInput{StreamName: "s", PartitionKey: c.key, Data: []byte("d")})
				res, rerr := h.Log.PutRecords(h.Ctx, shardlog.PutRecordsInput{StreamName: "s", Records: []shardlog.PutRecordsEntry{{PartitionKey: c.key, Data: []byte("d")}}})
				if !c.ok {
					streamsRequireArg(t, err, shardlog.ErrInvalidArgument, "PartitionKey")
					streamsRequireArg(t, rerr, shardlog.ErrInvalidArgument, "Records.0.PartitionKey")
					require.Empty(t, h.ReadShard("s", "shardId-000000000000"))
					return
				}
				require.NoError(t, err)
				require.NoError(t, rerr)
				require.Zero(t, res.FailedRecordCount)
				recs := h.ReadShard("s", out.ShardID)
				require.Len(t, recs, 2)
				for _, r := range recs {
					require.Equal(t, c.key, r.PartitionKey)
				}
			})
		}
	})

	t.Run("ParseHashKey", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, "0", shardlog.MinHashKey.String())
		require.Equal(t, streamsMaxHash().String(), shardlog.MaxHashKey.String())

		two64 := new(big.Int).Lsh(big.NewInt(1), 64)
		vals := []*big.Int{
			big.NewInt(0), big.NewInt(1), big.NewInt(9), big.NewInt(10),
			new(big.Int).Sub(two64, big.NewInt(1)), two64, new(big.Int).Add(two64, big.NewInt(1)),
			new(big.Int).Lsh(big.NewInt(1), 127), streamsMaxHash(),
			new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil),
		}
		rng := rand.New(rand.NewPCG(3, 5))
		for range 200 {
			var b [16]byte
			for i := range b {
				b[i] = byte(rng.UintN(256))
			}
			v := new(big.Int).SetBytes(b[:rng.IntN(17)])
			vals = append(vals, v)
		}
		keys := make([]shardlog.HashKey, len(vals))
		for i, v := range vals {
			s := v.String()
			k, err := shardlog.ParseHashKey(s)
			require.NoError(t, err, s)
			require.Equal(t, s, k.String())
			txt, err := k.MarshalText()
			require.NoError(t, err)
			require.Equal(t, s, string(txt))
			var u shardlog.HashKey
			require.NoError(t, u.UnmarshalText(txt))
			require.Zero(t, u.Compare(k))
			keys[i] = k
		}
		for i := range vals {
			j := rng.IntN(len(vals))
			require.Equal(t, vals[i].Cmp(vals[j]), keys[i].Compare(keys[j]), "%s vs %s", vals[i], vals[j])
		}
		for _, bad := range []string{"", "-1", "01", "00", "+5", "abc", " 1", "1.5", streamsTwo128().String(), strings.Repeat("9", 40)} {
			_, err := shardlog.ParseHashKey(bad)
			require.ErrorIs(t, err, shardlog.ErrInvalidArgument, "%q", bad)
			var u shardlog.HashKey
			require.Error(t, u.UnmarshalText([]byte(bad)), "%q", bad)
		}
		// Ranges contain their ends.
		lo, _ := shardlog.ParseHashKey("10")
		hi, _ := shardlog.ParseHashKey("20")
		r := shardlog.HashKeyRange{StartingHashKey: lo, EndingHashKey: hi}
		for s, want := range map[string]bool{"9": false, "10": true, "15": true, "20": true, "21": false} {
			k, _ := shardlog.ParseHashKey(s)
			require.Equal(t, want, r.Contains(k), s)
		}
	})
}
