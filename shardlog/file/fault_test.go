package file_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/shoal-dev/shoal/shardlog/file/faultfs"
	"github.com/stretchr/testify/require"
)

// Fault tests: a faultfs.FS under the engine fails one write, sync,
// directory sync, rename or open. A failed segment sync or directory sync
// is sticky for its shard until the engine is reopened (even though the FS
// works again right after); a failed write or open is not: the shard is
// reopened (recovered) by the next put, which succeeds. Either way other
// shards go on, Health names the failing shard, and every put acknowledged
// before the failure is there after reopening with the OS file system, and
// puts work again. An index file that cannot be written is only logged,
// and a failed metadata save leaves the old or the new metadata, never a
// broken one.

// Hash keys routing to shard 0 and shard 1 of a two-shard stream.
var ftHashKeys = [2]string{"0", "340282366920938463463374607431768211455"}

type ftEnv struct {
	t   *testing.T
	dir string
	ffs *faultfs.FS
	l   *shardlog.Log
	eng *file.Engine
}

// ftOpenLog is rtOpen that also returns the engine.
func ftOpenLog(t *testing.T, dir string, opts ...file.Option) (*file.Engine, *shardlog.Log) {
	t.Helper()
	eng, err := file.Open(dir, append([]file.Option{file.WithSegmentSize(rtSegSize), file.WithPreallocation(false)}, opts...)...)
	require.NoError(t, err)
	l, err := shardlog.Open(rtCtx, eng, shardlog.WithRetentionInterval(0))
	if err != nil {
		eng.Close()
	}
	require.NoError(t, err)
	return eng, l
}

// ftOpen opens a Log through a faultfs.FS and creates rtStream with two
// shards, then puts one record into each so both shards are open (the
// shard-opening path is tested on its own).
func ftOpen(t *testing.T, policy file.SyncPolicy) (*ftEnv, [2][]rtRec) {
	dir := t.TempDir()
	ffs := faultfs.New(file.OS())
	eng, l := ftOpenLog(t, dir, file.WithFS(ffs), file.WithSync(policy), file.WithPreallocation(true))
	t.Cleanup(func() { l.Close() })
	rtCreate(t, l, rtStream, 2)
	e := &ftEnv{t: t, dir: dir, ffs: ffs, l: l, eng: eng}
	var acked [2][]rtRec
	for sh := range 2 {
		r, err := e.put(sh, 900+sh)
		require.NoError(t, err)
		acked[sh] = append(acked[sh], r)
	}
	return e, acked
}

func (e *ftEnv) put(shard, i int) (rtRec, error) {
	r := rtRec{key: rtKey(i), data: rtData(i)}
	res, err := e.l.PutRecord(rtCtx, shardlog.PutRecordInput{StreamName: rtStream, PartitionKey: r.key, Data: r.data, ExplicitHashKey: ftHashKeys[shard]})
	if err == nil {
		require.Equal(e.t, ftShardID(shard), res.ShardID)
		r.seq = res.SequenceNumber
	}
	return r, err
}

func ftShardID(shard int) string { return fmt.Sprintf("shardId-%012d", shard) }

func (e *ftEnv) shardDir(shard int) string { return rtShardDir(e.dir, rtStream, ftShardID(shard)) }

// segFiles matches the segment files of one shard.
func (e *ftEnv) segFiles(shard int) func(string) bool {
	d := e.shardDir(shard) + string(os.PathSeparator)
	return func(p string) bool { return strings.HasPrefix(p, d) && strings.HasSuffix(p, ".seg") }
}

