// Package objectstoretest is the contract test every delivery.ObjectStore
// passes: Put replaces, Get returns the bytes or wraps
// delivery.ErrObjectNotFound, List yields keys with a prefix in lexical
// order.
package objectstoretest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/stretchr/testify/require"
)

// Run runs the contract's subtests on stores from newStore, one fresh
// (empty) store per subtest.
func Run(t *testing.T, newStore func(t *testing.T) delivery.ObjectStore) {
	t.Run("PutGet", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		require.NoError(t, s.Put(ctx, "a/b/c.json", []byte("one")))
		got, err := s.Get(ctx, "a/b/c.json")
		require.NoError(t, err)
		require.Equal(t, []byte("one"), got)

		require.NoError(t, s.Put(ctx, "empty", nil))
		got, err = s.Get(ctx, "empty")
		require.NoError(t, err)
		require.Empty(t, got)

		big := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<18) // 1 MiB, binary
		require.NoError(t, s.Put(ctx, "big.bin", big))
		got, err = s.Get(ctx, "big.bin")
		require.NoError(t, err)
		require.Equal(t, big, got)
	})
	t.Run("Replace", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		require.NoError(t, s.Put(ctx, "k", []byte("a longer first version")))
		require.NoError(t, s.Put(ctx, "k", []byte("second")))
		got, err := s.Get(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, []byte("second"), got)
		require.Equal(t, []string{"k"}, list(t, s, ""))
	})
	t.Run("NotFound", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		_, err := s.Get(ctx, "missing/key")
		require.ErrorIs(t, err, delivery.ErrObjectNotFound)
		require.NoError(t, s.Put(ctx, "dir/x", []byte("x")))
		_, err = s.Get(ctx, "dir")
		require.ErrorIs(t, err, delivery.ErrObjectNotFound, "a key's prefix is not an object")
		_, err = s.Get(ctx, "dir/x/y")
		require.ErrorIs(t, err, delivery.ErrObjectNotFound)
	})
	t.Run("ListOrder", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		// Keys whose lexical order differs from a naive directory walk:
		// '-' (0x2d) and '.' (0x2e) sort before '/' (0x2f). (No key is
		// also a directory of others: a filesystem store cannot hold both.)
		keys := []string{
			"p/a/b", "p/a-c", "p/a.d", "p/a/a/z", "p/b", "p/0", "p/a0",
			"q/x", "p-", "pa/1", "p/a/b0",
		}
		for _, k := range keys {
			require.NoError(t, s.Put(ctx, k, []byte(k)))
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		require.Equal(t, want, list(t, s, ""))
		require.Equal(t, []string{"p/0", "p/a-c", "p/a.d", "p/a/a/z", "p/a/b", "p/a/b0", "p/a0", "p/b"}, list(t, s, "p/"))
		require.Equal(t, []string{"p/a-c", "p/a.d", "p/a/a/z", "p/a/b", "p/a/b0", "p/a0"}, list(t, s, "p/a"))
		require.Equal(t, []string{"p/a/b", "p/a/b0"}, list(t, s, "p/a/b"))
		require.Equal(t, []string{"p-", "p/0", "p/a-c", "p/a.d", "p/a/a/z", "p/a/b", "p/a/b0", "p/a0", "p/b", "pa/1"}, list(t, s, "p"))
		require.Empty(t, list(t, s, "nothing/"))
		require.Empty(t, list(t, s, "p/zz"))

		la, ok := s.(delivery.ObjectLister)
		if !ok {
			return
		}
		after := func(prefix, startAfter string) []string {
			var out []string
			for k, err := range la.ListAfter(ctx, prefix, startAfter) {
				require.NoError(t, err)
				out = append(out, k)
			}
			return out
		}
		require.Equal(t, list(t, s, "p/"), after("p/", ""))
		require.Equal(t, []string{"p/a/a/z", "p/a/b", "p/a/b0", "p/a0", "p/b"}, after("p/", "p/a.d"))
		require.Equal(t, []string{"p/a/b", "p/a/b0", "p/a0", "p/b"}, after("p/", "p/a/a/z"))
		require.Equal(t, []string{"p/a/b0", "p/a0", "p/b"}, after("p/", "p/a/b"))
		require.Equal(t, []string{"p/a/b", "p/a/b0", "p/a0", "p/b"}, after("p/", "p/a/a0"), "a start that is not a key")
		require.Equal(t, []string{"pa/1", "q/x"}, after("", "p/b"))
		require.Empty(t, after("p/", "p/b"))
		require.Empty(t, after("p/", "zzz"))
		require.Equal(t, list(t, s, "p/"), after("p/", "a"), "a start before the prefix")

		prefixes := func(prefix string) []string {
			var out []string
			for k, err := range la.ListPrefixes(ctx, prefix) {
				require.NoError(t, err)
				out = append(out, k)
			}
			return out
		}
		require.Equal(t, []string{"p/", "pa/", "q/"}, prefixes(""))
		require.Equal(t, []string{"p/a/"}, prefixes("p/"))
		require.Equal(t, []string{"p/a/a/"}, prefixes("p/a/"))
		require.Equal(t, []string{"p/", "pa/"}, prefixes("p"))
		require.Empty(t, prefixes("p/a/a/"))
		require.Empty(t, prefixes("nothing/"))
	})
	t.Run("ListMany", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		var want []string
		for i := range 1100 { // more than one S3 page
			k := fmt.Sprintf("m/%05d", i)
			want = append(want, k)
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for _, k := range want {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				require.NoError(t, s.Put(ctx, k, []byte(k)))
			}()
		}
		wg.Wait()
		require.Equal(t, want, list(t, s, "m/"))
		// Stopping early is fine.
		n := 0
		for k, err := range s.List(ctx, "m/") {
			require.NoError(t, err)
			require.Equal(t, want[n], k)
			if n++; n == 3 {
				break
			}
		}
	})
	t.Run("ConcurrentPutSameKey", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		bodies := make([][]byte, 8)
		for i := range bodies {
			bodies[i] = bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
		}
		var wg sync.WaitGroup
		for _, b := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 4 {
					require.NoError(t, s.Put(ctx, "same/key", b))
				}
			}()
		}
		wg.Wait()
		got, err := s.Get(ctx, "same/key")
		require.NoError(t, err)
		require.Contains(t, bodies, got, "the object is one whole body")
		require.Equal(t, []string{"same/key"}, list(t, s, ""))
	})
}

// list collects s.List(prefix).
func list(t *testing.T, s delivery.ObjectStore, prefix string) []string {
	t.Helper()
	var out []string
	for k, err := range s.List(context.Background(), prefix) {
		require.NoError(t, err)
		out = append(out, k)
	}
	return out
}
