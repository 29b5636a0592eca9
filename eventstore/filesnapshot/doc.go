// Package filesnapshot is an eventstore.SnapshotStore in a directory: one
// file per stream, with no server to run.
//
// # Layout
//
//	DIR/<hh>/<hash>.snap   the latest snapshot of one stream
//	DIR/<hh>/<hash>.tmp    a save in progress, or left by a crash (ignored)
//
// <hash> is the hex SHA-256 of the stream ID and <hh> its first two hex
// digits: 256 subdirectories, created by Open, so that no directory holds
// more than about 1/256 of the files. A file name is thus safe whatever the
// stream ID ("..", "/", NUL, any length), and two IDs never share a file
// (the file holds the real stream ID and Load checks it).
//
// # File format
//
// Little-endian. The CRC-32C (Castagnoli) covers everything after it, so a
// damaged format or length field cannot pass either:
//
//	+----------+--------+--------+--------+------------------+
//	| magic    | crc32c | format | length | body             |
//	| SHOALSNP | u32    | u32 =1 | u32    | length B         |
//	+----------+--------+--------+--------+------------------+
//
// The body is the snapshot's fields in order; a string or byte field is a
// u32 length and its bytes:
//
//	stream ID        u32 len + bytes
//	version          u64
//	shard ID         u32 len + bytes
//	sequence number  u64 sequencer position, u32 shard index
//	type             u32 len + bytes
//	schema version   u32
//	taken at         i64 Unix seconds, u32 nanoseconds (0-999,999,999)
//	data             u32 len + bytes
//
// The file ends with the body. A file that is not exactly this (a bad
// magic, an unknown format, a size that does not match the length, a CRC
// mismatch, a field running past the body, another stream's ID) is
// corrupt: Load and Save return an error wrapping ErrCorrupt and naming the
// file, and never panic. TakenAt is kept to the nanosecond and returned in
// UTC. A snapshot's body is limited to 4 GiB.
//
// # Durability contract
//
// SaveSnapshot writes the new file as <hash>.tmp, fsyncs it, renames it over
// <hash>.snap and fsyncs the directory. When it returns nil the snapshot is
// durable: after a crash, of the process or the machine, Load returns it
// (or a later one). A crash before the rename leaves the old snapshot in
// place and a stray .tmp file, which Open and Load ignore and the next save
// of that stream overwrites. Readers never see a partly written file.
// SaveSnapshot returning an error leaves either the old or the new snapshot.
//
// A corrupt file is never replaced: SaveSnapshot of its stream returns the
// ErrCorrupt error until an operator has looked at the file and removed it
// (the stream then has no snapshot, and its events load from the log).
// A snapshot is the only record of a stream's version once its events are
// past retention, so the store does not discard one it cannot read.
//
// # Concurrency
//
// A Store is safe for concurrent use. SaveSnapshot checks the stored
// version and renames under a lock of the stream's subdirectory: a mutex
// of the Store and, on Unix, an exclusive flock(2) of the subdirectory. So
// saves of one stream are serialized, and the highest version wins, across
// goroutines, across Stores on one directory, and across processes sharing
// the directory on a local file system (flock is not reliable on every
// network file system). On other systems there is no flock: there, only
// one process at a time may save to a directory. LoadSnapshot takes no
// lock: a rename replaces a file atomically, so it reads a whole snapshot,
// the old or the new.
package filesnapshot