// ftCheckReopened opens dir (the faulty Log closed) with the OS file system
// and checks that shard 0 holds acked (plus, possibly, the one record whose
// put failed), shard 1 holds other, full segments are indexed, and puts
// work.
func ftCheckReopened(t *testing.T, dir string, acked []rtRec, failed *rtRec, other []rtRec) {
	t.Helper()
	l := rtOpen(t, dir)
	defer rtClose(t, l) // Close is idempotent
	got, err := rtReadAll(l, rtStream, ftShardID(0))
	require.NoError(t, err)
	switch {
	case len(got) == len(acked):
		rtRequireRecords(t, acked, got)
	case failed != nil && len(got) == len(acked)+1:
		// The failed put's bytes all reached the file: allowed, it was
		// never acknowledged either way.
		rtRequireRecords(t, acked, got[:len(acked)])
		require.Equal(t, failed.key, got[len(acked)].PartitionKey)
		require.Equal(t, failed.data, got[len(acked)].Data)
		require.Positive(t, got[len(acked)].SequenceNumber.Compare(acked[len(acked)-1].seq))
	default:
		t.Fatalf("shard 0 has %d records after reopening; %d were acknowledged", len(got), len(acked))
	}
	got1, err := rtReadAll(l, rtStream, ftShardID(1))
	require.NoError(t, err)
	rtRequireRecords(t, other, got1)

	// Every full segment has a valid index once the shard was used.
	for sh := range 2 {
		segs := rtSegs(t, dir, rtStream, ftShardID(sh))
		for _, seg := range segs[:len(segs)-1] {
			b, err := os.ReadFile(rtIdx(seg))
			require.NoError(t, err, "index of %s", seg)
			require.True(t, rtIdxValid(b, rtSize(t, seg)), "index of %s", seg)
		}
	}

	// Puts work again, after the recovered records.
	var after []rtRec
	for i := range 3 {
		r := rtRec{key: rtKey(i), data: rtData(700 + i)}
		res, err := l.PutRecord(rtCtx, shardlog.PutRecordInput{StreamName: rtStream, PartitionKey: r.key, Data: r.data, ExplicitHashKey: ftHashKeys[0]})
		require.NoError(t, err)
		r.seq = res.SequenceNumber
		after = append(after, r)
	}
	got2, err := rtReadAll(l, rtStream, ftShardID(0))
	require.NoError(t, err)
	require.Len(t, got2, len(got)+len(after))
	require.Positive(t, after[0].seq.Compare(got[len(got)-1].SequenceNumber))
	rtRequireRecords(t, after, got2[len(got):])
	// The key index agrees with the records (asked of the engine, opened
	// on its own once the Log is closed: the records were routed by
	// explicit hash key, not by their keys).
	byKey := map[string][]shardlog.SequenceNumber{}
	for _, r := range got2 {
		byKey[r.PartitionKey] = append(byKey[r.PartitionKey], r.SequenceNumber)
	}
	rtClose(t, l)
	eng, err := file.Open(dir, file.WithSegmentSize(rtSegSize), file.WithPreallocation(false))
	require.NoError(t, err)
	defer eng.Close()
	ref := shardlog.ShardRef{Stream: rtStream, ID: ftShardID(0), Index: 0}
	for key, seqs := range byKey {
		recs, err := eng.ReadKey(rtCtx, ref, key, shardlog.SequenceNumber{}, 1000)
		require.NoError(t, err)
		var got []shardlog.SequenceNumber
		for _, r := range recs {
			got = append(got, r.SequenceNumber)
		}
		require.Equal(t, seqs, got, "ReadKey %s", key)
	}
}

// ftFault is one armed fault: which calls are counted, and how it fails.
type ftFault struct {
	name   string
	filter func(e *ftEnv) func(string) bool
	arm    func(ffs *faultfs.FS, n int)
	count  func(ffs *faultfs.FS) int
	all    bool // fail the first calls, every call of a roll, and the last; else a roll's calls only
	// recovers: the shard takes puts again once the FS works (a failed
	// write or open); else the failure is sticky (a failed sync).
	recovers bool
}

const ftMaxPuts = 70 // two rolls of shard 0 (31 records a segment)

// ftCalls runs the workload without a fault and returns, after each put,
// how many matching calls were made so far: the Nth call belongs to the
// first put whose count passes N.
func ftCalls(t *testing.T, policy file.SyncPolicy, f ftFault) []int {
	e, _ := ftOpen(t, policy)
	e.ffs.Reset()
	e.ffs.OnlyPaths(f.filter(e))
	out := make([]int, ftMaxPuts)
	for i := range ftMaxPuts {
		_, err := e.put(0, i)
		require.NoError(t, err)
		out[i] = f.count(e.ffs)
	}
	return out
}

