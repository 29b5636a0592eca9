package kinesis

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/shardlog"
)

// Kinesis exception names.
const (
	errResourceNotFound   = "ResourceNotFoundException"
	errResourceInUse      = "ResourceInUseException"
	errInvalidArgument    = "InvalidArgumentException"
	errValidation         = "ValidationException"
	errLimitExceeded      = "LimitExceededException"
	errThroughputExceeded = "ProvisionedThroughputExceededException"
	errExpiredIterator    = "ExpiredIteratorException"
	errExpiredNextToken   = "ExpiredNextTokenException"
	errServiceUnavailable = "ServiceUnavailableException"
	errInternalFailure    = "InternalFailureException"
)

// exceptions maps shardlog's sentinels to the exceptions they stand for.
var exceptions = []struct {
	sentinel error
	name     string
}{
	{shardlog.ErrResourceNotFound, errResourceNotFound},
	{shardlog.ErrResourceInUse, errResourceInUse},
	{shardlog.ErrInvalidArgument, errInvalidArgument},
	{shardlog.ErrValidation, errValidation},
	{shardlog.ErrLimitExceeded, errLimitExceeded},
	{shardlog.ErrProvisionedThroughputExceeded, errThroughputExceeded},
	{shardlog.ErrExpiredIterator, errExpiredIterator},
	{shardlog.ErrExpiredNextToken, errExpiredNextToken},
}

// wireError turns an error of an operation into what the client sees. An
// *awsproto.Error passes as is; a shardlog error becomes its exception,
// with a message naming the field when the error does. A closed Log is a
// 503 (retryable); damaged stored data is a 500 InternalFailureException
// naming where (see corruptError); anything else stays an error, which
// awsproto reports as a logged InternalFailure (500).
func wireError(err error) error {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	for _, e := range exceptions {
		if errors.Is(err, e.sentinel) {
			return awsproto.Errorf(e.name, "%s", message(err))
		}
	}
	if errors.Is(err, shardlog.ErrCorrupt) {
		return corruptError(err)
	}
	if errors.Is(err, shardlog.ErrClosed) {
		return &awsproto.Error{Status: http.StatusServiceUnavailable, Type: errServiceUnavailable, Message: "the log is closed"}
	}
	return err
}

// corruptError is what a client sees when the engine found damaged data:
// HTTP 500 InternalFailureException (the exception Kinesis documents for
// GetRecords and SubscribeToShard; SDKs retry it a bounded number of times,
// then raise it typed), with a message naming the damaged file and offset,
// never the server's paths, and what the operator must do.
func corruptError(err error) error {
	where := "the shard's stored data"
	var c shardlog.Corruption
	if errors.As(err, &c) {
		file, off := c.CorruptAt()
		where = fmt.Sprintf("%s at byte %d", file, off)
	}
	return &awsproto.Error{Status: http.StatusInternalServerError, Type: errInternalFailure,
		Message: "stored records are damaged (" + where + "): reads of this shard stop there until the operator repairs the data directory (shoal check --repair)"}
}

// message is the client-facing text of a shardlog error: the field and
// reason of an *shardlog.ArgumentError, else the error without the
// package's "shardlog: " prefixes.
func message(err error) string {
	var arg *shardlog.ArgumentError
	if errors.As(err, &arg) {
		return arg.Field + ": " + arg.Reason
	}
	msg := err.Error()
	for _, e := range exceptions {
		msg = strings.TrimPrefix(msg, e.sentinel.Error()+": ")
	}
	return strings.ReplaceAll(msg, "shardlog: ", "")
}

// missing is the ValidationException of a required member left out, worded
// as AWS words it.
func missing(field string) error {
	return awsproto.Errorf(errValidation, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

// invalidArg is an InvalidArgumentException about field.
func invalidArg(field, format string, args ...any) error {
	return awsproto.Errorf(errInvalidArgument, "%s: %s", field, fmt.Sprintf(format, args...))
}

// required returns *p, or the ValidationException naming field if p is nil.
func required[T any](field string, p *T) (T, error) {
	if p == nil {
		var zero T
		return zero, missing(field)
	}
	return *p, nil
}

// optional returns *p, or the zero value if p is nil.
func optional[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

func errConsumerNotFound(arn string) error {
	return fmt.Errorf("%w: consumer %s not found", shardlog.ErrResourceNotFound, arn)
}
