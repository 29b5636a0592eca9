// Package file is Shoal's durable, embedded shardlog engine: a directory of
// append-only segment files, with no server to run.
//
// # Layout
//
//	DIR/streams/s-<stream>/stream.json                   stream metadata (atomic replace)
//	DIR/streams/s-<stream>/shards/stream-id              the ID of the stream owning the data
//	DIR/streams/s-<stream>/shards/<shard ID>/<base>.seg  segment files
//	DIR/streams/s-<stream>/shards/<shard ID>/<base>.idx  index of a full segment
//	DIR/trash/                                           streams being deleted
//	DIR/quarantine/                                      bytes cut out by Repair
//	DIR/orphans/                                         stream directories moved aside
//	DIR/LOCK                                             flock'd while open (ErrLocked)
//
// Files are created with mode 0600 and directories 0700.
//
// Shard data belongs to the stream that wrote it (its stream-id, written
// before the first stream.json). A stream directory whose stream.json is
// missing (with shard data left), does not parse, or names another ID than
// its stream-id is not served: LoadStreams leaves it out (the other streams
// are served), Open logs a warning, Check reports it, and Repair, or a
// CreateStream of that name, moves it to DIR/orphans; its records are never
// adopted by another stream. See owner.go.
//
// A shard is a sequence of segment files, each named by a 20-digit decimal
// position: a lower bound of its first record's sequencer position (see
// shardlog.SequenceNumber). A segment starts with a 32-byte header (magic
// "SHOALSEG", version, shard index, base position, CRC-32C) and holds record
// frames. When the active segment would pass the segment size (64 MiB by
// default) it is synced, its index file is written, and a new one starts.
//
// # Record frame
//
// Little-endian; the CRC-32C (Castagnoli) covers the length field and the
// body, so a damaged length cannot pass for a shorter frame:
//
//	+----------+----------+--------------+--------------+-----------+-----------+------------+
//	| length   | crc32c   | position     | arrival      | key len   | key       | data       |
//	| u32      | u32      | u64          | i64 Unix ns  | u16       | key len B | rest       |
//	+----------+----------+--------------+--------------+-----------+-----------+------------+
//	  length = 18 + key len + data len (the bytes after the crc field)
//
// A 256-byte record with a 16-byte key takes 26 + 16 + 256 = 298 bytes.
//
// # Durability contract
//
// Chosen per engine with WithSync:
//
//   - SyncAlways (the default): Append returns only after the batch's bytes
//     are written and fdatasync'd. Concurrent appends to a shard share one
//     fdatasync (group commit): the first waiter syncs for everyone who
//     wrote before it started. Readers, tailing cursors and subscribers see
//     a record only once it is durable. A conditional append that conflicts
//     with a record not yet durable answers only once that record is.
//   - SyncInterval(d): Append returns once the bytes are written to the
//     file (in the page cache); a background pass fdatasyncs every shard
//     written since the last pass, every d. A process crash loses nothing;
//     a machine crash loses at most about d of acknowledged appends.
//   - SyncNever: as SyncInterval, but the operating system decides when to
//     flush (on Close the engine syncs).
//
// Metadata changes (CreateStream, resharding, retention, tags, consumers)
// are atomic on disk: the new stream.json is written to a temporary file,
// fdatasync'd, renamed over the old one, and the directory is fsync'd. A
// new segment file is fsync'd with its directory before records go in it.
//
// A failed fdatasync (or directory fsync) is sticky: the shard returns that
// error for every later append until the engine is reopened, which runs
// recovery. An fdatasync is never retried (after a failure the kernel may
// have dropped the dirty pages, so a retry could report success for data
// that is gone). A failed write (ENOSPC, EIO, EMFILE while rolling) is
// not: it fails the appends waiting on it, and once the shard's last
// in-flight call returns the engine closes the shard; the next call
// reopens it, which runs recovery on the active segment (truncating what
// the failed write left at the last whole batch, then fdatasyncing the
// segment) and, if there is room again, succeeds. An append that returned
// an error may or may not be on disk after recovery, as with a network
// timeout on Kinesis. Every failed write or sync is logged (WithLogger)
// with the stream, shard, file and cause, and Engine.Health lists the
// shards whose writes are failing until an append to them succeeds (a
// failed fdatasync: until the engine is reopened).
//
// # Open files
//
// An open shard holds one descriptor, its active segment's: a full
// segment's is closed once it is rolled or loaded, and reads of it open the
// file for the read (reads by key map it once). The engine keeps
// open shards in LRU order and, when a shard opens and they hold more than
// WithMaxOpenFiles files (default: half the soft RLIMIT_NOFILE), closes
// the least recently used idle ones: shards no call is using, drained
// (unsynced writes are synced first). A closed shard reopens, with
// recovery, on its next use; its seal, its bounds and the channel Notify
// handed out are kept meanwhile, and Notify, Bounds and a Trim with
// nothing to delete answer without opening it. Shards in use, and shards
// whose fdatasync failed, are never closed. When opening a shard fails
// with EMFILE, ENFILE or ENOMEM, the engine closes idle shards and tries
// once more; if that fails, the error wraps ErrResourceExhausted, is not
// remembered, and the next call tries again (a read that cannot open a
// full segment fails the same way). While DropShard or DropStream deletes
// a shard's files, calls that need that shard wait for it.
//
// # Recovery
//
// Shards open lazily, on first use. For the active (last) segment, the
// engine scans every frame and verifies its CRC. A tail that is torn — a
// last frame cut short or damaged as it was being written, or a run of
// zeros — is truncated at the last valid frame and logged. A bad frame
// followed by other data is not a torn write: the engine returns a
// *CorruptError naming the file and offset, truncates nothing, and the
// shard refuses every operation until an operator repairs it (see Check
// and Repair, or "shoal check --repair"; Repair keeps the valid frames after
// the damage). A *CorruptError matches ErrCorrupt and shardlog.ErrCorrupt.
//
// Full segments are not scanned when their index file is valid (its CRC
// matches and it describes the segment's current size). A missing or stale
// index is rebuilt by scanning the segment; a bad frame found then, or by
// any later read, is a *CorruptError — never skipped.
//
// # Indexes and memory
//
// Each segment keeps a sparse index, one entry (position, arrival time,
// offset: 20 bytes) per 64 KiB of frames, so AT_SEQUENCE_NUMBER and
// AT_TIMESTAMP seeks read at most 64 KiB before the wanted record instead of
// scanning the shard. The partition-key index maps each key to the
// positions and offsets of its records (16 bytes per record, plus per key a
// Go map entry, the key string and a slice header), so ReadKey and the
// conditional append cost time proportional to the key's records. Measured
// with 12-byte keys (1M records over 10k, 100k and 1M keys): about 21 bytes
// per record plus about 120 bytes per key. It is persisted in each full
// segment's index file and rebuilt from the active segment on open. Memory
// grows with the number of records only through the key index (16 bytes a
// record) and the sparse index (20 bytes per 64 KiB).
//
// # Retention
//
// Trim deletes whole segments whose every record arrived before the
// horizon; the active segment is never deleted. The shardlog.Log filters
// expired records out of every read, so what Trim keeps is never returned.
//
// # Reads
//
// A read takes the shard's lock only to copy a snapshot of its segment
// list, then reads with pread, without blocking appenders. The records of
// one read share its buffers (256 KiB chunks): Data and PartitionKey alias
// them, so a caller that keeps a few records of a large read for long
// should copy their Data. Reads by key (ReadKey, LastKey, the conditional
// append's check) copy each record out of a read-only mmap of its segment
// instead, into a buffer of its own.
//
// # Tailing
//
// Readers wait on Notify: a channel closed (broadcast) when records become
// visible or the shard is sealed. Nobody polls.
package file