// ftPick chooses which calls to fail: the first ones, every call made by
// the puts that make more than one (the rolls), and the last.
func ftPick(calls []int) []int {
	picks := []int{0, 1}
	prev := 0
	for _, c := range calls {
		if c-prev > 1 {
			for n := prev; n < c; n++ {
				picks = append(picks, n)
			}
			picks = append(picks, c) // the first call after the roll
		}
		prev = c
	}
	picks = append(picks, calls[len(calls)-1]-1)
	slices.Sort(picks)
	return slices.Compact(picks)
}

// ftRunSticky arms f to fail the nth matching call, puts into shard 0 until
// a put fails, and checks the failure is sticky for shard 0 only and that
// recovery keeps every acknowledged put.
func ftRunSticky(t *testing.T, policy file.SyncPolicy, f ftFault, n int) {
	e, acked := ftOpen(t, policy)
	e.ffs.Reset()
	e.ffs.OnlyPaths(f.filter(e))
	f.arm(e.ffs, n)
	var failed *rtRec
	for i := range ftMaxPuts {
		r, err := e.put(0, i)
		if err != nil {
			failed = &r
			break
		}
		acked[0] = append(acked[0], r)
	}
	require.NotNil(t, failed, "no put failed")
	require.Equal(t, 1, e.ffs.Fired())
	require.False(t, e.ffs.Armed())

	// Health names the shard while its writes fail.
	h := e.eng.Health()
	require.Len(t, h, 1)
	require.Equal(t, ftShardID(0), h[0].Shard)
	require.Equal(t, !f.recovers, h[0].Fatal, "%v", h[0])
	require.ErrorIs(t, h[0].Err, faultfs.ErrInjected)
	if f.recovers {
		ftRequireRecovered(t, e, acked, failed)
		return
	}

	// Sticky: the FS works again, the shard still refuses appends.
	for i := range 3 {
		_, err := e.put(0, 500+i)
		require.Error(t, err, "append %d after the failure", i)
	}
	// Readers see exactly the acknowledged records of shard 0.
	got, err := rtReadAll(e.l, rtStream, ftShardID(0))
	require.NoError(t, err)
	rtRequireRecords(t, acked[0], got)

	// Per shard: shard 1 still takes puts.
	for i := range 3 {
		r, err := e.put(1, 600+i)
		require.NoError(t, err, "shard 1 must not be affected")
		acked[1] = append(acked[1], r)
	}
	require.NoError(t, e.l.Close())
	ftCheckReopened(t, e.dir, acked[0], failed, acked[1])
}

// ftRequireRecovered checks that the shard whose write failed takes the
// next puts (it is reopened, its tail recovered), that Health no longer
// lists it, and that it holds every acknowledged put, byte-exact, before
// and after the failure, in the running engine and after reopening.
func ftRequireRecovered(t *testing.T, e *ftEnv, acked [2][]rtRec, failed *rtRec) {
	t.Helper()
	var after []rtRec
	for i := range 3 {
		r, err := e.put(0, 500+i)
		require.NoError(t, err, "append %d after the failure", i)
		after = append(after, r)
	}
	require.Empty(t, e.eng.Health())
	got, err := rtReadAll(e.l, rtStream, ftShardID(0))
	require.NoError(t, err)
	want := slices.Clone(acked[0])
	if len(got) == len(acked[0])+len(after)+1 {
		// The failed put's bytes all reached the file: allowed, it was
		// never acknowledged either way.
		n := len(want)
		require.Equal(t, failed.key, got[n].PartitionKey)
		require.Equal(t, failed.data, got[n].Data)
		want = append(want, rtRec{key: failed.key, data: failed.data, seq: got[n].SequenceNumber})
	}
	want = append(want, after...)
	rtRequireRecords(t, want, got)
	r, err := e.put(1, 600)
	require.NoError(t, err, "shard 1 must not be affected")
	require.NoError(t, e.l.Close())
	ftCheckReopened(t, e.dir, want, nil, append(acked[1], r))
}

