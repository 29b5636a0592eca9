package firehose

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/shoal-dev/shoal/delivery"
	"github.com/shoal-dev/shoal/server/awsproto"
	"github.com/shoal-dev/shoal/shardlog"
)

// Firehose's exception names.
const (
	errResourceNotFound       = "ResourceNotFoundException"
	errResourceInUse          = "ResourceInUseException"
	errInvalidArgument        = "InvalidArgumentException"
	errLimitExceeded          = "LimitExceededException"
	errInvalidSource          = "InvalidSourceException"
	errServiceUnavailable     = "ServiceUnavailableException"
	errConcurrentModification = "ConcurrentModificationException"
)

// invalidArg is an InvalidArgumentException about field: the message
// names the field and, where there is one, the limit.
func invalidArg(field, format string, args ...any) error {
	return awsproto.Errorf(errInvalidArgument, "%s: %s", field, fmt.Sprintf(format, args...))
}

// notFound is the ResourceNotFoundException of a delivery stream.
func notFound(name string) error {
	return awsproto.Errorf(errResourceNotFound, "Firehose %s not found.", name)
}

// unavailable is a ServiceUnavailableException (HTTP 503, which the SDKs
// retry).
func unavailable(format string, args ...any) error {
	return &awsproto.Error{Status: http.StatusServiceUnavailable, Type: errServiceUnavailable, Message: fmt.Sprintf(format, args...)}
}

// wireError turns an error of the runtime into what the client sees. An
// *awsproto.Error passes as is; delivery's and shardlog's sentinels become
// Firehose's exceptions; anything else stays an error, which awsproto
// reports as a logged InternalFailure (500).
func wireError(err error) error {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	var arg *shardlog.ArgumentError
	switch {
	case errors.Is(err, delivery.ErrInvalidSource):
		return awsproto.Errorf(errInvalidSource, "%s", trim(err))
	case errors.Is(err, delivery.ErrServiceUnavailable), errors.Is(err, shardlog.ErrClosed),
		errors.Is(err, shardlog.ErrProvisionedThroughputExceeded):
		return unavailable("%s", trim(err))
	case errors.As(err, &arg):
		return awsproto.Errorf(errInvalidArgument, "%s: %s", arg.Field, arg.Reason)
	case errors.Is(err, shardlog.ErrInvalidArgument), errors.Is(err, shardlog.ErrValidation):
		return awsproto.Errorf(errInvalidArgument, "%s", trim(err))
	case errors.Is(err, shardlog.ErrResourceNotFound):
		// A DirectPut stream's backing stream vanished under a put: the
		// delivery stream is being deleted.
		return awsproto.Errorf(errResourceNotFound, "%s", trim(err))
	case errors.Is(err, shardlog.ErrLimitExceeded):
		return awsproto.Errorf(errLimitExceeded, "%s", trim(err))
	}
	return err
}

// trim drops the packages' prefixes from an error's text.
func trim(err error) string {
	msg := err.Error()
	for _, p := range []string{"delivery: ", "shardlog: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return msg
}
