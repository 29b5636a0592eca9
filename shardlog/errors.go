package shardlog

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors, named after the Kinesis exceptions they stand for. Every
// error returned by this package wraps exactly one of them, so callers branch
// with errors.Is; the wire layer maps them one to one onto exception names.
var (
	// ErrResourceNotFound: the stream, shard or consumer does not exist
	// (ResourceNotFoundException).
	ErrResourceNotFound = errors.New("shardlog: resource not found")
	// ErrResourceInUse: the resource exists already, is not ACTIVE for this
	// operation, or a subscription conflicts (ResourceInUseException).
	ErrResourceInUse = errors.New("shardlog: resource in use")
	// ErrInvalidArgument: a parameter breaks a rule (InvalidArgumentException).
	// The wrapping *ArgumentError names the field and the limit.
	ErrInvalidArgument = errors.New("shardlog: invalid argument")
	// ErrValidation: an operation that only provisioned streams support was
	// called on an on-demand stream, or a value is out of its modelled range
	// (ValidationException).
	ErrValidation = errors.New("shardlog: validation failed")
	// ErrLimitExceeded: a quota was reached: tags, consumers, scaling
	// operations per 24 hours (LimitExceededException).
	ErrLimitExceeded = errors.New("shardlog: limit exceeded")
	// ErrProvisionedThroughputExceeded: the shard's provisioned read or write
	// budget is spent (ProvisionedThroughputExceededException). Only streams
	// with provisioned limits turned on return it.
	ErrProvisionedThroughputExceeded = errors.New("shardlog: provisioned throughput exceeded")
	// ErrExpiredIterator: a shard iterator was used more than five minutes
	// after it was issued (ExpiredIteratorException).
	ErrExpiredIterator = errors.New("shardlog: iterator expired")
	// ErrExpiredNextToken: a pagination token is older than five minutes
	// (ExpiredNextTokenException).
	ErrExpiredNextToken = errors.New("shardlog: next token expired")
	// ErrKeyConflict: a conditional append found a different latest sequence
	// number for the key than the one expected. The wrapping *ConflictError
	// carries the actual one. Kinesis has no such operation; it is Shoal's.
	ErrKeyConflict = errors.New("shardlog: partition key conflict")
	// ErrInternalFailure: the engine failed (an I/O error, corrupt data).
	// The error also wraps the engine's own, for errors.As
	// (InternalFailure in Kinesis).
	ErrInternalFailure = errors.New("shardlog: internal failure")
	// ErrCorrupt: the engine found damaged stored data that it will not
	// skip (a record frame whose checksum fails, with records after it).
	// It comes with ErrInternalFailure, not instead of it: errors.Is(err,
	// ErrCorrupt) tells damaged data apart from other engine failures, so
	// the wire layer can say so. Engines mark their corruption errors with
	// it (file.CorruptError matches it); reads of the damaged shard fail
	// until the data is repaired.
	ErrCorrupt = errors.New("shardlog: corrupt data")
	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("shardlog: log closed")
	// ErrShardSealed is returned by an Engine when an append reaches a shard
	// that was sealed by a reshard. The Log re-routes the append; callers of
	// the Log never see it.
	ErrShardSealed = errors.New("shardlog: shard sealed")
)

// Corruption is implemented by engine errors that match ErrCorrupt and can
// say where the damage is without revealing the engine's directory: a file
// name relative to the stream (for the file engine, "<shard ID>/<segment
// file>") and a byte offset in it. The wire layer names it to clients.
type Corruption interface {
	error
	// CorruptAt names the damaged file, relative to the stream's
	// directory, and the byte offset of the damage in it.
	CorruptAt() (file string, offset int64)
}

// ArgumentError reports a bad input: which field, what was wrong, and the
// limit it broke. It wraps ErrInvalidArgument (or another sentinel, such as
// ErrValidation or ErrLimitExceeded, given in Err).
type ArgumentError struct {
	Field  string // the input field, named as in the Kinesis API (e.g. "PartitionKey")
	Reason string // what is wrong with it, including the limit
	Err    error  // the sentinel it wraps; ErrInvalidArgument when nil
}

// Error implements error.
func (e *ArgumentError) Error() string {
	return fmt.Sprintf("%v: %s: %s", e.Unwrap(), e.Field, e.Reason)
}

// Unwrap returns the sentinel the error stands for.
func (e *ArgumentError) Unwrap() error {
	if e.Err == nil {
		return ErrInvalidArgument
	}
	return e.Err
}

func invalid(field, format string, args ...any) error {
	return &ArgumentError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func invalidAs(sentinel error, field, format string, args ...any) error {
	return &ArgumentError{Field: field, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// ConflictError is returned by AppendKey when the partition key's latest
// sequence number is not the expected one. It wraps ErrKeyConflict.
type ConflictError struct {
	PartitionKey string
	Expected     SequenceNumber // the zero value means "no records"
	Actual       SequenceNumber // the zero value means "no records"
}

// Error implements error.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("%v: key %q: expected latest sequence number %s, actual %s",
		ErrKeyConflict, e.PartitionKey, describeSeq(e.Expected), describeSeq(e.Actual))
}

// Unwrap returns ErrKeyConflict.
func (e *ConflictError) Unwrap() error { return ErrKeyConflict }

func describeSeq(s SequenceNumber) string {
	if s.IsZero() {
		return "none (no records)"
	}
	return s.String()
}

func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrResourceNotFound}, args...)...)
}

// streamNotFound, shardNotFound and consumerNotFound word their messages
// as Kinesis does, so that clients matching on them behave alike.
func streamNotFound(stream, account string) error {
	return notFound("Stream %s under account %s not found.", stream, account)
}

func shardNotFound(shard, stream, account string) error {
	return notFound("Shard %s in stream %s under account %s does not exist", shard, stream, account)
}

func (l *Log) consumerNotFound(stream, consumer string) error {
	return notFound("Consumer %s under stream %s under account %s not found.", consumer, stream, l.account)
}

// notFound reports that the stream was deleted while the call ran.
func (s *stream) notFound() error { return streamNotFound(s.name, s.account) }

func inUse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrResourceInUse}, args...)...)
}

// engineError wraps an error returned by the engine. One that already
// carries a sentinel of this package, or a context error, is wrapped as it
// is; any other is an ErrInternalFailure that also wraps the engine's
// error. So every error of the Log wraps one sentinel.
func engineError(err error, format string, args ...any) error {
	msg := "shardlog: " + fmt.Sprintf(format, args...)
	for _, sentinel := range sentinels {
		if errors.Is(err, sentinel) {
			return fmt.Errorf("%s: %w", msg, err)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", msg, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrInternalFailure, msg, err)
}

var sentinels = []error{
	ErrResourceNotFound, ErrResourceInUse, ErrInvalidArgument, ErrValidation, ErrLimitExceeded,
	ErrProvisionedThroughputExceeded, ErrExpiredIterator, ErrExpiredNextToken, ErrKeyConflict,
	ErrInternalFailure, ErrClosed, ErrShardSealed,
}