// (a, b, c) Failed segment syncs, including those of a roll (the old
// segment's sync, the new segment's header sync, the directory sync), are
// sticky; failed writes (whole or torn) and opens are not: the next put
// reopens the shard. Neither loses an acknowledged put.
func TestFaultSegmentSticky(t *testing.T) {
	t.Parallel()
	writes := func(name string, keep int, all bool) ftFault {
		return ftFault{name: name, filter: (*ftEnv).segFiles0, count: (*faultfs.FS).Writes, all: all, recovers: true,
			arm: func(ffs *faultfs.FS, n int) {
				if keep == 0 {
					ffs.FailWriteAfter(n, nil)
				} else {
					ffs.FailWriteAfterPartial(n, keep, nil)
				}
			}}
	}
	common := []ftFault{
		writes("write", 0, true),
		writes("write-keep10", 10, false),
		{name: "create", filter: (*ftEnv).segFiles0, count: (*faultfs.FS).Opens, recovers: true,
			arm: func(ffs *faultfs.FS, n int) { ffs.FailOpenAfter(n, nil) }},
		{name: "syncdir", filter: (*ftEnv).shardDir0, count: (*faultfs.FS).SyncDirs,
			arm: func(ffs *faultfs.FS, n int) { ffs.FailSyncDirAfter(n, nil) }},
		// Under SyncNever a segment is synced only when it is created or
		// rolled: a failure there is sticky too.
		{name: "sync", filter: (*ftEnv).segFiles0, count: (*faultfs.FS).Syncs, all: true,
			arm: func(ffs *faultfs.FS, n int) { ffs.FailSyncAfter(n, nil) }},
	}
	policies := []struct {
		policy file.SyncPolicy
		faults []ftFault
	}{
		{file.SyncAlways, append(slices.Clone(common),
			writes("write-keep1", 1, false),
			writes("write-keep129", 129, false), // a frame but its last byte
			writes("write-keepall", 1<<20, false))},
		{file.SyncNever, common},
	}
	for _, p := range policies {
		t.Run(p.policy.String(), func(t *testing.T) {
			t.Parallel()
			calls := map[string][]int{} // by counter: the workload's calls
			for _, f := range p.faults {
				op := strings.SplitN(f.name, "-", 2)[0] // write-keep10 counts writes too
				if calls[op] == nil {
					calls[op] = ftCalls(t, p.policy, f)
				}
				c := calls[op]
				picks := ftRollPicks(c)
				if f.all {
					picks = ftPick(c)
				}
				require.NotEmpty(t, picks, f.name)
				for _, n := range picks {
					if n >= c[len(c)-1] {
						continue
					}
					t.Run(fmt.Sprintf("%s/n%d", f.name, n), func(t *testing.T) {
						t.Parallel()
						ftRunSticky(t, p.policy, f, n)
					})
				}
			}
		})
	}
}

func (e *ftEnv) segFiles0() func(string) bool { return e.segFiles(0) }

func (e *ftEnv) shardDir0() func(string) bool {
	d := e.shardDir(0)
	return func(p string) bool { return filepath.Clean(p) == d }
}

// ftRollPicks returns the calls made by the first put that makes more than
// one (a roll), and the first call of the put after it; if no put makes
// more than one, the first few calls.
func ftRollPicks(calls []int) []int {
	prev := 0
	for i, c := range calls {
		if c-prev > 1 {
			var out []int
			for n := prev; n < c; n++ {
				out = append(out, n)
			}
			if i+1 < len(calls) && calls[i+1] > c {
				out = append(out, c)
			}
			return out
		}
		prev = c
	}
	var out []int
	for n := range min(calls[len(calls)-1], 4) {
		out = append(out, n)
	}
	return out
}

