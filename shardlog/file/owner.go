package file

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/shardlog"
)

// Stream identity. Each stream's shard data is tied to the ID of the stream
// that wrote it (shardlog.StreamMeta.ID, random per CreateStream) by a small
// file, DIR/streams/s-<stream>/shards/stream-id, holding that ID in decimal.
// It is written (durably) before the stream's first stream.json, so shard
// data never exists without it. A stream directory whose records cannot be
// proven to be its stream.json's is never served:
//
//   - stream.json missing, with shard data: the data of a stream whose
//     metadata was lost (an orphan);
//   - stream.json damaged (it does not parse);
//   - stream-id naming another ID than stream.json.
//
// LoadStreams leaves such a stream out, and Open logs a warning for each.
// SaveStream of a stream whose directory holds one (a CreateStream of that
// name) first moves the directory aside, to DIR/orphans/, never adopting
// its records; Check reports each as a problem and Repair moves it aside.
// A directory written before stream-id existed (no stream-id, stream.json
// present) is adopted: LoadStreams writes the stream-id of its stream.json.

const (
	// ownerFile holds the ID of the stream that owns the shard data.
	ownerFile = "stream-id"
	// orphansDir holds stream directories moved aside:
	// DIR/orphans/s-<stream>.<what>.<UTC time>.
	orphansDir = "orphans"
)

// streamState is what a stream directory holds.
type streamState struct {
	dir         string
	meta        *shardlog.StreamMeta // parsed stream.json; nil if missing or damaged
	metaMissing bool
	metaErr     *CorruptError // stream.json does not parse
	owner       uint64        // the ID in stream-id, if hasOwner
	hasOwner    bool
	hasData     bool // shards/ holds at least one shard directory
}

// inspectStream reads a stream directory's metadata, owner and whether it
// holds shard data. A missing directory reads as an empty one.
func inspectStream(fsys FS, sdir string) (streamState, error) {
	st := streamState{dir: sdir}
	path := filepath.Join(sdir, metaFile)
	b, err := fsys.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st.metaMissing = true
	case err != nil:
		return st, err
	default:
		var m shardlog.StreamMeta
		if err := json.Unmarshal(b, &m); err != nil {
			st.metaErr = &CorruptError{Path: path, Reason: "stream metadata: " + err.Error()}
		} else {
			st.meta = &m
		}
	}
	// A stream-id that does not parse proves nothing: as if missing.
	if b, err := fsys.ReadFile(filepath.Join(sdir, shardsDir, ownerFile)); err == nil {
		if id, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); perr == nil {
			st.owner, st.hasOwner = id, true
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	entries, err := fsys.ReadDir(filepath.Join(sdir, shardsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	for _, de := range entries {
		if de.IsDir() {
			st.hasData = true
			break
		}
	}
	return st, nil
}

// owns reports whether the directory's shard data (if any) belongs to the
// stream with this ID: its stream-id says so, or, written before stream-id
// existed, its stream.json does.
func (st *streamState) owns(id uint64) bool {
	if st.hasOwner {
		return st.owner == id
	}
	return st.meta != nil && st.meta.ID == id
}

// problem returns why the engine does not serve this directory, or nil.
// Its Path is the file at fault: stream.json, stream-id, or the directory
// itself when stream.json is missing.
func (st *streamState) problem() *CorruptError {
	switch {
	case st.metaErr != nil:
		return st.metaErr
	case st.metaMissing && st.hasData:
		what := "shard data of an unknown stream"
		if st.hasOwner {
			what = fmt.Sprintf("shard data of stream ID %d", st.owner)
		}
		return &CorruptError{Path: st.dir, Reason: what + " without " + metaFile +
			" (the metadata was lost): the engine does not serve it; repair moves it to " + orphansDir}
	case st.meta != nil && st.hasOwner && st.owner != st.meta.ID:
		return &CorruptError{Path: filepath.Join(st.dir, shardsDir, ownerFile), Reason: fmt.Sprintf(
			"shard data of stream ID %d, but %s is of stream ID %d: the engine does not serve it; repair moves it to %s",
			st.owner, metaFile, st.meta.ID, orphansDir)}
	}
	return nil
}

// asideName says what a stream directory moved aside was: an orphan
// (metadata lost), damaged metadata, or the data of another stream ID.
func (st *streamState) asideName() string {
	var what string
	switch {
	case st.metaErr != nil:
		what = "damaged-metadata"
	case st.hasOwner:
		what = fmt.Sprintf("orphan-of-stream-%d", st.owner)
	case st.meta != nil:
		what = fmt.Sprintf("orphan-of-stream-%d", st.meta.ID)
	default:
		what = "orphan"
	}
	return filepath.Base(st.dir) + "." + what
}

// writeOwner durably records id as the owner of the stream directory's
// shard data.
func writeOwner(fsys FS, sdir string, id uint64) error {
	dir := filepath.Join(sdir, shardsDir)
	if err := fsys.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := fsys.SyncDir(sdir); err != nil {
		return err
	}
	return writeFileAtomic(fsys, filepath.Join(dir, ownerFile), []byte(strconv.FormatUint(id, 10)+"\n"), true)
}

// moveAside moves a stream directory to DIR/orphans/<name>.<UTC time>,
// durably, and returns where it went.
func moveAside(fsys FS, dataDir, sdir, name string, now time.Time) (string, error) {
	odir := filepath.Join(dataDir, orphansDir)
	if err := fsys.MkdirAll(odir, 0o700); err != nil {
		return "", err
	}
	base := name + "." + now.UTC().Format("20060102T150405Z")
	dst := filepath.Join(odir, base)
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		} else if err != nil {
			return "", err
		}
		dst = filepath.Join(odir, base+"."+strconv.Itoa(i))
	}
	if err := fsys.Rename(sdir, dst); err != nil {
		return "", err
	}
	for _, d := range []string{odir, filepath.Dir(sdir), dataDir} {
		if err := fsys.SyncDir(d); err != nil {
			return "", err
		}
	}
	return dst, nil
}

