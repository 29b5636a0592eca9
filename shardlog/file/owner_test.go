package file_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/shardlog"
	"github.com/shoal-dev/shoal/shardlog/file"
	"github.com/stretchr/testify/require"
)

// Stream identity tests (owner.go): shard data is served only under the
// stream.json of the stream that wrote it.

func owStreamDir(dir, stream string) string { return filepath.Join(dir, "streams", "s-"+stream) }

// owLogger returns a logger writing text to buf.
func owLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// owOrphans lists DIR/orphans.
func owOrphans(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "orphans"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []string
	for _, de := range entries {
		out = append(out, de.Name())
	}
	return out
}

// owStreams lists the Log's streams.
func owStreams(t *testing.T, l *shardlog.Log) []string {
	t.Helper()
	out, err := l.ListStreams(rtCtx, shardlog.ListStreamsInput{})
	require.NoError(t, err)
	return out.StreamNames
}

// A stream whose stream.json was deleted while the engine was stopped:
// its data is reported at Open and by Check, the stream is not listed, and
// a new stream of the same name sees only its own records; the old data
// ends up in DIR/orphans, never adopted.
func TestDeletedMetaNeverAdopted(t *testing.T) {
	t.Parallel()
	dir, _ := rtSetup(t, 2*rtPerSeg+3)
	sdir := owStreamDir(dir, rtStream)
	require.FileExists(t, filepath.Join(sdir, "shards", "stream-id"), "the owner is written with the stream")
	require.NoError(t, os.Remove(filepath.Join(sdir, "stream.json")))

	rep := ckCheck(t, dir)
	require.Len(t, rep.Problems, 1, "problems: %v", rep.Problems)
	require.Equal(t, sdir, rep.Problems[0].Path)
	require.Contains(t, rep.Problems[0].Reason, "without stream.json")

	var logs bytes.Buffer
	l := rtOpen(t, dir, file.WithLogger(owLogger(&logs)))
	require.Contains(t, logs.String(), "stream not served")
	require.Contains(t, logs.String(), "stream="+rtStream)
	require.Empty(t, owStreams(t, l))

	rtCreate(t, l, rtStream, 1)
	fresh := rtPutN(t, l, rtStream, 1000, 3)
	rtRequireAll(t, l, fresh)
	rtRequireKeys(t, l, fresh)
	rtClose(t, l)
	require.Contains(t, logs.String(), "moved aside")

	orphans := owOrphans(t, dir)
	require.Len(t, orphans, 1)
	require.True(t, strings.HasPrefix(orphans[0], "s-"+rtStream+".orphan-of-stream-"), orphans[0])
	segs, err := filepath.Glob(filepath.Join(dir, "orphans", orphans[0], "shards", rtShard0, "*.seg"))
	require.NoError(t, err)
	require.Len(t, segs, 3, "the old stream's segments, kept aside")

	ckRequireClean(t, ckCheck(t, dir), fresh)
	l = rtOpen(t, dir)
	rtRequireAll(t, l, fresh)
	rtClose(t, l)
}

// Check's problem for an orphan is repaired by moving it aside; then the
// directory checks clean and the engine opens without a warning.
func TestRepairOrphan(t *testing.T) {
	t.Parallel()
	dir, _ := rtSetup(t, 5)
	sdir := owStreamDir(dir, rtStream)
	require.NoError(t, os.Remove(filepath.Join(sdir, "stream.json")))
	rep := ckCheck(t, dir)
	require.Len(t, rep.Problems, 1)
	res, err := file.Repair(dir, rep.Problems[0])
	require.NoError(t, err)
	require.True(t, res.Stream)
	require.True(t, res.Removed)
	require.Equal(t, filepath.Join(dir, "orphans"), filepath.Dir(res.Quarantine))
	require.NoDirExists(t, sdir)
	require.DirExists(t, filepath.Join(res.Quarantine, "shards", rtShard0))
	require.True(t, ckCheck(t, dir).Clean())

	_, err = file.Repair(dir, rep.Problems[0])
	require.Error(t, err, "nothing to move any more")

	var logs bytes.Buffer
	l := rtOpen(t, dir, file.WithLogger(owLogger(&logs)))
	require.Empty(t, owStreams(t, l))
	rtClose(t, l)
	require.NotContains(t, logs.String(), "not served")
}

// Shard data whose stream-id is not its stream.json's ID (e.g. an old
// stream.json restored over a newer stream) is not served.
func TestOwnerMismatch(t *testing.T) {
	t.Parallel()
	dir, _ := rtSetup(t, 5)
	owner := filepath.Join(owStreamDir(dir, rtStream), "shards", "stream-id")
	rtWriteFile(t, owner, []byte("12345\n"))
	rep := ckCheck(t, dir)
	require.Len(t, rep.Problems, 1)
	require.Equal(t, owner, rep.Problems[0].Path)
	require.Contains(t, rep.Problems[0].Reason, "stream ID 12345")

	l := rtOpen(t, dir)
	require.Empty(t, owStreams(t, l))
	rtCreate(t, l, rtStream, 1)
	fresh := rtPutN(t, l, rtStream, 100, 2)
	rtRequireAll(t, l, fresh)
	rtClose(t, l)
	orphans := owOrphans(t, dir)
	require.Len(t, orphans, 1)
	require.True(t, strings.HasPrefix(orphans[0], "s-"+rtStream+".orphan-of-stream-12345."), orphans[0])
}