// (c) An index file that cannot be written when a segment rolls is only
// logged: puts go on, and after reopening the index is rebuilt and reads
// work.
func TestFaultIndexWrite(t *testing.T) {
	t.Parallel()
	idx := func(e *ftEnv) func(string) bool {
		d := e.shardDir(0) + string(os.PathSeparator)
		return func(p string) bool { return strings.HasPrefix(p, d) && strings.Contains(p, ".idx") }
	}
	faults := []ftFault{
		{name: "open", arm: func(ffs *faultfs.FS, n int) { ffs.FailOpenAfter(n, nil) }},
		{name: "write", arm: func(ffs *faultfs.FS, n int) { ffs.FailWriteAfter(n, nil) }},
		{name: "write-torn", arm: func(ffs *faultfs.FS, n int) { ffs.FailWriteAfterPartial(n, 20, nil) }},
		{name: "sync", arm: func(ffs *faultfs.FS, n int) { ffs.FailSyncAfter(n, nil) }},
		{name: "rename", arm: func(ffs *faultfs.FS, n int) { ffs.FailRenameAfter(n, nil) }},
	}
	for _, f := range faults {
		for _, n := range []int{0, 1} { // the first roll, the second
			t.Run(fmt.Sprintf("%s/roll%d", f.name, n), func(t *testing.T) {
				t.Parallel()
				e, acked := ftOpen(t, file.SyncNever) // the roll writes the index either way
				e.ffs.Reset()
				e.ffs.OnlyPaths(idx(e))
				f.arm(e.ffs, n)
				for i := range ftMaxPuts {
					r, err := e.put(0, i)
					require.NoError(t, err, "put %d: a failed index write is not a failed put", i)
					acked[0] = append(acked[0], r)
				}
				require.Equal(t, 1, e.ffs.Fired())
				segs := rtSegs(t, e.dir, rtStream, ftShardID(0))
				require.Len(t, segs, 3)
				if b, err := os.ReadFile(rtIdx(segs[n])); err == nil {
					require.False(t, rtIdxValid(b, rtSize(t, segs[n])), "the failed index is not in place")
				}
				rtRequireAll2(t, e.l, 0, acked[0])
				require.NoError(t, e.l.Close())
				ftCheckReopened(t, e.dir, acked[0], nil, acked[1])
			})
		}
	}
}

func rtRequireAll2(t *testing.T, l *shardlog.Log, shard int, want []rtRec) {
	t.Helper()
	got, err := rtReadAll(l, rtStream, ftShardID(shard))
	require.NoError(t, err)
	rtRequireRecords(t, want, got)
}

// A fault while a shard is opened (its first segment created, on first
// use) is a failed write or sync like any other. A failed sync is sticky:
// the shard's appends fail until the engine is reopened (re-opening the
// shard on the next call instead would adopt a segment whose header sync
// failed or whose directory entry was never synced, and acknowledge records
// in it). A failed header write is not: the next call opens the shard
// again, which rewrites and syncs the header, and its puts are kept.
func TestFaultShardOpen(t *testing.T) {
	t.Parallel()
	faults := []ftFault{
		{name: "header-write", recovers: true, arm: func(ffs *faultfs.FS, _ int) { ffs.FailWriteAfter(0, nil) }},
		{name: "header-write-torn", recovers: true, arm: func(ffs *faultfs.FS, _ int) { ffs.FailWriteAfterPartial(0, 10, nil) }},
		{name: "header-sync", arm: func(ffs *faultfs.FS, _ int) { ffs.FailSyncAfter(0, nil) }},
		{name: "syncdir", arm: func(ffs *faultfs.FS, _ int) { ffs.FailSyncDirAfter(0, nil) }},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ffs := faultfs.New(file.OS())
			l := rtOpen(t, dir, file.WithFS(ffs), file.WithPreallocation(true))
			defer l.Close()
			rtCreate(t, l, rtStream, 2)
			e := &ftEnv{t: t, dir: dir, ffs: ffs, l: l}
			sd := e.shardDir(0)
			ffs.OnlyPaths(func(p string) bool { return p == sd || strings.HasPrefix(p, sd+string(os.PathSeparator)) })
			f.arm(ffs, 0)
			_, err := e.put(0, 0)
			require.Error(t, err)
			require.Equal(t, 1, ffs.Fired())
			var acked []rtRec
			for i := range 3 {
				r, err := e.put(0, 1+i)
				if f.recovers {
					require.NoError(t, err, "append %d after the failed shard open", i)
					acked = append(acked, r)
				} else {
					require.Error(t, err, "append %d after the failed shard open", i)
				}
			}
			r, err := e.put(1, 10)
			require.NoError(t, err)
			require.NoError(t, l.Close())
			l2 := rtOpen(t, dir)
			defer rtClose(t, l2)
			rtRequireAll2(t, l2, 1, []rtRec{r})
			rtRequireAll2(t, l2, 0, acked)
		})
	}
	// An open that fails creates nothing: trying again is harmless.
	t.Run("create", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ffs := faultfs.New(file.OS())
		l := rtOpen(t, dir, file.WithFS(ffs), file.WithPreallocation(true))
		defer rtClose(t, l)
		rtCreate(t, l, rtStream, 2)
		e := &ftEnv{t: t, dir: dir, ffs: ffs, l: l}
		ffs.OnlyPaths(e.segFiles(0))
		ffs.FailOpenAfter(0, nil)
		_, err := e.put(0, 0)
		require.Error(t, err)
		require.Equal(t, 1, ffs.Fired())
		r, err := e.put(0, 1)
		if err == nil {
			rtRequireAll2(t, l, 0, []rtRec{r})
		}
	})
}

