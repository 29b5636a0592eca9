package delivery

import (
	"strings"

	"github.com/shoal-dev/shoal/shardlog"
)

// DefaultIndexPrefix is where ObjectDestination writes its index objects
// unless ObjectOptions.IndexPrefix says otherwise.
const DefaultIndexPrefix = "shoal-index/"

// The index objects ObjectDestination writes beside the data objects, and
// ObjectArchive reads. For source stream S and shard H, under the index
// prefix P:
//
//	P S/H/shard.json                 the shard's catalog entry (shardCatalog)
//	P S/H/<First, 39 digits>.json    one sidecar per data object (sidecar)
//
// First is zero-padded to the 39 digits of the largest sequence number, so
// the lexical order of sidecar keys is the numeric order of First.

// seqDigits is the number of decimal digits of the largest sequence
// number (2^128-1).
const seqDigits = 39

// catalogName is the base name of a shard's catalog object.
const catalogName = "shard.json"

// sidecar describes one data object: what it holds and how to read it.
type sidecar struct {
	// DataKey is the data object's key.
	DataKey        string `json:"dataKey"`
	DeliveryStream string `json:"deliveryStream"`
	Version        int    `json:"version"`
	Source         string `json:"source"`
	ShardID        string `json:"shardId"`
	// First and Last are the batch's range (Batch.First, Batch.Last).
	First shardlog.SequenceNumber `json:"first"`
	Last  shardlog.SequenceNumber `json:"last"`
	// Records is how many records the object holds; Bytes their data's
	// size before encoding.
	Records int `json:"records"`
	// Final is set on the shard's last batch: the shard was closed and
	// Last is its ending sequence number.
	Final       bool        `json:"final,omitempty"`
	Bytes       int         `json:"bytes"`
	Format      string      `json:"format"`
	Compression Compression `json:"compression"`
	// Keys are the partition keys in the object, sorted, with the first
	// and last sequence number and the count of each one's records.
	Keys []sidecarKey `json:"keys"`
}

// sidecarKey is one partition key of a data object.
type sidecarKey struct {
	Key   string                  `json:"k"`
	First shardlog.SequenceNumber `json:"f"`
	Last  shardlog.SequenceNumber `json:"l"`
	Count int                     `json:"n"`
}

// shardCatalog is a shard's catalog entry: its lineage and state as the
// last batch delivered from it saw them.
type shardCatalog struct {
	ShardID                string                  `json:"shardId"`
	ParentShardID          string                  `json:"parentShardId,omitempty"`
	AdjacentParentShardID  string                  `json:"adjacentParentShardId,omitempty"`
	HashKeyRange           shardlog.HashKeyRange   `json:"hashKeyRange"`
	StartingSequenceNumber shardlog.SequenceNumber `json:"startingSequenceNumber"`
	Closed                 bool                    `json:"closed"`
	EndingSequenceNumber   shardlog.SequenceNumber `json:"endingSequenceNumber,omitzero"`
}

func catalogOf(s shardlog.Shard) shardCatalog {
	return shardCatalog{
		ShardID:                s.ShardID,
		ParentShardID:          s.ParentShardID,
		AdjacentParentShardID:  s.AdjacentParentShardID,
		HashKeyRange:           s.HashKeyRange,
		StartingSequenceNumber: s.StartingSequenceNumber,
		Closed:                 s.Closed,
		EndingSequenceNumber:   s.EndingSequenceNumber,
	}
}

func (c shardCatalog) shard() shardlog.Shard {
	return shardlog.Shard{
		ShardID:                c.ShardID,
		ParentShardID:          c.ParentShardID,
		AdjacentParentShardID:  c.AdjacentParentShardID,
		HashKeyRange:           c.HashKeyRange,
		StartingSequenceNumber: c.StartingSequenceNumber,
		Closed:                 c.Closed,
		EndingSequenceNumber:   c.EndingSequenceNumber,
	}
}

// merge returns c updated by n, never forgetting that the shard closed
// (a retried batch may carry an older view of the shard).
func (c shardCatalog) merge(n shardCatalog) shardCatalog {
	if c.Closed && !n.Closed {
		n.Closed, n.EndingSequenceNumber = true, c.EndingSequenceNumber
	}
	return n
}

// streamIndexPrefix is the prefix of a source stream's index objects.
func streamIndexPrefix(indexPrefix, source string) string {
	return indexPrefix + source + "/"
}

// shardIndexPrefix is the prefix of one shard's index objects.
func shardIndexPrefix(indexPrefix, source, shardID string) string {
	return indexPrefix + source + "/" + shardID + "/"
}

// sidecarKeyOf is the key of the sidecar of the object starting at first.
func sidecarKeyOf(indexPrefix, source, shardID string, first shardlog.SequenceNumber) string {
	return shardIndexPrefix(indexPrefix, source, shardID) + padSeq(first) + ".json"
}

// padSeq returns s in decimal, zero-padded to seqDigits.
func padSeq(s shardlog.SequenceNumber) string {
	d := s.String()
	if len(d) < seqDigits {
		d = strings.Repeat("0", seqDigits-len(d)) + d
	}
	return d
}

// isSidecarName reports whether name (a key's last segment) is a sidecar's.
func isSidecarName(name string) bool {
	digits, ok := strings.CutSuffix(name, ".json")
	if !ok || len(digits) != seqDigits {
		return false
	}
	for i := range len(digits) {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}