// claimStreamDir makes the directory of meta's stream its own before its
// metadata is saved: a directory whose shard data or metadata is another
// stream's (or nobody's) is moved aside, and the stream-id is written.
// Streams already claimed by this engine are remembered.
func (e *Engine) claimStreamDir(meta shardlog.StreamMeta) error {
	if id, ok := e.owners.Load(meta.Name); ok && id.(uint64) == meta.ID {
		return nil
	}
	sdir := e.streamDir(meta.Name)
	st, err := inspectStream(e.fs, sdir)
	if err != nil {
		return err
	}
	switch {
	case st.owns(meta.ID):
		if st.hasOwner {
			e.owners.Store(meta.Name, meta.ID)
			return nil
		}
	case st.hasData || st.meta != nil || st.metaErr != nil:
		dst, err := moveAside(e.fs, e.dir, sdir, st.asideName(), time.Now())
		if err != nil {
			return fmt.Errorf("shardlog/file: move aside %s: %w", sdir, err)
		}
		e.logger.Warn("shardlog/file: moved aside a stream directory that is not the new stream's; its records are not adopted",
			"stream", meta.Name, "to", dst, "reason", st.asideReason())
	}
	if err := e.fs.MkdirAll(sdir, 0o700); err != nil {
		return err
	}
	if err := e.fs.SyncDir(filepath.Dir(sdir)); err != nil {
		return err
	}
	if err := writeOwner(e.fs, sdir, meta.ID); err != nil {
		return err
	}
	e.owners.Store(meta.Name, meta.ID)
	return nil
}

// asideReason is the log's words for why a directory is moved aside.
func (st *streamState) asideReason() string {
	if p := st.problem(); p != nil {
		return p.Reason
	}
	if st.meta != nil {
		return fmt.Sprintf("%s is of stream ID %d", metaFile, st.meta.ID)
	}
	return "leftover data"
}

// reportStreams logs a warning for every stream directory the engine will
// not serve (see problem). It is called by Open.
func (e *Engine) reportStreams() {
	entries, err := e.fs.ReadDir(filepath.Join(e.dir, streamsDir))
	if err != nil {
		return
	}
	for _, de := range entries {
		if !de.IsDir() || !strings.HasPrefix(de.Name(), streamDirPrefix) {
			continue
		}
		sdir := filepath.Join(e.dir, streamsDir, de.Name())
		st, err := inspectStream(e.fs, sdir)
		if err != nil {
			e.logger.Warn("shardlog/file: cannot read a stream directory", "dir", sdir, "err", err)
			continue
		}
		if p := st.problem(); p != nil {
			e.logger.Warn("shardlog/file: stream not served; run shoal check --repair to move it aside",
				"stream", strings.TrimPrefix(de.Name(), streamDirPrefix), "path", p.Path, "problem", p.Reason)
		}
	}
}