// An append is atomic: after a torn write of a batch and recovery, the
// batch is there whole or not at all (shardlog.Engine.Append; AppendKey
// promises "all or none").
func TestFaultTornBatch(t *testing.T) {
	t.Parallel()
	frame := rtFrameOverhead + len("order-1") + rtDataSize
	for _, keep := range []int{frame - 1, frame + 10, 2 * frame, 3*frame - 1} {
		t.Run(fmt.Sprintf("keep%d", keep), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ffs := faultfs.New(file.OS())
			l := rtOpen(t, dir, file.WithFS(ffs), file.WithPreallocation(true))
			defer l.Close()
			rtCreate(t, l, rtStream, 1)
			first, err := l.AppendKey(rtCtx, shardlog.AppendKeyInput{StreamName: rtStream, PartitionKey: "order-1", Data: [][]byte{rtData(0)}})
			require.NoError(t, err)
			ffs.OnlyPaths(func(p string) bool { return strings.HasSuffix(p, ".seg") })
			ffs.FailWriteAfterPartial(0, keep, nil)
			_, err = l.AppendKey(rtCtx, shardlog.AppendKeyInput{StreamName: rtStream, PartitionKey: "order-1",
				Data: [][]byte{rtData(1), rtData(2), rtData(3)}, ExpectedSequenceNumber: first.Last})
			require.Error(t, err)
			require.Equal(t, 1, ffs.Fired())
			require.NoError(t, l.Close())

			l2 := rtOpen(t, dir)
			defer rtClose(t, l2)
			recs, err := rtReadKey(l2, rtStream, "order-1")
			require.NoError(t, err)
			require.True(t, len(recs) == 1 || len(recs) == 4,
				"after a torn batch of 3, the key has %d records: the batch must be whole or absent", len(recs))
		})
	}
}