// A data directory written before stream-id existed still opens with its
// records (stream.json names the stream: the engine adopts the data and
// writes stream-id); without stream.json, its data is an orphan.
func TestOwnerMigration(t *testing.T) {
	t.Parallel()
	dir, recs := rtSetup(t, rtPerSeg+4)
	owner := filepath.Join(owStreamDir(dir, rtStream), "shards", "stream-id")
	require.NoError(t, os.Remove(owner))
	rep := ckCheck(t, dir)
	ckRequireClean(t, rep, recs)
	require.Len(t, rep.Notes, 1)
	require.Contains(t, rep.Notes[0], "adopts")

	l := rtOpen(t, dir)
	rtRequireAll(t, l, recs)
	recs = rtRequirePutWorks(t, dir, l, recs)
	rtClose(t, l)
	require.FileExists(t, owner, "written at load")
	rep = ckCheck(t, dir)
	ckRequireClean(t, rep, recs)
	require.Empty(t, rep.Notes)

	// Old layout and no stream.json: nobody's data.
	require.NoError(t, os.Remove(owner))
	require.NoError(t, os.Remove(filepath.Join(owStreamDir(dir, rtStream), "stream.json")))
	l = rtOpen(t, dir)
	rtCreate(t, l, rtStream, 1)
	fresh := rtPutN(t, l, rtStream, 500, 2)
	rtRequireAll(t, l, fresh)
	rtClose(t, l)
	orphans := owOrphans(t, dir)
	require.Len(t, orphans, 1)
	require.True(t, strings.HasPrefix(orphans[0], "s-"+rtStream+".orphan."), orphans[0])
}

// owTwoStreams writes records to two streams, damages the stream.json of
// "broken", and returns the directory and rtStream's records.
func owTwoStreams(t *testing.T) (string, []rtRec) {
	t.Helper()
	dir := t.TempDir()
	l := rtOpen(t, dir)
	rtCreate(t, l, "broken", 1)
	rtPutN(t, l, "broken", 0, 4)
	rtCreate(t, l, rtStream, 1)
	recs := rtPutN(t, l, rtStream, 0, 6)
	rtClose(t, l)
	meta := filepath.Join(owStreamDir(dir, "broken"), "stream.json")
	b := rtReadFile(t, meta)
	rtWriteFile(t, meta, b[:len(b)/2])
	return dir, recs
}

// A damaged stream.json takes only its own stream out: the engine opens,
// serves the others and warns; Check reports it; Repair moves it aside.
func TestDamagedMetaSkipped(t *testing.T) {
	t.Parallel()
	dir, recs := owTwoStreams(t)
	meta := filepath.Join(owStreamDir(dir, "broken"), "stream.json")

	var logs bytes.Buffer
	l := rtOpen(t, dir, file.WithLogger(owLogger(&logs)))
	require.Equal(t, []string{rtStream}, owStreams(t, l))
	rtRequireAll(t, l, recs)
	recs = rtRequirePutWorks(t, dir, l, recs)
	rtClose(t, l)
	require.Contains(t, logs.String(), "stream=broken")
	require.Contains(t, logs.String(), "stream metadata")

	rep := ckCheck(t, dir)
	require.Len(t, rep.Problems, 1, "problems: %v", rep.Problems)
	require.Equal(t, meta, rep.Problems[0].Path)
	res, err := file.Repair(dir, rep.Problems[0])
	require.NoError(t, err)
	require.True(t, res.Stream)
	require.True(t, strings.HasPrefix(filepath.Base(res.Quarantine), "s-broken.damaged-metadata."), res.Quarantine)
	require.FileExists(t, filepath.Join(res.Quarantine, "stream.json"))
	rep = ckCheck(t, dir)
	require.True(t, rep.Clean(), "problems: %v", rep.Problems)
	require.Len(t, rep.Shards, 1)

	l = rtOpen(t, dir)
	require.Equal(t, []string{rtStream}, owStreams(t, l))
	rtRequireAll(t, l, recs)
	rtClose(t, l)
}

// Creating a stream with the name of one whose stream.json is damaged
// never adopts its records.
func TestDamagedMetaRecreate(t *testing.T) {
	t.Parallel()
	dir, _ := owTwoStreams(t)
	l := rtOpen(t, dir)
	rtCreate(t, l, "broken", 1)
	got, err := rtReadAll(l, "broken", rtShard0)
	require.NoError(t, err)
	require.Empty(t, got, "the new stream has none of the old records")
	rtClose(t, l)
	orphans := owOrphans(t, dir)
	require.Len(t, orphans, 1)
	require.True(t, strings.HasPrefix(orphans[0], "s-broken.damaged-metadata."), orphans[0])
	require.True(t, ckCheck(t, dir).Clean())
}