// (d) A failed metadata save (any step: directory sync, temporary file
// open, write, sync, rename, final directory sync) fails the operation;
// after reopening, the metadata is the old or the new version, and the
// stream works.
func TestFaultMetadataSave(t *testing.T) {
	t.Parallel()
	const name = "meta"
	filter := func(dir string) func(string) bool {
		streams := filepath.Join(dir, "streams")
		sdir := filepath.Join(streams, "s-"+name)
		return func(p string) bool {
			p = filepath.Clean(p)
			return p == streams || p == sdir || strings.HasPrefix(p, sdir+string(os.PathSeparator)+"stream.json")
		}
	}
	faults := []ftFault{
		{name: "syncdir0", arm: func(ffs *faultfs.FS, _ int) { ffs.FailSyncDirAfter(0, nil) }},
		{name: "syncdir1", arm: func(ffs *faultfs.FS, _ int) { ffs.FailSyncDirAfter(1, nil) }},
		{name: "open", arm: func(ffs *faultfs.FS, _ int) { ffs.FailOpenAfter(0, nil) }},
		{name: "write", arm: func(ffs *faultfs.FS, _ int) { ffs.FailWriteAfter(0, nil) }},
		{name: "write-torn", arm: func(ffs *faultfs.FS, _ int) { ffs.FailWriteAfterPartial(0, 20, nil) }},
		{name: "sync", arm: func(ffs *faultfs.FS, _ int) { ffs.FailSyncAfter(0, nil) }},
		{name: "rename", arm: func(ffs *faultfs.FS, _ int) { ffs.FailRenameAfter(0, nil) }},
	}
	for _, f := range faults {
		t.Run("CreateStream/"+f.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ffs := faultfs.New(file.OS())
			l := rtOpen(t, dir, file.WithFS(ffs), file.WithPreallocation(true))
			defer l.Close()
			rtCreate(t, l, rtStream, 1)
			recs := rtPutN(t, l, rtStream, 0, 3)
			ffs.OnlyPaths(filter(dir))
			f.arm(ffs, 0)
			err := l.CreateStream(rtCtx, shardlog.CreateStreamInput{StreamName: name, ShardCount: 2})
			require.Error(t, err)
			require.Equal(t, 1, ffs.Fired())
			require.NoError(t, l.Close())

			l2 := rtOpen(t, dir)
			defer rtClose(t, l2)
			rtRequireAll(t, l2, recs) // the other stream is untouched
			d, err := l2.DescribeStream(rtCtx, shardlog.DescribeStreamInput{StreamName: name})
			if errors.Is(err, shardlog.ErrResourceNotFound) {
				// The old version: no stream. It can be created now.
				rtCreate(t, l2, name, 2)
				d, err = l2.DescribeStream(rtCtx, shardlog.DescribeStreamInput{StreamName: name})
			}
			require.NoError(t, err)
			require.Len(t, d.Shards, 2)
			_, err = l2.PutRecord(rtCtx, shardlog.PutRecordInput{StreamName: name, PartitionKey: "a", Data: []byte("b")})
			require.NoError(t, err)
		})
		t.Run("SplitShard/"+f.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ffs := faultfs.New(file.OS())
			l := rtOpen(t, dir, file.WithFS(ffs), file.WithPreallocation(true))
			defer l.Close()
			rtCreate(t, l, name, 1)
			recs := rtPutN(t, l, name, 0, 5)
			ffs.OnlyPaths(filter(dir))
			f.arm(ffs, 0)
			err := l.SplitShard(rtCtx, shardlog.SplitShardInput{StreamName: name, ShardToSplit: rtShard0, NewStartingHashKey: "170141183460469231731687303715884105728"})
			require.Error(t, err)
			require.Equal(t, 1, ffs.Fired())
			// The parent is sealed but the metadata that closes it was not
			// saved: writes fail at once, with a clear error, until reopen.
			_, err = l.PutRecord(rtCtx, shardlog.PutRecordInput{StreamName: name, PartitionKey: "a", Data: []byte("b")})
			require.ErrorIs(t, err, shardlog.ErrResourceInUse)
			require.ErrorContains(t, err, "reopen the log")
			d0, err := l.DescribeStream(rtCtx, shardlog.DescribeStreamInput{StreamName: name})
			require.NoError(t, err)
			require.Equal(t, shardlog.StatusUpdating, d0.StreamStatus)
			require.NoError(t, l.Close())

			l2 := rtOpen(t, dir)
			defer rtClose(t, l2)
			d, err := l2.DescribeStream(rtCtx, shardlog.DescribeStreamInput{StreamName: name})
			require.NoError(t, err)
			switch len(d.Shards) {
			case 1: // old
				require.False(t, d.Shards[0].Closed)
				require.Equal(t, 1, d.OpenShardCount)
			case 3: // new
				require.True(t, d.Shards[0].Closed)
				require.Equal(t, recs[len(recs)-1].seq, d.Shards[0].EndingSequenceNumber)
				require.Equal(t, 2, d.OpenShardCount)
				for _, c := range d.Shards[1:] {
					require.Equal(t, rtShard0, c.ParentShardID)
				}
			default:
				t.Fatalf("%d shards after a failed split", len(d.Shards))
			}
			got, err := rtReadAll(l2, name, rtShard0)
			require.NoError(t, err)
			rtRequireRecords(t, recs, got)
			for i := range 5 {
				_, err := l2.PutRecord(rtCtx, shardlog.PutRecordInput{StreamName: name, PartitionKey: rtKey(i), Data: []byte("b")})
				require.NoError(t, err)
			}
		})
	}
}
